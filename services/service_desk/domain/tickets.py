"""Tickets (客户反馈): the vocabulary and the ticket number, as pure rules."""
from __future__ import annotations

CHANNELS = ("phone", "email", "web", "wechat")
CATEGORIES = ("complaint", "inquiry", "fault", "suggestion")
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "in_progress", "resolved", "closed", "reopened")
NEW_STATUS = "open"
NUMBER_PREFIX = "TK"


def ticket_number(year: int, sequence: int) -> str:
    """``TK-2026-000001``: the business year and the ticket's place in it (6 digits or more)."""
    if not 1 <= year <= 9999:
        raise ValueError(f"year out of range: {year}")
    if sequence < 1:
        raise ValueError(f"sequence must be positive: {sequence}")
    return f"{NUMBER_PREFIX}-{year:04d}-{sequence:06d}"
