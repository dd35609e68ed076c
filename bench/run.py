"""``make bench``: the mixed load of SPEC §7 through the gateway, with the machine's limits.

1. Raw limits of this machine, measured first in the same run (``bench/raw.py``): an empty
   FastAPI route, PostgreSQL single-row INSERT commits, RabbitMQ publish/consume with
   confirms.
2. The SPEC §7 create-lead and 360° view targets on the 2-core deployment: the platform with
   one replica of each service (``--deployment``), started for them alone (``bench/targets.py``).
3. The whole platform again with more replicas (``tests.cluster.Cluster``: five Nameko
   services, leads ×2 and analytics ×2, and the gateway as separate processes; real RabbitMQ,
   Redis, PostgreSQL stores), prepared through the API (``bench/mixed.py``: teams, reps,
   customers, signed contracts, a pool of leads): the same two loads, then the claims race
   of SPEC §7 (two replicas of leads).
4. Each operation alone on 1 connection (latency floor), then the mixed load at 16, 64 and
   256 connections, wrk per operation, all at once; CPU seconds of every process sampled
   around each level (what bounds the figure).
5. Event lag commit → analytics read model (analytics' own histogram), per level.

Writes the sections "SPEC §7 targets", "Mixed load through the gateway", "Raw limits of this
machine", "Where the CPU goes" and "Event lag, commit → analytics read model" of
``docs/benchmarks.md``.

    make bench                                   # = python -m bench.run
    python -m bench.run --seconds 5 --connections 16,64
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from bench import mixed, raw, targets
from bench.report import machine, replace_preamble, replace_section
from tests.cluster import ROOT, Cluster

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of ``pid`` (``children``: plus what its exited children used)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICK


def _pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _server_cpu(pattern: str) -> float:
    """A server's CPU seconds so far: each top process of the name (counting the children it
    reaped, such as PostgreSQL's finished backends) plus its live children."""
    pids = set(_pids(pattern))
    total = 0.0
    for pid in pids:
        fields = _stat(pid)
        if fields is None:
            continue
        top = int(fields[1]) not in pids          # fields[1]: the parent's pid
        total += _cpu_seconds(pid, children=top)
    return total


def cpu_snapshot(cluster: Cluster) -> dict[str, float]:
    """CPU seconds used so far by each platform process and by the shared servers.

    RabbitMQ, PostgreSQL and Redis serve the whole machine: anything else running at the
    same time counts here too."""
    snap: dict[str, float] = {}
    for key, proc in cluster.procs.items():
        name = key.rsplit("-", 1)[0] if key != "gateway" else key
        snap[name] = snap.get(name, 0.0) + _cpu_seconds(proc.pid)
    for name, pattern in (("rabbitmq", "beam.smp"), ("postgresql", "postgres"),
                          ("redis", "redis-server"), ("wrk (load tool)", "^wrk ")):
        snap[name] = _server_cpu(pattern)
    return snap


def lag_buckets(cluster: Cluster) -> dict[float, float]:
    """Analytics' commit→read-model lag histogram: cumulative count per bucket bound, summed
    over its ``source`` label and over the analytics replicas."""
    text = "\n".join(cluster.scrape(key) for key in cluster.metrics_ports
                     if key.startswith("analytics-"))
    summed: dict[float, float] = {}
    for match in re.finditer(r'crm_analytics_event_lag_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\}'
                             r" ([0-9.e+]+)", text):
        le = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
        summed[le] = summed.get(le, 0.0) + float(match.group(2))
    return summed


def lag_quantiles(after: dict[float, float], before: dict[float, float] | None = None
                  ) -> tuple[float, float, int]:
    """p50/p99 (ms, the bucket's upper bound) and count of the events observed between two
    readings of ``lag_buckets``."""
    before = before or {}
    buckets = sorted((le, count - before.get(le, 0.0)) for le, count in after.items())
    total = buckets[-1][1] if buckets else 0
    if not total:
        return float("nan"), float("nan"), 0

    def quantile(q):
        return next((le * 1000 for le, count in buckets if count >= q * total), float("inf"))

    return quantile(0.5), quantile(0.99), int(total)


def _row(level: str, r: mixed.OpResult, limit: float | None = None) -> str:
    share = f" | {100 * r.rps / limit:.1f} %" if limit else ""
    return (f"| {level} | {r.operation} | {r.connections} | {r.rps:.1f} | {r.p50:.1f} | "
            f"{r.p95:.1f} | {r.p99:.1f} | {r.requests} | {r.errors}"
            f"{f' ({r.codes})' if r.codes else ''}{share} |")


SHARED = ("rabbitmq", "postgresql", "redis", "wrk (load tool)")


def cpu_table(samples: list[tuple[str, float, dict[str, float]]], label,
              transpose: bool = False) -> list[str]:
    """Markdown rows: CPU share and ms per request, per process (columns: the samples).

    ``transpose``: one row per sample (an operation), one column per process, ms only."""
    names = sorted({n for _, _, c in samples for n in c}, key=lambda n: (n in SHARED, n))
    if transpose:
        rows = ["| operation | " + " | ".join(names) + " | all |",
                "|---|" + "---:|" * (len(names) + 1)]
        for key, rps, used in samples:
            cells = [f"{1000 * used.get(n, 0.0) / rps:.2f}" if rps else "—" for n in names]
            total = f"**{1000 * sum(used.values()) / rps:.2f}**" if rps else "—"
            rows.append(f"| {label(key, rps)} | " + " | ".join(cells) + f" | {total} |")
        return rows
    rows = ["| process | " + " | ".join(label(k, rps) for k, rps, _ in samples) + " |",
            "|---|" + "---:|" * len(samples)]
    for name in [*names, None]:
        cells = []
        for _, rps, used in samples:
            value = sum(used.values()) if name is None else used.get(name, 0.0)
            cell = f"{100 * value:.0f} % · {1000 * value / rps:.2f} ms" if rps else "—"
            cells.append(f"**{cell}**" if name is None else cell)
        rows.append(f"| {name or '**all**'} | " + " | ".join(cells) + " |")
    return rows


def write_report(*, command: str, seconds: float, limits: dict[str, float],
                 levels: list[tuple[str, list[mixed.OpResult]]],
                 cpu: list[tuple[str, float, dict[str, float]]],
                 costs: list[tuple[str, float, dict[str, float]]],
                 lags: list[tuple[str, tuple[float, float, int]]], reps: int,
                 replicas: dict[str, int]) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "uncommitted"
    empty = next(iter(limits.values()))
    replace_preamble("\n".join([
        "# Benchmarks",
        "",
        "Numbers are measured, not estimated. Each section names the command that produced it;",
        "`make bench` (`python -m bench.run`) writes the SPEC §7 targets, the mixed load, the "
        "raw limits, where the CPU goes and the event lag, and leaves the others alone.",
    ]))
    rows = [
        f"- command: `{command}`; commit `{commit}`, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {machine()}; the load tool (wrk, C) runs on the same machine",
        "- topology: gateway (1 uvicorn process) + 5 Nameko services ("
        + ", ".join(f"{name} ×{count}" for name, count in replicas.items())
        + ", the others ×1), 8 workers per replica, real RabbitMQ (quorum queues), Redis, "
        "PostgreSQL stores; rate limiting off, logs at WARNING",
        f"- data made through the API first: 2 teams, {reps} reps, 2 customers and one signed "
        "contract with a receivable plan per rep, a public pool of leads to claim",
        f"- level *alone*: each operation by itself on 1 connection for "
        f"{max(1, round(seconds / 2))} s; "
        f"levels 16/64/256: all operations at once for {seconds:g} s, the connections split "
        "by weight (" + ", ".join(f"{op} {w} %" for op, w in mixed.WEIGHTS.items()) + ")",
        "- *share of limit*: requests/s as a fraction of the empty FastAPI route's requests/s "
        f"({empty:,.0f}/s, section below) — what the gateway process alone could carry",
        "",
        "| level | operation | connections | requests/s | p50 ms | p95 ms | p99 ms | requests "
        "| errors | share of limit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level, results in levels:
        for r in results:
            rows.append(_row(level, r, empty))
        if level != "alone":
            total = sum(r.rps for r in results)
            rows.append(f"| {level} | **all operations** | {sum(r.connections for r in results)}"
                        f" | **{total:.1f}** | | | | {sum(r.requests for r in results)} | "
                        f"{sum(r.errors for r in results)} | {100 * total / empty:.1f} % |")
    rows += ["", "Targets of SPEC §7: create lead ≥ 1,000 requests/s at 64 connections with "
             "p99 ≤ 100 ms; 360° view ≥ 500 requests/s with p99 ≤ 150 ms (see *Where the CPU "
             "goes* for what bounds them)."]
    replace_section("Mixed load through the gateway", "\n".join(rows))

    replace_section("Raw limits of this machine", "\n".join([
        "Measured by `make bench` (`bench/raw.py`) in the same run, just before the platform "
        "started, on the same servers:",
        "",
        "| part | per second |",
        "|---|---:|",
        *[f"| {name} | {value:,.0f} |" for name, value in limits.items()],
        "",
        "The empty route is uvicorn + FastAPI with no middleware, one process (wrk, 64 "
        "connections). PostgreSQL: `pgbench`, one `INSERT` per transaction, 16 clients. "
        "RabbitMQ: persistent 512-byte messages through one quorum queue, 256 unconfirmed "
        "publishes in flight, consumed with prefetch 256 and acked (aio-pika, one process: "
        "the client library is part of the figure).",
    ]))

    replace_section("Where the CPU goes", "\n".join([
        "CPU used per process, as a share of one core (the machine has 2: 200 %) and as CPU "
        "milliseconds per request served. RabbitMQ, PostgreSQL and Redis are the machine's "
        "shared servers (anything else running counts there too).",
        "",
        "Each mixed level of the run above (per request of any operation):",
        "",
        *cpu_table(cpu, lambda level, rps: f"{level} conns ({rps:.0f} req/s)"),
        "",
        "Each operation alone on 1 connection (level *alone*): what one request of it costs "
        "in each process.",
        "",
        *cpu_table(costs, lambda name, rps: f"{name} ({rps:.0f}/s)", transpose=True),
    ]))
    replace_section("Event lag, commit → analytics read model", "\n".join([
        f"Measured in the `{command}` run above from analytics' own histogram "
        "`crm_analytics_event_lag_seconds` (producer's commit, the event's `occurred_at` → "
        "its read models committed in analytics), read before and after each level; the "
        "figures are the upper bounds of the histogram's buckets. *backlog after N*: everything "
        "applied after a level ended, until analytics' queue was empty again (its backlog).",
        "",
        "| level | events applied | p50 ≤ ms | p99 ≤ ms |",
        "|---|---:|---:|---:|",
        *[f"| {level} | {n} | {p50:.0f} | {p99:.0f} |" if n else f"| {level} | 0 | — | — |"
          for level, (p50, p99, n) in lags],
        "",
        "Target of SPEC §7: p99 ≤ 500 ms at the create-lead load; issue 7: a write reflected "
        "within a second under the load of `make bench`.",
    ]))


def measure_create(cluster: Cluster, load: mixed.Load, seconds: float
                   ) -> tuple[mixed.OpResult, tuple[float, float, int], dict[str, float]]:
    """The create-lead row of SPEC §7 alone: the load's result, the lag of its events (the
    backlog included) and the CPU seconds each process spent until they were applied."""
    lag_before = lag_buckets(cluster)
    before = cpu_snapshot(cluster)
    create = load.alone("create lead", seconds, connections=targets.CONNECTIONS)
    mixed.wait_for_quiet(cluster, quiet_for=1.0)     # the creates' events, all applied
    after = cpu_snapshot(cluster)
    create_cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    return create, lag_quantiles(lag_buckets(cluster), lag_before), create_cpu


def measure_rates(cluster: Cluster, load: mixed.Load, fixture: mixed.Fixture,
                  seconds: float, replicas: dict[str, int]) -> targets.Rates:
    """The create-lead and 360° view rows of SPEC §7, each alone (``bench/targets.py``)."""
    create, create_lag, create_cpu = measure_create(cluster, load, seconds)
    label = targets.topology(replicas)
    print(f"target create lead ({label}): {create.rps:.0f}/s p99 {create.p99:.1f} ms, "
          f"{create.errors} errors; lag p99 ≤ {create_lag[1]:.0f} ms", flush=True)
    # every fixture view read once first (by its rep, as a rep opens a customer before
    # coming back to it): the timed load then measures the steady state of the cache; the
    # cold first reads are reported beside it
    cold = targets.first_reads(cluster.url, fixture.operations["customer 360° view"])
    view = load.alone("customer 360° view", seconds, connections=targets.CONNECTIONS)
    print(f"target 360° view ({label}): {view.rps:.0f}/s p99 {view.p99:.1f} ms, "
          f"{view.errors} errors", flush=True)
    return targets.Rates(replicas, create, create_lag, create_cpu, view, cold)


def measure_deployment(seconds: float, reps: int, replicas: dict[str, int]
                       ) -> targets.Rates:
    """``measure_rates`` on a platform of its own with ``replicas`` (the 2-core deployment:
    one replica of each service), started for it and stopped after."""
    cluster = bench_cluster(replicas)
    try:
        cluster.start()
        fixture = mixed.prepare(cluster.url, reps=reps, claimable=1)
        load = mixed.Load(cluster.url, fixture)
        mixed.wait_for_quiet(cluster)
        return measure_rates(cluster, load, fixture, seconds, replicas)
    finally:
        cluster.stop()


def claim_race(cluster: Cluster, fixture: mixed.Fixture) -> targets.ClaimRace:
    import httpx

    from tests.cluster import ADMIN_PASSWORD, ADMIN_USER

    with httpx.Client(base_url=cluster.url, timeout=30) as client:
        admin = mixed._login(client, ADMIN_USER, ADMIN_PASSWORD)
    reps = sorted({r.token for r in fixture.operations["create lead"]})
    race = targets.claim_race(cluster.url, admin, reps)
    print(f"target claim race: {race.winners} winner, {race.conflicts} × 409, "
          f"others {race.others}", flush=True)
    mixed.wait_for_quiet(cluster, quiet_for=1.0)
    return race


def bench_cluster(replicas: dict[str, int]) -> Cluster:
    """A platform to measure (not started): rate limiting off, logs at WARNING, and 8
    workers per replica — up to 7 service processes × (8 + 2) connections stay inside
    PostgreSQL's default max_connections (100), as docs/operations.md asks of a deployment."""
    return Cluster(Path(tempfile.mkdtemp(prefix="crm-bench-")), max_workers=8,
                   replicas=replicas, metrics=True,
                   extra_env={"LOG_LEVEL": "WARNING", "RATE_LIMIT_ENABLED": "false"})


def _replicas(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (item.split("=") for item in text.split(","))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", default="16,64,256")
    parser.add_argument("--reps", type=int, default=32)
    parser.add_argument("--claimable", type=int, default=3000,
                        help="pool leads made for the claims (each is claimed once)")
    parser.add_argument("--replicas", default="leads=2,analytics=2",
                        help="replicas per service, e.g. leads=2,analytics=2 (others: 1)")
    parser.add_argument("--deployment", default="leads=1",
                        help="replicas of the platform the create-lead and 360° view targets "
                             "are judged on (others: 1); 'none' skips it")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    replicas = _replicas(args.replicas)
    connections = [int(c) for c in args.connections.split(",")]

    print("raw limits ...", flush=True)
    limits = raw.measure(5)
    for name, value in limits.items():
        print(f"  {name}: {value:,.0f}/s", flush=True)

    deployment = None
    if args.deployment != "none":
        print("the 2-core deployment ...", flush=True)
        deployment = measure_deployment(args.seconds, args.reps, _replicas(args.deployment))
    cluster = bench_cluster(replicas)
    levels: list[tuple[str, list[mixed.OpResult]]] = []
    cpu: list[tuple[str, float, dict[str, float]]] = []
    costs: list[tuple[str, float, dict[str, float]]] = []
    lags: list[tuple[str, tuple[float, float, int]]] = []
    try:
        cluster.start()
        print(f"cluster ready at {cluster.url} (logs in {cluster.workdir})", flush=True)
        fixture = mixed.prepare(cluster.url, reps=args.reps, claimable=args.claimable)
        load = mixed.Load(cluster.url, fixture)
        settled = mixed.wait_for_quiet(cluster)       # the set-up's events, all applied
        print(f"set-up applied by analytics after {settled:.0f} s", flush=True)
        rates = measure_rates(cluster, load, fixture, args.seconds, replicas)
        race = claim_race(cluster, fixture)
        target_text = targets.section(seconds=args.seconds, judged=deployment or rates,
                                      other=rates if deployment else None, race=race)
        alone = []
        for name in mixed.WEIGHTS:
            before, started = cpu_snapshot(cluster), time.monotonic()
            result = load.alone(name, max(1, round(args.seconds / 2)))
            elapsed = time.monotonic() - started
            after = cpu_snapshot(cluster)
            costs.append((name, result.rps, {k: (after[k] - before.get(k, 0.0)) / elapsed
                                             for k in after}))
            alone.append(result)
            print(f"alone {name:22s} {result.rps:7.1f}/s p50 {result.p50:7.1f} ms", flush=True)
            mixed.wait_for_quiet(cluster, quiet_for=1.0)
        levels.append(("alone", alone))
        for n in connections:
            lag_before = lag_buckets(cluster)
            before, started = cpu_snapshot(cluster), time.monotonic()
            results = load.mixed(n, args.seconds)
            elapsed = time.monotonic() - started
            after = cpu_snapshot(cluster)
            rps = sum(r.rps for r in results)
            cpu.append((str(n), rps, {k: (after[k] - before.get(k, 0.0)) / elapsed
                                      for k in after}))
            levels.append((str(n), results))
            lags.append((f"{n} connections", lag_quantiles(lag_buckets(cluster),
                                                           lag_before)))
            print(f"{n:>4} connections: {rps:8.1f} req/s, "
                  f"{sum(r.errors for r in results)} errors", flush=True)
            for r in results:
                print(f"      {r.operation:22s} {r.rps:7.1f}/s p50 {r.p50:7.1f} "
                      f"p99 {r.p99:7.1f} ms  errors {r.errors} {r.codes}", flush=True)
            lag_before = lag_buckets(cluster)
            drained = mixed.wait_for_quiet(cluster)
            lags.append((f"backlog after {n} connections (drained in {drained:.0f} s)",
                         lag_quantiles(lag_buckets(cluster), lag_before)))
        for level, (p50, p99, count) in lags:
            print(f"event lag {level}: p50 ≤ {p50:.0f} ms, p99 ≤ {p99:.0f} ms over {count} "
                  "events", flush=True)
    finally:
        cluster.stop()
    default = (args.seconds, args.connections, args.reps, args.replicas, args.deployment) == (
        15.0, "16,64,256", 32, "leads=2,analytics=2", "leads=1")
    command = "make bench" if default else (
        f"python -m bench.run --seconds {args.seconds:g} --connections {args.connections} "
        f"--reps {args.reps} --replicas {args.replicas} --deployment {args.deployment}")
    for line in cpu_table(costs, lambda name, rps: f"{name} ({rps:.0f}/s)", transpose=True):
        print(line)
    if not args.no_write:
        replace_section("SPEC §7 targets", target_text)
        write_report(command=command, seconds=args.seconds, limits=limits, levels=levels,
                     cpu=cpu, costs=costs, lags=lags, reps=args.reps,
                     replicas=replicas)
        print("written docs/benchmarks.md")


if __name__ == "__main__":
    main()
