"""Benchmark of the business path through the gateway: create and claim leads.

Starts the whole platform (``tests.cluster.Cluster``: the five services and the gateway as
separate processes, real RabbitMQ, Redis and PostgreSQL), then drives it over HTTP at 1, 16
and 64 concurrent connections and writes requests/s and p50/p99 latency to
``docs/benchmarks.md``, with the command and the machine. Also reports the event lag from
commit to the analytics read model, read from analytics' own histogram.

    make bench                              # = python -m bench.run
    python -m bench.run --seconds 5 --store sqlite --connections 1,16
"""
from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.report import machine, replace_preamble, replace_section
from tests.cluster import ADMIN_PASSWORD, ADMIN_USER, ROOT, Cluster, free_port


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


async def make_reps(client: httpx.AsyncClient, admin: str, n: int, tag: str) -> list[str]:
    tokens = []
    for i in range(n):
        name = f"bench{tag}{i}"
        answer = await client.post("/api/v1/users", headers={"Authorization": f"Bearer {admin}"},
                                   json={"username": name, "password": "bench-pass-123",
                                         "display_name": name, "role": "sales"})
        answer.raise_for_status()
        tokens.append(await token(client, name, "bench-pass-123"))
    return tokens


async def drive(client, scenario: str, tokens: list[str], seconds: float, make_request) -> Result:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    async def worker(i: int):
        nonlocal errors
        n = 0
        while time.monotonic() < stop_at:
            request = make_request(i, n)
            if request is None:           # this connection has nothing left to do
                return
            method, path, body = request
            n += 1
            started = time.perf_counter()
            try:
                answer = await client.request(method, path, json=body,
                                              headers={"Authorization": f"Bearer {tokens[i]}"})
                ok = answer.status_code < 300
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*[worker(i) for i in range(len(tokens))])
    return Result(scenario, len(tokens), len(latencies), errors, time.monotonic() - started,
                  latencies)


async def bench(base: str, connections: list[int], seconds: float) -> list[Result]:
    results = []
    limits = httpx.Limits(max_connections=max(connections), max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        admin = await token(client, ADMIN_USER, ADMIN_PASSWORD)
        rules = await client.put("/api/v1/lead-pools/default/rules",
                                 headers={"Authorization": f"Bearer {admin}"},
                                 json={"follow_up_days": 15, "max_leads_per_rep": 100000,
                                       "max_claims_per_day": 10000, "reclaim_cooldown_days": 7,
                                       "warn_days_before": 2})
        rules.raise_for_status()
        for n in connections:
            tokens = await make_reps(client, admin, n, f"c{n}x")
            created: list[list[str]] = [[] for _ in range(n)]

            def create(i, k, n=n):
                return "POST", "/api/v1/leads", {
                    "name": f"联系人{n}-{i}-{k}", "company": f"压测企业{n}-{i}-{k}有限公司",
                    "source": "ad", "region": "上海"}

            result = await drive(client, "create lead", tokens, seconds, create)
            results.append(result)
            print(f"create lead  {n:>3} conns: {result.rps:8.1f} req/s  "
                  f"p50 {result.pct(50):6.1f} ms  p99 {result.pct(99):6.1f} ms  "
                  f"errors {result.errors}", flush=True)
            # leads to claim: each connection claims from its own list, so no claim collides
            page = await client.get("/api/v1/leads", params={"scope": "pool", "limit": 200},
                                    headers={"Authorization": f"Bearer {admin}"})
            pool_ids = [item["id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            while cursor and len(pool_ids) < result.requests:
                page = await client.get("/api/v1/leads", params={"scope": "pool", "limit": 200,
                                                                 "cursor": cursor},
                                        headers={"Authorization": f"Bearer {admin}"})
                pool_ids += [item["id"] for item in page.json()["items"]]
                cursor = page.json()["next_cursor"]
            for idx, lead_id in enumerate(pool_ids):
                created[idx % n].append(lead_id)

            def claim(i, k, created=created):
                ids = created[i]          # every lead is claimed once, by one connection
                return None if k >= len(ids) else ("POST", f"/api/v1/leads/{ids[k]}/claim", None)

            result = await drive(client, "claim lead", tokens, seconds, claim)
            results.append(result)
            print(f"claim lead   {n:>3} conns: {result.rps:8.1f} req/s  "
                  f"p50 {result.pct(50):6.1f} ms  p99 {result.pct(99):6.1f} ms  "
                  f"errors {result.errors}", flush=True)
    return results


def event_lag(metrics_port: int) -> tuple[float, float, int]:
    """p50/p99 (ms) of analytics' commit→read-model lag histogram, from its buckets."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    buckets = []
    for match in re.finditer(r'crm_analytics_event_lag_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\}'
                             r" ([0-9.e+]+)", text):
        le = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
        buckets.append((le, float(match.group(2))))
    if not buckets:
        return float("nan"), float("nan"), 0
    total = buckets[-1][1]

    def quantile(q):
        for le, count in buckets:
            if count >= q * total:
                return le * 1000
        return float("inf")

    return quantile(0.5), quantile(0.99), int(total)


def write_report(results: list[Result], lag: tuple[float, float, int], command: str,
                 store: str, seconds: float) -> None:
    """Write the page's intro and this benchmark's two sections; other sections stay."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "uncommitted"
    replace_preamble("\n".join([
        "# Benchmarks",
        "",
        "Numbers are measured, not estimated. Each section names the command that produced it;",
        "`make bench` (`python -m bench.run`) writes the first two and leaves the others alone.",
    ]))
    rows = [
        f"- command: `{command}`",
        f"- commit: `{commit}`, date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {machine()}; the load generator (Python, httpx) runs on the same machine",
        f"- topology: gateway (1 uvicorn process) + 5 Nameko services (leads ×2 replicas, "
        f"others ×1), real RabbitMQ, Redis, stores on {store}",
        f"- each step runs {seconds:g} s; latency is measured by the client per request",
        "",
        "| scenario | connections | requests/s | p50 ms | p99 ms | requests | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(f"| {r.scenario} | {r.connections} | {r.rps:.1f} | {r.pct(50):.1f} | "
                    f"{r.pct(99):.1f} | {r.requests} | {r.errors} |")
    rows += ["", "Targets of SPEC §7 (create lead ≥ 1,000 req/s at 64 connections, p99 ≤ 100 ms) "
             "are the subject of the performance issue; this section records where it stands."]
    replace_section("Create and claim leads through the gateway", "\n".join(rows))
    replace_section("Event lag, commit → analytics read model", (
        f"Over all {lag[2]} events analytics applied during the run: p50 ≤ {lag[0]:.0f} ms, "
        f"p99 ≤ {lag[1]:.0f} ms (upper bounds of the histogram buckets of "
        "`crm_analytics_event_lag_seconds`)."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    metrics_port = free_port()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="crm-bench-")), store=args.store,
                      max_workers=None,
                      extra_env={"ANALYTICS_METRICS_PORT": str(metrics_port),
                                 "LOG_LEVEL": "WARNING", "RATE_LIMIT_ENABLED": "false"})
    try:
        cluster.start()
        print(f"cluster ready at {cluster.url} (logs in {cluster.workdir})", flush=True)
        results = asyncio.run(bench(cluster.url, connections, args.seconds))
        time.sleep(2)
        lag = event_lag(metrics_port)
        print(f"event lag commit→analytics: p50 ≤ {lag[0]:.0f} ms, p99 ≤ {lag[1]:.0f} ms "
              f"over {lag[2]} events", flush=True)
    finally:
        cluster.stop()
    command = "make bench" if (args.seconds, args.connections, args.store) == (
        10.0, "1,16,64", "postgresql") else (
        f"python -m bench.run --seconds {args.seconds:g} --connections {args.connections} "
        f"--store {args.store}")
    write_report(results, lag, command, args.store, args.seconds)
    print("written docs/benchmarks.md")


if __name__ == "__main__":
    main()
