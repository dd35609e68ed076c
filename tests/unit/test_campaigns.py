"""Campaigns (市场活动): input validation of the leads service, the CSV campaign column, and
the ROI arithmetic of analytics (pure functions, tables of cases)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.errors import ValidationFailed
from crmkit.validation import parse
from services.leads.domain import importing
from services.leads.schemas import CampaignCreate, CampaignUpdate, LeadCreate, LeadUpdate

GOOD = {"name": "2026 上海工博会", "channel": "expo", "budget": "50000",
        "starts_on": "2026-03-01", "ends_on": "2026-03-05"}


@pytest.mark.parametrize("change, field", [
    ({"channel": "tv"}, "channel"),
    ({"channel": "Expo"}, "channel"),
    ({"budget": "-0.01"}, "budget"),
    ({"budget": "0.001"}, "budget"),
    ({"budget": "NaN"}, "budget"),
    ({"budget": "1e30"}, "budget"),
    ({"budget": None}, "budget"),
    ({"name": "   "}, "name"),
    ({"starts_on": "2026-02-30"}, "starts_on"),
    ({"ends_on": "2026-02-28"}, ""),          # before starts_on: the model's own check
])
def test_campaign_create_rejects(change, field):
    with pytest.raises(ValidationFailed) as failed:
        parse(CampaignCreate, {**GOOD, **change})
    assert field in [d["field"] for d in failed.value.details]


@pytest.mark.parametrize("channel", ["expo", "online_ad", "wechat", "email", "telemarketing",
                                     "referral"])
def test_campaign_channels_and_budget_precision(channel):
    spec = parse(CampaignCreate, {**GOOD, "channel": channel, "budget": "0",
                                  "ends_on": "2026-03-01"})  # one-day campaign, zero budget
    assert spec.budget == Decimal("0") and spec.starts_on == spec.ends_on
    assert parse(CampaignCreate, {**GOOD, "budget": "12.5"}).budget == Decimal("12.50")


def test_campaign_update_is_partial_and_refuses_nulls():
    assert parse(CampaignUpdate, {"budget": "3.10"}).model_dump(exclude_unset=True) == \
        {"budget": Decimal("3.10")}
    for field in ("name", "budget", "starts_on", "ends_on", "owner_id"):
        with pytest.raises(ValidationFailed):
            parse(CampaignUpdate, {field: None})
    assert "channel" not in parse(CampaignUpdate, {"channel": "wechat"}).model_dump(
        exclude_unset=True)   # the channel does not change


def test_lead_campaign_id_field():
    assert parse(LeadCreate, {"name": "张伟", "campaign_id": "c1"}).campaign_id == "c1"
    assert parse(LeadUpdate, {"campaign_id": None}).model_dump(exclude_unset=True) == \
        {"campaign_id": None}
    with pytest.raises(ValidationFailed):
        parse(LeadCreate, {"name": "张伟", "campaign_id": "x" * 33})


@pytest.mark.parametrize("header", ["市场活动", "活动", "营销活动", "活动名称", "campaign",
                                    "Campaign_ID", "\ufeffcampaign"])
def test_import_campaign_column_aliases(header):
    fields = importing.map_header(["姓名", header])
    assert fields == ["name", "campaign"]
    assert importing.row_to_fields(fields, ["张伟", " 2026 上海工博会 "]) == \
        {"name": "张伟", "campaign": "2026 上海工博会", "source": "import"}
    assert "campaign" not in importing.row_to_fields(fields, ["张伟", "  "])
