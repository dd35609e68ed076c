"""Service tests of the sales documents on the real broker: products, quotes, contracts with
approval, receivable plans, payments, the overdue job, invoices, billing and merges.

Run: ``nameko test tests/service/test_sales_documents.py -q -p no:cacheprovider``.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import eventlet
import pytest
import sqlalchemy as sa
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crmkit.events import envelope
from crmkit.uow import Store
from services.sales import documents
from services.sales.models import Base
from services.sales.service import SalesService
from tests.pg import create_database, drop_database
from tests.service.conftest import EventTap, principal, publish_event

REP = "01900000000070008000000000000a01"
OTHER_REP = "01900000000070008000000000000b02"
MANAGER = "01900000000070008000000000000c03"
DIRECTOR = "01900000000070008000000000000e05"
FINANCE_USER = "01900000000070008000000000000f06"
TEAM = "01900000000070008000000000000d04"
CUSTOMER = "01900000000070008000000000c00001"
OTHER_CUSTOMER = "01900000000070008000000000c00002"

REP_P = principal(REP, team_id=TEAM)
OTHER_P = principal(OTHER_REP, team_id=TEAM)
MANAGER_P = principal(MANAGER, "manager", [MANAGER, REP, OTHER_REP], TEAM)
DIRECTOR_P = principal(DIRECTOR, "manager", None)
FINANCE_P = principal(FINANCE_USER, "finance", None)
ADMIN_P = principal(DIRECTOR, "admin", None)

SHANGHAI = timeutil.business_tz()
START = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
MIGRATIONS = Path(documents.__file__).parent / "migrations"


def at(day: str, clock: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI)


class Tap(EventTap):
    """Every event that arrived, in order."""

    def __init__(self, amqp_uri: str):
        super().__init__(amqp_uri, "sales")
        self.events: list[dict] = []

    def collect(self, *types: str, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            while (message := self.queue.get(no_ack=True)) is not None:
                self.events.append(json.loads(message.body))
            remaining = list(types)
            for event in self.events:
                if event["type"] in remaining:
                    remaining.remove(event["type"])
            if not remaining:
                return [e for e in self.events if e["type"] in types]
            if time.monotonic() > deadline:
                raise AssertionError(f"{remaining} did not arrive; got "
                                     f"{[e['type'] for e in self.events]}")
            time.sleep(0.05)

    def of(self, event_type: str) -> list[dict]:
        self.collect()
        return [e for e in self.events if e["type"] == event_type]


@pytest.fixture
def tap(rabbit_config):
    tap = Tap(rabbit_config["AMQP_URI"])
    yield tap
    tap.close()


@pytest.fixture
def container(container_factory, service_config, tap):
    container = container_factory(SalesService, service_config("sales"))
    container.start()
    return container


@pytest.fixture
def call(container):
    def call(context, method, **kwargs):
        with entrypoint_hook(container, method, context_data=context) as hook:
            return hook(**kwargs)
    return call


@pytest.fixture
def catalogue(call):
    a = call(ADMIN_P, "create_product", data={"sku": "CRM-STD", "name": "CRM 标准版",
                                               "unit": "套", "list_price": "12000.00",
                                               "category": "软件"})
    b = call(ADMIN_P, "create_product", data={"sku": "SVC-DAY", "name": "实施服务",
                                               "unit": "人天", "list_price": "1500.00",
                                               "category": "服务"})
    return a, b


def make_signed(call, catalogue, quantity="2", approvers=(MANAGER,)):
    crm, _ = catalogue
    contract = call(REP_P, "create_contract", data={
        "customer_id": CUSTOMER, "lines": [{"product_id": crm["id"], "quantity": quantity}]})
    call(REP_P, "submit_contract", contract_id=contract["id"], approvers=list(approvers))
    for who in ({MANAGER: MANAGER_P, DIRECTOR: DIRECTOR_P}[a] for a in approvers):
        call(who, "approve_contract", contract_id=contract["id"], comment="同意")
    return call(REP_P, "sign_contract", contract_id=contract["id"])


def test_products(call, tap):
    crm = call(ADMIN_P, "create_product", data={"sku": "CRM-STD", "name": "CRM 标准版",
                                                 "unit": "套", "list_price": "12000.00"})
    assert crm["list_price"] == "12000.00" and crm["active"] is True
    assert tap.collect("product.created")[0]["data"]["sku"] == "CRM-STD"
    with pytest.raises(Conflict) as err:
        call(MANAGER_P, "create_product", data={"sku": "CRM-STD", "name": "x", "unit": "套",
                                                 "list_price": "1.00"})
    assert err.value.code == "sku_taken"
    with pytest.raises(ValidationFailed) as err:
        call(ADMIN_P, "create_product", data={"sku": "NEG", "name": "x", "unit": "套",
                                               "list_price": "-1.00"})
    assert err.value.details[0]["field"] == "list_price"
    with pytest.raises(Forbidden):
        call(REP_P, "create_product", data={"sku": "X", "name": "x", "unit": "套",
                                             "list_price": "1.00"})
    updated = call(MANAGER_P, "update_product", product_id=crm["id"],
                   data={"list_price": "11800.50", "active": False})
    assert (updated["list_price"], updated["active"]) == ("11800.50", False)
    assert tap.collect("product.updated")[0]["data"]["changed"] == ["active", "list_price"]
    with pytest.raises(ValidationFailed):
        call(MANAGER_P, "update_product", product_id=crm["id"], data={"list_price": None})
    assert call(REP_P, "get_product", product_id=crm["id"])["sku"] == "CRM-STD"
    assert call(REP_P, "list_products", active=False)["items"][0]["id"] == crm["id"]
    assert call(REP_P, "list_products", active=True)["items"] == []
    with pytest.raises(NotFound):
        call(REP_P, "get_product", product_id="nope")


def test_quote_totals_and_life_cycle(call, tap, catalogue):
    crm, svc = catalogue
    with timeutil.freeze(START):
        quote = call(REP_P, "create_quote", data={
            "customer_id": CUSTOMER, "tax_rate": "0.13", "valid_until": "2026-03-31",
            "total": "1.00", "subtotal": "1.00",                       # ignored: server computes
            "lines": [{"product_id": crm["id"], "quantity": "2", "discount": "0.1"},
                      {"product_id": svc["id"], "quantity": "3", "unit_price": "1333.33"}]})
    assert [li["unit_price"] for li in quote["lines"]] == ["12000.00", "1333.33"]
    assert (quote["subtotal"], quote["discount"], quote["tax"], quote["total"]) == (
        "27999.99", "2400.00", "3328.00", "28927.99")  # 3327.9987 → 3328.00
    assert quote["status"] == "draft" and quote["owner_id"] == REP
    for bad, field in [({"product_id": "nope", "quantity": "1"}, "lines.0.product_id"),
                       ({"product_id": crm["id"], "quantity": "0"}, "lines.0.quantity"),
                       ({"product_id": crm["id"], "quantity": "1", "discount": "1.5"},
                        "lines.0.discount"),
                       ({"product_id": crm["id"], "quantity": "1", "unit_price": "-1"},
                        "lines.0.unit_price")]:
        with pytest.raises(ValidationFailed) as err:
            call(REP_P, "create_quote", data={"customer_id": CUSTOMER, "lines": [bad]})
        assert err.value.details[0]["field"] == field
    assert call(REP_P, "list_quotes", customer_id=CUSTOMER)["items"][0]["id"] == quote["id"]
    assert call(OTHER_P, "list_quotes", customer_id=CUSTOMER)["items"] == []  # scoped
    with pytest.raises(NotFound):
        call(OTHER_P, "get_quote", quote_id=quote["id"])
    with timeutil.freeze(START), pytest.raises(Conflict) as err:
        call(REP_P, "accept_quote", quote_id=quote["id"])
    assert err.value.code == "invalid_quote_status"
    with timeutil.freeze(START):
        assert call(REP_P, "send_quote", quote_id=quote["id"])["status"] == "sent"
    # on its last valid day it can be accepted; the day after it reads as expired
    with timeutil.freeze(at("2026-04-01", "00:00:01")):
        assert call(REP_P, "get_quote", quote_id=quote["id"])["status"] == "expired"
        assert call(REP_P, "list_quotes", status="expired")["items"][0]["id"] == quote["id"]
        with pytest.raises(Conflict) as err:
            call(REP_P, "accept_quote", quote_id=quote["id"])
        assert err.value.code == "quote_expired"
    with timeutil.freeze(at("2026-03-31", "23:59")):
        accepted = call(REP_P, "accept_quote", quote_id=quote["id"])
    assert accepted["status"] == "accepted"
    sent, done = tap.collect("quote.sent", "quote.accepted")
    assert sent["data"]["total"] == "28927.99" and done["data"]["status"] == "accepted"
    with timeutil.freeze(START):
        other = call(REP_P, "create_quote", data={"customer_id": CUSTOMER, "lines": [
            {"product_id": svc["id"], "quantity": "1"}]})
        call(REP_P, "send_quote", quote_id=other["id"])
        assert call(MANAGER_P, "reject_quote", quote_id=other["id"],
                    reason="价格太高")["status"] == "rejected"
    assert tap.collect("quote.rejected")[0]["data"]["reason"] == "价格太高"

    # a contract from the accepted quote copies its lines and totals, numbered per year
    with timeutil.freeze(START):
        contract = call(REP_P, "create_contract", data={"quote_id": quote["id"]})
        with pytest.raises(Conflict) as err:
            call(REP_P, "create_contract", data={"quote_id": quote["id"]})
        assert err.value.code == "contract_exists"
        with pytest.raises(Conflict) as err:
            call(REP_P, "create_contract", data={"quote_id": other["id"]})
        assert err.value.code == "quote_not_accepted"
    assert contract["number"] == "HT-2026-000001" and contract["total"] == "28927.99"
    assert [(li["sku"], li["amount"]) for li in contract["lines"]] == [
        ("CRM-STD", "21600.00"), ("SVC-DAY", "3999.99")]


def test_contract_approval(call, tap, catalogue):
    crm, _ = catalogue
    small = call(REP_P, "create_contract", data={
        "customer_id": CUSTOMER, "lines": [{"product_id": crm["id"], "quantity": "8"}]})
    big = call(REP_P, "create_contract", data={
        "customer_id": CUSTOMER, "lines": [{"product_id": crm["id"], "quantity": "9"}]})
    assert (small["total"], big["total"]) == ("96000.00", "108000.00")
    assert [small["number"][-6:], big["number"][-6:]] == ["000001", "000002"]

    with pytest.raises(Conflict) as err:
        call(REP_P, "sign_contract", contract_id=small["id"])
    assert err.value.code == "contract_not_approved"
    with pytest.raises(ValidationFailed) as err:
        call(REP_P, "submit_contract", contract_id=small["id"], approvers=[])
    assert err.value.code == "approver_missing"
    with pytest.raises(Conflict) as err:
        call(REP_P, "submit_contract", contract_id=small["id"], approvers=[REP])
    assert err.value.code == "own_contract"
    with pytest.raises(ValidationFailed) as err:  # above the second-level amount
        call(REP_P, "submit_contract", contract_id=big["id"], approvers=[MANAGER])
    assert err.value.code == "approver_missing"
    assert call(REP_P, "get_contract", contract_id=small["id"])["status"] == "draft"

    pending = call(REP_P, "submit_contract", contract_id=small["id"],
                   approvers=[MANAGER, DIRECTOR])
    assert pending["status"] == "pending_approval"
    assert [(s["level"], s["approver_id"]) for s in pending["approval_steps"]] == [(1, MANAGER)]
    submitted, requested = tap.collect("contract.submitted", "contract.approval_requested")
    assert requested["data"]["approver_id"] == MANAGER
    assert submitted["data"]["number"] == small["number"]
    with pytest.raises(Forbidden) as err:
        call(DIRECTOR_P, "approve_contract", contract_id=small["id"])
    assert err.value.code == "not_your_approval"
    with pytest.raises(Conflict) as err:
        call(REP_P, "approve_contract", contract_id=small["id"])
    assert err.value.code == "own_contract"
    with pytest.raises(NotFound):
        call(OTHER_P, "approve_contract", contract_id=small["id"])
    with pytest.raises(ValidationFailed) as err:
        call(MANAGER_P, "reject_contract", contract_id=small["id"], comment=" ")
    assert err.value.code == "comment_required"
    rejected = call(MANAGER_P, "reject_contract", contract_id=small["id"], comment="价格需复核")
    assert rejected["status"] == "rejected"
    assert tap.collect("contract.rejected")[0]["data"]["comment"] == "价格需复核"
    call(REP_P, "submit_contract", contract_id=small["id"], approvers=[MANAGER])
    approved = call(MANAGER_P, "approve_contract", contract_id=small["id"], comment="同意")
    assert approved["status"] == "approved"
    assert [(s["round"], s["decision"]) for s in approved["approval_steps"]] == [
        (1, "rejected"), (2, "approved")]

    # two levels: the manager, then the director (the approver outside the rep's scope)
    call(REP_P, "submit_contract", contract_id=big["id"], approvers=[MANAGER, DIRECTOR])
    step1 = call(MANAGER_P, "approve_contract", contract_id=big["id"])
    assert step1["status"] == "pending_approval"
    with pytest.raises(Forbidden):
        call(MANAGER_P, "approve_contract", contract_id=big["id"])
    assert call(DIRECTOR_P, "approve_contract", contract_id=big["id"])["status"] == "approved"
    requests = tap.collect("contract.approval_requested", "contract.approval_requested",
                           "contract.approval_requested", "contract.approval_requested")
    assert [e["data"]["approver_id"] for e in requests][-2:] == [MANAGER, DIRECTOR]
    assert len(tap.collect("contract.approved", "contract.approved")) == 2

    signed = call(REP_P, "sign_contract", contract_id=big["id"])
    assert signed["status"] == "signed" and signed["signed_at"].endswith("+00:00")
    event = tap.collect("contract.signed")[0]["data"]
    assert {"contract_id", "number", "customer_id", "owner_id", "team_id", "total", "currency",
            "signed_at", "lines"} <= set(event)
    assert event["lines"] == [{"line_id": signed["lines"][0]["id"], "product_id": crm["id"],
                               "sku": "CRM-STD", "name": "CRM 标准版", "quantity": "9",
                               "unit_price": "12000.00", "amount": "108000.00"}]
    assert (event["total"], event["team_id"]) == ("108000.00", TEAM)
    assert call(REP_P, "complete_contract", contract_id=big["id"])["status"] == "completed"
    with pytest.raises(Conflict):
        call(REP_P, "cancel_contract", contract_id=big["id"])
    assert call(REP_P, "cancel_contract", contract_id=small["id"],
                reason="客户取消")["status"] == "cancelled"
    tap.collect("contract.completed", "contract.cancelled")
    assert [c["status"] for c in call(REP_P, "list_contracts", customer_id=CUSTOMER)["items"]
            ] == ["completed", "cancelled"]

    # an approver outside the owner's scope still reviews and decides the step
    outside = principal(OTHER_REP, "sales", [OTHER_REP], TEAM)
    third = call(REP_P, "create_contract", data={
        "customer_id": CUSTOMER, "lines": [{"product_id": crm["id"], "quantity": "1"}]})
    with pytest.raises(NotFound):
        call(outside, "get_contract", contract_id=third["id"])
    call(REP_P, "submit_contract", contract_id=third["id"], approvers=[OTHER_REP])
    assert call(outside, "get_contract", contract_id=third["id"])["status"] == "pending_approval"
    assert call(outside, "reject_contract", contract_id=third["id"],
                comment="请补充附件")["status"] == "rejected"
    assert call(outside, "list_contracts")["items"] == []  # lists stay in scope


def test_receivables_payments_and_the_overdue_job(call, container, tap, catalogue):
    with timeutil.freeze(START):
        contract = make_signed(call, catalogue)  # 24000.00
        for instalments, code in [
            ([{"due_date": "2026-03-31", "amount": "10000.00"}], "invalid_receivable_plan"),
            ([{"due_date": "2026-03-31", "amount": "24000.00"},
              {"due_date": "2026-04-30", "amount": "-1.00"}], "validation_error")]:
            with pytest.raises(ValidationFailed) as err:
                call(REP_P, "create_receivable_plan", contract_id=contract["id"],
                     data={"instalments": instalments})
            assert err.value.code == code
        plan = call(REP_P, "create_receivable_plan", contract_id=contract["id"], data={
            "instalments": [{"due_date": "2026-05-31", "amount": "4000.00"},
                            {"due_date": "2026-03-31", "amount": "20000.00"}]})
        with pytest.raises(Conflict) as err:
            call(REP_P, "create_receivable_plan", contract_id=contract["id"],
                 data={"instalments": [{"due_date": "2026-03-31", "amount": "24000.00"}]})
        assert err.value.code == "receivable_plan_exists"
        dropped = make_signed(call, catalogue, quantity="1")  # cancelled: never overdue
        call(REP_P, "create_receivable_plan", contract_id=dropped["id"], data={
            "instalments": [{"due_date": "2026-03-31", "amount": "12000.00"}]})
        call(REP_P, "cancel_contract", contract_id=dropped["id"], reason="客户取消")
    first, second = plan["instalments"]
    assert (first["due_date"], first["amount"], first["status"]) == (
        "2026-03-31", "20000.00", "pending")
    assert tap.collect("receivable.planned")[0]["data"]["total"] == "24000.00"

    def pay(amount, instalment=first, when="2026-03-02T09:00:00+08:00"):
        return call(FINANCE_P, "record_payment", data={
            "instalment_id": instalment["id"], "amount": amount, "paid_at": when,
            "method": "bank_transfer"})

    def job(moment):
        with timeutil.freeze(moment), entrypoint_hook(container, "mark_overdue_instalments") as h:
            return h()

    with timeutil.freeze(START):
        payment = pay("5000.00")
        assert payment["amount"] == "5000.00" and payment["customer_id"] == CUSTOMER
        with pytest.raises(Conflict) as err:
            pay("15000.01")
        assert err.value.code == "overpayment"
        with pytest.raises(ValidationFailed):
            pay("-1.00")
        assert call(REP_P, "get_receivable_plan", contract_id=contract["id"])[
            "instalments"][0]["status"] == "partial"
    received = tap.collect("payment.received")[0]["data"]
    assert (received["amount"], received["outstanding"], received["owner_id"]) == (
        "5000.00", "15000.00", REP)

    # the overdue job: before and on the due day nothing; the day after, once
    assert job(at("2026-03-30")) == 0
    assert job(at("2026-03-31", "23:59:59")) == 0
    assert job(at("2026-04-01", "00:00:01")) == 1
    assert job(at("2026-04-02")) == 0
    overdue = tap.collect("receivable.overdue")
    assert len(overdue) == 1
    assert {k: overdue[0]["data"][k] for k in ("owner_id", "contract_id", "instalment_id",
                                               "due_date", "outstanding")} == {
        "owner_id": REP, "contract_id": contract["id"], "instalment_id": first["id"],
        "due_date": "2026-03-31", "outstanding": "15000.00"}

    with timeutil.freeze(at("2026-05-15")):
        report = call(MANAGER_P, "receivables_ageing", team_id=TEAM)
        assert report["items"] == [{"owner_id": REP, "team_id": TEAM, "total": "15000.00",
                                    "buckets": {"0-30": "0.00", "31-60": "15000.00",
                                                "61-90": "0.00", ">90": "0.00"}}]
        assert call(OTHER_P, "receivables_ageing")["items"] == []
        assert [i["id"] for i in call(MANAGER_P, "list_receivable_plans",
                                      customer_id=CUSTOMER, status="overdue")["items"]] == [
            first["id"]]
        pay("15000.00")
        pay("4000.00", second)
        done = call(REP_P, "get_receivable_plan", contract_id=contract["id"])
        assert [i["status"] for i in done["instalments"]] == ["paid", "paid"]
        assert done["outstanding"] == "0.00"
        assert call(MANAGER_P, "receivables_ageing")["total"] == "0.00"
        with pytest.raises(Conflict):
            pay("0.01", second)
    assert len(call(REP_P, "list_payments", customer_id=CUSTOMER)["items"]) == 3
    assert call(OTHER_P, "list_payments", customer_id=CUSTOMER)["items"] == []


def test_overdue_job_on_postgresql_replicas(catalogue_pg, rabbit_config):
    """Six runs of the job from two replicas' stores at the same moment, on one PostgreSQL
    store: every overdue instalment is marked and reported exactly once."""
    config, contract_ids = catalogue_pg
    url = config["CRM"].database_url
    stores = [Store("sales", Base.metadata, MIGRATIONS, url, rabbit_config["AMQP_URI"],
                    relay=False) for _ in range(2)]
    marked: list[int] = []

    def run(store):
        with store.unit() as uow:
            marked.append(documents.mark_overdue(uow))

    try:
        with timeutil.freeze(at("2026-04-05")):
            pool = eventlet.GreenPool()
            for store in stores * 3:
                pool.spawn(run, store)
            pool.waitall()
        assert sum(marked) == len(contract_ids)
        with stores[0].engine.connect() as conn:
            reported = conn.execute(sa.select(sa.func.count()).select_from(stores[0].outbox)
                                    .where(stores[0].outbox.c.type == "receivable.overdue"))
            assert reported.scalar() == len(contract_ids)
    finally:
        for store in stores:
            store.engine.dispose()


@pytest.fixture
def catalogue_pg(container_factory, service_config):
    url = create_database("crm_sales_docs")
    config = service_config("sales", database_url=url)
    setup = container_factory(SalesService, config)
    setup.start()

    def call(context, method, **kwargs):
        with entrypoint_hook(setup, method, context_data=context) as hook:
            return hook(**kwargs)

    ids = []
    with timeutil.freeze(START):
        catalogue = (call(ADMIN_P, "create_product", data={
            "sku": "CRM-STD", "name": "CRM 标准版", "unit": "套", "list_price": "100.00"}), None)
        for _ in range(4):
            contract = make_signed(call, catalogue, quantity="1")
            call(REP_P, "create_receivable_plan", contract_id=contract["id"], data={
                "instalments": [{"due_date": "2026-03-31", "amount": "100.00"}]})
            ids.append(contract["id"])
    setup.stop()
    yield config, ids
    drop_database(url)


def test_invoices_billing_and_lists(call, tap, catalogue, rabbit_config):
    with timeutil.freeze(START):
        contract = make_signed(call, catalogue, quantity="1")  # 12000.00
    with pytest.raises(Forbidden):
        call(REP_P, "issue_invoice", data={"contract_id": contract["id"], "number": "F1",
                                            "amount": "100.00", "tax": "0.00",
                                            "issued_on": "2026-03-05"})
    invoice = call(FINANCE_P, "issue_invoice", data={
        "contract_id": contract["id"], "number": "FP-0001", "amount": "10000.00",
        "tax": "1150.44", "issued_on": "2026-03-05"})
    assert invoice["amount"] == "10000.00"
    for number, amount, code in [("FP-0002", "2000.01", "invoice_exceeds_contract"),
                                 ("FP-0001", "1.00", "invoice_number_taken")]:
        with pytest.raises(Conflict) as err:
            call(FINANCE_P, "issue_invoice", data={
                "contract_id": contract["id"], "number": number, "amount": amount,
                "tax": "0.00", "issued_on": "2026-03-05"})
        assert err.value.code == code
    call(FINANCE_P, "issue_invoice", data={"contract_id": contract["id"], "number": "FP-0002",
                                           "amount": "2000.00", "tax": "0.00",
                                           "issued_on": "2026-03-06"})
    assert tap.collect("invoice.issued", "invoice.issued")[1]["data"]["invoiced_total"] == \
        "12000.00"
    assert len(call(REP_P, "list_invoices", customer_id=CUSTOMER)["items"]) == 2

    billing = {"title": "上海星辰科技有限公司", "tax_id": "91310000MA1FL0XX1X",
               "bank": "招商银行上海分行", "account": "1219 0000 0000 001",
               "address": "上海市浦东新区张江路 88 号"}
    with pytest.raises(Forbidden):
        call(REP_P, "put_billing", customer_id=OTHER_CUSTOMER, data=billing)
    with pytest.raises(ValidationFailed):
        call(FINANCE_P, "put_billing", customer_id=OTHER_CUSTOMER, data={"bank": "x"})
    call(FINANCE_P, "put_billing", customer_id=OTHER_CUSTOMER, data=billing)
    assert call(REP_P, "get_billing", customer_id=OTHER_CUSTOMER)["tax_id"] == billing["tax_id"]
    assert tap.collect("billing.updated")[0]["data"]["customer_id"] == OTHER_CUSTOMER
    with pytest.raises(NotFound):
        call(REP_P, "get_billing", customer_id=CUSTOMER)

    # customer.merged: OTHER_CUSTOMER's documents and billing move to CUSTOMER, once
    opp = call(REP_P, "create_opportunity", data={"customer_id": OTHER_CUSTOMER,
                                                   "name": "二期", "amount": "1.00"})
    merged = envelope("customer.merged", {"survivor_id": CUSTOMER, "merged_id": OTHER_CUSTOMER,
                                          "owner_id": REP}, source="customers",
                      correlation_id="c1")
    for _ in range(2):
        publish_event(rabbit_config["AMQP_URI"], merged)
    deadline = time.monotonic() + 10
    while call(REP_P, "get_opportunity", opportunity_id=opp["id"])["customer_id"] != CUSTOMER:
        assert time.monotonic() < deadline, "customer.merged was not applied"
        time.sleep(0.1)
    assert call(REP_P, "get_billing", customer_id=CUSTOMER)["tax_id"] == billing["tax_id"]
    with pytest.raises(NotFound):
        call(REP_P, "get_billing", customer_id=OTHER_CUSTOMER)
    assert call(REP_P, "list_opportunities", customer_id=OTHER_CUSTOMER)["items"] == []
    # both with billing details: the survivor's stay, the merged customer's go
    third = "01900000000070008000000000c00003"
    call(FINANCE_P, "put_billing", customer_id=third, data={**billing, "tax_id": "THIRD"})
    publish_event(rabbit_config["AMQP_URI"], envelope(
        "customer.merged", {"survivor_id": CUSTOMER, "merged_id": third, "owner_id": REP},
        source="customers", correlation_id="c2"))
    deadline = time.monotonic() + 10
    while True:
        try:
            call(REP_P, "get_billing", customer_id=third)
        except NotFound:
            break
        assert time.monotonic() < deadline, "the second customer.merged was not applied"
        time.sleep(0.1)
    assert call(REP_P, "get_billing", customer_id=CUSTOMER)["tax_id"] == billing["tax_id"]
    for method in ("list_opportunities", "list_quotes", "list_contracts",
                   "list_receivable_plans", "list_payments", "list_invoices"):
        page = call(REP_P, method, customer_id=CUSTOMER, limit=1)
        assert set(page) == {"items", "next_cursor"}, method


@pytest.fixture(params=["sqlite", "postgresql"])
def wire_container(request, container_factory, service_config):
    """The service on SQLite, or as two replicas on one PostgreSQL store."""
    if request.param == "sqlite":
        container = container_factory(SalesService, service_config("sales"))
        container.start()
        yield
        return
    url = create_database("crm_sales_wire")
    config = service_config("sales", database_url=url)
    replicas = [container_factory(SalesService, config) for _ in range(2)]
    for replica in replicas:
        replica.start()
    yield
    for replica in replicas:
        replica.stop()
    drop_database(url)


def test_concurrent_contract_numbers_and_payments_over_the_wire(wire_container, rabbit_config):
    """Concurrent callers over RabbitMQ: numbers never repeat; payments never overpay;
    invoices never exceed the total."""
    config = {"AMQP_URI": rabbit_config["AMQP_URI"]}
    with ServiceRpcProxy("sales", config, context_data=ADMIN_P) as sales:
        crm = sales.create_product(data={"sku": "CRM-STD", "name": "CRM 标准版", "unit": "套",
                                         "list_price": "12000.00"})
    results: list = []

    def create(n):
        with ServiceRpcProxy("sales", config, context_data=REP_P) as sales:
            results.append(sales.create_contract(data={
                "customer_id": CUSTOMER, "lines": [{"product_id": crm["id"], "quantity": "1"}]}))

    pool = eventlet.GreenPool()
    for n in range(8):
        pool.spawn(create, n)
    pool.waitall()
    numbers = sorted(r["number"] for r in results)
    year = timeutil.business_day(timeutil.now()).year
    assert numbers == [f"HT-{year}-{n:06d}" for n in range(1, 9)]

    contract = results[0]
    with ServiceRpcProxy("sales", config, context_data=REP_P) as sales:
        sales.submit_contract(contract_id=contract["id"], approvers=[MANAGER])
    with ServiceRpcProxy("sales", config, context_data=MANAGER_P) as sales:
        sales.approve_contract(contract_id=contract["id"])
        plan = sales.create_receivable_plan(contract_id=contract["id"], data={
            "instalments": [{"due_date": "2099-01-01", "amount": "12000.00"}]})
    instalment = plan["instalments"][0]["id"]
    outcomes: list[str] = []

    def pay():
        with ServiceRpcProxy("sales", config, context_data=FINANCE_P) as sales:
            try:
                sales.record_payment(data={"instalment_id": instalment, "amount": "5000.00",
                                           "paid_at": "2026-03-10T10:00:00+08:00",
                                           "method": "bank_transfer"})
                outcomes.append("ok")
            except RemoteError as exc:
                outcomes.append(exc.exc_type)

    for _ in range(4):
        pool.spawn(pay)
    pool.waitall()
    assert outcomes.count("ok") == 2 and outcomes.count("Conflict") == 2

    with ServiceRpcProxy("sales", config, context_data=REP_P) as sales:
        sales.sign_contract(contract_id=contract["id"])
    invoiced: list[str] = []

    def invoice(n):
        with ServiceRpcProxy("sales", config, context_data=FINANCE_P) as sales:
            try:
                sales.issue_invoice(data={"contract_id": contract["id"], "number": f"RACE-{n}",
                                          "amount": "7000.00", "tax": "0.00",
                                          "issued_on": "2026-03-10"})
                invoiced.append("ok")
            except RemoteError as exc:
                invoiced.append(exc.exc_type)

    for n in range(3):
        pool.spawn(invoice, n)
    pool.waitall()
    assert sorted(invoiced) == ["Conflict", "Conflict", "ok"]
