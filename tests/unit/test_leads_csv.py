"""The gateway's CSV import helpers: encoding detection, batches, report merging."""
import codecs
import io

import pytest

from crmkit.errors import ValidationFailed
from gateway.routers.leads import check_csv, csv_batches, detect_encoding, merge_report

TEXT = "姓名,公司,手机\n张伟,上海星辰科技有限公司,13800138000\n李娜,,13900000000\n"


@pytest.mark.parametrize("raw, expected", [
    (codecs.BOM_UTF8 + TEXT.encode(), "utf-8-sig"),
    (TEXT.encode(), "utf-8"),
    (TEXT.encode("gbk"), "gb18030"),
    (b"name,phone\n", "utf-8"),
    ("姓名".encode()[:-1], "utf-8"),     # a character cut at the chunk's end is still UTF-8
])
def test_detect_encoding(raw, expected):
    assert detect_encoding(raw) == expected


@pytest.mark.parametrize("raw", [codecs.BOM_UTF8 + TEXT.encode(), TEXT.encode(),
                                 TEXT.encode("gbk")])
def test_every_encoding_reads_the_same_rows(raw):
    binary = io.BytesIO(raw)
    batches = list(csv_batches(binary, check_csv(binary), size=1))
    assert [(start, rows) for _, start, rows in batches] == [
        (2, [["张伟", "上海星辰科技有限公司", "13800138000"]]), (3, [["李娜", "", "13900000000"]])]
    assert batches[0][0][0].lstrip("\ufeff") == "姓名"


def test_ascii_start_then_gbk_falls_back_to_gbk():
    raw = b"name,company\n" + b"a,b\n" * 20000 + "王芳,北京\n".encode("gbk")
    binary = io.BytesIO(raw)
    assert detect_encoding(raw[:65536]) == "utf-8"
    assert check_csv(binary) == "gb18030"
    rows = [r for _, _, batch in csv_batches(binary, "gb18030") for r in batch]
    assert rows[-1] == ["王芳", "北京"]


def test_batches_of_500_with_row_numbers():
    raw = ("name\n" + "".join(f"n{i}\n" for i in range(1201))).encode()
    binary = io.BytesIO(raw)
    starts = [(start, len(rows)) for _, start, rows in csv_batches(binary, check_csv(binary))]
    assert starts == [(2, 500), (502, 500), (1002, 201)]


def test_a_header_only_file_is_one_empty_batch():
    assert list(csv_batches(io.BytesIO("姓名,电话\n".encode()), "utf-8")) == [
        (["姓名", "电话"], 2, [])]


def test_undecodable_or_empty_files_are_refused():
    with pytest.raises(ValidationFailed) as err:
        check_csv(io.BytesIO(b"\xff\xff\xff\x81\x00"))
    assert err.value.code == "bad_encoding"
    with pytest.raises(ValidationFailed) as err:
        list(csv_batches(io.BytesIO(b""), "utf-8"))
    assert err.value.code == "empty_file"


def test_report_rows_are_capped():
    total = {"created": 0, "duplicates": 0, "rejected": 0, "rows": [], "truncated": False}
    part = {"created": 1, "duplicates": 600, "rejected": 0,
            "rows": [{"row": i, "status": "duplicate"} for i in range(600)]}
    merge_report(total, part)
    assert len(total["rows"]) == 600 and not total["truncated"]
    merge_report(total, part)
    assert len(total["rows"]) == 1000 and total["truncated"]
    assert (total["created"], total["duplicates"]) == (2, 1200)
