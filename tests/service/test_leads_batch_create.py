"""``leads.create_leads``: the gateway's coalesced creates, on the real broker and store."""
from __future__ import annotations

import json

import pytest
from nameko.testing.services import entrypoint_hook

from crmkit.errors import Forbidden, ValidationFailed, from_remote
from services.leads.service import LeadsService
from tests.service.conftest import EventTap, principal


@pytest.fixture
def leads(container_factory, service_config):
    container = container_factory(LeadsService, service_config("leads"))
    container.start()
    return container


def who(user_id: str, role: str = "sales") -> dict:
    return json.loads(principal(user_id, role)["principal"])


def batch(container, items, context=None):
    with entrypoint_hook(container, "create_leads", context_data=context or {}) as hook:
        return hook(items=items)


def single(container, data, user="rep1", role="sales"):
    with entrypoint_hook(container, "create_lead", context_data=principal(user, role)) as hook:
        return hook(data=data)


def test_each_item_gets_its_own_answer_and_event(leads, rabbit_config):
    existing = single(leads, {"name": "老客户", "phone": "13800000001"})
    tap = EventTap(rabbit_config["AMQP_URI"], "leads")
    try:
        answers = batch(leads, [
            {"principal": who("rep1"), "correlation_id": "cid-1",
             "data": {"name": "张伟", "phone": "13900000001", "source": "expo"}},
            {"principal": who("rep2"), "correlation_id": "cid-2",       # duplicate of the store
             "data": {"name": "李娜", "phone": "+86 138-0000-0001"}},
            {"principal": who("rep2"), "correlation_id": "cid-3",       # invalid
             "data": {"name": ""}},
            {"principal": who("rep3"), "correlation_id": "cid-4",       # duplicate of item 1
             "data": {"name": "王芳", "phone": "139 0000 0001"}},
            {"principal": who("rep3"), "correlation_id": "cid-5",       # unknown pool
             "data": {"name": "赵敏", "pool": "nowhere"}},
            {"principal": who("svc", "finance"), "correlation_id": "cid-6",   # role may not
             "data": {"name": "钱七"}},
            {"principal": who("rep3"), "correlation_id": "cid-7",
             "data": {"name": "孙八", "email": "SUN@Example.cn", "owner_id": "rep3"}},
        ])
        assert [sorted(a) for a in answers] == [["result"], ["error"], ["error"], ["error"],
                                                 ["error"], ["error"], ["result"]]
        first, last = answers[0]["result"], answers[6]["result"]
        assert first["created_by"] == "rep1" and first["owner_id"] is None
        assert last["owner_id"] == "rep3" and last["claimed_at"] is not None
        assert last["follow_up_deadline"] is not None
        errors = [from_remote(a["error"]) for a in answers if "error" in a]
        assert [(e.status, e.code) for e in errors] == [
            (409, "duplicate_lead"), (422, "validation_error"), (409, "duplicate_lead"),
            (404, "pool_not_found"), (403, "forbidden")]
        assert errors[0].details == {"existing_id": existing["id"]}
        assert errors[2].details == {"existing_id": first["id"]}   # the earlier item wins

        # the tap may also see the event of ``existing`` (its relay can publish after the
        # tap is bound): collect until both of the batch's leads were announced
        by_lead = {}
        while not {first["id"], last["id"]} <= set(by_lead):
            event = tap.wait_for("lead.created")
            by_lead[event["data"]["lead_id"]] = event
        assert set(by_lead) - {existing["id"]} == {first["id"], last["id"]}
        assert (by_lead[first["id"]]["actor_id"], by_lead[first["id"]]["correlation_id"]) == \
            ("rep1", "cid-1")
        assert (by_lead[last["id"]]["actor_id"], by_lead[last["id"]]["correlation_id"]) == \
            ("rep3", "cid-7")
    finally:
        tap.close()
    # what was refused left nothing behind: only the two created leads are new
    admin = principal("boss", "admin", visible=None)
    with entrypoint_hook(leads, "list_leads", context_data=admin) as hook:
        names = {lead["name"] for lead in hook(scope="all")["items"]}
    assert names == {"老客户", "张伟", "孙八"}
    with entrypoint_hook(leads, "list_lead_actions", context_data=admin) as hook:
        [action] = hook(lead_id=first["id"])["items"]
    assert (action["action"], action["actor_id"], action["field"]) == \
        ("created", "rep1", "owner_id")
    assert action["id"] and action["at"]


def test_a_single_create_answers_like_an_item(leads):
    single(leads, {"name": "张伟", "company": "星辰科技", "phone": "13700000001"})
    with pytest.raises(Exception) as caught:
        single(leads, {"name": "张伟", "company": "星辰科技"}, user="rep2")
    assert type(caught.value).__name__ == "Conflict"
    [answer] = batch(leads, [{"principal": who("rep2"),
                              "data": {"name": "张伟", "company": "星辰科技"}}])
    assert from_remote(answer["error"]).code == "duplicate_lead"
    [answer] = batch(leads, [{"principal": who("rep2"),      # same company, other person
                              "data": {"name": "李雷", "company": "星辰科技"}}])
    assert answer["result"]["company"] == "星辰科技"


def test_only_the_platform_may_send_batches(leads):
    item = {"principal": who("rep1"), "data": {"name": "张伟"}}
    with pytest.raises(Forbidden):
        batch(leads, [item], context=principal("rep1", "sales"))
    with pytest.raises(ValidationFailed):            # an item without its caller
        batch(leads, [{"data": {"name": "张伟"}}])
    with pytest.raises(ValidationFailed):
        batch(leads, [])
