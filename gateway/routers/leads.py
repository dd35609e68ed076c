"""Leads (线索) and the public pool: create, list, claim, release, assign, transfer, follow
up, convert, lock, the action log, CSV import and export."""
from __future__ import annotations

import asyncio
import codecs
import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import IO, Annotated, Any, Literal

from fastapi import File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from crmkit.errors import ValidationFailed
from gateway.coalesce import Coalescer
from gateway.deps import CurrentUser, DatabaseDep, Rpc, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.guards import ensure_active_user, ensure_assignable, ensure_owner_allowed
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import LeadSource, LeadStatus, ListScope, Page
from gateway.schemas.leads import (
    AssignRequest,
    FollowUpCreate,
    FollowUpPublic,
    ImportReport,
    LeadActionPublic,
    LeadCreate,
    LeadPublic,
    LeadUpdate,
    LockRequest,
    ReleaseRequest,
    TransferRequest,
)

router = ResourceRouter(prefix=f"{API}/leads", tags=["leads"], responses=ERROR_RESPONSES)
LeadId = Annotated[str, Path(max_length=64, description="the lead's id")]
PoolName = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                       description="only leads of this pool")]
CampaignFilter = Annotated[str | None, Query(max_length=64, description="only leads of this "
                                                                        "campaign (市场活动)")]

IMPORT_BATCH = 500          # rows per import_rows RPC (setting lead_import_batch)
IMPORT_ROWS_LISTED = 1000   # rows of the report's `rows` (then `truncated`)
EXPORT_PAGE = 1000
SNIFF_BYTES = 64 * 1024
EXPORT_COLUMNS = (("id", "编号"), ("name", "姓名"), ("company", "公司"), ("title", "职位"),
                  ("phone", "电话"), ("email", "邮箱"), ("source", "来源"), ("region", "地区"),
                  ("industry", "行业"), ("tags", "标签"), ("notes", "备注"), ("status", "状态"),
                  ("pool", "公海"), ("owner_id", "负责人"), ("campaign_id", "市场活动"),
                  ("follow_up_deadline", "跟进截止"), ("created_at", "创建时间"))


# -- CSV import (pure helpers, tested in tests/unit/test_leads_csv.py) -----------------------

def detect_encoding(head: bytes) -> str:
    """BOM → utf-8-sig; else strict UTF-8 on the first chunk; else GBK (as gb18030, its
    superset), which is what Chinese Excel writes."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _reader(binary: IO[bytes], encoding: str):
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="", errors="strict")
    return text, csv.reader(text)


def check_csv(binary: IO[bytes]) -> str:
    """One streaming pass: the encoding that decodes the whole file, or 422."""
    binary.seek(0)
    candidates = [detect_encoding(binary.read(SNIFF_BYTES))]
    if candidates[0] == "utf-8":
        candidates.append("gb18030")
    for encoding in candidates:
        text, reader = _reader(binary, encoding)
        try:
            for _ in reader:
                pass
        except UnicodeDecodeError:
            continue
        except csv.Error as exc:
            raise ValidationFailed("bad_csv", f"the file is not valid CSV: {exc}") from None
        finally:
            text.detach()
        return encoding
    raise ValidationFailed("bad_encoding", "the file is neither UTF-8 nor GBK")


def csv_batches(binary: IO[bytes], encoding: str,
                size: int = IMPORT_BATCH) -> Iterator[tuple[list[str], int, list[list[str]]]]:
    """(header, row number of the batch's first row, rows): the file a batch at a time."""
    text, reader = _reader(binary, encoding)
    try:
        header = next(reader, None)
        if not header:
            raise ValidationFailed("empty_file", "the file has no header row")
        batch, start, number = [], 2, 1
        for row in reader:
            number += 1
            if not batch:
                start = number
            batch.append(row)
            if len(batch) >= size:
                yield header, start, batch
                batch = []
        if batch or number == 1:   # a header-only file still gets its header checked
            yield header, start, batch
    finally:
        text.detach()


def merge_report(total: dict, part: dict) -> None:
    for key in ("created", "duplicates", "rejected"):
        total[key] += part[key]
    room = IMPORT_ROWS_LISTED - len(total["rows"])
    total["rows"].extend(part["rows"][:max(room, 0)])
    if len(part["rows"]) > room:
        total["truncated"] = True


@router.post("/import", response_model=ImportReport, summary="Import leads from CSV (导入)",
             dependencies=[requires("leads.import")])
async def import_leads(user: CurrentUser, rpc: Rpc, request: Request,
                       file: Annotated[UploadFile, File(description="CSV: UTF-8, UTF-8 with "
                                                                    "BOM or GBK")],
                       pool: Annotated[str, Form(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "default",
                       ) -> Any:
    """Columns by Chinese or English header: 姓名/name (required), 公司/company, 职位/title,
    电话/手机/phone, 邮箱/email, 来源/source, 地区/region, 行业/industry, 备注/notes,
    标签/tags, 市场活动/campaign (a campaign's id or exact name; unknown: the row is rejected
    with `unknown_campaign`). New leads land in `pool` without owner. The upload is spooled
    to disk and sent to the leads service 500 rows at a time (`LEAD_IMPORT_BATCH`), in file
    order (the gateway reads the next batch while the service stores one); duplicates (of
    the store or of an earlier row of the file) and invalid rows are skipped and listed in
    `rows` (file line numbers, at most 1000). The leads' `lead.created` events go out once
    the file is stored."""
    binary = file.file
    encoding = await run_in_threadpool(check_csv, binary)
    batches = csv_batches(binary, encoding, request.app.state.settings.lead_import_batch)
    total: dict = {"created": 0, "duplicates": 0, "rejected": 0, "rows": [], "truncated": False}
    current = await run_in_threadpool(next, batches, None)
    following = await run_in_threadpool(next, batches, None) if current else None
    while current is not None:
        header, start, rows = current
        # ``final``: the service's outbox relay waits for the file's next batch, if any
        reply = asyncio.ensure_future(rpc.call(
            "leads", "import_rows", principal=user.principal, header=header, rows=rows,
            start_row=start, pool=pool, final=following is None, timeout=60))
        try:
            after = await run_in_threadpool(next, batches, None) if following else None
        finally:
            part = await reply
        merge_report(total, part)
        current, following = following, after
    return total


@router.get("/export", summary="Export leads as CSV (导出)",
            response_class=StreamingResponse, dependencies=[requires("leads.export")],
            responses={200: {"content": {"text/csv": {}}}})
async def export_leads(
    user: CurrentUser,
    rpc: Rpc,
    scope: ListScope = ListScope.all,
    status: LeadStatus | None = None,
    source: LeadSource | None = None,
    owner_id: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    pool: PoolName = None,
    campaign_id: CampaignFilter = None,
) -> StreamingResponse:
    """The leads of the list with the same filters that you may see, streamed as UTF-8 CSV
    with a BOM (Excel opens it directly); headers in Chinese, as the import reads them."""
    filters = {"scope": scope.value, "status": status.value if status else None,
               "source": source.value if source else None, "owner_id": owner_id, "q": q,
               "pool": pool, "campaign_id": campaign_id}
    first = await rpc.call("leads", "list_leads", principal=user.principal, limit=EXPORT_PAGE,
                           **filters)   # errors surface before the 200 starts

    async def rows() -> AsyncIterator[bytes]:
        page = first
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([title for _, title in EXPORT_COLUMNS])
        yield codecs.BOM_UTF8 + buffer.getvalue().encode()
        while True:
            buffer.seek(0)
            buffer.truncate()
            for item in page["items"]:
                writer.writerow([",".join(item.get(k) or []) if k == "tags"
                                 else ("" if item.get(k) is None else item.get(k))
                                 for k, _ in EXPORT_COLUMNS])
            yield buffer.getvalue().encode()
            if not page.get("next_cursor"):
                return
            page = await rpc.call("leads", "list_leads", principal=user.principal,
                                  limit=EXPORT_PAGE, cursor=page["next_cursor"], **filters)

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="leads.csv"'})


@router.post("", status_code=201, response_model=LeadPublic, summary="Create a lead",
             responses=CONFLICT_RESPONSE, dependencies=[requires("leads.write")])
async def create_lead(body: LeadCreate, user: CurrentUser, request: Request) -> Any:
    """Without `owner_id` the lead lands in the public pool (公海池). A lead whose phone, e-mail
    or company matches an existing one: 409 with the existing lead's id in `details`."""
    # the hottest route: the database is looked up only when it is needed (a dependency
    # is resolved on every request)
    if body.owner_id is not None:
        await ensure_owner_allowed(request.app.state.database, user, body.owner_id)
    data = body.model_dump(mode="json")
    if data.get("campaign_id") is None:
        data.pop("campaign_id", None)   # sent only when the lead names a campaign
    return await lead_creates(request).submit(user.principal, data)


def lead_creates(request: Request) -> Coalescer:
    """The process's coalescer of creates (``leads.create_leads``, group commit)."""
    state = request.app.state
    creates = getattr(state, "lead_creates", None)
    if creates is None:
        settings = state.settings
        creates = state.lead_creates = Coalescer(
            lambda: state.rpc, "leads", "create_leads", max_batch=settings.lead_create_batch,
            max_in_flight=settings.lead_create_in_flight)
    return creates


@router.get("", response_model=Page[LeadPublic], summary="List leads",
            dependencies=[requires("leads.read")])
async def list_leads(
    user: CurrentUser,
    rpc: Rpc,
    scope: Annotated[ListScope, Query(description="pool: unowned; mine: yours; all: every "
                                                  "lead you may see")] = ListScope.all,
    status: LeadStatus | None = None,
    source: LeadSource | None = None,
    owner_id: str | None = None,
    q: Annotated[str | None, Query(max_length=100, description="name, company, phone or "
                                                               "e-mail contains")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    pool: PoolName = None,
    campaign_id: CampaignFilter = None,
    sort: Annotated[Literal["created", "score"], Query(
        description="created: newest first; score: best conversion score first (unscored "
                    "last, ties newest first)")] = "created",
) -> Any:
    """Keyset pages; pass `next_cursor` back as `cursor` (with the same `sort`). Each lead
    carries its conversion `score` (0–100), `score_reasons` and `score_model_version`
    (docs/analytics.md § Scoring)."""
    return await rpc.call("leads", "list_leads", principal=user.principal, scope=scope.value,
                          status=status.value if status else None,
                          source=source.value if source else None, owner_id=owner_id, q=q,
                          cursor=cursor, limit=limit, **({"pool": pool} if pool else {}),
                          **({"campaign_id": campaign_id} if campaign_id else {}),
                          **({"sort": sort} if sort != "created" else {}))


@router.get("/{lead_id}", response_model=LeadPublic, summary="Get a lead",
            dependencies=[requires("leads.read")])
async def get_lead(lead_id: LeadId, user: CurrentUser, rpc: Rpc) -> Any:
    """A lead outside your data scope is 404."""
    return await rpc.call("leads", "get_lead", principal=user.principal, lead_id=lead_id)


@router.patch("/{lead_id}", response_model=LeadPublic, summary="Change a lead",
              dependencies=[requires("leads.write")])
async def update_lead(lead_id: LeadId, body: LeadUpdate, user: CurrentUser, rpc: Rpc) -> Any:
    """Only the fields sent change. Owner, status and customer are not fields of this
    request (422): use claim, release, assign and convert."""
    return await rpc.call("leads", "update_lead", principal=user.principal, lead_id=lead_id,
                          data=body.model_dump(mode="json", exclude_unset=True))


@router.post("/{lead_id}/claim", response_model=LeadPublic, summary="Claim a lead (领取)",
             responses=CONFLICT_RESPONSE, dependencies=[requires("leads.claim")])
async def claim_lead(lead_id: LeadId, user: CurrentUser, rpc: Rpc) -> Any:
    """Take a lead from the public pool. Someone else was first: 409 `lead_already_claimed`;
    over the pool's limits: 409 `claim_limit_reached`."""
    return await rpc.call("leads", "claim_lead", principal=user.principal, lead_id=lead_id)


@router.post("/{lead_id}/release", response_model=LeadPublic,
             summary="Return a lead to the public pool (退回公海)", responses=CONFLICT_RESPONSE,
             dependencies=[requires("leads.claim")])
async def release_lead(lead_id: LeadId, body: ReleaseRequest, user: CurrentUser,
                       rpc: Rpc) -> Any:
    return await rpc.call("leads", "release_lead", principal=user.principal, lead_id=lead_id,
                          reason=body.reason)


@router.post("/{lead_id}/assign", response_model=LeadPublic, summary="Assign a lead (分配)",
             responses=CONFLICT_RESPONSE, dependencies=[requires("leads.assign")])
async def assign_lead(lead_id: LeadId, body: AssignRequest, user: CurrentUser, rpc: Rpc,
                      database: DatabaseDep) -> Any:
    """Managers and administrators. `owner_id` must be an active user within your data scope
    (422 otherwise)."""
    await ensure_assignable(database, user, body.owner_id)
    return await rpc.call("leads", "assign_lead", principal=user.principal, lead_id=lead_id,
                          owner_id=body.owner_id)


@router.post("/{lead_id}/follow-ups", status_code=201, response_model=FollowUpPublic,
             summary="Record a follow-up (跟进记录)", dependencies=[requires("leads.write")])
async def add_follow_up(lead_id: LeadId, body: FollowUpCreate, user: CurrentUser,
                        rpc: Rpc) -> Any:
    """Moves the lead's follow-up deadline; `next_follow_up_at` plans the next one."""
    return await rpc.call("leads", "add_follow_up", principal=user.principal, lead_id=lead_id,
                          data=body.model_dump(mode="json"))


@router.post("/{lead_id}/convert", response_model=LeadPublic,
             summary="Convert a lead into a customer (转化)", responses=CONFLICT_RESPONSE,
             dependencies=[requires("leads.write")])
async def convert_lead(lead_id: LeadId, user: CurrentUser, rpc: Rpc) -> Any:
    """The lead becomes `converted`; the customers service creates the customer from the
    event (its id appears as `customer_id` once created)."""
    return await rpc.call("leads", "convert_lead", principal=user.principal, lead_id=lead_id)


@router.post("/{lead_id}/transfer", response_model=LeadPublic,
             summary="Transfer a lead to another rep (转交)", responses=CONFLICT_RESPONSE,
             dependencies=[requires("leads.write")])
async def transfer_lead(lead_id: LeadId, body: TransferRequest, user: CurrentUser, rpc: Rpc,
                        database: DatabaseDep) -> Any:
    """By the owner, or a manager/admin who sees the owner. `owner_id` must be an active user
    (422); the new owner gets fresh deadlines. Pool leads are claimed or assigned instead
    (409 `lead_in_pool`)."""
    await ensure_active_user(database, body.owner_id, "owner_id")
    return await rpc.call("leads", "transfer_lead", principal=user.principal, lead_id=lead_id,
                          data=body.model_dump(mode="json"))


@router.post("/{lead_id}/lock", response_model=LeadPublic, summary="Lock a lead (锁定)",
             responses=CONFLICT_RESPONSE, dependencies=[requires("leads.lock")])
async def lock_lead(lead_id: LeadId, user: CurrentUser, rpc: Rpc,
                    body: LockRequest | None = None) -> Any:
    """Managers and administrators: a locked lead never returns to the pool automatically."""
    return await rpc.call("leads", "lock_lead", principal=user.principal, lead_id=lead_id,
                          reason=body.reason if body else None)


@router.post("/{lead_id}/unlock", response_model=LeadPublic, summary="Unlock a lead",
             responses=CONFLICT_RESPONSE, dependencies=[requires("leads.lock")])
async def unlock_lead(lead_id: LeadId, user: CurrentUser, rpc: Rpc,
                      body: LockRequest | None = None) -> Any:
    return await rpc.call("leads", "unlock_lead", principal=user.principal, lead_id=lead_id,
                          reason=body.reason if body else None)


@router.get("/{lead_id}/actions", response_model=Page[LeadActionPublic],
            summary="A lead's action log (操作记录)", dependencies=[requires("leads.read")])
async def list_lead_actions(lead_id: LeadId, user: CurrentUser, rpc: Rpc,
                            cursor: str | None = None,
                            limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    """Newest first: who changed which field from what to what, and why."""
    return await rpc.call("leads", "list_lead_actions", principal=user.principal,
                          lead_id=lead_id, cursor=cursor, limit=limit)
