"""The very first start of a deployment (a fresh vhost): an event a service publishes before
its consumers' services have ever started is not lost (crmkit.topology)."""
from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import quote

import httpx

from tests.cluster import ROOT, SERVICES, Cluster, create_vhost, delete_vhost


def queue_messages(cluster: Cluster, queue: str) -> int | None:
    url = f"{cluster.rabbit_api}/api/queues/{quote(cluster.vhost, safe='')}/{queue}"
    answer = httpx.get(url, auth=("guest", "guest"), timeout=10)
    return answer.json().get("messages") if answer.status_code == 200 else None


def test_sales_alone_on_a_fresh_vhost_its_first_events_wait_for_analytics(tmp_path):
    cluster = Cluster(tmp_path, store="sqlite")
    create_vhost(cluster.vhost, api=cluster.rabbit_api)
    env = {**cluster.env(), "SALES_DATABASE_URL": f"sqlite:///{tmp_path}/sales.db"}
    log = open(tmp_path / "sales.log", "wb")
    sales = subprocess.Popen([sys.executable, "-m", "crmkit.runner", SERVICES["sales"]],
                             cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # sales' first migration announces the default pipeline (pipeline.created); nothing
        # but sales runs, yet analytics' queue exists and holds it for analytics' first start
        deadline, waiting = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            assert sales.poll() is None, (tmp_path / "sales.log").read_text()
            waiting = queue_messages(cluster, "analytics.events")
            if waiting:
                break
            time.sleep(0.5)
        assert waiting and waiting >= 1, (tmp_path / "sales.log").read_text()[-3000:]
        # and the queues of every other service's consumers were declared as well
        assert queue_messages(
            cluster, "evt-sales-contract.signed--customers.on_contract_signed") == 0
        assert queue_messages(
            cluster, "evt-leads-lead.converted--customers.on_lead_converted") == 0
    finally:
        sales.terminate()
        sales.wait(20)
        log.close()
        delete_vhost(cluster.vhost, api=cluster.rabbit_api)
