"""CSV import as pure functions: header names, source names, one row → lead fields.

The ``campaign`` column is passed on as written (``data["campaign"]``): the handler resolves
it against the store (a campaign id or its exact name) before validation."""
from __future__ import annotations

import re

HEADERS = {
    "name": ("姓名", "联系人", "name"),
    "company": ("公司", "公司名称", "单位", "company"),
    "title": ("职位", "职务", "title"),
    "phone": ("电话", "手机", "手机号", "联系电话", "phone", "mobile"),
    "email": ("邮箱", "电子邮件", "email", "e-mail"),
    "source": ("来源", "线索来源", "source"),
    "region": ("地区", "区域", "region"),
    "industry": ("行业", "industry"),
    "notes": ("备注", "notes", "note"),
    "tags": ("标签", "tags"),
    # a campaign's id or its exact name (市场活动); unknown: the row is rejected
    "campaign": ("市场活动", "活动", "营销活动", "活动名称", "campaign", "campaign_id",
                 "campaign name"),
}
_BY_NAME = {alias.lower(): field for field, aliases in HEADERS.items() for alias in aliases}

SOURCE_NAMES = {
    "官网": "website", "网站": "website", "website": "website",
    "展会": "expo", "expo": "expo",
    "转介绍": "referral", "推荐": "referral", "referral": "referral",
    "陌拜": "cold_call", "电话陌拜": "cold_call", "cold_call": "cold_call",
    "广告": "ad", "ad": "ad",
    "导入": "import", "import": "import",
    "其他": "other", "其它": "other", "other": "other",
}
_TAG_SPLIT = re.compile(r"[,，;；|、]+")


def map_header(header: list[str]) -> list[str | None]:
    """Each column's lead field (None: ignored). Chinese or English names, any case."""
    return [_BY_NAME.get((h or "").strip().lstrip("\ufeff").lower()) for h in header]


def missing_columns(fields: list[str | None]) -> list[str]:
    return [] if "name" in fields else ["name"]


def row_to_fields(fields: list[str | None], values: list[str]) -> dict:
    """One CSV row → the input of ``LeadCreate``; an unknown source stays as written so
    validation rejects it."""
    data: dict = {}
    for field, value in zip(fields, values, strict=False):
        if field is None or value is None:
            continue
        value = value.strip()
        if value == "":
            continue
        if field == "tags":
            data["tags"] = [t.strip() for t in _TAG_SPLIT.split(value) if t.strip()]
        elif field == "source":
            data["source"] = SOURCE_NAMES.get(value.lower(), value)
        else:
            data[field] = value
    data.setdefault("source", "import")
    return data


def is_blank(values: list[str]) -> bool:
    return all(not (v or "").strip() for v in values)
