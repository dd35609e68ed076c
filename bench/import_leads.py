"""Benchmark: import 100k leads from CSV through the gateway (GBK and UTF-8 files).

Starts the whole platform (``tests.cluster.Cluster``, stores on PostgreSQL, leads ×2),
generates two 100k-row CSV files (GBK with Chinese headers as Excel writes them, and UTF-8
with English headers), each with ~5 % duplicate rows, posts each to ``POST /leads/import``
and reports, per file:

* rows/s: the file's rows ÷ the seconds until the import answered;
* CPU ms per row of each process during the import (``/proc/<pid>/stat``): the gateway,
  the leads replicas, the PostgreSQL backends of the leads store, analytics and its
  PostgreSQL backends, and RabbitMQ (the server on the cluster's port: other vhosts'
  traffic counts too);
* the drain: seconds from the answer until every ``lead.created`` of the file is relayed
  (leads' outbox empty) and logged by analytics, with the CPU that took;
* the peak RSS (``VmHWM``) of the gateway and of the leads replicas: the upload is
  streamed, never held in memory whole.

The next file is posted once the previous one has drained. Writes the section
"## Import 100k leads" of docs/benchmarks.md and leaves the rest of the file alone.

    python -m bench.import_leads                 # 100k rows per file
    python -m bench.import_leads --rows 20000 --no-write
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psycopg2

from bench.report import machine, replace_section
from tests.cluster import ADMIN_PASSWORD, ADMIN_USER, Cluster
from tests.pg import ADMIN_DSN

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"
CITIES = ("上海", "北京", "杭州", "深圳", "广州", "成都", "南京", "苏州", "武汉", "西安")
TRADES = ("科技", "贸易", "制造", "物流", "医疗", "教育", "软件", "电子")
SOURCES = ("展会", "官网", "转介绍", "广告", "陌拜", "")
HEADERS = {"gbk": ["姓名", "公司", "职位", "手机", "邮箱", "来源", "地区", "行业", "备注", "标签"],
           "utf-8": ["name", "company", "title", "phone", "email", "source", "region",
                     "industry", "notes", "tags"]}
TICK = os.sysconf("SC_CLK_TCK")
DRAIN_TIMEOUT = 1800.0


def generate(path: Path, rows: int, encoding: str, seed: int, dup_rate: float = 0.05) -> int:
    """Write ``rows`` data rows; about ``dup_rate`` of them repeat an earlier row's phone."""
    rng = random.Random(seed)
    duplicates, phones = 0, []
    with open(path, "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADERS[encoding])
        for i in range(rows):
            city, trade = rng.choice(CITIES), rng.choice(TRADES)
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            if phones and rng.random() < dup_rate:
                phone, duplicates = rng.choice(phones), duplicates + 1
            else:
                phone = f"1{seed % 10}{i:09d}"
                phones.append(phone)
            writer.writerow([name, f"{city}{trade}{seed}-{i}有限公司", "采购经理", phone,
                             f"u{seed}x{i}@example.cn", rng.choice(SOURCES), city, trade,
                             "批量导入", "华东,展会" if i % 3 == 0 else ""])
    return duplicates


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK   # utime, stime (fields 14, 15)


class Meters:
    """CPU seconds so far of each group of processes the import involves."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.databases = {name: url.rsplit("/", 1)[1]
                          for name, url in cluster.store_urls.items()}

    def _backends(self, service: str) -> list[int]:
        with psycopg2.connect(ADMIN_DSN) as conn, conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                        (self.databases[service],))
            return [row[0] for row in cur.fetchall()]

    def broker(self) -> list[int]:
        """The RabbitMQ server the cluster talks to: the process listening on its port."""
        listening = subprocess.run(["ss", "-Hltnp", f"sport = :{self.cluster.amqp_port}"],
                                   capture_output=True, text=True).stdout
        return sorted({int(pid) for pid in re.findall(r"pid=(\d+)", listening)})

    def groups(self) -> dict[str, list[int]]:
        procs = self.cluster.procs
        return {
            "gateway": [procs["gateway"].pid],
            "leads": [p.pid for k, p in procs.items() if k.startswith("leads-")],
            "PostgreSQL (leads)": self._backends("leads"),
            "analytics": [p.pid for k, p in procs.items() if k.startswith("analytics-")],
            "PostgreSQL (analytics)": self._backends("analytics"),
            "RabbitMQ": self.broker(),
        }

    def snapshot(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in pids}
                for name, pids in self.groups().items()}

    @staticmethod
    def spent(before: dict, after: dict) -> dict[str, float]:
        """CPU seconds of each group between two snapshots (a process that started in
        between counts from zero)."""
        return {name: sum(cpu - before.get(name, {}).get(pid, 0.0)
                          for pid, cpu in pids.items())
                for name, pids in after.items()}


def drained(cluster: Cluster, expected: int) -> bool:
    """Every event of leads relayed, and ``expected`` lead.created logged by analytics."""
    with psycopg2.connect(cluster.store_urls["leads"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        if cur.fetchone()[0]:
            return False
    with psycopg2.connect(cluster.store_urls["analytics"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event_log WHERE type = 'lead.created'")
        return cur.fetchone()[0] >= expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    files = []
    for n, encoding in enumerate(("gbk", "utf-8")):
        path = work / f"leads-{encoding}.csv"
        dups = generate(path, args.rows, encoding, seed=n + 1)
        files.append((encoding, path, dups))
        print(f"generated {path} ({path.stat().st_size / 1e6:.1f} MB, {dups} duplicates)",
              flush=True)
    cluster = Cluster(work / "cluster", max_workers=None,
                      extra_env={"LOG_LEVEL": "WARNING", "RATE_LIMIT_ENABLED": "false"})
    results = []
    started_at = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    try:
        cluster.start()
        meters = Meters(cluster)
        gateway_pid = cluster.procs["gateway"].pid
        leads_pids = [p.pid for k, p in cluster.procs.items() if k.startswith("leads-")]
        created_so_far = 0
        with httpx.Client(base_url=f"{cluster.url}/api/v1", timeout=1800) as client:
            token = client.post("/auth/token", data={"username": ADMIN_USER,
                                                     "password": ADMIN_PASSWORD}).json()
            client.headers["Authorization"] = f"Bearer {token['access_token']}"
            rss_before = peak_rss_mb(gateway_pid)
            for encoding, path, dups in files:
                load_before = os.getloadavg()[0]
                before = meters.snapshot()
                started = time.monotonic()
                with open(path, "rb") as f:
                    answer = client.post("/leads/import",
                                         files={"file": (path.name, f, "text/csv")})
                seconds = time.monotonic() - started
                answered = meters.snapshot()
                answer.raise_for_status()
                report = answer.json()
                created_so_far += report["created"]
                while not drained(cluster, created_so_far):
                    if time.monotonic() - started > seconds + DRAIN_TIMEOUT:
                        raise RuntimeError("the events did not drain")
                    time.sleep(0.2)
                drain = time.monotonic() - started - seconds
                done = meters.snapshot()
                result = {
                    "encoding": encoding, "size": path.stat().st_size / 1e6,
                    "seconds": seconds, "report": report, "dups": dups, "drain": drain,
                    "cpu": Meters.spent(before, answered), "drain_cpu": Meters.spent(answered,
                                                                                   done),
                    "rss": peak_rss_mb(gateway_pid),
                    "leads_rss": max(peak_rss_mb(pid) for pid in leads_pids),
                    "load": (load_before, os.getloadavg()[0])}
                results.append(result)
                cpu = ", ".join(f"{k} {v * 1000 / args.rows:.3f}"
                                for k, v in result["cpu"].items())
                drain_cpu = ", ".join(f"{k} {v * 1000 / args.rows:.3f}"
                                      for k, v in result["drain_cpu"].items())
                print(f"{encoding}: {args.rows} rows in {seconds:.1f} s = "
                      f"{args.rows / seconds:.0f} rows/s; created {report['created']}, "
                      f"duplicates {report['duplicates']} (generated {dups}), rejected "
                      f"{report['rejected']}; CPU ms/row: {cpu}; drained "
                      f"{drain:.1f} s later (CPU ms/row: {drain_cpu}); gateway peak RSS "
                      f"{result['rss']:.0f} MB, "
                      f"leads {result['leads_rss']:.0f} MB", flush=True)
    finally:
        cluster.stop()
    if args.no_write:
        return
    write(args.rows, results, rss_before, started_at)


def write(rows: int, results: list[dict], rss_before: float, started_at: str) -> None:
    groups = list(results[0]["cpu"])
    lines = [
        f"`python -m bench.import_leads --rows {rows}` on {machine()}, {started_at} UTC; "
        "cluster as above (stores on PostgreSQL, leads ×2). Each file is posted once as "
        "multipart to `POST /api/v1/leads/import`; the gateway spools it to disk and streams "
        "batches to `import_rows` (services/leads/README.md, Import). *seconds* and *rows/s*: "
        "until the import answered. *drain*: from the answer until every `lead.created` of "
        "the file was relayed and logged by analytics (the next file is posted after that).",
        "",
        "| file | size MB | rows | seconds | rows/s | created | duplicates | rejected | "
        "drain s | gateway peak RSS MB | leads peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"gbk": "GBK, Chinese headers",
             "utf-8": "UTF-8, English headers (second: ~95k leads in the store)"}
    for r in results:
        rep = r["report"]
        lines.append(
            f"| {names[r['encoding']]} | {r['size']:.1f} | {rows} | {r['seconds']:.1f} | "
            f"{rows / r['seconds']:.0f} | {rep['created']} | {rep['duplicates']} | "
            f"{rep['rejected']} | {r['drain']:.1f} | {r['rss']:.0f} | {r['leads_rss']:.0f} |")
    lines += [
        "",
        "CPU per row (ms of user + system CPU per file row, from `/proc/<pid>/stat`), during "
        "the import and during the drain after it:",
        "",
        "| file | phase | " + " | ".join(groups) + " | all |",
        "|---|---|" + "---:|" * (len(groups) + 1),
    ]
    for r in results:
        for phase, spent in (("import", r["cpu"]), ("drain", r["drain_cpu"])):
            cells = " | ".join(f"{spent[g] * 1000 / rows:.3f}" for g in groups)
            lines.append(f"| {names[r['encoding']]} | {phase} | {cells} | "
                         f"{sum(spent.values()) * 1000 / rows:.3f} |")
    loads = ", ".join(f"{r['load'][0]:.1f} → {r['load'][1]:.1f}" for r in results)
    found = ", ".join(f"{r['report']['duplicates']} of {r['dups']}" for r in results)
    lines += ["", f"Duplicates reported of those generated (repeated phones): {found}. "
              f"Gateway peak RSS before the first import: {rss_before:.0f} MB (`VmHWM` of "
              f"the uvicorn process). Load average before → after each import: {loads}. "
              "RabbitMQ's figure is its whole server (other vhosts' traffic counts too)."]
    replace_section("Import 100k leads", "\n".join(lines))
    print("written the import section of docs/benchmarks.md")


if __name__ == "__main__":
    main()
