"""Customers through the gateway: contacts, follow-ups, plans and the calendar with its
reminder, level and credit limit by role, merge, action records and the 360° view."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support import eventually

SH = ZoneInfo("Asia/Shanghai")


def created(answer) -> dict:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def error_code(answer, status: int) -> str:
    assert answer.status_code == status, answer.text
    return answer.json()["error"]["code"]


def test_customer_records_calendar_and_reminder(cluster, admin, make_user):
    rep_user, rep = make_user("sales", prefix="cust")
    _, other = make_user("sales", prefix="cust")
    customer = created(rep.post("/customers", json={
        "name": "上海宏达机械制造有限公司", "industry": "制造业", "region": "上海",
        "level": "B", "tags": ["华东", "重点"]}))
    cid = customer["id"]

    # a plan due in 10 minutes: the reminder job (every 15 s) notifies the rep once
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    plan = created(rep.post(f"/customers/{cid}/follow-up-plans", json={
        "kind": "visit", "scheduled_at": soon.isoformat(), "subject": "上门演示新版设备"}))
    assert plan["status"] == "planned" and plan["owner_id"] == rep_user["id"]
    later = (datetime.now(SH) + timedelta(days=3)).replace(hour=10, minute=0, second=0,
                                                           microsecond=0)
    created(rep.post(f"/customers/{cid}/follow-up-plans", json={
        "kind": "meeting", "scheduled_at": later.isoformat(), "subject": "商务谈判"}))

    # contacts: exactly one primary, the newest primary demotes the other
    first = created(rep.post(f"/customers/{cid}/contacts", json={"name": "王磊"}))
    assert first["is_primary"] is True
    second = created(rep.post(f"/customers/{cid}/contacts",
                              json={"name": "李娜", "title": "采购总监", "is_primary": True}))
    contacts = rep.get(f"/customers/{cid}/contacts").json()["items"]
    assert [(c["name"], c["is_primary"]) for c in contacts] == [("王磊", False), ("李娜", True)]
    back = rep.post(f"/customers/{cid}/contacts/{first['id']}/primary").json()["items"]
    assert [c["is_primary"] for c in back] == [True, False]
    assert error_code(rep.post(f"/customers/{cid}/contacts", json={"name": ""}), 422)
    assert error_code(rep.post(f"/customers/{cid}/contacts/nope/primary"),
                      404) == "contact_not_found"
    assert second["id"]

    # follow-ups update last_contact_at; bad kinds and future times are refused
    follow = created(rep.post(f"/customers/{cid}/follow-ups",
                              json={"kind": "call", "content": "电话沟通二期采购需求"}))
    got = rep.get(f"/customers/{cid}").json()
    assert got["last_contact_at"] == follow["happened_at"]
    assert got["next_follow_up_at"] == plan["scheduled_at"]
    assert error_code(rep.post(f"/customers/{cid}/follow-ups",
                               json={"kind": "fax", "content": "x"}), 422)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert error_code(rep.post(f"/customers/{cid}/follow-ups", json={
        "kind": "call", "content": "x", "happened_at": future}), 422)
    assert rep.get(f"/customers/{cid}/follow-ups").json()["items"][0]["id"] == follow["id"]

    # the calendar: the rep's planned visits by day in Asia/Shanghai; nobody else's
    today = datetime.now(SH).date()
    cal = rep.get("/calendar", params={"start": today.isoformat(),
                                       "end": (today + timedelta(days=6)).isoformat()}).json()
    by_day = {d["date"]: [p["subject"] for p in d["plans"]] for d in cal["days"]}
    assert by_day[later.date().isoformat()] == ["商务谈判"]
    assert "上门演示新版设备" in by_day[soon.astimezone(SH).date().isoformat()]
    assert cal["days"][0]["plans"][0]["customer_name"] == "上海宏达机械制造有限公司"
    assert other.get("/calendar", params={"start": today.isoformat(),
                                          "end": today.isoformat()}).json()["days"] == []
    assert error_code(rep.get("/calendar", params={"start": "2026-02-30", "end": "2026-03-01"}),
                      422)
    assert error_code(rep.get("/calendar", params={"start": "2026-03-05",
                                                   "end": "2026-03-01"}), 422)

    # lists: filters and Chinese text search
    mine = rep.get("/customers", params={"scope": "mine", "q": "宏达机械"}).json()["items"]
    assert [c["id"] for c in mine] == [cid]
    assert [c["id"] for c in rep.get("/customers", params={"tag": "重点"}).json()["items"]] == [
        cid]
    assert rep.get("/customers", params={"tag": "华南"}).json()["items"] == []
    assert rep.get("/customers", params={"level": "A"}).json()["items"] == []

    # outside the scope: 404 everywhere
    for path in (f"/customers/{cid}", f"/customers/{cid}/contacts",
                 f"/customers/{cid}/actions", f"/customers/{cid}/overview"):
        assert error_code(other.get(path), 404) == "customer_not_found", path
    assert error_code(other.post(f"/customers/{cid}/follow-ups",
                                 json={"kind": "call", "content": "x"}), 404)

    # a plan is closed once; a closed plan cannot change again
    extra = created(rep.post(f"/customers/{cid}/follow-up-plans", json={
        "kind": "call", "scheduled_at": later.isoformat(), "subject": "电话确认"}))
    done = rep.post(f"/customers/{cid}/follow-up-plans/{extra['id']}/status",
                    json={"status": "done"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert error_code(rep.post(f"/customers/{cid}/follow-up-plans/{extra['id']}/status",
                               json={"status": "cancelled"}), 409) == "plan_closed"
    assert error_code(other.post(f"/customers/{cid}/follow-up-plans/{extra['id']}/status",
                                 json={"status": "done"}), 404) == "customer_not_found"

    actions = [a["action"] for a in rep.get(f"/customers/{cid}/actions").json()["items"]]
    for action in ("created", "contact_added", "primary_contact_changed", "followed_up",
                   "plan_created", "plan_done"):
        assert action in actions

    # 智能提醒: the job (every 15 s) reminded the rep of the plan due in 10 minutes, once
    def reminded():
        items = rep.get("/notifications").json()["items"]
        return [n for n in items if n["type"] == "follow_up_plan.due"]

    notes = eventually(reminded, timeout=25)
    assert notes[0]["data"]["plan_id"] == plan["id"] and notes[0]["title"] == "跟进提醒"
    assert "上海宏达机械制造有限公司" in notes[0]["body"]
    time.sleep(0.5)
    assert len(reminded()) == 1
    assert other.get("/notifications").json()["items"] == []


def test_level_credit_limit_and_merge_by_role(cluster, admin, make_user):
    team = created(admin.post("/teams", json={"name": "华南大客户部"}))
    manager_user, manager = make_user("manager", team["id"], prefix="mgr")
    rep_user, rep = make_user("sales", team["id"], prefix="cust")
    cid = created(rep.post("/customers", json={"name": "深圳前海数智科技有限公司"}))["id"]

    body = {"credit_limit": "500000.00", "reason": "连续三年按时回款"}
    assert error_code(rep.post(f"/customers/{cid}/credit-limit", json=body), 403) == "forbidden"
    assert error_code(rep.post(f"/customers/{cid}/level",
                               json={"level": "A", "reason": "战略"}), 403) == "forbidden"
    assert error_code(rep.patch(f"/customers/{cid}", json={"level": "A"}), 403) == "forbidden"
    for bad in ({"credit_limit": "-1", "reason": "x"}, {"credit_limit": "1.001", "reason": "x"},
                {"credit_limit": "100"}, {"credit_limit": "abc", "reason": "x"}):
        assert error_code(manager.post(f"/customers/{cid}/credit-limit", json=bad), 422)
    changed = manager.post(f"/customers/{cid}/credit-limit", json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["credit_limit"] == "500000.00"
    assert error_code(manager.post(f"/customers/{cid}/credit-limit", json=body),
                      422) == "credit_limit_unchanged"
    created(admin.post(f"/customers/{cid}/credit-limit",
                       json={"credit_limit": "200000", "reason": "逾期回款，降低额度"}))
    history = rep.get(f"/customers/{cid}/credit-limit").json()
    assert history["credit_limit"] == "200000.00"
    assert [(h["from"], h["to"], h["reason"]) for h in history["items"]] == [
        ("500000.00", "200000.00", "逾期回款，降低额度"), ("0.00", "500000.00", "连续三年按时回款")]
    assert history["items"][1]["actor_id"] == manager_user["id"]
    assert history["items"][0]["actor_id"] not in (None, manager_user["id"])
    level = manager.post(f"/customers/{cid}/level", json={"level": "A", "reason": "战略客户"})
    assert level.status_code == 200 and level.json()["level"] == "A"
    actions = rep.get(f"/customers/{cid}/actions").json()["items"]
    assert (actions[0]["action"], actions[0]["from"], actions[0]["to"], actions[0]["note"]) == (
        "level_changed", "C", "A", "战略客户")

    # merge: the owner of both may; the other disappears and answers 404 with a hint
    dup = created(rep.post("/customers", json={"name": "深圳前海数智科技",
                                                "phone": "0755-8888 1234"}))
    assert dup["duplicates"] == [] or cid in [d["id"] for d in dup["duplicates"]]
    created(rep.post(f"/customers/{dup['id']}/contacts", json={"name": "周敏"}))
    created(rep.post(f"/customers/{dup['id']}/follow-ups",
                     json={"kind": "wechat", "content": "微信沟通报价"}))
    assert error_code(rep.post(f"/customers/{cid}/merge", json={"other_id": cid}), 422)
    merged = rep.post(f"/customers/{cid}/merge", json={"other_id": dup["id"]})
    assert merged.status_code == 200, merged.text
    assert [c["name"] for c in merged.json()["contacts"]] == ["周敏"]
    gone = rep.get(f"/customers/{dup['id']}")
    assert error_code(gone, 404) == "customer_merged"
    assert gone.json()["error"]["details"]["merged_into"] == cid
    listed = [c["id"] for c in rep.get("/customers", params={"scope": "mine"}).json()["items"]]
    assert dup["id"] not in listed and cid in listed
    assert rep.get(f"/customers/{dup['id']}/actions").json()["items"][0]["action"] == \
        "merged_into"
    assert rep.get(f"/customers/{cid}/follow-ups").json()["items"][0]["content"] == "微信沟通报价"

    # the public pool: release, claim by another rep, lock; rules by admins only
    _, rep2 = make_user("sales", team["id"], prefix="cust")
    assert error_code(rep.post(f"/customers/{cid}/release", json={}), 422)
    released = rep.post(f"/customers/{cid}/release", json={"reason": "客户暂无预算"})
    assert released.status_code == 200 and released.json()["owner_id"] is None
    pool = [c["id"] for c in rep2.get("/customers", params={"scope": "pool"}).json()["items"]]
    assert cid in pool
    claimed = rep2.post(f"/customers/{cid}/claim")
    assert claimed.status_code == 200, claimed.text
    assert error_code(rep.post(f"/customers/{cid}/claim"), 404) == "customer_not_found"
    assert error_code(rep2.post(f"/customers/{cid}/claim"), 409) == "customer_already_claimed"
    assert rep2.post(f"/customers/{cid}/lock").json()["locked"] is True
    assert error_code(rep2.get("/customer-pool/rules"), 403) == "forbidden"
    assert error_code(manager.put("/customer-pool/rules", json={"follow_up_days": 5}), 403)
    rules = admin.put("/customer-pool/rules", json={"follow_up_days": 20, "per_level": {
        "A": {"follow_up_days": 45}}})
    assert rules.status_code == 200 and rules.json()["per_level"]["A"]["follow_up_days"] == 45
    assert error_code(admin.put("/customer-pool/rules", json={"follow_up_days": -1}), 422)
    preview = manager.post("/customer-pool/rules/preview", json={"rules": {"follow_up_days": 1}})
    assert preview.status_code == 200 and cid not in [i["customer_id"]
                                                      for i in preview.json()["items"]]
    assert rep_user["id"]


def test_overview_assembles_every_service(cluster, admin, make_user):
    _, rep = make_user("sales", prefix="cust")
    _, other = make_user("sales", prefix="cust")
    cid = created(rep.post("/customers", json={"name": "北京华信科技有限公司"}))["id"]
    created(rep.post(f"/customers/{cid}/contacts", json={"name": "赵强"}))
    created(rep.post(f"/customers/{cid}/follow-ups", json={"kind": "visit",
                                                           "content": "拜访技术负责人"}))
    opp = created(rep.post("/opportunities", json={
        "customer_id": cid, "name": "华信 CRM 项目", "amount": "88000.00",
        "expected_close_date": "2027-01-31"}))
    created(rep.post("/tickets", json={"customer_id": cid, "title": "演示环境无法登录",
                                       "description": "登录页报 500", "channel": "phone",
                                       "category": "fault", "priority": "high"}))

    started = time.monotonic()
    view = rep.get(f"/customers/{cid}/overview")
    assert view.status_code == 200, view.text
    assert time.monotonic() - started < 5            # 2 s per service, in parallel
    body = view.json()
    assert body["customer"]["id"] == cid and body["customer"]["name"] == "北京华信科技有限公司"
    assert [c["name"] for c in body["contacts"]] == ["赵强"]
    assert body["follow_ups"][0]["content"] == "拜访技术负责人"
    sections = body["sections"]
    assert set(sections) == {"opportunities", "quotes", "contracts", "receivable_plans",
                             "payments", "invoices", "tickets", "returns", "work_orders",
                             "profile", "insights"}
    for name, section in sections.items():
        if section["available"]:
            assert "data" in section, name
        else:
            assert set(section["error"]) == {"code", "message"}, name
    assert sections["opportunities"]["available"] is True
    assert [o["id"] for o in sections["opportunities"]["data"]["items"]] == [opp["id"]]
    assert sections["tickets"]["available"] is True
    assert sections["tickets"]["data"]["items"][0]["title"] == "演示环境无法登录"
    assert body["partial"] == (not all(s["available"] for s in sections.values()))

    assert error_code(other.get(f"/customers/{cid}/overview"), 404) == "customer_not_found"
    assert error_code(rep.get("/customers/0000000000000000/overview"), 404)
    # a role without sales rights sees those sections as unavailable, not an error
    _, service_user = make_user("service", prefix="svc")
    assert error_code(service_user.get(f"/customers/{cid}/overview"), 404)   # own scope
    staff = admin.get(f"/customers/{cid}/overview").json()
    assert staff["sections"]["opportunities"]["available"] is True


def test_overview_cache_follows_changes_and_lost_access(cluster, admin, make_user):
    """The 360° view is cached (gateway.views): a change through the gateway shows in the
    very next view, a change that reaches it only as an event within the event lag, and a
    user who lost access gets 404 at once, never the cached view."""
    team = created(admin.post("/teams", json={"name": "华东渠道部"}))
    rep_user, rep = make_user("sales", team["id"], prefix="view")
    rep2_user, rep2 = make_user("sales", team["id"], prefix="view")
    reader_user, reader = make_user("sales", prefix="view")
    cid = created(rep.post("/customers", json={"name": "杭州数联信息技术有限公司"}))["id"]
    created(rep.post(f"/customers/{cid}/contacts", json={"name": "陈静"}))
    ticket = created(rep.post("/tickets", json={
        "customer_id": cid, "title": "报表导出乱码", "description": "导出 CSV 中文乱码",
        "channel": "email", "category": "fault"}))
    path = f"/customers/{cid}/overview"

    def cached(api):
        """Read until the view is complete and served from the cache; that view."""
        def again():
            first, second = api.get(path), api.get(path)
            assert first.status_code == 200, first.text
            if second.headers["X-View-Cache"] == "hit" and second.content == first.content:
                return second.json()
            return None
        return eventually(again, timeout=30, interval=0.2)

    def quiet():
        """Let every bump of the changes so far, the settle bump too (2 s), go by."""
        time.sleep(3)

    cached(rep)

    # a change through the gateway: in the next view, whichever replica serves it
    opp = created(rep.post("/opportunities", json={
        "customer_id": cid, "name": "数联 BI 升级", "amount": "56000.00",
        "expected_close_date": "2027-03-31"}))
    view = rep.get(path)
    assert view.headers["X-View-Cache"] == "miss"
    assert opp["id"] in [o["id"] for o in view.json()["sections"]["opportunities"]["data"]["items"]]

    # a change whose answer names no customer (a ticket comment): the event invalidates it
    quiet()
    before = cached(rep)
    assert before["sections"]["tickets"]["data"]["items"][0]["first_responded_at"] is None
    answer = rep.post(f"/tickets/{ticket['id']}/comments", json={"body": "已复现，正在修复"})
    assert answer.status_code == 201, answer.text

    def responded():
        items = rep.get(path).json()["sections"]["tickets"]["data"]["items"]
        return items[0]["first_responded_at"]

    assert eventually(responded, timeout=10)          # the view's TTL is 60 s

    # lost access by a revoked grant (查看权限)
    grant = created(admin.post("/permissions/grants", json={
        "grantee_id": reader_user["id"], "target_user_id": rep_user["id"], "access": "read"}))
    cached(reader)
    assert admin.delete(f"/permissions/grants/{grant['id']}").status_code == 204
    assert error_code(reader.get(path), 404) == "customer_not_found"

    # lost access by ownership: released (the pool is visible to all), claimed by rep2
    assert rep.post(f"/customers/{cid}/release", json={"reason": "转给同事跟进"}).status_code \
        == 200
    cached(rep)
    claimed = rep2.post(f"/customers/{cid}/claim")
    assert claimed.status_code == 200 and claimed.json()["owner_id"] == rep2_user["id"]
    assert error_code(rep.get(path), 404) == "customer_not_found"
    assert rep2.get(path).status_code == 200
