"""Start the whole platform as real processes: the five services and the gateway.

Used by the end-to-end tests and the benchmarks. Every run gets its own RabbitMQ vhost
(so no queue or message of another run can leak in) and, by default, its own PostgreSQL
databases, one per service, as in production. Process output goes to log files in
``workdir`` so a failure can be explained.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

from services import SERVICES  # noqa: F401 - re-exported: tests import it from here

ROOT = Path(__file__).resolve().parents[1]
RABBIT_API = os.environ.get("CRM_TEST_RABBIT_API", "http://127.0.0.1:15672")
ADMIN_USER, ADMIN_PASSWORD = "admin", "e2e-admin-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_vhost(name: str, queue_type: str = "quorum", api: str = RABBIT_API) -> None:
    """A vhost whose durable queues are quorum queues by default, as in production."""
    auth = ("guest", "guest")
    vhost = quote(name, safe="")
    httpx.put(f"{api}/api/vhosts/{vhost}", auth=auth,
              json={"default_queue_type": queue_type}).raise_for_status()
    httpx.put(f"{api}/api/permissions/{vhost}/guest", auth=auth,
              json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()


def delete_vhost(name: str, api: str = RABBIT_API) -> None:
    httpx.delete(f"{api}/api/vhosts/{quote(name, safe='')}", auth=("guest", "guest"))


@dataclass
class Cluster:
    workdir: Path
    store: str = "postgresql"           # or "sqlite"
    replicas: dict[str, int] = field(default_factory=lambda: {"leads": 2})
    extra_env: dict[str, str] = field(default_factory=dict)
    vhost: str = field(default_factory=lambda: f"crm-e2e-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    metrics: bool = False               # give every replica its own metrics port
    # workers per replica (and so its DB pool): test clusters keep PostgreSQL's 100-connection
    # default comfortable even with two clusters up; None = the services' default (benchmarks)
    max_workers: int | None = 8
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    # another broker (the fault tests run a private RabbitMQ node): its AMQP port and HTTP API
    amqp_port: int = 5672
    rabbit_api: str = RABBIT_API
    # stores made by the caller (e.g. on a private PostgreSQL): used as given, never dropped
    database_urls: dict[str, str] | None = None
    store_urls: dict[str, str] = field(default_factory=dict)  # each service's store, once started

    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{quote(self.vhost, safe='')}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        env.update({
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "AMQP_URI": self.amqp_uri,
            "REDIS_URL": "redis://127.0.0.1:6379/14", "CRM_ENV": "test",
            "CRM_ADMIN_USER": ADMIN_USER, "CRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "JWT_SECRET": uuid.uuid4().hex * 2, "GATEWAY_PORT": str(self.port),
            "CRM_VAR_DIR": str(self.workdir / "var"), "LOG_LEVEL": "INFO",
            "GATEWAY_DATABASE_URL": f"sqlite:///{self.workdir}/gateway.db",
        })
        for name in SERVICES:
            env[f"{name.upper()}_METRICS_PORT"] = "0"
            if self.max_workers:
                env[f"{name.upper()}_MAX_WORKERS"] = str(self.max_workers)
        env.update(self.extra_env)
        return env

    def _database_urls(self) -> dict[str, str]:
        if self.database_urls is not None:
            return dict(self.database_urls)
        if self.store == "sqlite":
            return {n: f"sqlite:///{self.workdir}/{n}.db" for n in SERVICES}
        from tests.pg import create_database

        urls = {}
        for name in SERVICES:
            urls[name] = create_database(f"crm_e2e_{name}")
            self.databases.append(urls[name])
        return urls

    def start(self, timeout: float = 90.0) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        create_vhost(self.vhost, api=self.rabbit_api)
        env = self.env()
        self.store_urls = self._database_urls()
        for name, url in self.store_urls.items():
            env[f"{name.upper()}_DATABASE_URL"] = url
        self._env = env
        for name in SERVICES:
            for replica in range(self.replicas.get(name, 1)):
                self.start_service(name, replica)
        self.start_gateway()
        self.wait_ready(timeout)
        return self

    def _spawn(self, key: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.workdir / f"{key}.log", "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[key] = proc
        return proc

    def start_service(self, name: str, replica: int = 0, **env_overrides: str):
        env = {**self._env, **env_overrides}
        if self.metrics:
            port = self.metrics_ports.setdefault(f"{name}-{replica}", free_port())
            env[f"{name.upper()}_METRICS_PORT"] = str(port)
        return self._spawn(f"{name}-{replica}",
                           [sys.executable, "-m", "crmkit.runner", SERVICES[name]], env)

    def start_gateway(self, **env_overrides: str):
        return self._spawn("gateway", [sys.executable, "-m", "uvicorn", "gateway.app:app",
                                       "--host", "127.0.0.1", "--port", str(self.port),
                                       "--no-access-log"], {**self._env, **env_overrides})

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for key, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{key} exited with {proc.returncode}:\n{self.log(key)}")
            try:
                answer = httpx.get(f"{self.url}/readyz", timeout=5)
                if answer.status_code == 200:
                    return
                last = answer.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise RuntimeError(f"cluster not ready after {timeout}s: {last}")

    def stop_process(self, key: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        proc = self.procs.pop(key, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def kill(self, key: str) -> None:
        """``kill -9`` one process (``leads-0``, ``gateway``): no clean-up of any kind."""
        self.stop_process(key, sig=signal.SIGKILL)

    def restart(self, key: str) -> subprocess.Popen:
        """Start ``key`` again with the environment it had (after ``kill`` or ``stop_process``)."""
        if key == "gateway":
            return self.start_gateway()
        name, _, replica = key.rpartition("-")
        return self.start_service(name, int(replica))

    def pids(self) -> dict[str, int]:
        """The running processes by key (``leads-0``, ``gateway``, ...)."""
        return {key: proc.pid for key, proc in self.procs.items() if proc.poll() is None}

    def scrape(self, key: str) -> str:
        """The Prometheus text of one replica (``cluster.metrics`` must be on)."""
        return httpx.get(f"http://127.0.0.1:{self.metrics_ports[key]}/metrics", timeout=5).text

    def log(self, key: str) -> str:
        path = self.workdir / f"{key}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def log_records(self, key: str) -> list[dict]:
        records = []
        for line in (self.workdir / f"{key}.log").read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
        return records

    def stop(self) -> None:
        for key in list(self.procs):
            self.stop_process(key)
        delete_vhost(self.vhost, api=self.rabbit_api)
        if self.databases:
            from tests.pg import drop_database

            for url in self.databases:
                drop_database(url)
