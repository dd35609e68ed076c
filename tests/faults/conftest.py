"""Fault tier: the whole platform under load while its parts are broken on purpose.

One platform for the whole session: the five services (one replica each, so a killed
service is really gone) and the gateway as real processes (``tests.cluster.Cluster``), on a
PRIVATE PostgreSQL server and a PRIVATE RabbitMQ node started for this run (see
``tests/faults/infra.py``), because these tests stop and restart both and the machine's
own servers are shared with every other test run. Redis is the machine's (db 14).

The accounting carries over from test to test: after each fault every write ever accepted
must still be there and every event ever committed applied exactly once by analytics.
Each test appends its measured figures to ``<workdir>/report.jsonl`` and prints them
(``make test-faults`` shows them; ``docs/reliability.md`` quotes a run).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cluster import ADMIN_PASSWORD, ADMIN_USER, SERVICES, Cluster
from tests.faults.accounting import (
    duplicated_writes,
    lost_writes,
    unroutable_at_start,
    wait_settled,
)
from tests.faults.infra import PrivatePostgres, PrivateRabbit
from tests.faults.load import Actors

WORKERS = int(os.environ.get("CRM_FAULTS_WORKERS", "6"))
#: the reps' bearer tokens are taken once, at the start of the session, and must outlive it:
#: the fault tests (~5 min) and the soak (CRM_SOAK_SECONDS; 30 min for the full run), whose
#: load would otherwise meet 401 token_expired after the default 30 minutes
TOKEN_MINUTES = 60 + int(float(os.environ.get("CRM_SOAK_SECONDS", "180")) // 60)


@dataclass
class Platform:
    cluster: Cluster
    pg: PrivatePostgres
    rabbit: PrivateRabbit
    actors: Actors
    admin: httpx.Client
    accepted: dict                  # every write accepted by any test's load, by kind
    unroutable: frozenset[str] = frozenset()    # published before analytics' queue existed

    @property
    def urls(self) -> dict[str, str]:
        return self.cluster.store_urls

    def lost(self) -> dict[str, list]:
        """Accepted writes (of every test so far) missing from the stores, by kind."""
        return lost_writes(self.urls, self.accepted)

    def settle(self) -> dict:
        """Wait until analytics has every committed event; the books (see accounting)."""
        return wait_settled(self.urls, ignore=self.unroutable)

    def duplicates(self) -> dict[str, int]:
        return duplicated_writes(self.urls)

    def remember(self, load) -> None:
        for kind, ids in load.accepted.items():
            self.accepted.setdefault(kind, []).extend(ids)

    def report(self, test: str, figures: dict) -> None:
        line = json.dumps({"test": test, **figures}, ensure_ascii=False, default=str)
        with open(self.cluster.workdir / "report.jsonl", "a") as out:
            out.write(line + "\n")
        report_dir = os.environ.get("CRM_FAULTS_REPORT_DIR")
        if report_dir:
            Path(report_dir).mkdir(parents=True, exist_ok=True)
            with open(Path(report_dir) / "report.jsonl", "a") as out:
                out.write(line + "\n")
        print(f"\n[faults] {line}")


def _token(base: str, username: str, password: str) -> str:
    answer = httpx.post(f"{base}/api/v1/auth/token",
                        data={"username": username, "password": password}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _ok(answer: httpx.Response) -> dict:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _actors(base: str, admin: httpx.Client) -> Actors:
    team = _ok(admin.post("/teams", json={"name": "故障演练部"}))

    def user(name: str, role: str) -> tuple[dict, str]:
        made = _ok(admin.post("/users", json={
            "username": name, "password": "pass-word-123", "display_name": f"演练{name}",
            "role": role, "team_id": team["id"]}))
        return made, _token(base, name, "pass-word-123")

    manager_user, manager = user("faultmgr", "manager")
    _ok(admin.patch(f"/teams/{team['id']}", json={"manager_id": manager_user["id"]}))
    reps = [user(f"faultrep{i}", "sales")[1] for i in range(WORKERS)]
    _, finance = user("faultfin", "finance")
    # the load claims far more than a rep may per day by default
    _ok(admin.put("/lead-pools/default/rules", json={
        "max_claims_per_day": 10000, "max_leads_per_rep": 100000}))
    product = _ok(admin.post("/products", json={"sku": "FAULT-1", "name": "演练套件",
                                                "unit": "套", "list_price": "1200.00"}))
    return Actors(reps=reps, manager=manager, finance=finance, product_id=product["id"])


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("faults")
    pg = rabbit = cluster = None
    try:
        pg = PrivatePostgres().init()
        rabbit = PrivateRabbit().start()
        urls = {name: pg.create_database(f"crm_faults_{name}") for name in SERVICES}
        cluster = Cluster(workdir, replicas={}, amqp_port=rabbit.amqp_port,
                          rabbit_api=rabbit.api, database_urls=urls,
                          extra_env={"RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "INFO",
                                     "ACCESS_TOKEN_MINUTES": str(TOKEN_MINUTES)})
        cluster.start()
        admin = httpx.Client(base_url=f"{cluster.url}/api/v1", timeout=30, headers={
            "Authorization": f"Bearer {_token(cluster.url, ADMIN_USER, ADMIN_PASSWORD)}"})
        platform = Platform(cluster, pg, rabbit, _actors(cluster.url, admin), admin, {})
        platform.unroutable = unroutable_at_start(urls)
        platform.report("start", {"events_unroutable_at_start": len(platform.unroutable)})
        yield platform
        admin.close()
    finally:
        if os.environ.get("CRM_FAULTS_KEEP"):      # leave everything up to look at
            print(f"\n[faults] kept: {workdir}, PostgreSQL {pg and pg.admin_dsn}, "
                  f"RabbitMQ {rabbit and rabbit.api} vhost {cluster and cluster.vhost}")
        else:
            _tear_down(cluster, rabbit, pg)


def _tear_down(cluster, rabbit, pg) -> None:
    try:
        if cluster is not None:
            for key in list(cluster.procs):
                cluster.stop_process(key)
    finally:
        if rabbit is not None:
            rabbit.destroy()
        if pg is not None:
            pg.destroy()
