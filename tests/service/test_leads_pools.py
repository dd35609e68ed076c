"""Pools, the return job, transfer, locks, the action log and import — on the real broker."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.leads.service import LeadsService
from tests.pg import create_database, drop_database
from tests.service.conftest import EventTap, principal

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 10, 10, 0, tzinfo=CST)


@pytest.fixture
def leads(container_factory, service_config):
    container = container_factory(LeadsService, service_config("leads"))
    container.start()
    return container


def call(container, method, user="rep1", role="sales", **kwargs):
    context = principal(user, role, visible=None if role == "admin" else "own")
    with entrypoint_hook(container, method, context_data=context) as hook:
        return hook(**kwargs)


def admin(container, method, **kwargs):
    return call(container, method, user="boss", role="admin", **kwargs)


def drain(tap: EventTap, seconds: float = 1.5) -> list[dict]:
    """Every event that reaches the tap within ``seconds`` after the last one."""
    seen, quiet_until = [], time.monotonic() + seconds
    while time.monotonic() < quiet_until:
        message = tap.queue.get(no_ack=True)
        if message is None:
            time.sleep(0.05)
            continue
        seen.append(json.loads(message.body))
        quiet_until = time.monotonic() + seconds
    return seen


def of_type(found: list[dict], event_type: str) -> list[dict]:
    return [e for e in found if e["type"] == event_type]


def run_job(container):
    with entrypoint_hook(container, "return_job") as hook:
        return hook()


def test_return_job_before_on_and_after_the_deadline_day(leads, rabbit_config):
    admin(leads, "set_pool_rules", pool="default", rules={
        "follow_up_days": 3, "warn_days_before": 1, "reclaim_cooldown_days": 5,
        "return_conditions": [{"sources": ["expo"], "no_follow_up_days": 30,
                               "not_converted_days": 2}]})
    with timeutil.freeze(T0):
        lead = call(leads, "create_lead", data={"name": "张伟", "phone": "13800138000"})
        kept = call(leads, "create_lead", data={"name": "李娜", "phone": "13800138001"})
        expo = call(leads, "create_lead", data={"name": "王芳", "phone": "13800138002",
                                                "source": "expo"})
        for item in (lead, kept, expo):
            call(leads, "claim_lead", lead_id=item["id"])
        admin(leads, "lock_lead", lead_id=kept["id"], reason="大客户重点跟进")
    assert lead["follow_up_deadline"] is None
    tap = EventTap(rabbit_config["AMQP_URI"], "leads")
    try:
        drain(tap, 0.5)
        with timeutil.freeze(datetime(2026, 11, 11, 23, 59, tzinfo=CST)):
            assert run_job(leads)["warned"] == 1            # expo: convert deadline 11-12
        with timeutil.freeze(datetime(2026, 11, 12, 9, 0, tzinfo=CST)):
            assert run_job(leads) == {"returned": 0, "warned": 1,
                                      "at": "2026-11-12T01:00:00+00:00"}
            assert run_job(leads)["warned"] == 0            # once per lead and deadline
            call(leads, "add_follow_up", lead_id=lead["id"],
                 data={"kind": "call", "content": "电话沟通"})
        with timeutil.freeze(datetime(2026, 11, 13, 9, 0, tzinfo=CST)):
            # 11-12 was the expo lead's last day (not converted): back it goes
            assert run_job(leads) == {"returned": 1, "warned": 0,
                                      "at": "2026-11-13T01:00:00+00:00"}
        with timeutil.freeze(datetime(2026, 11, 14, 9, 0, tzinfo=CST)):
            assert run_job(leads)["warned"] == 1            # the moved deadline warns again
        with timeutil.freeze(datetime(2026, 11, 15, 23, 59, tzinfo=CST)):
            assert run_job(leads)["returned"] == 0          # on the deadline day: still owned
        with timeutil.freeze(datetime(2026, 11, 16, 0, 0, tzinfo=CST)):
            assert run_job(leads)["returned"] == 1          # the next business day
            assert run_job(leads)["returned"] == 0
        found = drain(tap)
    finally:
        tap.close()
    warnings = of_type(found, "lead.deadline_warning")
    assert [w["data"]["lead_id"] for w in warnings] == [expo["id"], lead["id"], lead["id"]]
    assert warnings[1]["data"]["owner_id"] == "rep1"
    assert warnings[1]["data"]["deadline"] == "2026-11-13T02:00:00+00:00"
    assert warnings[2]["data"]["deadline"] == "2026-11-15T01:00:00+00:00"
    returned = of_type(found, "lead.returned_to_pool")
    assert [(r["data"]["lead_id"], r["data"]["reason"], r["data"]["previous_owner_id"])
            for r in returned] == [(expo["id"], "not_converted", "rep1"),
                                   (lead["id"], "overdue", "rep1")]
    assert returned[1]["actor_id"] is None and returned[1]["data"]["owner_id"] is None
    assert admin(leads, "get_lead", lead_id=kept["id"])["owner_id"] == "rep1"   # locked
    back = admin(leads, "get_lead", lead_id=lead["id"])
    assert back["owner_id"] is None and back["previous_owner_id"] == "rep1"
    with timeutil.freeze(datetime(2026, 11, 17, tzinfo=CST)):
        with pytest.raises(Conflict) as err:
            call(leads, "claim_lead", lead_id=lead["id"])
        assert err.value.code == "reclaim_cooldown"
        assert call(leads, "claim_lead", user="rep2", lead_id=lead["id"])["owner_id"] == "rep2"
    actions = admin(leads, "list_lead_actions", lead_id=lead["id"])["items"]
    assert [(a["action"], a["field"], a["from"], a["to"]) for a in actions][:2] == [
        ("claimed", "owner_id", None, "rep2"), ("returned_to_pool", "owner_id", "rep1", None)]
    assert actions[1]["actor_id"] is None and actions[1]["reason"] == "overdue"


def test_preview_changes_nothing_and_honours_proposed_rules(leads):
    with timeutil.freeze(T0):
        lead = call(leads, "create_lead", data={"name": "赵敏", "phone": "13900000001"})
        call(leads, "claim_lead", lead_id=lead["id"])
    with timeutil.freeze(T0 + timedelta(days=5)):
        assert admin(leads, "preview_pool_rules", pool="default")["items"] == []
        items = admin(leads, "preview_pool_rules", pool="default",
                      rules={"follow_up_days": 2})["items"]
        assert [(i["id"], i["reason"]) for i in items] == [(lead["id"], "overdue")]
        assert admin(leads, "get_lead", lead_id=lead["id"])["owner_id"] == "rep1"
        with pytest.raises(Forbidden):
            call(leads, "preview_pool_rules", pool="default")
        admin(leads, "set_pool_rules", pool="default", rules={"follow_up_days": 2})
        moved = admin(leads, "get_lead", lead_id=lead["id"])
        assert moved["follow_up_deadline"] == "2026-11-12T02:00:00+00:00"   # claim + 2 days
        assert moved["due_at"] == moved["follow_up_deadline"]
        assert run_job(leads)["returned"] == 1


def test_two_replicas_run_the_job_at_once_and_return_each_lead_once(
        container_factory, service_config, rabbit_config):
    url = create_database("crm_leads_job")
    try:
        config = service_config("leads", database_url=url)
        replicas = [container_factory(LeadsService, config) for _ in range(2)]
        for container in replicas:
            container.start()
        first = replicas[0]
        admin(first, "set_pool_rules", pool="default", rules={"follow_up_days": 1,
                                                             "warn_days_before": 0})
        with timeutil.freeze(T0):
            ids = [call(first, "create_lead", data={"name": f"客户{i}",
                                                    "phone": f"1370000{i:04d}"})["id"]
                   for i in range(40)]
            for n, lead_id in enumerate(ids):
                call(first, "claim_lead", user=f"rep{n % 2}", lead_id=lead_id)
        tap = EventTap(rabbit_config["AMQP_URI"], "leads")
        results = []
        try:
            drain(tap, 0.5)

            def run():
                with ServiceRpcProxy("leads", rabbit_config,
                                     context_data=principal("boss", "admin",
                                                            visible=None)) as proxy:
                    results.append(proxy.run_return_job())

            with timeutil.freeze(T0 + timedelta(days=3)):
                pool = eventlet.GreenPool(4)
                for _ in range(4):
                    pool.spawn(run)
                pool.waitall()
            found = drain(tap)
        finally:
            tap.close()
        assert sum(r["returned"] for r in results) == 40
        returned = of_type(found, "lead.returned_to_pool")
        assert sorted(e["data"]["lead_id"] for e in returned) == sorted(ids)
    finally:
        drop_database(url)


def test_named_pools_are_for_their_members(leads):
    with pytest.raises(Forbidden):
        call(leads, "create_pool", data={"name": "east"})
    pool = admin(leads, "create_pool", data={"name": "east", "title": "华东公海",
                                             "members": ["rep1"]})
    assert pool["members"] == ["rep1"] and pool["rules"]["follow_up_days"] == 15
    with pytest.raises(Conflict):
        admin(leads, "create_pool", data={"name": "east"})
    lead = call(leads, "create_lead", data={"name": "孙丽", "pool": "east"})
    with pytest.raises(NotFound):             # rep2 is no member: cannot see or claim it
        call(leads, "claim_lead", user="rep2", lead_id=lead["id"])
    assert call(leads, "list_leads", user="rep2", scope="pool")["items"] == []
    with pytest.raises(NotFound) as err:
        call(leads, "create_lead", user="rep2", data={"name": "周强", "pool": "east"})
    assert err.value.code == "pool_not_found"
    admin(leads, "change_pool_members", pool="east", add=["rep2"], remove=["rep1"])
    assert call(leads, "claim_lead", user="rep2", lead_id=lead["id"])["owner_id"] == "rep2"
    with pytest.raises(NotFound):
        call(leads, "create_lead", data={"name": "钱多", "pool": "nowhere"})
    with pytest.raises(NotFound):
        admin(leads, "set_pool_rules", pool="nowhere", rules={})
    names = [p["name"] for p in admin(leads, "list_pools")["items"]]
    assert names == ["default", "east"]


def test_transfer_lock_convert_and_bad_input(leads):
    lead = call(leads, "create_lead", data={"name": "吴昊", "email": "wh@example.cn"})
    with pytest.raises(Conflict):
        call(leads, "transfer_lead", lead_id=lead["id"], data={"owner_id": "rep2",
                                                               "reason": "区域调整"})
    call(leads, "claim_lead", lead_id=lead["id"])
    with pytest.raises(ValidationFailed):
        call(leads, "transfer_lead", lead_id=lead["id"], data={"owner_id": "rep2"})
    moved = call(leads, "transfer_lead", lead_id=lead["id"],
                 data={"owner_id": "rep2", "reason": "区域调整"})
    assert moved["owner_id"] == "rep2" and moved["follow_up_deadline"]
    with pytest.raises(NotFound):             # no longer mine
        call(leads, "transfer_lead", lead_id=lead["id"], data={"owner_id": "rep1",
                                                               "reason": "再调"})
    with pytest.raises(Forbidden):
        call(leads, "lock_lead", user="rep2", lead_id=lead["id"])
    with pytest.raises(NotFound):             # someone else's lead: not even visible
        call(leads, "release_lead", lead_id=lead["id"], reason="不要了")
    call(leads, "convert_lead", user="rep2", lead_id=lead["id"])
    with pytest.raises(Conflict) as err:
        call(leads, "convert_lead", user="rep2", lead_id=lead["id"])
    assert err.value.code == "lead_closed" and err.value.status == 409
    with pytest.raises(Conflict) as err:
        call(leads, "claim_lead", user="rep3", lead_id=lead["id"])
    assert err.value.code == "lead_closed"
    actions = call(leads, "list_lead_actions", user="rep2", lead_id=lead["id"])["items"]
    assert [a["action"] for a in actions] == ["converted", "transferred", "claimed", "created"]
    assert actions[1]["from"] == "rep1" and actions[1]["to"] == "rep2"
    assert actions[1]["reason"] == "区域调整" and actions[1]["actor_id"] == "rep1"
    for bad in ({"name": "甲", "phone": "123"}, {"name": "甲", "phone": "1" * 21},
                {"name": "甲", "email": "not-an-email"}, {"name": "甲" * 101},
                {"name": "甲", "source": "tv"}):
        with pytest.raises(ValidationFailed):
            call(leads, "create_lead", data=bad)
    assert call(leads, "list_leads", role="admin", user="boss")["items"] == [
        admin(leads, "get_lead", lead_id=lead["id"])]


def test_import_rows_reports_duplicates_and_rejects(leads, rabbit_config):
    existing = call(leads, "create_lead", data={"name": "已有", "phone": "13500000000"})
    header = ["\ufeff姓名", "公司", "手机", "邮箱", "来源", "标签"]
    rows = [
        ["张三", "甲公司", "13600000001", "zs@example.cn", "展会", "华东,重点"],
        ["李四", "乙公司", "13500000000", "", "", ""],                 # store duplicate
        ["王五", "", "136-0000-0001", "", "", ""],                      # file duplicate
        ["", "丙公司", "13600000003", "", "", ""],                      # no name
        ["赵六", "", "12", "", "", ""],                                 # bad phone
        ["钱七", "", "", "bad-mail", "", ""],                           # bad e-mail
        ["孙八", "", "", "", "电视", ""],                               # unknown source
        ["", "", "", "", "", ""],                                       # blank: skipped
        ["周九", "丁公司", "", "zj@example.cn", "", ""],
    ]
    tap = EventTap(rabbit_config["AMQP_URI"], "leads")
    try:
        drain(tap, 0.5)
        report = call(leads, "import_rows", header=header, rows=rows, start_row=2)
        created = of_type(drain(tap), "lead.created")
    finally:
        tap.close()
    assert (report["created"], report["duplicates"], report["rejected"]) == (2, 2, 4)
    by_row = {r["row"]: r for r in report["rows"]}
    assert by_row[3]["existing_id"] == existing["id"]
    assert by_row[3]["reason"] == "duplicate_in_store"
    assert by_row[4]["reason"] == "duplicate_in_file"
    assert sorted(by_row) == [3, 4, 5, 6, 7, 8]
    assert all(by_row[n]["status"] == "rejected" for n in (5, 6, 7, 8))
    assert len(created) == 2 and all(e["data"]["imported"] for e in created)
    first = call(leads, "get_lead", lead_id=by_row[4]["existing_id"])
    assert first["name"] == "张三" and first["source"] == "expo"
    assert first["tags"] == ["华东", "重点"] and first["owner_id"] is None
    again = call(leads, "import_rows", header=header, rows=rows[:1], start_row=2)
    assert again["duplicates"] == 1 and again["created"] == 0
    with pytest.raises(ValidationFailed) as err:
        call(leads, "import_rows", header=["公司"], rows=[["x"]])
    assert err.value.code == "missing_columns"
    with pytest.raises(RemoteError if False else ValidationFailed):
        call(leads, "import_rows", header=header, rows=[["x"]] * 2001)
