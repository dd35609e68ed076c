"""Benchmark of the customer 360° view (客户全貌): ``GET /customers/{id}/overview``.

Starts the whole platform (``tests.cluster.Cluster``: the five services and the gateway as
separate processes, real RabbitMQ, Redis and PostgreSQL), seeds one customer with contacts,
follow-ups, plans, opportunities and tickets, then drives the view with wrk (C: not the
bottleneck, as in ``bench.mixed``) at 64 connections (as the administrator, who sees every
section) for 10 s, twice:

1. **cache off** — the gateway runs with ``VIEW_CACHE_ENABLED=false``: every view is
   assembled from the services (one RPC to customers, one ``customer_sections`` per other
   service);
2. **cache on (warm)** — the gateway restarted with the cache on (``gateway.views``), one
   view read first, then the same load: nothing changes meanwhile, so the views come from
   Redis.

Requests/s, p50/p99 latency, partial views and how many answers came from the cache
(``X-View-Cache: hit``) are written into the section "## Customer 360° view" of
``docs/benchmarks.md`` (the rest of the page is ``bench.run``'s and is left as it is).

    python -m bench.overview                       # 64 connections, 10 s, PostgreSQL
    python -m bench.overview --seconds 5 --connections 16,64 --store sqlite
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import mixed
from bench.report import machine, replace_section
from tests.cluster import ADMIN_PASSWORD, ADMIN_USER, ROOT, Cluster


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


#: wrk's script: one GET with the administrator's token; counts non-2xx answers, answers
#: served from the view cache and partial views, and prints one RESULT line (as bench.mixed)
LUA = r"""
local path, token = "%(path)s", "%(token)s"
local threads = {}
local req

function setup(thread) table.insert(threads, thread) end

function init(args)
  non2xx, hits, partial = 0, 0, 0
  req = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end

function request() return req end

function response(status, headers, body)
  if status >= 300 then non2xx = non2xx + 1 end
  if (headers["x-view-cache"] or headers["X-View-Cache"]) == "hit" then hits = hits + 1 end
  if string.find(body, '"partial":true', 1, true) then partial = partial + 1 end
end

function done(summary, latency, requests)
  local bad, h, p = 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx"); h = h + t:get("hits"); p = p + t:get("partial")
  end
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests": %%d, "us": %%d, "non_2xx": %%d, "socket_errors": %%d, ' ..
    '"p50": %%d, "p95": %%d, "p99": %%d, "hits": %%d, "partial": %%d}\n',
    summary.requests, summary.duration, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), h, p))
end
"""


@dataclass
class Run:
    result: mixed.OpResult
    partial: int       # 200s with a section unavailable
    hits: int          # answers served from the view cache
    load: float        # the machine's 1-minute load average as the step started


def drive_views(url: str, token: str, path: str, connections: int, seconds: float,
                scenario: str) -> Run:
    """``connections`` wrk connections reading the view for ``seconds``."""
    script = Path(tempfile.mkdtemp(prefix="crm-bench-overview-")) / "overview.lua"
    script.write_text(LUA % {"path": path, "token": token}, encoding="utf-8")
    load = os.getloadavg()[0]
    out, _ = mixed.start_wrk(url, script, connections, seconds).communicate()
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    r = json.loads(line[len("RESULT "):])
    result = mixed.OpResult(scenario, connections, r["requests"], r["us"] / 1e6,
                            r["non_2xx"], r["socket_errors"], r["p50"] / 1000,
                            r["p95"] / 1000, r["p99"] / 1000)
    return Run(result, r["partial"], r["hits"], load)


def client(base: str, connections: list[int]) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max(connections), max_keepalive_connections=64)
    return httpx.AsyncClient(base_url=base, timeout=30, limits=limits)


async def warm_up(base: str, path: str, admin: str) -> None:
    """Read the view until it comes from the cache (a partial view is never kept)."""
    async with client(base, [1]) as http:
        for _ in range(300):
            answer = await http.get(path, headers={"Authorization": f"Bearer {admin}"})
            answer.raise_for_status()
            if answer.headers.get("X-View-Cache") == "hit":
                return
            await asyncio.sleep(0.1)
    raise RuntimeError("the view never came from the cache")


def runs(base: str, path: str, admin: str, connections: list[int], seconds: float,
         scenario: str) -> list[Run]:
    out = []
    for n in connections:
        run = drive_views(base, admin, path, n, seconds, scenario)
        r = run.result
        print(f"{scenario:<36} {n:>3} conns: {r.rps:8.1f} req/s  p50 {r.p50:6.1f} ms"
              f"  p99 {r.p99:6.1f} ms  errors {r.errors}  partial {run.partial}"
              f"  hits {run.hits}  load {run.load:.1f}", flush=True)
        out.append(run)
    return out


async def prepare(base: str, connections: list[int]) -> tuple[str, str, dict]:
    """Log in and seed; (the administrator's token, the view's path, its sections)."""
    async with client(base, connections) as http:
        admin = await token(http, ADMIN_USER, ADMIN_PASSWORD)
        cid, sections = await seed(http, admin)
    return admin, f"/api/v1/customers/{cid}/overview", sections


def bench(cluster: Cluster, connections: list[int], seconds: float
          ) -> tuple[list[Run], dict]:
    """Cache off (the cluster starts with it off), then the gateway restarted with it on."""
    admin, path, sections = asyncio.run(prepare(cluster.url, connections))
    results = runs(cluster.url, path, admin, connections, seconds,
                   "customer 360° view, cache off")
    cluster.stop_process("gateway")
    cluster.start_gateway(VIEW_CACHE_ENABLED="true")
    cluster.wait_ready()
    asyncio.run(warm_up(cluster.url, path, admin))
    results += runs(cluster.url, path, admin, connections, seconds,
                    "customer 360° view, cache on (warm)")
    return results, sections


def section_text(results: list[Run], sections: dict, command: str, store: str,
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
        "3 plans, 5 opportunities and 3 tickets, read by the administrator (wrk, one "
        "thread, on the same machine). *Cache off* "
        "(`VIEW_CACHE_ENABLED=false`): every view is one scoped RPC to customers, then one "
        "`customer_sections` call per other service (sales, service desk, analytics) in "
        "parallel (2 s budget each); 8 workers per replica. *Cache on (warm)*: the gateway "
        "restarted with the cache on and one view read first; nothing changes during the "
        "load, so a view is one Lua round trip to Redis (`gateway.views`) and no RPC.",
        "",
        f"- sections of the view before the load (idle): served: {', '.join(available) or 'none'}",
        f"- unavailable: {', '.join(missing) or 'none'}",
        "",
        "| scenario | connections | requests/s | p50 ms | p99 ms | requests | errors | "
        "partial views | from the cache | machine load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results:
        r = run.result
        lines.append(f"| {r.operation} | {r.connections} | {r.rps:.1f} | {r.p50:.1f} | "
                     f"{r.p99:.1f} | {r.requests} | {r.errors} | {run.partial} | "
                     f"{run.hits} | {run.load:.1f} |")
    lines += [
        "",
        "A *partial view* is a 200 in which at least one section answered `available: false`"
        " (e.g. its service took longer than the 2 s budget under this load); it is never "
        "cached. *From the cache*: answers with `X-View-Cache: hit`. *Machine load*: the "
        "1-minute load average as the step started (2 cores: above 2, other processes "
        "were competing for them).",
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
                      extra_env={"LOG_LEVEL": "WARNING", "RATE_LIMIT_ENABLED": "false",
                                 "VIEW_CACHE_ENABLED": "false"})
    try:
        cluster.start()
        print(f"cluster ready at {cluster.url} (logs in {cluster.workdir})", flush=True)
        results, sections = bench(cluster, connections, args.seconds)
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
