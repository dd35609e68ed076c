"""A mixed, realistic load through the gateway, driven by wrk (C, epoll: not the bottleneck).

The work of a sales organisation at once: reps create, claim and follow up leads, open
customers' 360° views, create opportunities and contracts, finance records payments and
managers read dashboards. Each operation is its own ``wrk`` process (``-t1``: one Lua state,
so the operation's data list is walked once, in order) with its share of the connections;
all of them run at the same time, so the figures of one operation are measured under the
load of all the others. wrk reports, per operation, requests, non-2xx answers, socket errors
and latency percentiles; see ``bench/run.py`` for how the levels are reported.
"""
from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.cluster import ADMIN_PASSWORD, ADMIN_USER

API = "/api/v1"

# name -> share of the connections (percent) in the mixed levels
WEIGHTS = {
    "create lead": 20,
    "claim lead": 10,
    "follow up lead": 15,
    "customer 360° view": 15,
    "create opportunity": 10,
    "create contract": 5,
    "record payment": 5,
    "read dashboard": 20,
}


@dataclass
class Request:
    method: str
    path: str
    token: str
    body: str | None = None      # "#N#" is replaced by a number unique within the run


@dataclass
class Fixture:
    """Users and records made through the API before the load starts."""
    operations: dict[str, list[Request]] = field(default_factory=dict)
    claimable: list[Request] = field(default_factory=list)   # each lead claimed once


@dataclass
class OpResult:
    operation: str
    connections: int
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50: float
    p95: float
    p99: float
    codes: str = ""         # the first non-2xx statuses seen, e.g. "409 503"

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def _ok(answer: httpx.Response) -> dict:
    if answer.status_code >= 300:
        raise RuntimeError(f"{answer.request.method} {answer.request.url}: "
                           f"{answer.status_code} {answer.text[:300]}")
    return answer.json() if answer.content else {}


def _login(client: httpx.Client, username: str, password: str) -> str:
    return _ok(client.post(f"{API}/auth/token",
                           data={"username": username, "password": password}))["access_token"]


def prepare(base_url: str, reps: int = 32, claimable: int = 4000) -> Fixture:
    """Two teams with a manager each, ``reps`` reps, a finance user; per rep two customers, an
    owned lead and an approved, signed contract with a receivable plan; ``claimable`` pool
    leads (one CSV import)."""
    tag = secrets.token_hex(3)
    fx = Fixture()
    with httpx.Client(base_url=base_url, timeout=60) as client:
        admin = _login(client, ADMIN_USER, ADMIN_PASSWORD)
        h_admin = {"Authorization": f"Bearer {admin}"}
        _ok(client.put(f"{API}/lead-pools/default/rules", headers=h_admin, json={
            "follow_up_days": 15, "max_leads_per_rep": 100000, "max_claims_per_day": 10000,
            "reclaim_cooldown_days": 7, "warn_days_before": 2}))

        def user(role: str, name: str, team_id: str | None = None) -> tuple[str, str]:
            made = _ok(client.post(f"{API}/users", headers=h_admin, json={
                "username": name, "password": "bench-pass-123", "display_name": name,
                "role": role, "team_id": team_id}))
            return made["id"], _login(client, name, "bench-pass-123")

        teams, managers = [], []
        for t in range(2):
            team = _ok(client.post(f"{API}/teams", headers=h_admin,
                                   json={"name": f"压测销售{t}部-{tag}"}))
            manager_id, manager = user("manager", f"mgr{t}{tag}", team["id"])
            _ok(client.patch(f"{API}/teams/{team['id']}", headers=h_admin,
                             json={"manager_id": manager_id}))
            teams.append(team["id"])
            managers.append(manager)
        _, finance = user("finance", f"fin{tag}")
        product = _ok(client.post(f"{API}/products",
                                  headers={"Authorization": f"Bearer {managers[0]}"},
                                  json={"sku": f"BENCH-{tag}", "name": "CRM 企业版",
                                        "unit": "套", "list_price": "36000.00"}))
        ops: dict[str, list[Request]] = {name: [] for name in WEIGHTS}
        now = datetime.now(UTC).isoformat()
        for i in range(reps):
            rep_id, rep = user("sales", f"rep{i}{tag}", teams[i % 2])
            h = {"Authorization": f"Bearer {rep}"}
            customers = [_ok(client.post(f"{API}/customers", headers=h, json={
                "name": f"压测客户{tag}-{i}-{k}有限公司", "phone": f"0{i:03d}{k}{tag}"[:20],
                "industry": "制造业", "region": "上海"}))["id"] for k in range(2)]
            lead = _ok(client.post(f"{API}/leads", headers=h, json={
                "name": f"跟进联系人{tag}{i}", "company": f"跟进企业{tag}{i}", "source": "ad",
                "owner_id": rep_id}))
            contract = _ok(client.post(f"{API}/contracts", headers=h, json={
                "customer_id": customers[0], "title": "压测合同",
                "lines": [{"product_id": product["id"], "quantity": "1",
                           "unit_price": "90000.00"}]}))
            _ok(client.post(f"{API}/contracts/{contract['id']}/submit", headers=h))
            _ok(client.post(f"{API}/contracts/{contract['id']}/approve",
                            headers={"Authorization": f"Bearer {managers[i % 2]}"},
                            json={"comment": "同意"}))
            _ok(client.post(f"{API}/contracts/{contract['id']}/sign", headers=h))
            plan = _ok(client.post(f"{API}/contracts/{contract['id']}/receivable-plans",
                                   headers=h, json={"instalments": [
                                       {"due_date": "2099-12-31", "amount": "90000.00"}]}))
            instalment = plan["instalments"][0]["id"]

            ops["create lead"].append(Request("POST", f"{API}/leads", rep, json.dumps({
                "name": f"联系人{tag}-#N#", "company": f"压测企业{tag}-#N#有限公司",
                "source": "ad", "region": "上海"}, ensure_ascii=False)))
            ops["follow up lead"].append(Request(
                "POST", f"{API}/leads/{lead['id']}/follow-ups", rep,
                json.dumps({"kind": "call", "content": "电话沟通需求 #N#"}, ensure_ascii=False)))
            for customer in customers:
                ops["customer 360° view"].append(
                    Request("GET", f"{API}/customers/{customer}/overview", rep))
                ops["create opportunity"].append(Request("POST", f"{API}/opportunities", rep,
                    json.dumps({"customer_id": customer, "name": "压测商机 #N#",
                                "amount": "120000.00"}, ensure_ascii=False)))
                ops["create contract"].append(Request("POST", f"{API}/contracts", rep,
                    json.dumps({"customer_id": customer, "title": "压测合同 #N#", "lines": [
                        {"product_id": product["id"], "quantity": "2"}]}, ensure_ascii=False)))
            ops["record payment"].append(Request("POST", f"{API}/payments", finance, json.dumps(
                {"instalment_id": instalment, "amount": "1.00", "paid_at": now,
                 "method": "bank_transfer", "reference": "#N#"})))
            ops["read dashboard"] += [
                Request("GET", f"{API}/analytics/briefing?period=week&scope=me", rep),
                Request("GET", f"{API}/analytics/funnel", rep),
            ]
        for manager in managers:
            ops["read dashboard"] += [
                Request("GET", f"{API}/analytics/briefing?period=month&scope=team", manager),
                Request("GET", f"{API}/analytics/rankings?metric=contract_amount&period=month",
                        manager)]
        fx.operations = ops

        # the public pool: leads to claim, imported in one CSV
        rows = ["name,company,source"] + [f"池线索{tag}{k},公海企业{tag}{k},ad"
                                          for k in range(claimable)]
        report = _ok(client.post(f"{API}/leads/import", headers=h_admin, files={
            "file": ("pool.csv", ("\n".join(rows) + "\n").encode(), "text/csv")}))
        if report.get("created", 0) < claimable:
            raise RuntimeError(f"the pool import created {report.get('created')} leads")
        pool: list[str] = []
        cursor = None
        while True:
            params = {"scope": "pool", "limit": 200, "q": f"池线索{tag}"}
            if cursor:
                params["cursor"] = cursor
            page = _ok(client.get(f"{API}/leads", headers=h_admin, params=params))
            pool += [item["id"] for item in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        rep_tokens = [r.token for r in ops["create lead"]]
        fx.claimable = [Request("POST", f"{API}/leads/{lead_id}/claim",
                                rep_tokens[k % len(rep_tokens)])
                        for k, lead_id in enumerate(pool)]
    return fx


LUA = r"""
local items = {
%(items)s
}
local prefix = "%(prefix)s"
local cycle = %(cycle)s
local i = 0
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args) non2xx = 0; codes = "" end

function request()
  i = i + 1
  local k = i
  if cycle then k = ((i - 1) %% #items) + 1 elseif i > #items then k = #items end
  local item = items[k]
  local headers = { ["Authorization"] = "Bearer " .. item[3] }
  local body = item[4]
  if body ~= nil then
    headers["Content-Type"] = "application/json"
    body = string.gsub(body, "#N#", prefix .. i)
  end
  return wrk.format(item[1], item[2], headers, body)
end

function response(status, headers, body)
  if status >= 300 then
    non2xx = non2xx + 1
    if #codes < 200 then codes = codes .. status .. " " end
  end
end

function done(summary, latency, requests)
  local bad, seen = 0, ""
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx"); seen = seen .. t:get("codes") end
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests": %%d, "us": %%d, "non_2xx": %%d, "socket_errors": %%d, ' ..
    '"p50": %%d, "p95": %%d, "p99": %%d, "codes": "%%s"}\n',
    summary.requests, summary.duration, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), seen))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def write_script(path: Path, requests: list[Request], cycle: bool = True) -> Path:
    items = ",\n".join(
        "{" + ", ".join([_lua_string(r.method), _lua_string(r.path), _lua_string(r.token),
                         _lua_string(r.body) if r.body is not None else "nil"]) + "}"
        for r in requests)
    path.write_text(LUA % {"items": items, "prefix": secrets.token_hex(3) + "-",
                           "cycle": "true" if cycle else "false"}, encoding="utf-8")
    return path


def split(connections: int) -> dict[str, int]:
    """Connections per operation, by weight; every operation gets at least one."""
    total = sum(WEIGHTS.values())
    shares = {op: max(1, round(connections * w / total)) for op, w in WEIGHTS.items()}
    biggest = max(shares, key=shares.get)
    shares[biggest] += connections - sum(shares.values())
    return shares


def start_wrk(url: str, script: Path, connections: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
         "-s", str(script), url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def collect(name: str, connections: int, proc: subprocess.Popen) -> OpResult:
    out, _ = proc.communicate()
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk for {name!r} printed no result:\n{out}")
    r = json.loads(line[len("RESULT "):])
    return OpResult(name, connections, r["requests"], r["us"] / 1e6, r["non_2xx"],
                    r["socket_errors"], r["p50"] / 1000, r["p95"] / 1000, r["p99"] / 1000,
                    " ".join(sorted(set(r.get("codes", "").split()))))


class Load:
    """Runs the levels against one prepared platform."""

    def __init__(self, url: str, fixture: Fixture) -> None:
        self.url = url
        self.fx = fixture
        self.claimed = 0
        self.dir = Path(tempfile.mkdtemp(prefix="crm-bench-"))

    def _claims(self) -> list[Request]:
        return self.fx.claimable[self.claimed:]

    def _script(self, name: str) -> Path:
        if name == "claim lead":
            return write_script(self.dir / "claim.lua", self._claims(), cycle=False)
        return write_script(self.dir / f"{abs(hash(name))}.lua", self.fx.operations[name])

    def _account(self, result: OpResult) -> None:
        if result.operation == "claim lead":
            # wrk does not count the requests still in flight when it stops: skip one more
            # per connection, so no lead is claimed twice by the next level
            self.claimed += result.requests + result.socket_errors + result.connections

    def alone(self, name: str, seconds: float, connections: int = 1) -> OpResult:
        """One operation by itself (1 connection: the latency floor)."""
        result = collect(name, connections,
                         start_wrk(self.url, self._script(name), connections, seconds))
        self._account(result)
        return result

    def mixed(self, connections: int, seconds: float) -> list[OpResult]:
        shares = split(connections)
        procs = {name: start_wrk(self.url, self._script(name), shares[name], seconds)
                 for name in WEIGHTS}
        results = [collect(name, shares[name], proc) for name, proc in procs.items()]
        for result in results:
            self._account(result)
        return results


def wait_for_quiet(cluster, queue: str = "analytics.events", quiet_for: float = 3.0,
                   timeout: float = 600.0) -> float:
    """Seconds until ``queue`` has stayed empty (nothing ready, nothing unacked) for
    ``quiet_for`` seconds: the outbox relays have published everything and analytics has
    applied it, so a level starts without the backlog of the previous one (or of the set-up)."""
    from urllib.parse import quote

    url = f"{cluster.rabbit_api}/api/queues/{quote(cluster.vhost, safe='')}/{queue}"
    started = time.monotonic()
    quiet_since = None
    while time.monotonic() - started < timeout:
        info = httpx.get(url, auth=("guest", "guest"), timeout=10).json()
        busy = (info.get("messages_ready", 0) or 0) + (info.get("messages_unacknowledged", 0)
                                                        or 0)
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_for:
            return now - started
        time.sleep(0.5)
    raise RuntimeError(f"{queue} still busy after {timeout:g} s")
