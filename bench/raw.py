"""The machine's raw limits, measured in the same run as the platform's figures.

Each figure of ``make bench`` is also given as a fraction of the limit of the part it rests
on, measured here on the same machine, with the same servers, a moment before:

- an empty FastAPI route: the gateway's own stack (uvicorn + FastAPI, one process) with
  nothing behind it, driven by wrk;
- PostgreSQL single-row INSERT commits: ``pgbench`` with a one-statement script (16 clients,
  2 threads), so every transaction is one commit of one row;
- RabbitMQ publish with publisher confirms and consume with acks: persistent 512-byte
  messages through one durable queue, published with 256 unconfirmed in flight and consumed
  with prefetch 256 (aio-pika, the gateway's client library).
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika

from tests.cluster import free_port
from tests.pg import create_database, drop_database

EMPTY_APP = '''
from fastapi import FastAPI
app = FastAPI()

@app.get("/empty")
async def empty():
    return {}
'''


def wrk_rps(url: str, connections: int, seconds: float) -> float:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", url],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def empty_route(seconds: float = 5, connections: int = 64) -> float:
    """Requests/s of an empty FastAPI route on one uvicorn process."""
    workdir = Path(tempfile.mkdtemp(prefix="crm-raw-"))
    (workdir / "empty_app.py").write_text(EMPTY_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "empty_app:app", "--port",
                             str(port), "--no-access-log", "--log-level", "warning"],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/empty"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if subprocess.run(["curl", "-sf", url], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        wrk_rps(url, 8, 1)                       # warm up
        return wrk_rps(url, connections, seconds)
    finally:
        proc.terminate()
        proc.wait(10)


def pg_inserts(seconds: float = 5, clients: int = 16) -> float:
    """Committed single-row INSERTs per second (pgbench, one row per transaction)."""
    url = create_database("crm_raw")
    name = url.rsplit("/", 1)[1]
    host = "127.0.0.1"
    try:
        subprocess.run(["psql", "-h", host, "-U", "postgres", "-d", name, "-qc",
                        "CREATE TABLE t (id bigserial PRIMARY KEY, payload text, "
                        "at timestamptz DEFAULT now())"], check=True, capture_output=True)
        script = Path(tempfile.mkdtemp(prefix="crm-raw-")) / "insert.sql"
        script.write_text("INSERT INTO t (payload) VALUES (md5(random()::text));\n")
        out = subprocess.run(["pgbench", "-h", host, "-U", "postgres", "-n", "-f", str(script),
                              "-c", str(clients), "-j", "2", "-T", str(int(seconds)), name],
                             capture_output=True, text=True, check=True).stdout
        return float(re.search(r"tps = ([\d.]+)", out).group(1))
    finally:
        drop_database(url)


async def _rabbit(amqp_uri: str, seconds: float, in_flight: int = 256) -> float:
    connection = await aio_pika.connect_robust(amqp_uri)
    try:
        publish_channel = await connection.channel(publisher_confirms=True)
        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=in_flight)
        queue_name = f"crm-raw-{uuid.uuid4().hex[:8]}"
        queue = await consume_channel.declare_queue(queue_name, durable=True,
                                                    arguments={"x-queue-type": "quorum"})
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            received += 1
            await message.ack()

        tag = await queue.consume(on_message)
        body = os.urandom(256).hex().encode()          # 512 bytes
        stop_at = time.monotonic() + seconds
        slots = asyncio.Semaphore(in_flight)
        pending: set[asyncio.Task] = set()

        async def publish_one() -> None:
            try:
                await publish_channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue_name)
            finally:
                slots.release()

        started = time.monotonic()
        while time.monotonic() < stop_at:
            await slots.acquire()
            task = asyncio.create_task(publish_one())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        elapsed = time.monotonic() - started
        consumed_by = received
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        return consumed_by / elapsed
    finally:
        await connection.close()


def rabbit_round_trip(amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/",
                      seconds: float = 5) -> float:
    """Messages/s published with confirms and consumed with acks, end to end."""
    return asyncio.run(_rabbit(amqp_uri, seconds))


def measure(seconds: float = 5) -> dict[str, float]:
    return {
        "empty FastAPI route (64 connections)": empty_route(seconds),
        "PostgreSQL single-row INSERT commits (16 clients)": pg_inserts(seconds),
        "RabbitMQ publish (confirms) + consume (acks), quorum queue": rabbit_round_trip(
            seconds=seconds),
    }


if __name__ == "__main__":   # python -m bench.raw
    for name, value in measure().items():
        print(f"{name}: {value:,.0f}/s")
