"""Notifications reach the user's inbox from events, by polling and as a stream."""
from __future__ import annotations

import json
import threading
import time

import httpx

from tests.support import eventually


def test_assignment_notifies_the_new_owner(cluster, admin, make_user):
    team = admin.post("/teams", json={"name": "华南销售部"}).json()
    manager_user, manager = make_user("manager", team["id"], prefix="mgr")
    admin.patch(f"/teams/{team['id']}", json={"manager_id": manager_user["id"]})
    rep_user, rep = make_user("sales", team["id"], prefix="south")
    streamed: list[dict] = []
    connected = threading.Event()

    def listen():
        with httpx.stream("GET", f"{cluster.url}/api/v1/notifications/stream",
                          params={"access_token": rep.token}, timeout=20) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            connected.set()
            for line in response.iter_lines():
                if line.startswith("data:"):
                    streamed.append(json.loads(line[5:]))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(10)
    time.sleep(0.5)      # let the gateway finish subscribing before the event happens
    lead = manager.post("/leads", json={"name": "刘洋", "company": "广州天河贸易有限公司"}).json()
    assigned = manager.post(f"/leads/{lead['id']}/assign", json={"owner_id": rep_user["id"]})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["owner_id"] == rep_user["id"]

    inbox = eventually(lambda: rep.get("/notifications").json()["items"], timeout=5.0)
    assert inbox[0]["type"] == "lead.assigned" and inbox[0]["read_at"] is None
    assert manager.get("/notifications").json()["items"] == []   # the actor is not notified
    assert rep.post(f"/notifications/{inbox[0]['id']}/read").status_code == 200
    assert manager.post(f"/notifications/{inbox[0]['id']}/read").status_code == 404
    listener.join(10)
    assert streamed and streamed[0]["type"] == "lead.assigned"


def test_sales_rep_cannot_assign(cluster, make_user):
    _, rep = make_user("sales", prefix="noassign")
    lead = rep.post("/leads", json={"name": "黄磊", "phone": "13600001111"}).json()
    assert rep.post(f"/leads/{lead['id']}/assign",
                    json={"owner_id": "someone"}).status_code == 403
