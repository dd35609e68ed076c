"""The rows of SPEC §7 that ``make bench`` can measure on the running platform, each alone.

- create lead through the gateway at 64 connections (wrk, 15 s): requests/s, p99, errors;
  and the event lag commit → analytics read model during that load;
- the customer 360° view at 64 connections (wrk, the fixture's customers read by their reps);
- 100 concurrent claims of one pool lead by different reps, two replicas of leads: exactly
  one winner, 99 × 409, nothing else.

``bench/run.py`` runs create lead and the view first on a platform of their own, the 2-core
deployment (one replica of each service), then all three on the platform of the mixed load
(two replicas of leads and analytics), right after its set-up (before the mixed levels, so no
rep has used up a claim quota), and writes the section "SPEC §7 targets" of
docs/benchmarks.md: the targets judged on the deployment, the claims on two replicas of
leads, the other platform's figures beside.
The other rows have their own benchmarks (named in the table).
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import httpx

from bench import mixed

CONNECTIONS = 64
CLAIMS = 100


@dataclass
class Rates:
    """Create lead and the 360° view at 64 connections on one running platform."""
    replicas: dict[str, int]
    create: mixed.OpResult
    create_lag: tuple[float, float, int]
    create_cpu: dict[str, float]
    view: mixed.OpResult
    first_views: list[float]


@dataclass
class ClaimRace:
    winners: int
    conflicts: int
    others: dict[int, int]


async def _claim_race(url: str, admin_token: str, tokens: list[str]) -> ClaimRace:
    async with httpx.AsyncClient(base_url=f"{url}{mixed.API}", timeout=30,
                                 limits=httpx.Limits(max_connections=CLAIMS)) as client:
        lead = await client.post("/leads", json={"name": "抢单测试", "company": "争抢科技"},
                                 headers={"Authorization": f"Bearer {admin_token}"})
        lead.raise_for_status()
        path = f"/leads/{lead.json()['id']}/claim"
        answers = await asyncio.gather(*[
            client.post(path, headers={"Authorization": f"Bearer {tokens[n % len(tokens)]}"})
            for n in range(CLAIMS)])
    codes = [a.status_code for a in answers]
    others: dict[int, int] = {}
    for code in codes:
        if code not in (200, 409):
            others[code] = others.get(code, 0) + 1
    return ClaimRace(codes.count(200), codes.count(409), others)


def claim_race(url: str, admin_token: str, tokens: list[str]) -> ClaimRace:
    """``CLAIMS`` claims of one new pool lead at once, by ``tokens`` (distinct reps)."""
    return asyncio.run(_claim_race(url, admin_token, tokens))


def first_reads(url: str, requests: list[mixed.Request]) -> list[float]:
    """Each distinct view request once, one at a time (a cold cache: assembled from the
    services): their latencies in ms."""
    took = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for request in {(r.path, r.token): r for r in requests}.values():
            started = time.perf_counter()
            client.get(request.path, headers={"Authorization": f"Bearer {request.token}"}
                       ).raise_for_status()
            took.append(1000 * (time.perf_counter() - started))
    return took


def _fmt(value: float, digits: int = 0) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:,.{digits}f}"


def topology(replicas: dict[str, int]) -> str:
    """"leads ×2, analytics ×2, the others ×1" (every service not named runs once)."""
    named = [f"{name} ×{count}" for name, count in replicas.items() if count != 1]
    return ", ".join(named + ["the others ×1"]) if named else "one replica of each service"


def section(*, seconds: float, judged: Rates, race: ClaimRace, other: Rates | None = None
            ) -> str:
    """The rows of SPEC §7 this run measured. ``judged``: create lead,
    its events' lag and the 360° view on the platform the targets are judged on (the
    2-core deployment); ``other``: the same on the platform of *Mixed load*, shown beside;
    ``race``: the claims, on that platform (two replicas of leads)."""
    def met(ok: bool) -> str:
        return "**met**" if ok else "not met"

    create, view = judged.create, judged.view
    lag_p50, lag_p99, lag_n = judged.create_lag
    race_replicas = (other or judged).replicas.get("leads", 1)
    rows = [
        ("create lead through the gateway, 64 connections",
         "≥ 1,000 requests/s, p99 ≤ 100 ms, 0 errors",
         f"{_fmt(create.rps)}/s, p50 {_fmt(create.p50, 1)} ms, p99 {_fmt(create.p99, 1)} ms, "
         f"{create.errors} errors",
         met(create.rps >= 1000 and create.p99 <= 100 and create.errors == 0)),
        ("read customer 360° view, 64 connections", "≥ 500 requests/s, p99 ≤ 150 ms",
         f"{_fmt(view.rps)}/s, p50 {_fmt(view.p50, 1)} ms, p99 {_fmt(view.p99, 1)} ms, "
         f"{view.errors} errors", met(view.rps >= 500 and view.p99 <= 150)),
        (f"{CLAIMS} concurrent claims of one lead, {race_replicas} replicas of leads",
         "exactly 1 winner, 99 × 409, 0 other errors",
         f"{race.winners} winner, {race.conflicts} × 409, other: {race.others or 0}",
         met(race.winners == 1 and race.conflicts == CLAIMS - 1 and not race.others)),
        ("event lag, commit → analytics read model, of every create of that load (until applied)",
         "p99 ≤ 500 ms", f"p50 ≤ {_fmt(lag_p50)} ms, p99 ≤ {_fmt(lag_p99)} ms "
         f"({lag_n:,} events; histogram bucket bounds)", met(lag_p99 <= 500)),
    ]
    where = (f"on the 2-core deployment ({topology(judged.replicas)}; a platform of its "
             f"own, made for these rows) — except the claims, which SPEC §7 asks of two "
             f"replicas of leads and which run on the platform of *Mixed load* "
             f"({topology(other.replicas)})" if other else
             f"on the platform of *Mixed load* ({topology(judged.replicas)})")
    lines = [
        f"Each row alone, {where}, right after the set-up ({seconds:g} s per load, wrk, "
        f"{CONNECTIONS} connections). Written by `make bench`.",
        "",
        "| SPEC §7 | target | measured | |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        *_cpu_lines(judged),
        *_other_lines(other),
        *_first_view_lines(judged.first_views),
        "The other rows of SPEC §7 have their own benchmarks: analytics over 1M leads "
        "(*Analytics at scale*, `python -m bench.analytics_scale`), the 100k-row import "
        "(*Import 100k leads*, `python -m bench.import_leads`), kill -9 and a RabbitMQ restart "
        "under load (`make test-faults`, docs/reliability.md).",
    ]
    return "\n".join(lines)


def _other_lines(other: Rates | None) -> list[str]:
    """The same loads on the platform of *Mixed load* (more replicas on the same 2 cores)."""
    if other is None:
        return []
    c, v = other.create, other.view
    p50, p99, _ = other.create_lag
    return [f"The same loads on the platform of *Mixed load* ({topology(other.replicas)}, "
            f"on the same 2 cores): create lead {_fmt(c.rps)}/s, p50 {_fmt(c.p50, 1)} ms, "
            f"p99 {_fmt(c.p99, 1)} ms, {c.errors} errors, event lag p99 ≤ {_fmt(p99)} ms; "
            f"360° view {_fmt(v.rps)}/s, p99 {_fmt(v.p99, 1)} ms. More replicas on the same "
            f"cores split the creates and the events into smaller batches, and each batch "
            f"costs its transaction, its relay round and its counter upserts.",
            "", *_cpu_lines(other), ]


def _first_view_lines(first: list[float] | None) -> list[str]:
    if not first:
        return []
    ordered = sorted(first)
    p50 = ordered[len(ordered) // 2]
    return [f"The 360° view load runs on a warm cache: each of the fixture's {len(first)} "
            f"views (a customer as its rep sees it) was read once first, one at a time, "
            f"assembled from the services (cold) in p50 {p50:.0f} ms, at most "
            f"{ordered[-1]:.0f} ms. A cold view under the load itself waits for its sections "
            f"behind the other requests (*Customer 360° view*, cache off).", ""]


def _cpu_lines(rates: Rates) -> list[str]:
    """What one create cost in CPU in each process (its request, its event relayed and
    applied by analytics): what bounds the create rate."""
    create, used = rates.create, rates.create_cpu
    if not used or not create.requests:
        return []
    per = {name: 1000 * value / create.requests for name, value in used.items() if value > 0}
    total = sum(per.values())
    parts = ", ".join(f"{name} {ms:.2f}" for name, ms in sorted(per.items(),
                                                                 key=lambda kv: -kv[1]))
    return [f"CPU per create ({topology(rates.replicas)}), its event applied included (ms, "
            f"by process; the servers count "
            f"whatever else ran on the machine): {parts}; "
            f"**{total:.2f} ms in all**, so two cores carry at most "
            f"≈ {2000 / total:,.0f} creates/s.", ""]
