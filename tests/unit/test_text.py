import pytest

from crmkit.text import normalize_company, normalize_email, normalize_phone


@pytest.mark.parametrize("raw, expected", [
    ("138 0013 8000", "13800138000"),
    ("+86-138-0013-8000", "13800138000"),
    ("0086 138 0013 8000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("１３８００１３８０００", "13800138000"),           # full-width digits
    ("＋８６ １３８ ００１３ ８０００", "13800138000"),
    ("(021) 6888-1234", "02168881234"),                   # landline keeps its area code
    ("", None),
    (None, None),
    ("n/a", None),
])
def test_phone_normalisation(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Zhang.Wei@Example.COM ", "zhang.wei@example.com"),
    ("ｚｈａｎｇ@example.com", "zhang@example.com"),
    (None, None),
])
def test_email_normalisation(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("a, b", [
    ("上海星辰科技有限公司", "上海星辰科技"),
    ("上海星辰科技股份有限公司", "上海 星辰科技"),
    ("Huawei Technologies Co., Ltd.", "huawei technologies"),
    ("（北京）百度网讯科技有限公司", "(北京)百度网讯科技"),
])
def test_company_names_that_are_the_same(a, b):
    assert normalize_company(a) == normalize_company(b)


def test_different_companies_stay_different():
    assert normalize_company("上海星辰科技有限公司") != normalize_company("上海星河科技有限公司")
    assert normalize_company("有限公司")  # never normalised to nothing


def _company_as_first_written(name):
    """normalize_company before its suffixes were compacted once (the reference)."""
    import re
    import unicodedata

    from crmkit.text import _COMPANY_SUFFIXES, _PUNCT

    if not name:
        return None
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", name).lower())
    changed = True
    while changed:
        changed = False
        for suffix in _COMPANY_SUFFIXES:
            compact = re.sub(_PUNCT, "", suffix)
            if text.endswith(compact) and len(text) > len(compact):
                text = text[: -len(compact)]
                changed = True
    return text or None


def test_company_normalisation_is_unchanged_by_the_precomputed_suffixes():
    import random

    from crmkit.text import _COMPANY_SUFFIXES

    rng = random.Random(5)
    stems = ["上海星辰科技", "Huawei Technologies", "（北京）百度", "ACME", "", " ", "集团",
             "有限", "Co", "ltd"]
    names = [*_COMPANY_SUFFIXES, "有限公司有限公司", "Inc. Co., Ltd.", None, ""]
    for _ in range(3000):
        tail = " ".join(rng.choice(_COMPANY_SUFFIXES).upper() if rng.random() < 0.3
                        else rng.choice(_COMPANY_SUFFIXES)
                        for _ in range(rng.randrange(0, 4)))
        names.append(rng.choice(stems) + rng.choice(["", " ", ", ", "-"]) + tail)
    for name in names:
        assert normalize_company(name) == _company_as_first_written(name), name
