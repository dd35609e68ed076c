"""A private PostgreSQL server and a private RabbitMQ node for the fault tests.

The machine's PostgreSQL and RabbitMQ are shared by every other test run (other engineers,
the other CI tiers). A fault test stops and restarts its broker and its database, so it gets
its own: ``initdb`` + ``pg_ctl`` into a temporary directory on a free port, and a second
RabbitMQ node (own node name, ports, Mnesia directory) started from the installed server.
Both run as their system users (``postgres``, ``rabbitmq``) because neither server runs as
root. Nothing here touches the system instances.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg2

from tests.cluster import free_port


def _as_user(user: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def _own_dir(prefix: str, user: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(path, user, user)
    return path


class PrivatePostgres:
    """``initdb`` into a temp dir, ``pg_ctl start`` on a free port; stop/start at will."""

    def __init__(self, max_connections: int = 300):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.dir = _own_dir("crm-faults-pg-", "postgres")
        self.data = self.dir / "data"
        self.max_connections = max_connections

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> PrivatePostgres:
        _as_user("postgres", [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                              "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        return self.start()

    def start(self) -> PrivatePostgres:
        # fsync off: these tests crash the applications, never the database server, and
        # the machine's disk is shared with everybody's test runs
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   f"-c max_connections={self.max_connections} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        _as_user("postgres", [str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                              "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start"])
        return self

    def stop(self, mode: str = "fast") -> None:
        """``fast``: every client is disconnected at once, as when the server goes down."""
        _as_user("postgres", [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode,
                              "-w", "-t", "60", "stop"])

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        conn = psycopg2.connect(self.admin_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def query(self, sql: str, params: tuple = (), database: str = "postgres") -> list[tuple]:
        conn = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{self.port}/{database}")
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRabbit:
    """A second RabbitMQ node of the installed server, with the management plugin.

    ``restart_app`` is ``rabbitmqctl stop_app`` + ``start_app`` on this node only: every
    connection drops, durable (quorum) queues and their messages survive.
    """

    HOME = "/var/lib/rabbitmq"          # where the node's Erlang cookie is

    def __init__(self):
        self.name = f"crmfaults{uuid.uuid4().hex[:6]}@localhost"
        self.amqp_port = free_port()
        self.api_port = free_port()
        self.dist_port = free_port()
        self.dir = _own_dir("crm-faults-rabbit-", "rabbitmq")
        self.proc: subprocess.Popen | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _env(self) -> dict[str, str]:
        return {
            "HOME": self.HOME, "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "RABBITMQ_DIST_PORT": str(self.dist_port), "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _argv(self, tool: str, *args: str) -> list[str]:
        env = [f"{k}={v}" for k, v in self._env().items()]
        argv = ["env", *env, f"/usr/lib/rabbitmq/bin/{tool}", *args]
        return ["runuser", "-u", "rabbitmq", "--", *argv] if os.geteuid() == 0 else argv

    def start(self, timeout: float = 90) -> PrivateRabbit:
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.amqp_port}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.api_port}\n"
            # queue statistics every second (default 5 s): the tests read them
            "collect_statistics_interval = 1000\n")
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        if os.geteuid() == 0:
            for path in self.dir.iterdir():
                shutil.chown(path, "rabbitmq", "rabbitmq")
        log = open(self.dir / "server.out", "ab")
        self.proc = subprocess.Popen(self._argv("rabbitmq-server"), stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_api(timeout)
        return self

    def wait_api(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"RabbitMQ node exited: {self.log()}")
            try:
                if httpx.get(f"{self.api}/api/overview", auth=("guest", "guest"),
                             timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"RabbitMQ node not up after {timeout}s: {self.log()}")

    def ctl(self, *args: str) -> None:
        subprocess.run(self._argv("rabbitmqctl", "-n", self.name, *args), check=True,
                       capture_output=True, text=True, timeout=120)

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")

    def connections(self, vhost: str | None = None) -> list[dict]:
        answer = httpx.get(f"{self.api}/api/connections", auth=("guest", "guest"), timeout=10)
        answer.raise_for_status()
        return [c for c in answer.json() if vhost is None or c.get("vhost") == vhost]

    def queue(self, vhost: str, name: str) -> dict:
        answer = httpx.get(f"{self.api}/api/queues/{quote(vhost, safe='')}/{quote(name, safe='')}",
                           auth=("guest", "guest"), timeout=10)
        answer.raise_for_status()
        return answer.json()

    def depth(self, vhost: str, name: str) -> int:
        """Messages ready in a queue, asked over AMQP (exact; the HTTP API lags behind)."""
        import kombu

        uri = f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{quote(vhost, safe='')}"
        with kombu.Connection(uri) as conn:
            return conn.default_channel.queue_declare(queue=name, passive=True).message_count

    def log(self) -> str:
        path = self.dir / "server.out"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def destroy(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.ctl("shutdown")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
