"""Leads end to end: pools, the return job as the former owner sees it, import and export."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from tests.support import eventually


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


def test_return_job_notifies_the_former_owner(cluster, admin, make_user):
    rep_user, rep = make_user("sales", prefix="pool")
    _, outsider = make_user("sales", prefix="outside")
    pool = unique("east")
    created = admin.post("/lead-pools", json={"name": pool, "title": "华东公海",
                                              "members": [rep_user["id"]]})
    assert created.status_code == 201, created.text
    rules = admin.put(f"/lead-pools/{pool}/rules", json={"follow_up_days": 3,
                                                         "warn_days_before": 2})
    assert rules.status_code == 200 and rules.json()["follow_up_days"] == 3
    leads = [rep.post("/leads", json={"name": name, "phone": phone(), "pool": pool}).json()
             for name in ("郑爽", "冯巩", "韩梅")]
    assert outsider.post(f"/leads/{leads[0]['id']}/claim").status_code == 404   # no member
    for lead in leads:
        assert rep.post(f"/leads/{lead['id']}/claim").status_code == 200
    now = datetime.now(UTC)
    for lead, days_ago in ((leads[0], 10), (leads[1], 10), (leads[2], 2)):
        answer = rep.post(f"/leads/{lead['id']}/follow-ups", json={
            "kind": "call", "content": "补录的电话跟进",
            "occurred_at": (now - timedelta(days=days_ago)).isoformat()})
        assert answer.status_code == 201, answer.text
    assert admin.post(f"/leads/{leads[1]['id']}/lock",
                      json={"reason": "重点客户"}).json()["locked"] is True
    preview = admin.post(f"/lead-pools/{pool}/rules/preview").json()["items"]
    assert [(i["id"], i["reason"]) for i in preview] == [(leads[0]["id"], "overdue")]
    assert rep.post(f"/lead-pools/{pool}/run-return-job").status_code == 403
    ran = admin.post(f"/lead-pools/{pool}/run-return-job")
    assert ran.status_code == 200, ran.text
    assert ran.json()["returned"] == 1 and ran.json()["warned"] == 1   # 冯巩 is locked
    assert rep.get(f"/leads/{leads[0]['id']}").json()["owner_id"] is None
    assert rep.get(f"/leads/{leads[1]['id']}").json()["owner_id"] == rep_user["id"]

    def inbox():
        items = rep.get("/notifications").json()["items"]
        kinds = {n["type"] for n in items}
        return items if {"lead.returned_to_pool", "lead.deadline_warning"} <= kinds else None

    items = eventually(inbox, timeout=10)
    returned = next(n for n in items if n["type"] == "lead.returned_to_pool")
    assert "郑爽" in returned["body"] and "超期未跟进" in returned["body"]
    assert returned["title"] == "线索已退回公海"
    claimed = rep.post(f"/leads/{leads[0]['id']}/claim")
    assert claimed.status_code == 409 and claimed.json()["error"]["code"] == "reclaim_cooldown"
    actions = rep.get(f"/leads/{leads[0]['id']}/actions").json()["items"]
    assert actions[0]["action"] == "returned_to_pool" and actions[0]["from"] == rep_user["id"]
    assert actions[0]["reason"] == "overdue" and actions[0]["to"] is None


def test_transfer_and_bad_input(cluster, admin, make_user):
    rep_user, rep = make_user("sales", prefix="from")
    other_user, other = make_user("sales", prefix="to")
    lead = rep.post("/leads", json={"name": "蒋欣", "phone": phone()}).json()
    for body in ({"name": "甲", "phone": "12"}, {"name": "甲", "source": "tv"},
                 {"name": "甲", "email": "nope"}, {"name": "甲" * 101},
                 {"name": "甲", "pool": "no-such-pool"}):
        answer = rep.post("/leads", json=body)
        assert answer.status_code in (404, 422), (body, answer.text)
    assert rep.post(f"/leads/{lead['id']}/claim").status_code == 200
    bad = rep.post(f"/leads/{lead['id']}/transfer", json={"owner_id": "nobody", "reason": "x"})
    assert bad.status_code == 422
    moved = rep.post(f"/leads/{lead['id']}/transfer",
                     json={"owner_id": other_user["id"], "reason": "区域调整"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["owner_id"] == other_user["id"]
    assert rep.get(f"/leads/{lead['id']}").status_code == 404
    assert rep.post(f"/leads/{lead['id']}/release", json={"reason": "x"}).status_code == 404
    assert other.post(f"/leads/{lead['id']}/convert").status_code == 200
    twice = other.post(f"/leads/{lead['id']}/convert")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "lead_closed"

    def notified():
        return [n for n in other.get("/notifications").json()["items"]
                if n["type"] == "lead.transferred"]

    eventually(notified, timeout=10)


def test_import_gbk_csv_and_export(cluster, admin, make_user):
    _, rep = make_user("sales", prefix="imp")
    tag = uuid.uuid4().hex[:6]
    existing = rep.post("/leads", json={"name": "已存在", "phone": phone()}).json()
    first_phone = phone()
    lines = [["姓名", "公司", "手机", "邮箱", "来源", "标签"],
             [f"导入甲{tag}", f"甲{tag}有限公司", first_phone, "", "展会", "华东，重点"],
             [f"导入乙{tag}", "", existing["phone"], "", "", ""],
             [f"导入丙{tag}", "", "", "坏邮箱", "", ""],
             [f"导入丁{tag}", "", first_phone, "", "", ""],
             [f"导入戊{tag}", "", "", f"wu{tag}@example.cn", "官网", ""]]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    answer = rep.post("/leads/import", files={"file": ("线索.csv",
                                                       buffer.getvalue().encode("gbk"),
                                                       "text/csv")})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["created"], report["duplicates"], report["rejected"]) == (2, 2, 1)
    assert report["truncated"] is False
    rows = {r["row"]: r for r in report["rows"]}
    assert sorted(rows) == [3, 4, 5]
    assert rows[3]["existing_id"] == existing["id"] and rows[4]["status"] == "rejected"
    assert rows[5]["reason"] == "duplicate_in_file"
    page = rep.get("/leads", params={"q": f"导入甲{tag}"}).json()["items"]
    assert page[0]["source"] == "expo" and page[0]["tags"] == ["华东", "重点"]
    exported = rep.get("/leads/export", params={"q": tag})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["编号", "姓名", "公司"]
    assert sorted(r[1] for r in table[1:]) == sorted([f"导入甲{tag}", f"导入戊{tag}"])
    bom = rep.post("/leads/import", files={"file": ("a.csv", ("\ufeffname,email\n"
                                                             f"Bom{tag},b{tag}@example.cn\n")
                                                   .encode(), "text/csv")})
    assert bom.json()["created"] == 1
    garbage = rep.post("/leads/import", files={"file": ("x.csv", b"\xff\xfe\x00\x81\x00",
                                                       "text/csv")})
    assert garbage.status_code == 422
    unknown = rep.post("/leads/import", data={"pool": "no-such-pool"},
                       files={"file": ("h.csv", "姓名,电话\n".encode(), "text/csv")})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "pool_not_found"
    nameless = rep.post("/leads/import", files={"file": ("n.csv", b"company\nx\n", "text/csv")})
    assert nameless.status_code == 422
