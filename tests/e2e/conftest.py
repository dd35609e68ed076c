"""End-to-end tier: the gateway and all five services as real processes.

The cluster runs on the real RabbitMQ (its own vhost per run), real Redis and real
PostgreSQL databases (one per service), with two replicas of the leads service competing
for the same queues. Tests talk HTTP to the gateway only, like a client would.
"""
from __future__ import annotations

import httpx
import pytest

from tests.cluster import ADMIN_PASSWORD, ADMIN_USER, Cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
    except Exception:
        c.stop()
        raise
    yield c
    c.stop()


class Api:
    """A logged-in client of the gateway."""

    def __init__(self, base: str, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30)
        self.base = base
        self.token = token

    def __getattr__(self, verb):
        return getattr(self.http, verb)


def login(base: str, username: str, password: str) -> Api:
    answer = httpx.post(f"{base}/api/v1/auth/token",
                        data={"username": username, "password": password}, timeout=30)
    assert answer.status_code == 200, answer.text
    return Api(base, answer.json()["access_token"])


@pytest.fixture(scope="session")
def admin(cluster) -> Api:
    return login(cluster.url, ADMIN_USER, ADMIN_PASSWORD)


@pytest.fixture(scope="session")
def make_user(cluster, admin):
    counter = {"n": 0}

    def make(role: str = "sales", team_id: str | None = None, prefix: str = "user") -> tuple:
        counter["n"] += 1
        username = f"{prefix}{counter['n']}"
        answer = admin.post("/users", json={"username": username, "password": "pass-word-123",
                                            "display_name": f"测试{username}", "role": role,
                                            "team_id": team_id})
        assert answer.status_code in (200, 201), answer.text
        return answer.json(), login(cluster.url, username, "pass-word-123")

    return make
