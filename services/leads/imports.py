"""CSV import (导入): a batch of a file's rows → pool leads, in one unit of work.

Each row is checked by the rules of a single create (``LeadCreate``), its duplicate keys
(normalised phone, e-mail, company + name) are locked and looked up with the create path's
own ``taken_keys`` (so an import and a concurrent create of one phone make one lead), and
the new leads are written with one INSERT for the batch's leads, one for their action rows
and one for their ``lead.created`` events (the outbox). What a row costs is kept to the
minimum: a plainly valid row is checked without building a pydantic model
(``schemas.plain_lead``; every other row goes through ``LeadCreate``, so a rejected row gets
exactly a create's messages), a company name is normalised once, and scores are computed
once per distinct (source, campaign, industry, region) (``scoring.score_new_rows``).
"""
from __future__ import annotations

import os

from crmkit import timeutil
from crmkit.db import insert_many
from crmkit.errors import ValidationFailed
from crmkit.ids import new_ids
from crmkit.principal import Principal
from crmkit.text import normalize_company, normalize_email, normalize_phone
from crmkit.uow import UnitOfWork
from crmkit.validation import parse
from services.leads import campaigns, events, scoring
from services.leads.domain import importing
from services.leads.handlers import pool_rules, require_pool_worker, taken_keys
from services.leads.models import Lead, LeadAction
from services.leads.schemas import LeadCreate, plain_lead

#: most rows one ``import_rows`` call may carry
IMPORT_BATCH_MAX = 2000
#: seconds a batch that is not its file's last holds this process's outbox relay (the next
#: batch renews it, the last one ends it): the file's events go out after the file
RELAY_HOLD_SECONDS = float(os.environ.get("LEADS_IMPORT_RELAY_HOLD", "5"))

_LEADS = Lead.__table__
_ACTIONS = LeadAction.__table__


def _reject(row: int, reason: str, **extra) -> dict:
    return {"row": row, "status": "rejected", "reason": reason, **extra}


def _keys(lead: dict) -> list[tuple]:
    """The row's duplicate keys, as ``handlers._NewLead.keys`` makes them."""
    keys = []
    if lead["phone_norm"]:
        keys.append(("phone", lead["phone_norm"]))
    if lead["email_norm"]:
        keys.append(("email", lead["email_norm"]))
    if lead["company_norm"]:
        keys.append(("company", lead["company_norm"], lead["name"]))
    return keys


def _field_with_nul(data: dict) -> str | None:
    for key, value in data.items():
        if any("\x00" in str(v) for v in (value if isinstance(value, list) else [value])):
            return key
    return None


def _checked_rows(session, fields: list[str | None], rows: list, start_row: int,
                  pool: str) -> list[tuple[int, dict | None, dict | None]]:
    """(row number, the lead's validated fields or None, the rejection or None) for each
    non-blank row, in file order."""
    raw: list[tuple[int, dict]] = []
    for offset, values in enumerate(rows):
        values = [("" if v is None else str(v)) for v in (values or [])]
        if importing.is_blank(values):
            continue
        raw.append((start_row + offset, importing.row_to_fields(fields, values)))
    # the campaign column holds a campaign's id or its exact name: one query per batch
    named = campaigns.resolve_many(session, {d["campaign"] for _, d in raw if "campaign" in d})
    checked: list[tuple[int, dict | None, dict | None]] = []
    for number, data in raw:
        nul = _field_with_nul(data)
        if nul is not None:       # PostgreSQL stores no NUL: this row alone is refused
            checked.append((number, None, _reject(number, "invalid", errors=[{
                "field": nul, "message": "NUL (U+0000) is not allowed"}])))
            continue
        if "campaign" in data:
            value = data.pop("campaign")
            if value not in named:
                checked.append((number, None, _reject(
                    number, "unknown_campaign", errors=[{
                        "field": "campaign", "message": f"no campaign with id or name "
                                                        f"{value[:100]!r}"}])))
                continue
            data["campaign_id"] = named[value]
        data["pool"] = pool
        lead = plain_lead(data)
        if lead is None:
            try:
                lead = parse(LeadCreate, data).model_dump(exclude={"owner_id"})
            except ValidationFailed as exc:
                checked.append((number, None, _reject(number, "invalid", errors=exc.details)))
                continue
        checked.append((number, lead, None))
    return checked


def import_rows(uow: UnitOfWork, principal: Principal, header: list, rows: list,
                start_row: int = 2, pool: str = "default", final: bool = True) -> dict:
    """Create pool leads from CSV rows (``header`` names the columns, Chinese or English).

    Row numbers count from the file's first line (the header is row 1). Duplicates of the
    store or of an earlier row of the batch are skipped with the existing id. ``final``:
    False when more batches of the same file follow — this process's outbox relay then waits
    for them (``RELAY_HOLD_SECONDS`` at most) so the file's events fan out after it.
    """
    principal.require_role("admin", "manager", "sales")
    if not isinstance(rows, list) or len(rows) > IMPORT_BATCH_MAX:
        raise ValidationFailed("validation_error",
                               f"send at most {IMPORT_BATCH_MAX} rows per call")
    session = uow.session
    pool_rules(session, pool)
    require_pool_worker(session, principal, pool)
    fields = importing.map_header([str(h) for h in header or []])
    if importing.missing_columns(fields):
        raise ValidationFailed("missing_columns", "the file needs a 姓名/name column",
                               [{"field": "header", "message": "no name column"}])
    checked = _checked_rows(session, fields, rows, int(start_row), pool)
    now = timeutil.now()
    for _, lead, _ in checked:
        if lead is not None:
            lead["phone_norm"] = normalize_phone(lead["phone"])
            lead["email_norm"] = normalize_email(lead["email"])
            lead["company_norm"] = normalize_company(lead["company"])
    taken = taken_keys(session, [key for _, lead, _ in checked if lead is not None
                                  for key in _keys(lead)])
    created, report = [], []
    in_file: dict[tuple, str] = {}
    ids = iter(new_ids(len(checked)))
    for number, lead, rejected in checked:
        if rejected is not None:
            report.append(rejected)
            continue
        keys = _keys(lead)
        hit = next((taken[k] for k in keys if k in taken), None)
        if hit is not None:
            report.append({"row": number, "status": "duplicate", "reason": "duplicate_in_store",
                           "existing_id": hit})
            continue
        hit = next((in_file[k] for k in keys if k in in_file), None)
        if hit is not None:
            report.append({"row": number, "status": "duplicate", "reason": "duplicate_in_file",
                           "existing_id": hit})
            continue
        lead.update(id=next(ids), owner_id=None, status="new", locked=False,
                    created_by=principal.user_id, created_at=now, updated_at=now)
        for key in keys:
            in_file[key] = lead["id"]
        created.append(lead)
    if created:
        scoring.score_new_rows(session, created, now)
        insert_many(session, _LEADS, created)
        insert_many(session, _ACTIONS, [
            {"id": action_id, "lead_id": r["id"], "actor_id": uow.actor_id,
             "action": "created", "field": "source", "from_value": None,
             "to_value": r["source"], "reason": "import", "at": now}
            for action_id, r in zip(new_ids(len(created)), created, strict=True)])
        uow.emit_many(events.LEAD_CREATED, [{**events.lead_summary(r), "imported": True}
                                            for r in created])
    if not final:
        uow.hold_relay(RELAY_HOLD_SECONDS)
    duplicates = sum(1 for r in report if r["status"] == "duplicate")
    return {"created": len(created), "duplicates": duplicates,
            "rejected": len(report) - duplicates, "rows": report}
