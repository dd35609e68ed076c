"""Benchmark of the customer 360° view (客户全貌): ``GET /customers/{id}/overview``.

Starts the whole platform (``tests.cluster.Cluster``: the five services and the gateway as
separate processes, real RabbitMQ, Redis and PostgreSQL), seeds one customer with contacts,
follow-ups, plans, opportunities and tickets, then drives the view at 64 concurrent
connections (as the administrator, who sees every section) for 10 s and writes requests/s,
p50/p99 latency and the number of partial views into its own section "## Customer 360° view"
of ``docs/benchmarks.md`` (the rest of the page is ``bench.run``'s and is left as it is).

    python -m bench.overview                       # 64 connections, 10 s, PostgreSQL
    python -m bench.overview --seconds 5 --connections 16,64 --store sqlite
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.report import machine, replace_section
from tests.cluster import ADMIN_PASSWORD, ADMIN_USER, ROOT, Cluster


@dataclass
class Result:
    scenario: str
    connections: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def token(client: httpx.AsyncClient, username: str, password: str) -> str:
    answer = await client.post("/api/v1/auth/token",
                               data={"username": username, "password": password})
    answer.raise_for_status()
    return answer.json()["access_token"]

SECTION = "Customer 360° view"


async def seed(client: httpx.AsyncClient, admin: str) -> tuple[str, dict]:
    """One customer with some of everything; returns its id and the view's sections."""
    auth = {"Authorization": f"Bearer {admin}"}

    async def post(path: str, body: dict) -> dict:
        answer = await client.post(f"/api/v1{path}", json=body, headers=auth)
        answer.raise_for_status()
        return answer.json()

    customer = await post("/customers", {"name": "上海宏达机械制造有限公司", "level": "A",
                                         "industry": "制造业", "region": "上海",
                                         "tags": ["华东", "重点"]})
    cid = customer["id"]
    for i, name in enumerate(["王磊", "李娜", "陈静"]):
        await post(f"/customers/{cid}/contacts", {"name": name, "is_primary": i == 0})
    for i in range(10):
        await post(f"/customers/{cid}/follow-ups", {"kind": "call",
                                                    "content": f"第{i + 1}次电话沟通采购需求"})
    for i in range(3):
        at = time.strftime("%Y-%m-%dT10:00:00+08:00",
                           time.localtime(time.time() + 86400 * (i + 2)))
        await post(f"/customers/{cid}/follow-up-plans", {"kind": "visit", "scheduled_at": at,
                                                         "subject": f"第{i + 1}次拜访"})
    for i in range(5):
        await post("/opportunities", {"customer_id": cid, "name": f"二期设备采购{i + 1}",
                                      "amount": f"{(i + 1) * 10000}.00",
                                      "expected_close_date": "2027-06-30"})
    for i in range(3):
        await post("/tickets", {"customer_id": cid, "title": f"设备报警 {i + 1}",
                                "description": "现场反馈", "channel": "phone",
                                "category": "fault"})
    view = await client.get(f"/api/v1/customers/{cid}/overview", headers=auth)
    view.raise_for_status()
    return cid, view.json()["sections"]


async def drive_views(client: httpx.AsyncClient, tokens: list[str], path: str,
                      seconds: float) -> tuple[Result, int]:
    """Like ``bench.run.drive``, also counting answers with a section unavailable."""
    latencies: list[float] = []
    errors = partial = 0
    stop_at = time.monotonic() + seconds

    async def worker(i: int):
        nonlocal errors, partial
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                answer = await client.get(path, headers=headers)
                ok = answer.status_code == 200
            except httpx.HTTPError:
                ok = False
            if not ok:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            partial += bool(answer.json().get("partial"))

    started = time.monotonic()
    await asyncio.gather(*[worker(i) for i in range(len(tokens))])
    return Result("customer 360° view", len(tokens), len(latencies), errors,
                  time.monotonic() - started, latencies), partial


async def bench(base: str, connections: list[int],
                seconds: float) -> tuple[list[tuple[Result, int]], dict]:
    limits = httpx.Limits(max_connections=max(connections), max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        admin = await token(client, ADMIN_USER, ADMIN_PASSWORD)
        cid, sections = await seed(client, admin)
        results = []
        for n in connections:
            result, partial = await drive_views(client, [admin] * n,
                                                f"/api/v1/customers/{cid}/overview", seconds)
            results.append((result, partial))
            print(f"overview {n:>3} conns: {result.rps:8.1f} req/s  p50 {result.pct(50):6.1f} ms"
                  f"  p99 {result.pct(99):6.1f} ms  errors {result.errors}  partial {partial}",
                  flush=True)
    return results, sections


def section_text(results: list[tuple[Result, int]], sections: dict, command: str, store: str,
                 seconds: float) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "uncommitted"
    available = sorted(name for name, s in sections.items() if s.get("available"))
    missing = sorted(f"{name} ({s['error']['code']})" for name, s in sections.items()
                     if not s.get("available"))
    lines = [
        f"Produced by `{command}` (`bench/overview.py`); commit `{commit}`, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {machine()}; stores on {store}; "
        f"each step runs {seconds:g} s.",
        "",
        "`GET /api/v1/customers/{id}/overview` of one customer with 3 contacts, 10 follow-ups, "
        "3 plans, 5 opportunities and 3 tickets: one scoped RPC to customers, then one "
        "`customer_sections` call per other service (sales, service desk, analytics) in "
        "parallel (2 s budget each); 8 workers per replica.",
        "",
        f"- sections of the view before the load (idle): served: {', '.join(available) or 'none'}",
        f"- unavailable: {', '.join(missing) or 'none'}",
        "",
        "| scenario | connections | requests/s | p50 ms | p99 ms | requests | errors | "
        "partial views |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r, partial in results:
        lines.append(f"| {r.scenario} | {r.connections} | {r.rps:.1f} | {r.pct(50):.1f} | "
                     f"{r.pct(99):.1f} | {r.requests} | {r.errors} | {partial} |")
    lines += [
        "",
        "A *partial view* is a 200 in which at least one section answered `available: false`"
        " (e.g. its service took longer than the 2 s budget under this load).",
        "",
        "Target of SPEC §7: ≥ 500 requests/s at 64 connections, p99 ≤ 150 ms.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", default="64")
    parser.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="crm-bench-overview-")), store=args.store,
                      max_workers=8,
                      extra_env={"LOG_LEVEL": "WARNING", "RATE_LIMIT_ENABLED": "false"})
    try:
        cluster.start()
        print(f"cluster ready at {cluster.url} (logs in {cluster.workdir})", flush=True)
        results, sections = asyncio.run(bench(cluster.url, connections, args.seconds))
    finally:
        cluster.stop()
    command = "python -m bench.overview" + (
        "" if (args.seconds, args.connections, args.store) == (10.0, "64", "postgresql")
        else f" --seconds {args.seconds:g} --connections {args.connections} "
             f"--store {args.store}")
    replace_section(SECTION, section_text(results, sections, command, args.store, args.seconds))
    print(f"written {SECTION!r} in docs/benchmarks.md")


if __name__ == "__main__":
    main()
