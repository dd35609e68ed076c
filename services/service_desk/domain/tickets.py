"""Tickets (客户反馈): the vocabulary, the number and the state machine, as pure rules.

::

    open ──start──▶ in_progress ──resolve──▶ resolved ──close──▶ closed
                     │   ▲                      │                  │
                 wait│   │resume                └──reopen──┐ ┌─reopen┘ (within the window)
                     ▼   │                                 ▼ ▼
                    waiting                              reopened ──start──▶ in_progress
"""
from __future__ import annotations

from datetime import datetime, timedelta

CHANNELS = ("phone", "email", "web", "wechat")
CATEGORIES = ("complaint", "inquiry", "fault", "suggestion")
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "in_progress", "waiting", "resolved", "closed", "reopened")
OPEN_STATUSES = ("open", "in_progress", "waiting", "reopened")  # count as a workload
NEW_STATUS = "open"
NUMBER_PREFIX = "TK"

TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (from statuses, to status)
    "start": (("open", "reopened"), "in_progress"),
    "wait": (("in_progress",), "waiting"),
    "resume": (("waiting",), "in_progress"),
    "resolve": (("in_progress",), "resolved"),
    "close": (("resolved",), "closed"),
    "reopen": (("resolved", "closed"), "reopened"),
}


def ticket_number(year: int, sequence: int) -> str:
    """``TK-2026-000001``: the business year and the ticket's place in it (6 digits or more)."""
    if not 1 <= year <= 9999:
        raise ValueError(f"year out of range: {year}")
    if sequence < 1:
        raise ValueError(f"sequence must be positive: {sequence}")
    return f"{NUMBER_PREFIX}-{year:04d}-{sequence:06d}"


def next_status(status: str, action: str) -> str | None:
    """The status ``action`` leads to from ``status``, or None when it is not allowed."""
    sources, target = TRANSITIONS[action]
    return target if status in sources else None


def may_reopen(resolved_at: datetime | None, now: datetime, window_days: int) -> bool:
    """A resolved or closed ticket may be reopened within ``window_days`` of its resolution."""
    if resolved_at is None:
        return True
    return now - resolved_at <= timedelta(days=window_days)


def least_loaded(candidates: list[str], open_counts: dict[str, int]) -> str | None:
    """Automatic assignment: the candidate with the fewest open tickets (ties: smallest id)."""
    unique = sorted(set(c for c in candidates if c))
    if not unique:
        return None
    return min(unique, key=lambda c: (open_counts.get(c, 0), c))
