"""The event envelope as analytics reads it (pure functions, no I/O).

``parse`` checks the envelope ``{id, type, version, occurred_at, source, actor_id,
correlation_id, data}`` and returns an ``Event``. ``owner_id``, ``team_id``,
``subject_id`` and ``amount`` are what the log indexes and the projections use.
A malformed envelope or amount raises ``MalformedEvent``: the consumer retries it and
then dead-letters it, it never half-applies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from crmkit import timeutil

SUBJECT_KEYS = {"lead": "lead_id", "customer": "customer_id", "opportunity": "opportunity_id",
                "ticket": "ticket_id", "pipeline": "pipeline_id"}
CENT = Decimal("0.01")


class MalformedEvent(ValueError):
    """The event cannot be applied as it is (bad envelope or field)."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    occurred_at: datetime
    actor_id: str | None = None
    correlation_id: str | None = None
    version: int = 1
    data: dict = field(default_factory=dict)

    @property
    def owner_id(self) -> str | None:
        return _text(self.data.get("owner_id"))

    @property
    def team_id(self) -> str | None:
        return _text(self.data.get("team_id"))

    @property
    def subject_id(self) -> str | None:
        key = SUBJECT_KEYS.get(self.type.split(".", 1)[0])
        return _text(self.data.get(key)) if key else None

    @property
    def amount(self) -> Decimal | None:
        return parse_amount(self.data.get("amount"))


def _text(value) -> str | None:
    return None if value is None or value == "" else str(value)


def parse(raw) -> Event:
    if not isinstance(raw, dict):
        raise MalformedEvent("event body is not a JSON object")
    missing = [k for k in ("id", "type", "source", "occurred_at") if not raw.get(k)]
    if missing:
        raise MalformedEvent(f"event lacks {', '.join(missing)}")
    data = raw.get("data") or {}
    if not isinstance(data, dict):
        raise MalformedEvent("event data is not an object")
    try:
        occurred_at = timeutil.parse_time(raw["occurred_at"])
    except (TypeError, ValueError) as exc:
        raise MalformedEvent(f"bad occurred_at: {raw['occurred_at']!r}") from exc
    try:
        version = int(raw.get("version") or 1)
    except (TypeError, ValueError) as exc:
        raise MalformedEvent(f"bad version: {raw.get('version')!r}") from exc
    return Event(id=str(raw["id"]), type=str(raw["type"]), source=str(raw["source"]),
                 occurred_at=occurred_at, actor_id=_text(raw.get("actor_id")),
                 correlation_id=_text(raw.get("correlation_id")), version=version, data=data)


def parse_amount(value) -> Decimal | None:
    """A money field (decimal string) → Decimal with 2 places; garbage raises MalformedEvent."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError) as exc:
        raise MalformedEvent(f"bad amount: {value!r}") from exc
    if not amount.is_finite():
        raise MalformedEvent(f"bad amount: {value!r}")
    return amount.quantize(CENT)


def to_cents(amount: Decimal | None) -> int:
    return 0 if amount is None else int((amount * 100).to_integral_value())


def from_cents(cents: int | None) -> str:
    return f"{Decimal(cents or 0) / 100:.2f}"


def parse_probability(value) -> float | None:
    """Stage probability as sent (10, "10", 0.1 ...); None when absent or unreadable."""
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def newer(at: datetime, event_id: str, last_at: datetime | None, last_id: str | None) -> bool:
    """Last writer wins by (occurred_at, event id): applying events in any order converges."""
    if last_at is None:
        return True
    return (at, event_id) > (timeutil.aware(last_at), last_id or "")
