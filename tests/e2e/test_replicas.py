"""Two replicas of every service: load is shared, events are handled once per service, and a
replica stopped under load loses nothing (issue 9)."""
from __future__ import annotations

import asyncio
import re
import signal
import time

import httpx
import pytest

from tests.cluster import ADMIN_PASSWORD, ADMIN_USER, SERVICES, Cluster
from tests.e2e.conftest import login
from tests.support import eventually


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("scaled"), replicas={s: 2 for s in SERVICES},
                      metrics=True, extra_env={"LEADS_RETURN_JOB_INTERVAL": "1",
                                               "CRM_GAUGES_INTERVAL": "1"})
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


def metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(re.split(r"\s+", line)[-1])
    return total


def sum_over_replicas(cluster, service: str, name: str, **labels) -> list[float]:
    return [metric(cluster.scrape(f"{service}-{i}"), name, **labels) for i in range(2)]


async def post_many(base: str, token: str, bodies: list[dict]) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=60,
                                 limits=httpx.Limits(max_connections=32)) as client:
        semaphore = asyncio.Semaphore(32)

        async def post(body):
            async with semaphore:
                return await client.post("/leads", json=body, headers=headers)

        return await asyncio.gather(*[post(b) for b in bodies])


def test_rpc_load_is_shared_and_events_are_handled_once_per_service(scaled):
    from tests.cluster import ADMIN_PASSWORD, ADMIN_USER

    admin = login(scaled.url, ADMIN_USER, ADMIN_PASSWORD)
    n = 60
    bodies = [{"name": f"副本测试{i}", "company": f"苏州副本科技{i}有限公司", "source": "ad"}
              for i in range(n)]
    answers = asyncio.run(post_many(scaled.url, admin.token, bodies))
    assert [a.status_code for a in answers].count(201) + \
        [a.status_code for a in answers].count(200) == n
    # both leads replicas answered some of the creates; the gateway coalesces concurrent
    # creates into create_leads calls, whose items add up to every request
    calls = sum_over_replicas(scaled, "leads", "crm_entrypoint_calls_total", method="create_leads")
    assert min(calls) > 0, calls
    gateway = httpx.get(f"{scaled.url}/metrics", timeout=5).text
    labels = {"service": "leads", "method": "create_leads"}
    assert metric(gateway, "gateway_coalesced_batch_size_sum", **labels) == n
    assert metric(gateway, "gateway_coalesced_batch_size_count", **labels) == sum(calls)

    # every lead.created reached analytics exactly once (over both analytics replicas)
    def consumed():
        values = sum_over_replicas(scaled, "analytics", "crm_events_consumed_total",
                                   type="lead.created")
        return values if sum(values) >= n else None

    values = eventually(consumed, timeout=30)
    time.sleep(1.0)                                   # nothing more arrives later
    values = sum_over_replicas(scaled, "analytics", "crm_events_consumed_total",
                               type="lead.created")
    assert sum(values) == n, values
    funnel = admin.get("/analytics/funnel").json()
    assert funnel["overall"]["leads"] == n

    # the business gauge: both replicas read the same pool size from the shared store
    def pool_gauges():
        values = [metric(scaled.scrape(f"leads-{i}"), "crm_leads_in_pool") for i in range(2)]
        return values if values[0] == values[1] >= n else None

    eventually(pool_gauges, timeout=15, interval=0.5)
    assert "crm_open_tickets" in scaled.scrape("service_desk-0")
    assert "crm_pending_approvals" in scaled.scrape("sales-1")


def test_a_replica_stopped_under_load_loses_nothing(scaled):
    from tests.cluster import ADMIN_PASSWORD, ADMIN_USER

    admin = login(scaled.url, ADMIN_USER, ADMIN_PASSWORD)
    n = 150
    bodies = [{"name": f"停机测试{i}", "company": f"无锡停机电子{i}有限公司", "source": "expo"}
              for i in range(n)]

    async def load_and_stop():
        task = asyncio.create_task(post_many(scaled.url, admin.token, bodies))
        await asyncio.sleep(0.5)
        scaled.stop_process("leads-0", sig=signal.SIGTERM)    # graceful stop mid-load
        return await task

    answers = asyncio.run(load_and_stop())
    created = [a.json()["id"] for a in answers if a.status_code in (200, 201)]
    assert len(created) == n, sorted({a.status_code for a in answers})
    # every acknowledged lead exists, exactly once
    found = set()
    cursor = None
    while True:
        page = admin.get("/leads", params={"scope": "pool", "limit": 200, "q": "无锡停机电子",
                                           **({"cursor": cursor} if cursor else {})}).json()
        found |= {item["id"] for item in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert found == set(created)
    scaled.start_service("leads", 0)
    scaled.wait_ready()
    eventually(lambda: _scrapes(scaled, "leads-0"), timeout=30, interval=0.5)


def _scrapes(cluster, key: str) -> bool:
    try:
        return bool(cluster.scrape(key))
    except httpx.HTTPError:
        return False


def test_periodic_jobs_on_every_replica_do_each_piece_of_work_once(scaled):
    """Both leads replicas run the return job every second; each overdue lead returns once."""
    from datetime import UTC, datetime, timedelta

    from tests.cluster import ADMIN_PASSWORD, ADMIN_USER

    admin = login(scaled.url, ADMIN_USER, ADMIN_PASSWORD)
    for i in range(2):
        eventually(lambda i=i: _scrapes(scaled, f"leads-{i}"), timeout=30, interval=0.5)
    before = sum(sum_over_replicas(scaled, "leads", "crm_events_published_total",
                                   type="lead.returned_to_pool"))
    long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    ids = []
    for i in range(5):
        lead = admin.post("/leads", json={"name": f"回收测试{i}", "company": f"常州回收{i}有限公司",
                                          "owner_id": None}).json()
        claimed = admin.post(f"/leads/{lead['id']}/claim")
        assert claimed.status_code == 200, claimed.text
        follow = admin.post(f"/leads/{lead['id']}/follow-ups",
                            json={"kind": "call", "content": "很久以前的电话",
                                  "occurred_at": long_ago})
        assert follow.status_code in (200, 201), follow.text
        ids.append(lead["id"])

    def all_back():
        return all(admin.get(f"/leads/{i}").json()["owner_id"] is None for i in ids)

    eventually(all_back, timeout=30, interval=0.5)
    time.sleep(3)                       # several more job runs on both replicas: nothing more
    published = sum_over_replicas(scaled, "leads", "crm_events_published_total",
                                  type="lead.returned_to_pool")
    assert sum(published) - before == len(ids), published
    actions = admin.get(f"/leads/{ids[0]}/actions").json()["items"]
    assert [a["action"] for a in actions].count("returned_to_pool") == 1, actions


def test_concurrent_creates_one_lead_per_phone(scaled):
    """64 creates at once through the gateway (coalesced into shared calls, spread over two
    replicas and their workers): every phone sent four times ends as exactly one lead, the
    three other requests a 409 naming it (the duplicate keys are locked per transaction)."""
    import uuid

    admin = login(scaled.url, ADMIN_USER, ADMIN_PASSWORD)
    phones = ["137" + str(uuid.uuid4().int)[:8] for _ in range(8)]
    bodies = [{"name": f"并发{n}", "phone": phones[n % 8]} for n in range(32)]
    bodies += [{"name": f"独立{n}", "email": f"solo-{uuid.uuid4().hex[:10]}@example.cn"}
               for n in range(32)]

    async def burst():
        async with httpx.AsyncClient(base_url=f"{scaled.url}/api/v1", timeout=30) as client:
            return await asyncio.gather(*[
                client.post("/leads", json=body, headers={"Authorization":
                                                          f"Bearer {admin.token}"})
                for body in bodies])

    answers = asyncio.run(burst())
    assert sorted({a.status_code for a in answers}) == [201, 409], [a.text for a in answers]
    created = {a.json()["id"]: a.json() for a in answers if a.status_code == 201}
    assert len(created) == 8 + 32
    for number in phones:
        assert len([lead for lead in created.values() if lead["phone"] == number]) == 1
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["error"]["details"]["existing_id"] in created


def test_analytics_replicas_run_at_a_lower_cpu_priority_than_the_rest(scaled):
    """``ANALYTICS_NICE`` (default 5): the event consumers give way to the request path."""
    import os

    def nice(pid: int) -> int:
        return os.getpriority(os.PRIO_PROCESS, pid)

    ours = nice(0)                      # the cluster's processes start at the test's niceness
    got = {key: nice(proc.pid) - ours for key, proc in scaled.procs.items()}
    assert got == {key: 5 if key.startswith("analytics-") else 0 for key in scaled.procs}
