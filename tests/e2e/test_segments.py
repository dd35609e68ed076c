"""Customer segments (客户分群) through the gateway: saved filters with live counts in each
reader's data scope, team filters over the team tree, members, the CSV export, the preview,
validation (nothing saved), permissions, and the value filters fed by
``customer.value_changed`` (played here by publishing analytics' event: the feed job itself is
tested in tests/service/test_segments_service.py)."""
from __future__ import annotations

import codecs
import csv
import io
import uuid
from datetime import UTC, datetime

from crmkit.ids import new_id
from tests.support import eventually, publish_event


def created(answer) -> dict:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def value_changed(customer_id: str, tier: str, score: int, churn: bool) -> dict:
    return {"id": new_id(), "type": "customer.value_changed", "version": 1,
            "occurred_at": datetime.now(UTC).isoformat(), "source": "analytics",
            "actor_id": None, "correlation_id": new_id(),
            "data": {"customer_id": customer_id, "tier": tier, "r": score, "f": score,
                     "m": score, "rfm": f"{score}" * 3, "churn_risk": churn,
                     "churn_reason": "purchase_overdue" if churn else None}}


def test_segments_through_the_gateway(cluster, admin, make_user):
    tag = f"seg-{uuid.uuid4().hex[:8]}"       # keeps this test's customers apart
    parent = created(admin.post("/teams", json={"name": f"华东大区{tag}"}))
    child = created(admin.post("/teams", json={"name": f"上海分部{tag}",
                                                "parent_id": parent["id"]}))
    rep1_user, rep1 = make_user("sales", child["id"], prefix="seg")
    rep2_user, rep2 = make_user("sales", parent["id"], prefix="seg")
    _, rep3 = make_user("sales", None, prefix="seg")
    _, manager = make_user("manager", parent["id"], prefix="segmgr")
    _, service = make_user("service", parent["id"], prefix="segsvc")

    customers = {}
    for api, name, level, region in ((rep1, "上海星辰科技有限公司", "A", "上海"),
                                     (rep1, "苏州宏达机械有限公司", "B", "江苏"),
                                     (rep2, "杭州云海软件有限公司", "A", "浙江"),
                                     (rep3, "北京海天贸易有限公司", "A", "北京")):
        customers[name] = created(api.post("/customers", json={
            "name": name, "level": level, "region": region, "tags": [tag, "华东"]}))["id"]
    star, hongda, yunhai, haitian = customers.values()

    # analytics values two customers (churn risk on one)
    publish_event(cluster.amqp_uri, value_changed(star, "platinum", 5, False))
    publish_event(cluster.amqp_uri, value_changed(yunhai, "gold", 4, True))

    def valued():
        answer = admin.post("/segments/preview", json={"filters": {
            "tags": [tag], "value_tier": ["platinum", "gold"]}})
        return answer.json() if answer.status_code == 200 and answer.json()["count"] == 2 \
            else None
    preview = eventually(valued, timeout=20)
    assert {i["id"]: (i["value_tier"], i["rfm"]["score"], i["churn_risk"])
            for i in preview["items"]} == {star: ("platinum", "555", False),
                                           yunhai: ("gold", "444", True)}

    # a rep's shared, company-wide segment: each reader counts what they may see
    level_a = created(rep1.post("/segments", json={
        "name": "A级客户", "description": "一对一营销", "shared": True,
        "filters": {"tags": [tag], "level": ["A"]}}))
    assert level_a["member_count"] == 1 and level_a["owner_id"] == rep1_user["id"]
    assert admin.get(f"/segments/{level_a['id']}").json()["member_count"] == 3
    assert manager.get(f"/segments/{level_a['id']}").json()["member_count"] == 2
    seen_by_rep2 = rep2.get(f"/segments/{level_a['id']}/members").json()
    assert [m["id"] for m in seen_by_rep2["items"]] == [yunhai]
    assert seen_by_rep2["items"][0]["churn_risk"] is True
    listed = {s["id"]: s["member_count"] for s in rep2.get("/segments").json()["items"]}
    assert listed[level_a["id"]] == 1

    # a private segment is its owner's (and their managers'); others cannot change a shared one
    private = created(rep1.post("/segments", json={"name": "流失预警", "filters": {
        "tags": [tag], "churn_risk": False}}))
    assert rep3.get(f"/segments/{private['id']}").status_code == 404
    assert rep3.get(f"/segments/{private['id']}/members").status_code == 404
    assert manager.get(f"/segments/{private['id']}").status_code == 200
    assert private["id"] not in {s["id"] for s in rep2.get("/segments").json()["items"]}
    assert rep2.patch(f"/segments/{level_a['id']}", json={"name": "改名"}).status_code == 403
    assert rep2.delete(f"/segments/{level_a['id']}").status_code == 403
    assert rep1.post("/segments", json={"name": "A级客户"}).status_code == 409
    assert service.get("/segments").status_code == 403

    # team filter: owners in the team and its sub-teams
    east = created(admin.post("/segments", json={"name": f"华东团队{tag}", "filters": {
        "tags": [tag], "team_id": parent["id"]}}))
    assert east["member_count"] == 3
    members = admin.get(f"/segments/{east['id']}/members", params={"limit": 2}).json()
    assert len(members["items"]) == 2 and members["next_cursor"]
    rest = admin.get(f"/segments/{east['id']}/members",
                     params={"cursor": members["next_cursor"]}).json()
    assert {m["id"] for m in members["items"] + rest["items"]} == {star, hongda, yunhai}
    child_only = created(admin.patch(f"/segments/{east['id']}", json={
        "filters": {"tags": [tag], "team_id": child["id"]}}))
    assert child_only["member_count"] == 2 and child_only["filters"]["team_id"] == child["id"]

    # bad filters: 422, nothing saved, nothing changed
    before = {s["id"] for s in admin.get("/segments", params={"limit": 200}).json()["items"]}
    for body in ({"name": "x", "filters": {"colour": ["red"]}},
                 {"name": "x", "filters": {"level": ["Z"]}},
                 {"name": "x", "filters": {"level": []}},
                 {"name": "x", "filters": {"value_tier": ["diamond"]}},
                 {"name": "x", "filters": {"churn_risk": "maybe"}},
                 {"name": "x", "filters": {"owner_ids": ["no-such-user"]}},
                 {"name": "x", "filters": {"team_id": "no-such-team"}},
                 {"name": "x", "owner_id": rep2_user["id"]},
                 {"name": "a\u0000b"},                       # PostgreSQL cannot store NUL
                 {"name": "x", "filters": {"tags": ["a\u0000"]}}):
        answer = admin.post("/segments", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["code"] == "validation_error"
    assert admin.post("/segments/preview", json={"filters": {"region": "上海"}}) \
        .status_code == 422
    assert rep1.patch(f"/segments/{level_a['id']}", json={
        "filters": {"level": ["Z"]}}).status_code == 422
    assert {s["id"] for s in admin.get("/segments", params={"limit": 200}).json()["items"]} \
        == before
    assert rep1.get(f"/segments/{level_a['id']}").json()["filters"] == {
        "tags": [tag], "level": ["A"]}

    for odd in ("not-an-id", "a%00b", "%E5%AE%A2"):
        assert admin.get(f"/segments/{odd}").status_code == 404

    # the export: UTF-8 with BOM, Chinese headers, only the reader's members
    exported = rep1.get(f"/segments/{east['id']}/export.csv")
    assert exported.status_code == 404            # admin's private segment: not rep1's
    exported = rep1.get(f"/segments/{level_a['id']}/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "客户名称", "客户级别"]
    assert [(r[0], r[1], r[10], r[11]) for r in rows[1:]] == [
        (star, "上海星辰科技有限公司", "platinum", "555")]
    everything = admin.get(f"/segments/{level_a['id']}/export.csv")
    assert sorted(r[0] for r in csv.reader(io.StringIO(
        everything.content.decode("utf-8-sig"))) if r[0] != "编号") == sorted(
        [star, yunhai, haitian])

    # delete
    assert rep1.delete(f"/segments/{level_a['id']}").status_code == 204
    assert rep1.get(f"/segments/{level_a['id']}").status_code == 404
    assert rep1.delete(f"/segments/{level_a['id']}").status_code == 404
