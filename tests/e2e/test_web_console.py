"""The web console (issue 11) driven in headless Chromium against the real cluster.

A sales rep logs in, claims a lead from the public pool, loses a race for another one (the
console says another rep was faster), follows up and converts the lead, opens the customer's
360° view, drags an opportunity to the next stage on the board and sees the funnel change.
Screenshots of the main pages at desktop and phone size go to ``var/screenshots/``.

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and the ``playwright`` pip package (no
``playwright install``: the system browser is used). The console is built (``bash
web/build.sh``) when ``web/dist`` is missing or older than its sources; without npm the test
is skipped.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.cluster import ADMIN_PASSWORD, ADMIN_USER
from tests.e2e.conftest import login
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "pass-word-123"
TZ = "Asia/Shanghai"



def console_is_stale() -> bool:
    """No build, or a source of the console newer than the build (what `make` also checks)."""
    index = WEB / "dist" / "index.html"
    if not index.is_file():
        return True
    sources = [WEB / "index.html", WEB / "vite.config.js", WEB / "package-lock.json",
               *(WEB / "src").rglob("*")]
    built = index.stat().st_mtime
    return any(path.is_file() and path.stat().st_mtime > built for path in sources)


@pytest.fixture(scope="module")
def console_built():
    if console_is_stale():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: the web console cannot be built")
        subprocess.run(["bash", str(WEB / "build.sh")], check=True, timeout=600)
    return WEB / "dist"


@pytest.fixture(scope="module")
def browser(console_built):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip package playwright missing (see requirements)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def unique_phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


def new_lead(api, name: str) -> dict:
    answer = api.post("/leads", json={"name": name, "company": f"{name}科技有限公司",
                                      "phone": unique_phone(), "source": "expo"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/app/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("me").wait_for()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000, f"{path} looks empty"
    return path


def funnel_customers(page, base: str) -> int:
    page.goto(f"{base}/app/#/analytics")
    page.get_by_test_id("funnel-chart").wait_for()
    return int(page.get_by_test_id("funnel-customers").inner_text())


def test_console_is_served_without_shadowing_the_api(cluster, console_built):
    import httpx

    root = httpx.get(f"{cluster.url}/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/app/"
    page = httpx.get(f"{cluster.url}/app/")
    assert page.status_code == 200 and "<div id=\"app\">" in page.text
    assert httpx.get(f"{cluster.url}/app/#/analytics").status_code == 200
    deep = httpx.get(f"{cluster.url}/app/customers/x")   # the app's own page: index.html
    assert deep.status_code == 200 and page.text == deep.text
    missing = httpx.get(f"{cluster.url}/app/assets/nope.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{cluster.url}/app/..%2fpyproject.toml").status_code == 404
    assert httpx.get(f"{cluster.url}/healthz").json() == {"status": "ok"}
    docs = httpx.get(f"{cluster.url}/docs", timeout=30)
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    unknown = httpx.get(f"{cluster.url}/api/v1/no-such-route")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_rep_claims_converts_and_sees_the_funnel_change(cluster, admin, make_user, browser):
    base = cluster.url
    rep_user, rep = make_user("sales", prefix="web")
    _, rival = make_user("sales", prefix="webrival")
    tag = uuid.uuid4().hex[:6]
    lead = new_lead(admin, f"网页{tag}甲")
    raced = new_lead(admin, f"网页{tag}乙")

    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", timezone_id=TZ)
    page = context.new_page()
    try:
        sign_in(page, base, rep_user["username"])
        assert page.get_by_test_id("nav-home").inner_text() == "首页"   # Chinese by default

        # the home page hears the notification stream: a lead assigned to the rep shows up live
        page.get_by_test_id("activity-feed").wait_for()
        assigned = new_lead(admin, f"网页{tag}丙")
        answer = admin.post(f"/leads/{assigned['id']}/assign", json={"owner_id": rep_user["id"]})
        assert answer.status_code == 200, answer.text
        page.get_by_test_id("notification-list").filter(has_text=f"网页{tag}丙").wait_for(
            timeout=15000)
        page.get_by_test_id("activity-feed").filter(has_text=f"网页{tag}丙").wait_for()
        before = funnel_customers(page, base)

        # the public pool: search, claim one lead, lose the race for the other
        page.goto(f"{base}/app/#/leads/pool")
        page.get_by_test_id("lead-search").fill(f"网页{tag}")
        row = page.locator(f"tr[data-lead-id='{lead['id']}']")
        row.wait_for()
        raced_row = page.locator(f"tr[data-lead-id='{raced['id']}']")
        raced_row.wait_for()
        row.locator("[data-action=claim]").click()
        assert "已领取" in page.get_by_test_id("toast").inner_text()
        row.wait_for(state="detached")
        assert rival.post(f"/leads/{raced['id']}/claim").status_code == 200   # faster rival
        raced_row.locator("[data-action=claim]").click()
        page.get_by_test_id("toast").filter(has_text="抢单失败").wait_for()
        assert "另一位销售抢先" in page.get_by_test_id("toast").inner_text()

        # import a CSV into the pool: upload progress, then the per-row report
        p1, p2 = unique_phone(), unique_phone()
        csv_text = (f"姓名,公司,电话\n导入{tag}一,导入{tag}一公司,{p1}\n"
                    f"导入{tag}二,导入{tag}二公司,{p2}\n导入{tag}三,导入{tag}三公司,{p2}\n"
                    f",无名公司{tag},{unique_phone()}\n")
        page.get_by_test_id("import-file").set_input_files(files=[{
            "name": "leads.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}])
        page.get_by_role("button", name="上传").click()
        page.get_by_test_id("import-state").filter(has_text="新建 2").wait_for(timeout=15000)
        state = page.get_by_test_id("import-state").inner_text()
        assert "重复 1" in state and "无效 1" in state, state
        report = page.get_by_test_id("import-report")
        assert "4" in report.inner_text() and "5" in report.inner_text()   # file lines
        page.get_by_test_id("lead-search").fill(f"导入{tag}")
        page.locator("tr[data-lead-id]").filter(has_text=f"导入{tag}二").wait_for()

        # my leads: follow up, then convert
        page.goto(f"{base}/app/#/leads/mine")
        row = page.locator(f"tr[data-lead-id='{lead['id']}']")
        row.locator("[data-action=follow_up]").click()
        page.get_by_test_id("follow-up-content").fill("电话沟通，客户有采购意向")
        page.get_by_role("button", name="保存").click()
        page.get_by_test_id("toast").filter(has_text="已保存").wait_for()
        row.locator("[data-action=convert]").click()
        page.get_by_test_id("toast").filter(has_text="已转化为客户").wait_for()
        assert rep.get(f"/leads/{lead['id']}").json()["status"] == "converted"
        customer_id = eventually(lambda: rep.get(f"/leads/{lead['id']}").json()["customer_id"])

        # the customer's 360° view, with a follow-up added from the page
        page.goto(f"{base}/app/#/customers/{customer_id}")
        page.get_by_test_id("customer-360").wait_for()
        page.get_by_test_id("customer-follow-up").fill("上门拜访，演示产品")
        page.locator("form.inline-form button[type=submit]").first.click()
        page.get_by_test_id("customer-follow-ups").filter(has_text="上门拜访，演示产品").wait_for()
        visit = dt.datetime.now(ZoneInfo(TZ)) + dt.timedelta(minutes=5)
        plan = page.get_by_test_id("customer-plan")
        plan.get_by_placeholder("主题").fill(f"拜访{tag}")
        plan.locator("input[type=datetime-local]").fill(visit.strftime("%Y-%m-%dT%H:%M"))
        plan.get_by_role("button", name="保存").click()
        page.get_by_test_id("customer-plans").filter(has_text=f"拜访{tag}").wait_for()
        if visit.date() == dt.datetime.now(ZoneInfo(TZ)).date():   # today's calendar on 首页
            page.goto(f"{base}/app/#/")
            page.get_by_test_id("calendar").filter(has_text=f"拜访{tag}").wait_for()

        # the board: drag the opportunity to the next stage
        opp = rep.post("/opportunities", json={"customer_id": customer_id,
                                               "name": f"网页{tag}项目", "amount": "88000.00"})
        assert opp.status_code == 201, opp.text
        opp = opp.json()
        stages = next(p for p in rep.get("/pipelines").json()["items"]
                      if p["id"] == opp["pipeline_id"])["stages"]
        target = stages[1]["name"]
        page.goto(f"{base}/app/#/board")
        card = page.locator(f".opp[data-opp-id='{opp['id']}']")
        card.wait_for()
        card.drag_to(page.locator(f".column[data-stage='{target}']"))
        page.get_by_test_id("toast").filter(has_text=target).wait_for()
        assert rep.get(f"/opportunities/{opp['id']}").json()["stage"] == target
        assert page.locator(f".column[data-stage='{target}'] .opp[data-opp-id='{opp['id']}']") \
            .count() == 1

        # the funnel: the conversion shows up (analytics is fed by events: poll a little)
        deadline = time.monotonic() + 15
        while funnel_customers(page, base) <= before:
            assert time.monotonic() < deadline, "the funnel did not change"
            time.sleep(0.5)

        # screenshots of the main pages, desktop then phone
        pages = {"home": "#/", "pool": "#/leads/pool", "customer-360": f"#/customers/{customer_id}",
                 "board": "#/board", "analytics": "#/analytics", "deals": "#/deals"}
        ready = {"home": "activity-feed", "pool": "lead-rows", "customer-360": "customer-360",
                 "board": "board", "analytics": "funnel-chart", "deals": "approval-inbox"}

        def capture(p, size: str) -> None:
            for name, route in pages.items():
                p.goto(f"{base}/app/{route}")
                p.get_by_test_id(ready[name]).wait_for()
                if name == "analytics":
                    p.locator("[data-testid=funnel-chart][data-ready=true]").wait_for()
                    p.wait_for_timeout(200)
                shot(p, f"{name}-{size}")

        capture(page, "desktop")
        phone = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id=TZ, is_mobile=True,
                                    has_touch=True, device_scale_factor=2)
        try:
            mobile = phone.new_page()
            sign_in(mobile, base, rep_user["username"])
            capture(mobile, "phone")
            width = mobile.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, f"the home page overflows a phone: {width}px"
            mobile.get_by_test_id("lang").click()   # English is one click away
            assert mobile.get_by_test_id("nav-home").inner_text() == "Home"
        finally:
            phone.close()
    finally:
        context.close()


def test_bad_login_is_refused_in_the_page(cluster, browser):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{cluster.url}/app/")
        page.get_by_test_id("login-username").fill("nobody")
        page.get_by_test_id("login-password").fill("wrong-password")
        page.get_by_test_id("login-submit").click()
        page.get_by_test_id("login-error").filter(has_text="用户名或密码错误").wait_for()
        assert login(cluster.url, ADMIN_USER, ADMIN_PASSWORD).token   # the API still works
    finally:
        context.close()


def test_manager_approves_a_contract_from_the_inbox(cluster, admin, make_user, browser):
    tag = uuid.uuid4().hex[:6]
    team = admin.post("/teams", json={"name": f"网页审批{tag}"}).json()
    manager_user, manager = make_user("manager", team["id"], prefix="webmgr")
    assert admin.patch(f"/teams/{team['id']}",
                       json={"manager_id": manager_user["id"]}).status_code == 200
    _, rep = make_user("sales", team["id"], prefix="webrep")
    product = admin.post("/products", json={"sku": f"WEB-{tag}", "name": "CRM 标准版",
                                            "unit": "套", "list_price": "36000.00"})
    assert product.status_code == 201, product.text
    customer = rep.post("/customers", json={"name": f"网页审批客户{tag}"}).json()
    contract = rep.post("/contracts", json={
        "customer_id": customer["id"], "title": f"审批{tag}",
        "lines": [{"product_id": product.json()["id"], "quantity": "1"}]})
    assert contract.status_code == 201, contract.text
    contract = contract.json()
    assert rep.post(f"/contracts/{contract['id']}/submit").status_code == 200
    inbox = manager.get("/contracts", params={"status": "pending_approval", "limit": 200}).json()
    assert contract["id"] in [c["id"] for c in inbox["items"]], inbox

    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", timezone_id=TZ)
    page = context.new_page()
    try:
        sign_in(page, cluster.url, manager_user["username"])
        page.goto(f"{cluster.url}/app/#/deals")
        item = page.locator(f"li[data-contract-id='{contract['id']}']")
        item.wait_for()
        assert contract["number"] in item.inner_text()
        item.get_by_placeholder("意见").fill("同意")
        item.get_by_role("button", name="通过").click()
        page.get_by_test_id("toast").filter(has_text=contract["number"]).wait_for()
        item.wait_for(state="detached")
        steps = rep.get(f"/contracts/{contract['id']}").json()["approval_steps"]
        assert steps[0]["decision"] == "approved" and steps[0]["comment"] == "同意"
    finally:
        context.close()


@pytest.mark.parametrize(("path", "expected"), [
    ("", "index.html"),                       # the app itself
    ("customers/42", "index.html"),           # a page of the app
    ("assets/app-1a2b.js", "assets/app-1a2b.js"),
    ("assets/missing.js", 404),               # a missing asset is not a page
    ("favicon.ico", 404),
    ("../secret.txt", 404),                   # never outside the build
    ("assets/../../secret.txt", 404),
])
def test_which_file_the_console_route_sends(tmp_path, monkeypatch, path, expected):
    from starlette.exceptions import HTTPException

    from gateway import web

    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<div id=app></div>")
    (dist / "assets" / "app-1a2b.js").write_text("1")
    (tmp_path / "secret.txt").write_text("no")
    monkeypatch.setenv("CRM_WEB_DIST", str(dist))
    if expected == 404:
        with pytest.raises(HTTPException) as caught:
            web.resolve(path)
        assert caught.value.status_code == 404
    else:
        assert web.resolve(path) == (dist / expected).resolve()


def test_an_unbuilt_console_says_how_to_build_it(tmp_path, monkeypatch):
    from starlette.exceptions import HTTPException

    from gateway import web

    monkeypatch.setenv("CRM_WEB_DIST", str(tmp_path / "nothing"))
    with pytest.raises(HTTPException) as caught:
        web.resolve("")
    assert caught.value.status_code == 404 and "npm run build" in caught.value.detail
