"""Notifications (移动消息提醒): which events notify whom, and the consumer that does it.

``RULES`` is the whole mapping, one row per event type: the exchange it comes from, the
field of ``data`` naming the user to notify, a Chinese title and the body text. An event is
skipped when that user is missing or is the actor (nobody is told about their own action).

The consumer (started in the app's lifespan) reads the durable queue
``gateway.notifications`` bound to the services' topic exchanges for exactly these types:

1. parse the envelope ``{id, type, version, occurred_at, source, actor_id, correlation_id,
   data}`` — malformed: straight to the dead-letter queue ``gateway.notifications.dlq``;
2. insert the inbox row (unique ``(event_id, user_id)``: a redelivered event adds nothing);
3. ack, only after the commit;
4. publish the notification on Redis channel ``notifications:<user_id>`` for open streams.

A failing insert is retried through ``gateway.notifications.retry`` (a delay queue that
dead-letters back into the main queue) ``NOTIFICATIONS_MAX_RETRIES`` times, then the
message is dead-lettered.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractQueue, AbstractRobustChannel
from fastapi.concurrency import run_in_threadpool
from redis.asyncio import Redis

from gateway.broker import EVENT_EXCHANGES, QueueConsumer, declare_exchanges, queue_arguments
from gateway.db import Database
from gateway.inbox import store_notification, to_json_ready
from gateway.metrics import (
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_FAILED,
    NOTIFICATIONS_CREATED,
)
from gateway.settings import Settings

log = logging.getLogger(__name__)

RETRIES_HEADER = "x-gateway-retries"

RETURN_REASONS = {"overdue": "超期未跟进，系统自动退回", "released": "负责人主动退回",
                  "not_converted": "超期未转化，系统自动退回",
                  "manual": "负责人主动退回"}


def _lead(d: dict) -> str:
    parts = [str(p) for p in (d.get("name"), d.get("company")) if p]
    return " · ".join(parts) or str(d.get("lead_id") or d.get("id") or "")


def _named(d: dict, *keys: str) -> str:
    for key in keys:
        if d.get(key):
            return str(d[key])
    return ""


def _returned_body(d: dict) -> str:
    reason = d.get("reason")
    text = RETURN_REASONS.get(str(reason), str(reason) if reason else "")
    return f"线索「{_lead(d)}」已退回公海" + (f"（{text}）" if text else "")


def _due_body(d: dict) -> str:
    deadline = d.get("follow_up_deadline") or d.get("deadline")
    when = f"请在 {deadline} 前跟进，" if deadline else "请尽快跟进，"
    return f"线索「{_lead(d)}」即将到期，{when}否则将自动退回公海"


def _won_body(d: dict) -> str:
    amount = d.get("amount")
    return f"商机「{_named(d, 'name', 'opportunity_id', 'id')}」已赢单" + (
        f"，金额 ¥{amount}" if amount else "")


@dataclass(frozen=True)
class NotificationRule:
    exchange: str
    recipient: str  # the field of the event's data naming the user to notify
    title: str
    body: Callable[[dict], str]


RULES: dict[str, NotificationRule] = {
    "lead.assigned": NotificationRule(
        "leads.events", "owner_id", "线索已分配给你",
        lambda d: f"线索「{_lead(d)}」已分配给你，请及时跟进"),
    "lead.returned_to_pool": NotificationRule(
        "leads.events", "previous_owner_id", "线索已退回公海", _returned_body),
    "lead.deadline_warning": NotificationRule(
        "leads.events", "owner_id", "线索即将退回公海",
        lambda d: _due_body({**d, "follow_up_deadline": d.get("deadline")})),
    "lead.transferred": NotificationRule(
        "leads.events", "owner_id", "线索已转交给你",
        lambda d: f"线索「{_lead(d)}」已转交给你" + (f"（{d['reason']}）" if d.get("reason")
                                                    else "") + "，请及时跟进"),
    "customer.created": NotificationRule(
        "customers.events", "owner_id", "新客户已创建",
        lambda d: f"客户「{_named(d, 'name', 'customer_id', 'id')}」已创建，负责人是你"),
    "ticket.created": NotificationRule(
        "service_desk.events", "assignee_id", "新工单待处理",
        lambda d: f"工单「{_named(d, 'title', 'ticket_id', 'id')}」已分配给你"
                  + (f"（优先级：{d['priority']}）" if d.get("priority") else "")),
    "ticket.assigned": NotificationRule(
        "service_desk.events", "assignee_id", "工单已分配给你",
        lambda d: f"工单「{_named(d, 'number', 'title', 'ticket_id')}」已分配给你，请及时处理"),
    "ticket.sla_warning": NotificationRule(
        "service_desk.events", "assignee_id", "工单即将超时",
        lambda d: f"工单「{_named(d, 'number', 'title', 'ticket_id')}」"
                  + ("首次响应" if d.get("target") == "first_response" else "解决")
                  + f"时限将于 {d.get('due_at')} 到期，请尽快处理"),
    "ticket.sla_breached": NotificationRule(
        "service_desk.events", "assignee_id", "工单已超时 SLA",
        lambda d: f"工单「{_named(d, 'number', 'title', 'ticket_id')}」已超过"
                  + ("首次响应" if d.get("target") == "first_response" else "解决")
                  + f"时限（{d.get('due_at')}）"),
    "ticket.sla_escalated": NotificationRule(  # the same SLA alert, to the assignee's manager
        "service_desk.events", "manager_id", "下属工单 SLA 预警",
        lambda d: f"工单「{_named(d, 'number', 'title', 'ticket_id')}」"
                  + ("已超时 SLA" if d.get("level") == "breached" else "即将超时")
                  + "（" + ("首次响应" if d.get("target") == "first_response" else "解决")
                  + f"时限 {d.get('due_at')}），处理人 {d.get('assignee_id')}"),
    "opportunity.won": NotificationRule(
        "sales.events", "owner_id", "商机赢单", _won_body),
    "contract.approval_requested": NotificationRule(
        "sales.events", "approver_id", "合同待审批",
        lambda d: f"合同「{_named(d, 'number', 'contract_id')}」待你审批"
                  + (f"，金额 ¥{d['total']}" if d.get("total") else "")
                  + (f"（第 {d['level']} 级）" if d.get("level") else "")),
    "receivable.overdue": NotificationRule(
        "sales.events", "owner_id", "回款逾期",
        lambda d: f"合同「{_named(d, 'number', 'contract_id')}」的回款已逾期"
                  + (f"（应收日 {d['due_date']}）" if d.get("due_date") else "")
                  + (f"，未收 ¥{d['outstanding']}" if d.get("outstanding") else "")),
    "follow_up_plan.due": NotificationRule(
        "customers.events", "owner_id", "跟进提醒",
        lambda d: f"{_named(d, 'subject')}：客户「{_named(d, 'customer_name', 'customer_id')}」"
                  f"，计划时间 {d.get('scheduled_at') or ''}"),
    "customer.churn_risk": NotificationRule(
        "analytics.events", "owner_id", "客户流失预警",
        lambda d: f"客户「{_named(d, 'name', 'customer_id')}」有流失风险（"
                  + ("投诉未关闭" if d.get("reason") == "open_complaint"
                     else "超过平均采购周期未下单") + "）"),
}


class MalformedEvent(ValueError):
    pass


def parse_envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise MalformedEvent(f"not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise MalformedEvent("the envelope is not an object")
    if not isinstance(envelope.get("id"), str) or not envelope["id"]:
        raise MalformedEvent("the envelope has no id")
    if not isinstance(envelope.get("type"), str):
        raise MalformedEvent("the envelope has no type")
    if not isinstance(envelope.get("data") or {}, dict):
        raise MalformedEvent("the envelope's data is not an object")
    return envelope


def build_notification(envelope: dict[str, Any]) -> dict[str, Any] | None:
    """The inbox row an event makes (kwargs of ``store_notification``), or None to skip."""
    rule = RULES.get(envelope["type"])
    if rule is None:
        return None
    data = envelope.get("data") or {}
    recipient = data.get(rule.recipient)
    if not recipient or recipient == envelope.get("actor_id"):
        return None
    return {"user_id": str(recipient), "type_": envelope["type"], "title": rule.title,
            "body": rule.body(data), "data": data, "event_id": envelope["id"]}


class NotificationConsumer(QueueConsumer):
    """Background consumer of the services' events into the inbox (see module docstring)."""

    name = "gateway-notifications"
    publisher_confirms = True           # a failed insert is republished to the retry queue

    def __init__(self, settings: Settings, database: Database, redis: Redis) -> None:
        super().__init__(settings)
        self.prefetch = settings.notifications_prefetch
        self.database = database
        self.redis = redis
        self.store: Callable[..., dict | None] = store_notification  # replaceable in tests

    async def declare(self, channel: AbstractRobustChannel) -> AbstractQueue:
        s = self.settings
        exchanges = await declare_exchanges(channel, EVENT_EXCHANGES)
        await channel.declare_queue(s.notifications_dlq, durable=True,
                                    arguments=queue_arguments(s))
        await channel.declare_queue(
            s.notifications_retry_queue, durable=True, arguments=queue_arguments(
                s, **{"x-dead-letter-exchange": "",
                      "x-dead-letter-routing-key": s.notifications_queue}))
        queue = await channel.declare_queue(
            s.notifications_queue, durable=True, arguments=queue_arguments(
                s, **{"x-dead-letter-exchange": "",
                      "x-dead-letter-routing-key": s.notifications_dlq}))
        for event_type, rule in RULES.items():
            await queue.bind(exchanges[rule.exchange], routing_key=event_type)
        return queue

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            envelope = parse_envelope(message.body)
        except MalformedEvent as exc:
            log.error("Dead-lettering a malformed event (routing key %s): %s",
                      message.routing_key, exc)
            EVENTS_DEAD_LETTERED.labels("malformed").inc()
            await message.reject(requeue=False)
            return
        label = envelope["type"] if envelope["type"] in RULES else "other"
        planned = build_notification(envelope)
        if planned is None:
            EVENTS_CONSUMED.labels(label, "skipped").inc()
            await message.ack()
            return
        try:
            stored = await run_in_threadpool(self.database.run, self.store, **planned)
        except Exception as exc:  # noqa: BLE001 - any failure: retry, then dead-letter
            EVENTS_FAILED.labels(label).inc()
            await self._retry_or_dead_letter(message, label, exc)
            return
        await message.ack()  # the row is committed
        if stored is None:
            EVENTS_CONSUMED.labels(label, "duplicate").inc()
            return
        EVENTS_CONSUMED.labels(label, "stored").inc()
        NOTIFICATIONS_CREATED.labels(label).inc()
        await self._push(planned["user_id"], stored)

    async def _retry_or_dead_letter(self, message: aio_pika.abc.AbstractIncomingMessage,
                                    label: str, exc: Exception) -> None:
        headers = dict(message.headers or {})
        try:
            retries = int(headers.get(RETRIES_HEADER) or 0)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            retries = 0
        if retries >= self.settings.notifications_max_retries or self._channel is None:
            log.error("Dead-lettering event %s after %d retries: %s",
                      message.message_id, retries, exc)
            EVENTS_DEAD_LETTERED.labels(label).inc()
            await message.reject(requeue=False)
            return
        log.warning("Event handling failed (attempt %d), retrying later: %s", retries + 1, exc)
        headers[RETRIES_HEADER] = retries + 1
        retry = aio_pika.Message(
            body=message.body, headers=headers, content_type=message.content_type,
            content_encoding=message.content_encoding, message_id=message.message_id,
            correlation_id=message.correlation_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            expiration=self.settings.notifications_retry_delay_ms / 1000)
        try:
            await self._channel.default_exchange.publish(
                retry, routing_key=self.settings.notifications_retry_queue)
        except Exception as publish_error:  # noqa: BLE001 - keep the message: requeue
            log.error("Could not schedule a retry, requeueing: %s", publish_error)
            await message.nack(requeue=True)
            return
        await message.ack()

    async def _push(self, user_id: str, notification: dict[str, Any]) -> None:
        channel = f"notifications:{user_id}"
        try:
            await self.redis.publish(channel, json.dumps(to_json_ready(notification),
                                                         ensure_ascii=False))
        except Exception as exc:  # noqa: BLE001 - stored and pollable; only the push failed
            log.warning("Could not publish notification %s to Redis: %s",
                        notification.get("id"), exc)
