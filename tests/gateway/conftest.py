"""Gateway tier: the FastAPI gateway alone, against the real parts of its bounded context.

What is real: RabbitMQ (a vhost of its own per run when the management API answers, else the
default vhost with run-unique queue names), Redis, and the gateway's own store (a temporary
SQLite file per session). The gateway runs in-process under uvicorn on a free port (a
background thread), so HTTP, SSE streaming, the lifespan, the RPC client, the
notification consumer and the 360° view cache (with its event consumer) all run exactly as
in production; tests talk to it with httpx.

What stands in for the five services (they are not part of the gateway's bounded context):

- ``echo_service``: a tiny real Nameko service (``tests/gateway/echo_service.py``) started
  with ``nameko run`` in a subprocess, for the RPC client and ``/readyz``;
- ``services``: a recording fake installed as ``app.state.rpc`` for the route-contract tests,
  which check that each route makes the RPC call of docs/rpc.md with the caller's principal.

No eventlet in this process: the gateway is plain asyncio.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from nameko.exceptions import serialize
from pydantic import SecretStr

from crmkit.errors import DomainError
from gateway.app import create_app
from gateway.rpc import RpcClient
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RABBIT_API = os.environ.get("CRM_TEST_RABBIT_API", "http://127.0.0.1:15672")
AMQP_BASE = os.environ.get("CRM_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
ADMIN_USER, ADMIN_PASSWORD = "admin", "gateway-test-admin-pw"
PASSWORD = "pass-word-123"


def pytest_configure(config: pytest.Config) -> None:
    # Nameko's pytest plugin warns when eventlet is not monkey-patched; here that is the point.
    if hasattr(config.option, "suppress_eventlet_notification"):
        config.option.suppress_eventlet_notification = True


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def amqp_uri(run_id: str) -> Iterator[str]:
    """A broker URI with a vhost of this run's own (or the default vhost, if none can be made)."""
    vhost = f"crm-gateway-{run_id}"
    quoted = quote(vhost, safe="")
    auth = ("guest", "guest")
    try:
        httpx.put(f"{RABBIT_API}/api/vhosts/{quoted}", auth=auth, timeout=5).raise_for_status()
        httpx.put(f"{RABBIT_API}/api/permissions/{quoted}/guest", auth=auth, timeout=5,
                  json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    except httpx.HTTPError:
        yield f"{AMQP_BASE}/"
        return
    try:
        yield f"{AMQP_BASE}/{quoted}"
    finally:
        httpx.delete(f"{RABBIT_API}/api/vhosts/{quoted}", auth=auth, timeout=10)


@pytest.fixture(scope="session")
def echo_service(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``nameko run tests.gateway.echo_service`` as a subprocess; yields the broker URI."""
    log_path = tmp_path_factory.mktemp("echo") / "echo.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    nameko = str(Path(sys.executable).with_name("nameko"))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([nameko, "run", "tests.gateway.echo_service", "--broker",
                                 amqp_uri], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        asyncio.run(_wait_for_echo(amqp_uri, proc, log_path))
        yield amqp_uri
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def _wait_for_echo(amqp_uri: str, proc: subprocess.Popen, log_path: Path) -> None:
    async with RpcClient(amqp_uri, timeout=2) as rpc:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"echo service exited:\n{log_path.read_text()}")
            try:
                await rpc.ping("echo", timeout=1)
                return
            except Exception:  # noqa: BLE001 - not up yet
                await asyncio.sleep(0.2)
    raise RuntimeError(f"echo service did not answer:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def gateway_settings(tmp_path_factory: pytest.TempPathFactory, amqp_uri: str,
                     run_id: str) -> Settings:
    db = tmp_path_factory.mktemp("gateway") / "gateway.db"
    return Settings(
        crm_env="test", gateway_database_url=f"sqlite:///{db}", amqp_uri=amqp_uri,
        redis_url=REDIS_URL, jwt_secret=SecretStr(uuid.uuid4().hex * 2),
        crm_admin_user=ADMIN_USER, crm_admin_password=SecretStr(ADMIN_PASSWORD),
        rpc_timeout=3, rpc_services=["echo"], ready_timeout=2,
        notifications_queue=f"gateway.notifications.test-{run_id}",
        notifications_max_retries=2, notifications_retry_delay_ms=100,
        view_cache_queue=f"gateway.views.test-{run_id}", view_cache_settle_seconds=1.0,
        # one admin token drives most of the suite's writes: at the default 1,200 per minute
        # a fast machine got 429s mid-suite. The limiter itself is tested with its own
        # per-minute figure (test_security_api.test_rate_limit_per_user).
        rate_limit_per_minute=1_000_000,
    )


class LiveGateway:
    """The gateway app served by uvicorn in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="gateway", daemon=True)
        self.url = ""

    def start(self) -> LiveGateway:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        state = self.app.state
        while not (state.rpc.connected and state.consumer.connected
                   and state.view_events.connected):
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not connect to the broker")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture(scope="session")
def live_gateway(gateway_settings: Settings) -> Iterator[LiveGateway]:
    gateway = LiveGateway(gateway_settings).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="session")
def http(live_gateway: LiveGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_gateway.url, timeout=15) as client:
        yield client


def login(http: httpx.Client, username: str, password: str) -> dict[str, str]:
    answer = http.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="session")
def admin(http: httpx.Client) -> dict[str, str]:
    """Authorization headers of the first administrator (created on startup)."""
    return login(http, ADMIN_USER, ADMIN_PASSWORD)


@dataclass
class GwUser:
    id: str
    username: str
    role: str
    team_id: str | None
    headers: dict[str, str]
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.token = self.headers["Authorization"].removeprefix("Bearer ")


_names = itertools.count(1)


@pytest.fixture(scope="session")
def make_user(http: httpx.Client, admin: dict[str, str]):
    """``make_user(role, team_id=None, **fields) -> GwUser`` (logged in)."""

    def make(role: str = "sales", team_id: str | None = None, **fields: Any) -> GwUser:
        username = f"{role}{next(_names)}"
        answer = http.post("/api/v1/users", headers=admin, json={
            "username": username, "password": PASSWORD, "display_name": f"测试{username}",
            "role": role, "team_id": team_id, **fields})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return GwUser(body["id"], username, role, team_id, login(http, username, PASSWORD))

    return make


@pytest.fixture(scope="session")
def make_team(http: httpx.Client, admin: dict[str, str]):
    def make(name: str, parent_id: str | None = None, manager_id: str | None = None) -> dict:
        answer = http.post("/api/v1/teams", headers=admin, json={
            "name": name, "parent_id": parent_id, "manager_id": manager_id})
        assert answer.status_code == 201, answer.text
        return answer.json()

    return make


@dataclass
class Call:
    service: str
    method: str
    principal: dict | None
    kwargs: dict


class RecordingRpc:
    """Stands in for the services: records every call, answers what the test arranged.

    ``answer(service, method, value)``: a value is returned, an exception raised, a callable
    called with the kwargs. Unarranged calls get a plausible default.
    """

    connected = True

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: dict[tuple[str, str], Any] = {}

    def answer(self, service: str, method: str, value: Any) -> None:
        self.answers[(service, method)] = value

    def calls_to(self, service: str, method: str) -> list[Call]:
        return [c for c in self.calls if (c.service, c.method) == (service, method)]

    async def call(self, service: str, method: str, *, principal: dict | None = None,
                   timeout: float | None = None, **kwargs: Any) -> Any:
        if (service, method) == ("leads", "create_leads"):
            return [await self._one_of_batch(service, "create_lead", item)
                    for item in kwargs["items"]]
        self.calls.append(Call(service, method, principal, kwargs))
        value = self.answers.get((service, method), _DEFAULT)
        if isinstance(value, BaseException):
            raise value
        if callable(value):
            return value(**kwargs)
        if value is _DEFAULT:
            return _default_answer(method, kwargs)
        return value

    async def ping(self, service: str, timeout: float = 2.0) -> Any:
        return await self.call(service, "ping", timeout=timeout)

    async def _one_of_batch(self, service: str, single: str, item: dict) -> dict:
        """A coalesced batch (gateway.coalesce) is recorded and answered as the single
        calls it carries, each with its own caller: ``{"result"}`` or ``{"error"}``."""
        try:
            result = await self.call(service, single, principal=item["principal"],
                                     data=item["data"])
        except DomainError as exc:
            return {"error": serialize(exc)}
        return {"result": result}


_DEFAULT = object()


def _default_answer(method: str, kwargs: dict) -> Any:
    if method.startswith("list_") or method == "activity":
        return {"items": [], "next_cursor": None}
    ids = {k: v for k, v in kwargs.items() if k.endswith("_id") and isinstance(v, str)}
    entity_id = next(iter(ids.values()), "0190b3c2a1f47c3e9d2b6a8f1e0c4d99")
    return {"id": entity_id, **(kwargs.get("data") or {})}


@pytest.fixture
def services(live_gateway: LiveGateway) -> Iterator[RecordingRpc]:
    """Replace the gateway's RPC client by a ``RecordingRpc`` for one test."""
    fake = RecordingRpc()
    real = live_gateway.app.state.rpc
    live_gateway.app.state.rpc = fake
    try:
        yield fake
    finally:
        live_gateway.app.state.rpc = real
