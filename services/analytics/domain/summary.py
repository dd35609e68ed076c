"""One short Chinese sentence per business event, for the activity feed (业务关注).

Computed when the feed is read, from the logged event, so the wording can change
without touching stored data. Missing fields never fail: a sentence degrades to
what is known.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation


def _lead(d: dict) -> str:
    name, company = d.get("name") or "", d.get("company") or ""
    label = " / ".join(p for p in (name, company) if p) or d.get("lead_id") or "?"
    return f"线索「{label}」"


def _named(kind: str, d: dict, key: str) -> str:
    return f"{kind}「{d.get('name') or d.get(key) or '?'}」"


def _money(value) -> str:
    try:
        return f"¥{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def _opportunity(d: dict) -> str:
    return _named("商机", d, "opportunity_id")


def _with_amount(text: str, d: dict) -> str:
    return f"{text}，金额 {_money(d['amount'])}" if d.get("amount") not in (None, "") else text


def _stage_changed(d: dict) -> str:
    before, after = d.get("from_stage"), d.get("to_stage") or d.get("stage")
    if before:
        return f"{_opportunity(d)}从「{before}」推进到「{after}」"
    return f"{_opportunity(d)}进入「{after}」阶段"


def _lost(d: dict) -> str:
    reason = d.get("lost_reason")
    return f"{_opportunity(d)}输单" + (f"（原因：{reason}）" if reason else "")


def _ticket(d: dict) -> str:
    number = f"#{d['number']}" if d.get("number") else d.get("ticket_id") or "?"
    title = f"「{d['title']}」" if d.get("title") else ""
    return f"新工单 {number}{title}"


SENTENCES = {
    "lead.created": lambda d: f"新增{_lead(d)}",
    "lead.claimed": lambda d: f"{_lead(d)}被领取",
    "lead.released": lambda d: f"{_lead(d)}被退回公海",
    "lead.assigned": lambda d: f"{_lead(d)}被分配",
    "lead.followed_up": lambda d: f"{_lead(d)}有新的跟进",
    "lead.converted": lambda d: f"{_lead(d)}已转化为客户",
    "lead.updated": lambda d: f"{_lead(d)}信息已更新",
    "customer.created": lambda d: f"新增{_named('客户', d, 'customer_id')}",
    "customer.updated": lambda d: f"{_named('客户', d, 'customer_id')}信息已更新",
    "opportunity.created": lambda d: _with_amount(f"新建{_opportunity(d)}", d),
    "opportunity.stage_changed": _stage_changed,
    "opportunity.won": lambda d: _with_amount(f"{_opportunity(d)}赢单", d),
    "opportunity.lost": _lost,
    "pipeline.created": lambda d: f"新建{_named('销售流程', d, 'pipeline_id')}",
    "ticket.created": _ticket,
    "ticket.resolved": lambda d: f"工单 {d.get('number') or d.get('ticket_id') or '?'} 已解决",
    "customer.followed_up": lambda d: f"{_named('客户', d, 'customer_id')}有新的跟进",
    "contract.signed": lambda d: f"合同 {d.get('number') or d.get('contract_id') or '?'} 已签订"
                                 + (f"，金额 {_money(d['total'])}" if d.get("total") else ""),
    "payment.received": lambda d: f"收到回款 {_money(d.get('amount'))}"
                                  + (f"（合同 {d['number']}）" if d.get("number") else ""),
    "receivable.overdue": lambda d: f"应收款逾期 {_money(d.get('outstanding'))}"
                                    + (f"（合同 {d['number']}）" if d.get("number") else ""),
    "return.refunded": lambda d: f"退货 {d.get('number') or d.get('return_id') or '?'} 已退款 "
                                 f"{_money(d.get('refund_amount'))}",
    "customer.churn_risk": lambda d: f"{_named('客户', d, 'customer_id')}有流失风险",
}


def summarize(event_type: str, data: dict | None) -> str:
    sentence = SENTENCES.get(event_type)
    if sentence is None:
        return f"业务事件 {event_type}"
    return sentence(data or {})
