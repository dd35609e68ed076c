"""The import's fast row check answers exactly as ``LeadCreate`` (pure, no store).

``schemas.plain_lead`` settles plainly valid rows without pydantic and hands everything else
to ``LeadCreate``; whatever it accepts must be what ``LeadCreate`` accepts, with the same
values, or an imported lead would differ from a created one.
"""
from __future__ import annotations

import random

import pytest
from pydantic import BaseModel, ConfigDict

from crmkit.errors import ValidationFailed
from crmkit.validation import parse
from services.leads.schemas import LeadCreate, plain_email, plain_lead


def reference(data: dict) -> dict | None:
    try:
        return parse(LeadCreate, data).model_dump(exclude={"owner_id"})
    except ValidationFailed:
        return None


def agrees(data: dict) -> bool:
    """plain_lead either passes (None) or answers what LeadCreate answers; True if it did
    answer."""
    fast = plain_lead(dict(data))
    if fast is None:
        return False
    assert fast == reference(data), data
    return True


EMAILS = [
    "zs@example.cn", "Zhang.Wei@Example.COM", "a+b@mail.163.com", "x_y-z@sub.example.org",
    "POSTMASTER@example.cn", "Info@Example.cn", "sales@x.cn", "a..b@example.cn", ".a@x.cn",
    "a.@x.cn", "a@-x.cn", "a@x-.cn", "a@ab--cd.cn", "a@xn--fiqs8s.cn", "a@XN--FIQS8S.cn",
    "a@x.local", "a@x.test", "a@localhost", "a@x.123", "a@x.c0m", "a@x", "a@x.invalid",
    "a@x.onion", "a@1.2.3.4", "a@[1.2.3.4]", "a" * 64 + "@x.cn", "a" * 65 + "@x.cn",
    "a@" + "b" * 63 + ".cn", "a@" + "b" * 64 + ".cn", "a" * 60 + "@" + ".".join(["c" * 60] * 3)
    + ".cn", "a@" + ".".join(["c" * 50] * 5) + ".cn", "张三@example.cn", "a@例子.中国",
    "a b@x.cn", "\"a\"@x.cn", "Zhang <zs@x.cn>", "a@x.cn.", "a@.x.cn", "a@x..cn", "@x.cn",
    "a@", "a", "", "a@x_y.cn", "a@x.cn\n", "ａ@x.cn", "a@ｘ.cn", "a!b@x.cn", "a@b@x.cn",
    "a%b@x.cn", "a'b@x.cn", "1@2.cn", "a@x.museum", "a@sub-domain.example.co.uk",
]


@pytest.mark.parametrize("email", EMAILS)
def test_plain_email_is_emailstr_or_declines(email):
    expected = reference({"name": "甲", "email": email})
    fast = plain_email(email)
    if fast is not None:
        assert expected is not None and fast == expected["email"]


def test_plain_email_takes_ordinary_addresses():
    assert plain_email("Zhang.Wei@Example.COM") == "Zhang.Wei@example.com"
    assert plain_email("Postmaster@Example.cn") == "postmaster@example.cn"
    assert plain_email("u1x42@example.cn") == "u1x42@example.cn"


def test_random_addresses_agree_with_emailstr():
    rng = random.Random(11)
    local_chars = "abcXYZ019._+-!#$%&'*/=?^`{|}~\"( ),:;<>@[\\]张"
    domain_chars = "abcXYZ019-._例"
    for _ in range(4000):
        local = "".join(rng.choice(local_chars) for _ in range(rng.randrange(0, 12)))
        domain = "".join(rng.choice(domain_chars) for _ in range(rng.randrange(0, 14)))
        tld = rng.choice(["cn", "com", "test", "local", "c0", "123", "", "xn--fiqs8s"])
        email = f"{local}@{domain}.{tld}" if tld else f"{local}@{domain}"
        fast = plain_email(email)
        if fast is not None:
            expected = reference({"name": "甲", "email": email})
            assert expected is not None and fast == expected["email"], email


ROW = {"name": "张伟", "company": "上海星辰科技有限公司", "title": "采购经理",
       "phone": "13800138000", "email": "zw@example.cn", "source": "expo", "region": "上海",
       "industry": "科技", "notes": "批量导入", "tags": ["华东", "展会"], "pool": "default"}


def test_plain_rows_take_the_fast_path_with_the_same_values():
    assert agrees(ROW)
    assert agrees({"name": "李娜", "source": "import", "pool": "east"})
    assert agrees({**ROW, "campaign_id": "c" * 32, "phone": "+86 138-0013-8000"})
    assert agrees({**ROW, "company": "", "tags": []})
    assert agrees({**ROW, "unknown_column": "ignored"})
    assert agrees({**ROW, "name": "甲" * 100, "notes": "备" * 5000, "tags": ["t"] * 50})


@pytest.mark.parametrize("change", [
    {"name": ""}, {"name": "甲" * 101}, {"name": " 张伟"}, {"name": None}, {"name": 5},
    {"company": "公" * 201}, {"title": "职" * 101}, {"phone": "12"}, {"phone": "1" * 21},
    {"phone": "1" * 41}, {"phone": ""}, {"phone": "n/a"}, {"email": "bad-mail"},
    {"email": "张三@example.cn"}, {"email": ""}, {"source": "tv"}, {"source": "Expo"},
    {"region": "区" * 101}, {"industry": "业" * 101}, {"notes": "备" * 5001},
    {"tags": ["t"] * 51}, {"tags": [" t"]}, {"tags": "a,b"}, {"tags": [1]},
    {"pool": ""}, {"pool": "p" * 65}, {"campaign_id": ""}, {"campaign_id": "c" * 33},
    {"owner_id": "rep1"}, {"name": "张\ud800伟"}, {"notes": "a\u3000"},
])
def test_anything_unusual_goes_to_leadcreate(change):
    data = {**ROW, **change}
    assert plain_lead(dict(data)) is None
    if "name" in change and change["name"] is None:
        data.pop("name")
    reference(data)   # LeadCreate decides; it may well accept (e.g. an empty phone)


def test_random_rows_agree_with_leadcreate():
    """Rows as an import makes them (stripped text), with values near every limit."""
    rng = random.Random(3)
    pieces = ["张伟", "a", "", "公" * 99, "公" * 100, "公" * 101, "x" * 199, "x" * 200,
              "x" * 201, "1380013800", "138 0013 8000", "+86-138", "12345", "1" * 20,
              "1" * 21, "１３８００１３８０００", "expo", "import", "website", "tv",
              "zs@example.cn", "ZS@EXAMPLE.CN", "zs@x", "a\u200bb", "\u00a0", "a\u2028b"]
    fields = ["name", "company", "title", "phone", "email", "source", "region", "industry",
              "notes", "pool", "campaign_id"]
    taken = 0
    for _ in range(5000):
        data = {f: rng.choice(pieces) for f in rng.sample(fields, rng.randrange(1, 8))}
        if rng.random() < 0.5:
            data["tags"] = [rng.choice(pieces) for _ in range(rng.randrange(0, 4))]
        data.setdefault("name", rng.choice(pieces))
        taken += agrees(data)
    assert taken > 300   # the fast path is really taken


def test_what_pydantic_strips_python_strips_too():
    """``plain_lead`` trusts ``str.strip`` (the import strips every cell with it) to leave
    nothing LeadCreate's ``str_strip_whitespace`` would strip."""

    class Stripped(BaseModel):
        model_config = ConfigDict(str_strip_whitespace=True)
        v: str

    for code in range(0x110000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or char.isspace():
            continue
        if Stripped(v=f"a{char}").v != f"a{char}":
            raise AssertionError(f"pydantic strips U+{code:04X}, str.strip does not")
