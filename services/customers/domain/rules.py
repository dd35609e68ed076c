"""Customer vocabulary and rules as pure functions."""
from __future__ import annotations

TYPES = ("company", "individual")
LEVELS = ("A", "B", "C", "D")          # A 重点 key, B 重要 important, C 普通 normal, D 小 small
STATUSES = ("potential", "intent", "deal", "repeat", "dormant", "lost")


def customer_from_lead(data: dict) -> dict:
    """The customer a converted lead becomes: its company (or the person) as the customer."""
    company = (data.get("company") or "").strip()
    return {
        "name": company or data["name"],
        "type": "company" if company else "individual",
        "industry": data.get("industry"), "region": data.get("region"),
        "phone": data.get("phone"), "email": data.get("email"),
        "source": data.get("source"), "tags": list(data.get("tags") or []),
        "level": "C", "status": "intent",
        "owner_id": data.get("owner_id"), "lead_id": data["lead_id"],
    }


def primary_contact_from_lead(data: dict) -> dict:
    return {"name": data["name"], "title": data.get("title"), "phone": data.get("phone"),
            "email": data.get("email"), "is_primary": True}
