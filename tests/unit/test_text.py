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
