"""Campaigns (市场活动) in the leads service, in a real container on the real broker: CRUD
with its validation and permissions, events on ``leads.events``, and the campaign of a lead
on create, PATCH, list filter and CSV import."""
from __future__ import annotations

import eventlet
import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.leads.service import LeadsService
from tests.service.conftest import EventTap, principal

EXPO = {"name": "2026 上海工博会", "channel": "expo", "budget": "50000.00",
        "starts_on": "2026-03-01", "ends_on": "2026-03-05"}


@pytest.fixture
def leads(container_factory, service_config):
    container = container_factory(LeadsService, service_config("leads"))
    container.start()
    return container


def call(container, method, user="mgr1", role="manager", **kwargs):
    with entrypoint_hook(container, method, context_data=principal(user, role)) as hook:
        return hook(**kwargs)


def test_create_get_list_patch_with_events(leads, rabbit_config):
    tap = EventTap(rabbit_config["AMQP_URI"], "leads", "campaign.#")
    try:
        made = call(leads, "create_campaign", data=EXPO)
        assert made["budget"] == "50000.00" and made["owner_id"] == "mgr1"
        assert (made["starts_on"], made["ends_on"], made["channel"]) == \
            ("2026-03-01", "2026-03-05", "expo")
        created = tap.wait_for("campaign.created")
        assert created["data"] == {"campaign_id": made["id"], "name": "2026 上海工博会",
                                   "channel": "expo", "budget": "50000.00",
                                   "starts_on": "2026-03-01", "ends_on": "2026-03-05",
                                   "owner_id": "mgr1"}
        assert call(leads, "get_campaign", user="rep1", role="sales",
                    campaign_id=made["id"]) == made

        changed = call(leads, "update_campaign", campaign_id=made["id"],
                       data={"budget": "48000.5", "ends_on": "2026-03-06", "owner_id": "mgr2"})
        assert changed["budget"] == "48000.50" and changed["ends_on"] == "2026-03-06"
        updated = tap.wait_for("campaign.updated")
        assert updated["data"]["budget"] == "48000.50"
        assert updated["data"]["changes"] == {
            "budget": {"from": "50000.00", "to": "48000.50"},
            "ends_on": {"from": "2026-03-05", "to": "2026-03-06"},
            "owner_id": {"from": "mgr1", "to": "mgr2"}}

        web = call(leads, "create_campaign", data={**EXPO, "name": "百度推广 Q2",
                                                    "channel": "online_ad", "budget": "0",
                                                    "starts_on": "2026-04-01",
                                                    "ends_on": "2026-06-30"})
        everything = call(leads, "list_campaigns", user="rep1", role="sales")
        assert [c["id"] for c in everything["items"]] == [web["id"], made["id"]]  # newest first
        assert [c["id"] for c in call(leads, "list_campaigns", channel="expo")["items"]] == \
            [made["id"]]
        on = call(leads, "list_campaigns", active_on="2026-03-06")["items"]
        assert [c["id"] for c in on] == [made["id"]]  # the last day counts
        assert call(leads, "list_campaigns", active_on="2026-03-07")["items"] == []
        assert [c["id"] for c in call(leads, "list_campaigns", owner_id="mgr2")["items"]] == \
            [made["id"]]
        page = call(leads, "list_campaigns", limit=1)
        assert len(page["items"]) == 1 and page["next_cursor"]
        rest = call(leads, "list_campaigns", limit=1, cursor=page["next_cursor"])
        assert [c["id"] for c in rest["items"]] == [made["id"]]
    finally:
        tap.close()


@pytest.mark.parametrize("bad", [
    {"budget": "-1"}, {"budget": "1.005"}, {"budget": "abc"}, {"channel": "tv"},
    {"channel": None}, {"name": ""}, {"name": "x" * 101},
    {"starts_on": "2026-03-06", "ends_on": "2026-03-05"}, {"starts_on": "03/01/2026"},
])
def test_create_rejects_bad_input_and_stores_nothing(leads, bad):
    with pytest.raises(ValidationFailed):
        call(leads, "create_campaign", data={**EXPO, **bad})
    assert call(leads, "list_campaigns")["items"] == []


def test_patch_validation_names_and_permissions(leads):
    made = call(leads, "create_campaign", data=EXPO)
    other = call(leads, "create_campaign", data={**EXPO, "name": "微信公众号推文"})
    for bad in ({"ends_on": "2026-02-28"}, {"starts_on": "2026-03-09"}, {"budget": None},
                {"budget": "-0.01"}, {"name": None}):
        with pytest.raises(ValidationFailed):
            call(leads, "update_campaign", campaign_id=made["id"], data=bad)
    with pytest.raises(Conflict) as taken:
        call(leads, "update_campaign", campaign_id=other["id"], data={"name": EXPO["name"]})
    assert taken.value.details["existing_id"] == made["id"]
    with pytest.raises(Conflict):
        call(leads, "create_campaign", data=EXPO)
    assert call(leads, "get_campaign", campaign_id=made["id"]) == made  # nothing changed
    with pytest.raises(Forbidden):
        call(leads, "create_campaign", user="rep1", role="sales", data={**EXPO, "name": "x"})
    with pytest.raises(Forbidden):
        call(leads, "update_campaign", user="rep1", role="sales", campaign_id=made["id"],
             data={"budget": "1.00"})
    with pytest.raises(Forbidden):
        call(leads, "list_campaigns", user="fin1", role="finance")
    with pytest.raises(NotFound):
        call(leads, "get_campaign", campaign_id="nope")
    with pytest.raises(ValidationFailed):
        call(leads, "list_campaigns", channel="tv")
    with pytest.raises(ValidationFailed):
        call(leads, "list_campaigns", active_on="tomorrow")


def test_concurrent_creates_of_one_name_make_one_campaign(leads, rabbit_config):
    outcomes = []

    def create(i):
        with ServiceRpcProxy("leads", rabbit_config,
                             context_data=principal(f"mgr{i}", "manager")) as proxy:
            try:
                proxy.create_campaign(data={**EXPO, "budget": str(i)})
                outcomes.append("made")
            except RemoteError as exc:
                outcomes.append(exc.exc_type)

    pool = eventlet.GreenPool(10)
    for i in range(10):
        pool.spawn(create, i)
    pool.waitall()
    assert outcomes.count("made") == 1 and outcomes.count("Conflict") == 9
    assert len(call(leads, "list_campaigns")["items"]) == 1


def test_lead_campaign_on_create_patch_filter_and_events(leads, rabbit_config):
    expo = call(leads, "create_campaign", data=EXPO)
    wechat = call(leads, "create_campaign", data={**EXPO, "name": "微信裂变", "channel": "wechat"})
    tap = EventTap(rabbit_config["AMQP_URI"], "leads", "lead.#")
    try:
        lead = call(leads, "create_lead", user="rep1", role="sales",
                    data={"name": "张伟", "phone": "13800138000", "campaign_id": expo["id"],
                          "industry": "制造业", "region": "上海"})
        assert lead["campaign_id"] == expo["id"]
        created = tap.wait_for("lead.created")["data"]
        assert (created["campaign_id"], created["industry"], created["region"]) == \
            (expo["id"], "制造业", "上海")
        plain = call(leads, "create_lead", user="rep1", role="sales",
                     data={"name": "李娜", "email": "ln@example.cn"})
        assert plain["campaign_id"] is None
        assert tap.wait_for("lead.created")["data"]["campaign_id"] is None

        with pytest.raises(ValidationFailed) as unknown:
            call(leads, "create_lead", user="rep1", role="sales",
                 data={"name": "王芳", "phone": "13912345678", "campaign_id": "nope"})
        assert unknown.value.code == "unknown_campaign"

        call(leads, "claim_lead", user="rep1", role="sales", lead_id=plain["id"])
        moved = call(leads, "update_lead", user="rep1", role="sales", lead_id=plain["id"],
                     data={"campaign_id": wechat["id"]})
        assert moved["campaign_id"] == wechat["id"]
        update = tap.wait_for("lead.updated")["data"]
        assert update["campaign_id"] == wechat["id"]
        assert update["changes"] == {"campaign_id": {"from": None, "to": wechat["id"]}}
        with pytest.raises(ValidationFailed):
            call(leads, "update_lead", user="rep1", role="sales", lead_id=plain["id"],
                 data={"campaign_id": "nope"})
        assert call(leads, "get_lead", user="rep1", role="sales",
                    lead_id=plain["id"])["campaign_id"] == wechat["id"]

        by_expo = call(leads, "list_leads", user="rep1", role="sales",
                       campaign_id=expo["id"])["items"]
        assert [i["id"] for i in by_expo] == [lead["id"]]
        by_wechat = call(leads, "list_leads", user="rep1", role="sales",
                         campaign_id=wechat["id"])["items"]
        assert [i["id"] for i in by_wechat] == [plain["id"]]

        detached = call(leads, "update_lead", user="rep1", role="sales", lead_id=plain["id"],
                        data={"campaign_id": None})
        assert detached["campaign_id"] is None
        assert call(leads, "list_leads", user="rep1", role="sales",
                    campaign_id=wechat["id"])["items"] == []
    finally:
        tap.close()


def test_import_resolves_the_campaign_column_by_id_or_exact_name(leads, rabbit_config):
    expo = call(leads, "create_campaign", data=EXPO)
    mail = call(leads, "create_campaign", data={**EXPO, "name": "EDM 春季", "channel": "email"})
    tap = EventTap(rabbit_config["AMQP_URI"], "leads", "lead.created")
    try:
        report = call(leads, "import_rows", user="rep1", role="sales",
                      header=["姓名", "电话", "市场活动"],
                      rows=[["张一", "13800000001", expo["id"]],
                            ["张二", "13800000002", "2026 上海工博会"],
                            ["张三", "13800000003", "EDM 春季"],
                            ["张四", "13800000004", "edm 春季"],        # not the exact name
                            ["张五", "13800000005", "no-such-campaign"],
                            ["张六", "13800000006", ""]])
        assert (report["created"], report["duplicates"], report["rejected"]) == (4, 0, 2)
        assert [(r["row"], r["reason"]) for r in report["rows"]] == \
            [(5, "unknown_campaign"), (6, "unknown_campaign")]
        events = {}
        for _ in range(4):
            data = tap.wait_for("lead.created")["data"]
            events[data["name"]] = data["campaign_id"]
        assert events == {"张一": expo["id"], "张二": expo["id"], "张三": mail["id"],
                          "张六": None}
        english = call(leads, "import_rows", user="rep1", role="sales",
                       header=["name", "phone", "campaign"],
                       rows=[["李一", "13900000001", "EDM 春季"]])
        assert english["created"] == 1
        listed = call(leads, "list_leads", campaign_id=mail["id"])["items"]
        assert sorted(i["name"] for i in listed) == sorted(["李一", "张三"])
    finally:
        tap.close()
