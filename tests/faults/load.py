"""A sustained, mixed write load through the gateway, and a ledger of what it was told.

Each worker is one sales rep repeating a whole business chain: create a lead, claim it,
follow it up, convert it; create a customer, an opportunity and move it to won, open a
ticket; a contract for a product, submitted, approved by the team manager, signed, a
receivable plan and its payment recorded by finance. Every request is bounded in time.

Every answer is classified:

- 2xx: the write was accepted; its id goes into ``accepted[kind]`` and must exist afterwards;
- 503 / 504, or no connection at all (the gateway itself is down): a clean failure, the
  chain is abandoned and the worker starts a new one (nothing is retried: a request whose
  answer was lost may still have been applied, and a retry would muddle the accounting);
- anything else (500, an unexpected 4xx): ``unclean``, which the tests require to be empty.

The load runs on its own thread with its own event loop, so a test can kill processes
while it runs.
"""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx

ACCEPTED = {200, 201}
CLEAN = {503, 504}
WON_STAGE = "赢单"


@dataclass
class Actors:
    reps: list[str]             # bearer tokens, one per worker
    manager: str
    finance: str
    product_id: str


@dataclass
class Sample:
    at: float                   # time.monotonic()
    op: str
    status: int                 # 0: no HTTP answer (connection refused/reset)


class ChainAborted(Exception):
    pass


@dataclass
class Load:
    base: str
    actors: Actors
    workers: int = 6
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    request_timeout: float = 30.0
    pause: float = 0.0          # seconds a worker waits between chains
    accepted: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    unclean: list[tuple[str, int, str]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    chains: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name=f"load-{self.tag}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Load:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.request_timeout * 2 + 10)
            assert not self._thread.is_alive(), "the load did not stop"
        return self

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- figures ---------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def count(self, *, statuses: set[int], since: float = 0.0, until: float = 1e18) -> int:
        return sum(1 for s in list(self.samples) if s.status in statuses and since <= s.at < until)

    def first_success_after(self, moment: float, op_prefix: str = "") -> float | None:
        """Seconds from ``moment`` to the first accepted request (of ops starting so)."""
        for s in list(self.samples):
            if s.at >= moment and s.status in ACCEPTED and s.op.startswith(op_prefix):
                return s.at - moment
        return None

    def accepted_count(self) -> int:
        return sum(len(v) for v in self.accepted.values())

    # -- the workers -----------------------------------------------------------------------

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.workers * 2)
        async with httpx.AsyncClient(base_url=f"{self.base}/api/v1", limits=limits,
                                     timeout=self.request_timeout) as client:
            await asyncio.gather(*[self._worker(client, i) for i in range(self.workers)])

    async def _worker(self, client: httpx.AsyncClient, index: int) -> None:
        token = self.actors.reps[index % len(self.actors.reps)]
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                await self._chain(client, token, f"{self.tag}-{index}-{n}")
            except ChainAborted:
                await asyncio.sleep(0.2)        # a clean failure: start a new chain
            else:
                self.chains += 1
            if self.pause:
                await asyncio.sleep(self.pause)

    async def _call(self, client: httpx.AsyncClient, token: str, op: str, path: str,
                    body: dict | None = None) -> dict:
        try:
            answer = await client.post(path, json=body,
                                       headers={"Authorization": f"Bearer {token}"})
            status = answer.status_code
        except httpx.TransportError:
            status, answer = 0, None
        self.statuses[(op, status)] += 1
        self.samples.append(Sample(time.monotonic(), op, status))
        if status in ACCEPTED:
            return answer.json()
        if status not in CLEAN and status != 0:
            self.unclean.append((op, status, answer.text[:300]))
        raise ChainAborted(op)

    async def _chain(self, c: httpx.AsyncClient, rep: str, key: str) -> None:
        a, acc = self.actors, self.accepted
        lead = await self._call(c, rep, "lead.create", "/leads", {
            "name": f"故障{key}", "company": f"故障测试{key}有限公司", "source": "expo"})
        acc["lead"].append(lead["id"])
        await self._call(c, rep, "lead.claim", f"/leads/{lead['id']}/claim")
        acc["lead_claimed"].append(lead["id"])
        follow = await self._call(c, rep, "lead.follow_up", f"/leads/{lead['id']}/follow-ups",
                                  {"kind": "call", "content": "电话沟通需求"})
        acc["lead_follow_up"].append(follow["id"])
        await self._call(c, rep, "lead.convert", f"/leads/{lead['id']}/convert")
        acc["lead_converted"].append(lead["id"])

        customer = await self._call(c, rep, "customer.create", "/customers",
                                    {"name": f"故障客户{key}有限公司"})
        acc["customer"].append(customer["id"])
        opp = await self._call(c, rep, "opportunity.create", "/opportunities", {
            "customer_id": customer["id"], "name": f"项目{key}", "amount": "1000.00"})
        acc["opportunity"].append(opp["id"])
        await self._call(c, rep, "opportunity.stage", f"/opportunities/{opp['id']}/stage",
                         {"stage": WON_STAGE})
        acc["opportunity_won"].append(opp["id"])
        ticket = await self._call(c, rep, "ticket.create", "/tickets", {
            "customer_id": customer["id"], "title": f"咨询{key}", "channel": "phone",
            "category": "inquiry"})
        acc["ticket"].append(ticket["id"])

        contract = await self._call(c, rep, "contract.create", "/contracts", {
            "customer_id": customer["id"], "opportunity_id": opp["id"],
            "lines": [{"product_id": a.product_id, "quantity": "1"}]})
        acc["contract"].append(contract["id"])
        await self._call(c, rep, "contract.submit", f"/contracts/{contract['id']}/submit")
        await self._call(c, a.manager, "contract.approve", f"/contracts/{contract['id']}/approve")
        await self._call(c, rep, "contract.sign", f"/contracts/{contract['id']}/sign")
        acc["contract_signed"].append(contract["id"])
        due = (date.today() + timedelta(days=30)).isoformat()
        plan = await self._call(c, rep, "receivable.plan",
                                f"/contracts/{contract['id']}/receivable-plans",
                                {"instalments": [{"due_date": due, "amount": contract["total"]}]})
        instalment = plan["instalments"][0]
        payment = await self._call(c, a.finance, "payment.create", "/payments", {
            "instalment_id": instalment["id"], "amount": contract["total"],
            "paid_at": datetime.now(UTC).isoformat(), "method": "bank_transfer"})
        acc["payment"].append(payment["id"])


def summary(load: Load) -> dict:
    """Requests by outcome, for the report."""
    by_status: Counter = Counter()
    for (_, status), n in load.statuses.items():
        by_status[status] += n
    return {"requests": load.requests, "chains": load.chains,
            "accepted_writes": load.accepted_count(),
            "by_status": {str(k): v for k, v in sorted(by_status.items())},
            "unclean": len(load.unclean)}
