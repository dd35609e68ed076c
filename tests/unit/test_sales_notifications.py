"""The gateway's notification rules for the sales documents (合同待审批, 回款逾期)."""
from __future__ import annotations

from crmkit.events import envelope
from gateway.notifications import RULES, build_notification


def test_contract_approval_requested_notifies_the_approver():
    rule = RULES["contract.approval_requested"]
    assert (rule.exchange, rule.recipient, rule.title) == ("sales.events", "approver_id",
                                                           "合同待审批")
    built = build_notification(envelope("contract.approval_requested", {
        "contract_id": "c1", "number": "HT-2026-000123", "owner_id": "rep", "approver_id": "mgr",
        "total": "96000.00", "level": 1}, source="sales", actor_id="rep"))
    assert built["user_id"] == "mgr" and built["title"] == "合同待审批"
    assert "HT-2026-000123" in built["body"] and "¥96000.00" in built["body"]
    # the approver submitting (never allowed by the service) would not notify himself
    assert build_notification(envelope("contract.approval_requested", {"approver_id": "mgr"},
                                       source="sales", actor_id="mgr")) is None


def test_receivable_overdue_notifies_the_owner():
    rule = RULES["receivable.overdue"]
    assert (rule.exchange, rule.recipient, rule.title) == ("sales.events", "owner_id",
                                                           "回款逾期")
    built = build_notification(envelope("receivable.overdue", {
        "contract_id": "c1", "number": "HT-2026-000123", "owner_id": "rep",
        "instalment_id": "i1", "due_date": "2026-03-31", "outstanding": "15000.00"},
        source="sales"))                       # the overdue job acts as the system (no actor)
    assert built["user_id"] == "rep"
    assert "2026-03-31" in built["body"] and "¥15000.00" in built["body"]
