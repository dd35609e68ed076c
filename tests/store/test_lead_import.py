"""The CSV import's unit of work (``services.leads.imports``) on SQLite and PostgreSQL.

An imported lead must be what a single create of the same row makes: the same validation
(row by row, the same messages), the same duplicate detection (in the file, in the store,
race-free against concurrent creates and imports), the same score, and a ``lead.created``
in the outbox per lead with a create's payload (plus ``imported: true``).
"""
from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa

from crmkit.errors import Conflict, ValidationFailed
from crmkit.principal import Principal
from services.leads import handlers, imports, scoring
from services.leads.domain import importing

REP = Principal(user_id="rep1", username="rep1", role="sales", data_scope="own",
                visible_user_ids=frozenset({"rep1"}))
HEADER = ["姓名", "公司", "手机", "邮箱", "来源", "地区", "行业", "标签", "备注"]
MODEL = {"model": "lead_conversion", "version": 917, "intercept": -1.0, "features": [
    {"name": "source=expo", "field": "source", "kind": "category", "value": "expo",
     "value_zh": "展会", "value_en": "expo", "coef": 1.5, "mean": 0.2},
    {"name": "region=上海", "field": "region", "kind": "category", "value": "上海",
     "coef": 0.7, "mean": 0.3},
    {"name": "industry=医疗", "field": "industry", "kind": "category", "value": "医疗",
     "coef": -0.9, "mean": 0.1},
    {"name": "age_days", "field": "age_days", "kind": "numeric", "center": 0.4,
     "scale": 0.5, "coef": -0.3, "mean": 0.0}],
    "fields": [{"field": "source", "kind": "category", "label_zh": "来源",
                "label_en": "Source"}]}


class _Rollback(Exception):
    pass


def import_rows(store, rows, start_row=2, header=HEADER, principal=REP):
    with store.unit(actor_id=principal.user_id) as uow:
        return imports.import_rows(uow, principal, header, rows, start_row)


def as_created(store, row, header=HEADER):
    """What a single create of the row answers and emits, rolled back afterwards (the row's
    fields as the import maps them)."""
    data = importing.row_to_fields(importing.map_header(header), row)
    seen = {}
    with pytest.raises(_Rollback):
        with store.unit(actor_id=REP.user_id) as uow:
            try:
                seen["lead"] = handlers.create_lead(uow, REP, data)
                seen["events"] = list(uow.events)
            except ValidationFailed as exc:
                seen["error"] = exc
            raise _Rollback
    return seen


def outbox(store) -> list[dict]:
    with store.engine.connect() as conn:
        return [json.loads(p) for p in conn.execute(
            sa.select(store.outbox.c.payload).order_by(store.outbox.c.id)).scalars()]


def lead_count(store, **where) -> int:
    with store.engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM leads" + (
            " WHERE " + " AND ".join(f"{k} = :{k}" for k in where) if where else ""))
        return conn.execute(query, where).scalar_one()


BAD_ROWS = [
    ["", "甲公司", "13600000003", "", "", "", "", "", ""],                 # no name
    ["赵六", "", "12", "", "", "", "", "", ""],                             # phone too short
    ["赵七", "", "1" * 21, "", "", "", "", "", ""],                         # phone too long
    ["赵八", "", "1" * 41, "", "", "", "", "", ""],                         # over 40 characters
    ["钱七", "", "", "bad-mail", "", "", "", "", ""],                       # not an address
    ["钱八", "", "", "a@x.local", "", "", "", "", ""],                      # special-use domain
    ["钱九", "", "", "a..b@example.cn", "", "", "", "", ""],
    ["孙八", "", "", "", "电视", "", "", "", ""],                            # unknown source
    ["长" * 101, "", "", "", "", "", "", "", ""],                            # name too long
    ["周九", "公" * 201, "", "", "", "", "", "", ""],
    ["吴十", "", "", "", "", "", "", ",".join(f"t{i}" for i in range(51)), ""],
    ["郑十一", "", "12", "bad-mail", "电视", "", "", "", "备" * 5001],      # several at once
]


def test_a_rejected_row_gets_the_messages_of_a_single_create(leads_store):
    expected = [as_created(leads_store, row)["error"] for row in BAD_ROWS]
    report = import_rows(leads_store, BAD_ROWS, start_row=10)
    assert (report["created"], report["duplicates"], report["rejected"]) == (0, 0, len(BAD_ROWS))
    assert [r["row"] for r in report["rows"]] == list(range(10, 10 + len(BAD_ROWS)))
    for row, error in zip(report["rows"], expected, strict=True):
        assert (row["status"], row["reason"]) == ("rejected", "invalid")
        assert row["errors"] == error.details
    assert lead_count(leads_store) == 0 and outbox(leads_store) == []


def test_a_nul_in_a_cell_refuses_that_row_only(leads_store):
    """CSV allows NUL and PostgreSQL cannot store it: the row is rejected, the batch lives."""
    rows = [["林一", "", "13700000011", "", "", "", "", "", ""],
            ["林\x00二", "", "13700000012", "", "", "", "", "", ""],
            ["林三", "", "13700000013", "", "", "", "", "", "备注\x00"]]
    report = import_rows(leads_store, rows, start_row=5)
    assert (report["created"], report["duplicates"], report["rejected"]) == (1, 0, 2)
    assert [(r["row"], r["reason"], r["errors"][0]["field"]) for r in report["rows"]] == [
        (6, "invalid", "name"), (7, "invalid", "notes")]
    assert lead_count(leads_store) == 1 and len(outbox(leads_store)) == 1


GOOD_ROWS = [
    ["张伟", "上海星辰科技有限公司", "138 0013 8000", "Zhang.Wei@Example.COM", "展会", "上海",
     "科技", "华东，重点", "老客户介绍"],
    ["李娜", "", "+86-139-0000-0001", "POSTMASTER@example.cn", "", "北京", "医疗", "", ""],
    ["王芳", "杭州云帆网络", "", "wf@例子.中国", "转介绍", "", "", "", ""],     # IDN: LeadCreate
    ["赵敏", "", "０２１-６８８８-１２３４", "", "官网", "上海", "医疗", "a;b|c", "备注"],
]


def test_an_imported_lead_is_what_a_single_create_makes(leads_store):
    with leads_store.unit() as uow:
        scoring.store_model(uow.session, MODEL)
    created = [as_created(leads_store, row) for row in GOOD_ROWS]
    report = import_rows(leads_store, GOOD_ROWS)
    assert (report["created"], report["duplicates"], report["rejected"]) == (4, 0, 0)
    events = [e for e in outbox(leads_store) if e["type"] == "lead.created"]
    assert len(events) == 4
    for single, event in zip(created, events, strict=True):
        with leads_store.unit() as uow:
            lead = handlers.get_lead(uow, REP, event["data"]["lead_id"])
        want = single["lead"]
        assert want["score_model_version"] == 917 and want["score"] is not None
        differ = {"id", "created_at", "updated_at", "scored_at"}
        assert {k: v for k, v in lead.items() if k not in differ} == \
            {k: v for k, v in want.items() if k not in differ}
        [sent] = single["events"]
        assert event["data"] == {**sent["data"], "lead_id": lead["id"], "imported": True}
        assert (event["type"], event["source"], event["actor_id"], event["version"]) == \
            (sent["type"], sent["source"], sent["actor_id"], sent["version"])
    with leads_store.unit() as uow:
        actions = handlers.list_actions(uow, REP, events[0]["data"]["lead_id"])["items"]
    assert [(a["action"], a["field"], a["to"], a["reason"]) for a in actions] == \
        [("created", "source", "expo", "import")]


def test_duplicates_in_the_file_and_in_the_store(leads_store):
    with leads_store.unit(actor_id="rep1") as uow:
        existing = handlers.create_lead(uow, REP, {"name": "已有", "phone": "13500000000",
                                                   "company": "星河贸易有限公司"})
    rows = [
        ["张三", "甲公司", "13600000001", "ZS@example.cn", "", "", "", "", ""],
        ["李四", "", "+86 135-0000-0000", "", "", "", "", "", ""],          # store: phone
        ["王五", "", "136 0000 0001", "", "", "", "", "", ""],              # file: phone
        ["赵六", "", "", "zs@EXAMPLE.cn", "", "", "", "", ""],              # file: e-mail
        ["已有", "星河贸易", "", "", "", "", "", "", ""],                     # store: company+name
        ["孙七", "星河贸易", "", "", "", "", "", "", ""],                     # other person: new
        ["张三", "甲公司 有限公司", "", "", "", "", "", "", ""],              # file: company+name
    ]
    report = import_rows(leads_store, rows)
    assert (report["created"], report["duplicates"], report["rejected"]) == (2, 5, 0)
    by_row = {r["row"]: r for r in report["rows"]}
    first = by_row[4]["existing_id"]
    assert [(n, by_row[n]["reason"], by_row[n]["existing_id"]) for n in sorted(by_row)] == [
        (3, "duplicate_in_store", existing["id"]), (4, "duplicate_in_file", first),
        (5, "duplicate_in_file", first), (6, "duplicate_in_store", existing["id"]),
        (8, "duplicate_in_file", first)]
    again = import_rows(leads_store, [rows[0], ["周八", "", "", "", "", "", "", "", ""]],
                        start_row=20)
    assert (again["created"], again["duplicates"]) == (1, 1)
    assert again["rows"] == [{"row": 20, "status": "duplicate",
                              "reason": "duplicate_in_store", "existing_id": first}]
    assert lead_count(leads_store) == 4
    assert len([e for e in outbox(leads_store) if e["type"] == "lead.created"]) == 4


def _race(store, round_: int) -> list[str]:
    """4 imports (each with other rows around the phone) and 4 creates of one phone, started
    together: what each attempt was told about the phone."""
    phone = f"1370000{round_:04d}"
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def do_import(n):
        rows = [[f"甲{round_}-{n}-{i}", "", f"1590{round_}{n}{i:05d}", "", "", "", "", "", ""]
                for i in range(30)]
        rows.insert(n * 5, [f"乙{n}", "", f"+86 {phone}", "", "", "", "", "", ""])
        barrier.wait()
        report = import_rows(store, rows)
        assert report["created"] + report["duplicates"] == 31
        outcomes.append("duplicate" if report["duplicates"] else "created")

    def do_create(n):
        barrier.wait()
        try:
            with store.unit(actor_id="rep1") as uow:
                handlers.create_lead(uow, REP, {"name": f"丙{n}", "phone": phone})
            outcomes.append("created")
        except Conflict:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=do_import, args=(n,)) for n in range(4)] + \
              [threading.Thread(target=do_create, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lead_count(store, phone_norm=phone) == 1
    return outcomes


def test_concurrent_imports_and_creates_of_one_phone_make_one_lead(leads_store):
    """Exactly one lead has the phone, every other attempt is told it is a duplicate."""
    for round_ in range(6):
        assert sorted(_race(leads_store, round_)) == ["created"] + ["duplicate"] * 7


def test_the_relay_waits_while_more_batches_follow(leads_store):
    """``final=False`` holds this process's relay; the file's last batch releases it, and the
    events go out in order."""
    def unsent():
        with leads_store.engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar_one()

    with leads_store.unit(actor_id="rep1") as uow:
        imports.import_rows(uow, REP, HEADER, [["张伟", "", "13800000001"]], 2, final=False)
    relay = threading.Thread(target=leads_store.relay.run)
    relay.start()
    try:
        time.sleep(1.0)
        assert unsent() == 1
        with leads_store.unit(actor_id="rep1") as uow:
            imports.import_rows(uow, REP, HEADER, [["李娜", "", "13800000002"]], 3)
        deadline = time.monotonic() + 10
        while unsent() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert unsent() == 0
    finally:
        leads_store.relay.stop()
        relay.join()
