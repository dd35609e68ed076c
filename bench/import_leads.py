"""Benchmark: import 100k leads from CSV through the gateway (GBK and UTF-8 files).

Starts the whole platform (``tests.cluster.Cluster``, stores on PostgreSQL, leads ×2),
generates two 100k-row CSV files (GBK with Chinese headers as Excel writes them, and UTF-8
with English headers), each with ~5 % duplicate rows, posts each to ``POST /leads/import``
and reports rows/s and the gateway's peak RSS (``VmHWM``), which shows the upload is
streamed rather than held in memory. Writes the section "## Import 100k leads" of
docs/benchmarks.md and leaves the rest of the file alone.

    python -m bench.import_leads                 # 100k rows per file
    python -m bench.import_leads --rows 20000 --no-write
"""
from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import machine, replace_section
from tests.cluster import ADMIN_PASSWORD, ADMIN_USER, Cluster

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"
CITIES = ("上海", "北京", "杭州", "深圳", "广州", "成都", "南京", "苏州", "武汉", "西安")
TRADES = ("科技", "贸易", "制造", "物流", "医疗", "教育", "软件", "电子")
SOURCES = ("展会", "官网", "转介绍", "广告", "陌拜", "")
HEADERS = {"gbk": ["姓名", "公司", "职位", "手机", "邮箱", "来源", "地区", "行业", "备注", "标签"],
           "utf-8": ["name", "company", "title", "phone", "email", "source", "region",
                     "industry", "notes", "tags"]}


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
    try:
        cluster.start()
        gateway_pid = cluster.procs["gateway"].pid
        with httpx.Client(base_url=f"{cluster.url}/api/v1", timeout=1800) as client:
            token = client.post("/auth/token", data={"username": ADMIN_USER,
                                                     "password": ADMIN_PASSWORD}).json()
            client.headers["Authorization"] = f"Bearer {token['access_token']}"
            rss_before = peak_rss_mb(gateway_pid)
            for encoding, path, dups in files:
                started = time.monotonic()
                with open(path, "rb") as f:
                    answer = client.post("/leads/import",
                                         files={"file": (path.name, f, "text/csv")})
                seconds = time.monotonic() - started
                answer.raise_for_status()
                report = answer.json()
                results.append((encoding, path.stat().st_size / 1e6, seconds, report, dups,
                                peak_rss_mb(gateway_pid)))
                print(f"{encoding}: {args.rows} rows in {seconds:.1f} s = "
                      f"{args.rows / seconds:.0f} rows/s; created {report['created']}, "
                      f"duplicates {report['duplicates']} (generated {dups}), rejected "
                      f"{report['rejected']}; gateway peak RSS "
                      f"{peak_rss_mb(gateway_pid):.0f} MB", flush=True)
    finally:
        cluster.stop()
    if args.no_write:
        return
    lines = [
        f"`python -m bench.import_leads --rows {args.rows}` on {machine()}; cluster as above "
        "(stores on PostgreSQL, leads ×2). Each file is posted once as multipart to "
        "`POST /api/v1/leads/import`; the gateway spools it to disk and sends 500-row batches "
        "(`import_rows`), each one bulk INSERT plus one `lead.created` per lead.",
        "",
        "| file | size MB | rows | seconds | rows/s | created | duplicates | rejected | "
        "gateway peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for encoding, size, seconds, report, _dups, rss in results:
        lines.append(f"| {encoding.upper()} | {size:.1f} | {args.rows} | {seconds:.1f} | "
                     f"{args.rows / seconds:.0f} | {report['created']} | "
                     f"{report['duplicates']} | {report['rejected']} | {rss:.0f} |")
    lines += ["", f"Gateway peak RSS before the first import: {rss_before:.0f} MB "
              "(the high-water mark `VmHWM` of the uvicorn process)."]
    replace_section("Import 100k leads", "\n".join(lines))
    print("written the import section of docs/benchmarks.md")


if __name__ == "__main__":
    main()
