"""Tests of the csv node (RFC 4180 and legacy modes) and its codec."""

from __future__ import annotations

from typing import Any

import pytest

from plantwire.nodes.core.parsers_csv_codec import (
    CSVParseError,
    LegacyState,
    js_to_number,
    legacy_parse,
    parse,
    quote_cell,
)
from plantwire.testing import Case, run_case

BASE = {"spec": "rfc", "sep": ",", "hdrin": "", "hdrout": "none", "multi": "mult",
        "ret": "\\n", "temp": "", "skip": "0", "strings": True,
        "include_empty_strings": "", "include_null_values": ""}  # fmt: skip


def test_parse_rows_and_headers() -> None:
    res = parse('a,b\n1,"x ""q"""\n', output_style="object", parse_numeric=True)
    assert res.data == [{"a": 1, "b": 'x "q"'}]
    assert res.header == "a,b"
    res = parse("1,,3", data_has_header_row=False, include_null_values=True)
    assert res.data == [{"col1": "1", "col2": None, "col3": "3"}]


def test_parse_strict_errors() -> None:
    with pytest.raises(CSVParseError):
        parse('a"b', strict=True)
    with pytest.raises(CSVParseError):
        parse('"a', strict=True)


def test_numbers_like_javascript() -> None:
    assert js_to_number("0x1F") == 31
    assert js_to_number(" 1.5 ") == 1.5
    assert js_to_number("1e3") == 1000
    assert js_to_number("abc") is None


def test_quote_cell() -> None:
    assert quote_cell("a,b") == '"a,b"'
    assert quote_cell('say "hi"') == '"say ""hi"""'
    assert quote_cell("plain") == "plain"


def test_legacy_parse() -> None:
    st = LegacyState(template=["a", "b"], good=True, sep=",")
    rows, last = legacy_parse("1,x\n2,\n", st, True, 0)
    assert rows == [{"a": 1, "b": "x"}, {"a": 2}]
    assert last is None


async def _run(cfg: dict[str, Any], msgs: list[dict[str, Any]], expect: list[Any]) -> None:
    node = {"id": "n1", "type": "csv", "wires": [[]], **BASE, **cfg}
    steps: list[dict[str, Any]] = [{"inject": "n1", "msg": m} for m in msgs]
    case = Case(name="t", flow=[node], steps=steps, expect={"n1": [expect]}, settle_ms=50)
    result = await run_case(case)
    assert result.passed, result.detail


async def test_one_message_per_row_with_parts() -> None:
    await _run(
        {"hdrin": True, "multi": "one"},
        [{"payload": "a,b\n1,2\n3,4\n"}],
        [{"payload": {"a": 1, "b": 2}, "parts": {"index": 0, "count": 2}, "columns": "a,b"},
         {"payload": {"a": 3, "b": 4}, "parts": {"index": 1, "count": 2}}],
    )  # fmt: skip


async def test_skip_lines_and_headers_once() -> None:
    await _run(
        {"skip": "1", "hdrin": True},
        [{"payload": "junk\na,b\n1,2\n"}],
        [{"payload": [{"a": 1, "b": 2}], "columns": "a,b"}],
    )
    await _run(
        {"hdrout": "once", "temp": "a,b"},
        [{"payload": {"a": 1, "b": 2}}, {"payload": {"a": 3}}, {"payload": {"a": 5}, "reset": 1}],
        [{"payload": "a,b\n1,2\n"}, {"payload": "3,\n"}, {"payload": "a,b\n5,\n"}],
    )


async def test_legacy_mode() -> None:
    await _run(
        {"spec": "", "temp": "x,y"},
        [{"payload": "1,2\n3,4"}, {"payload": [{"x": 1, "y": "a,b"}]}],
        [{"payload": [{"x": 1, "y": 2}, {"x": 3, "y": 4}], "columns": "x,y"},
         {"payload": '1,"a,b"\n'}],
    )  # fmt: skip
