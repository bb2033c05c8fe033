"""Tests of the json node and its JavaScript-compatible JSON codec."""

from __future__ import annotations

from typing import Any

import pytest

from plantwire.nodes.core.parsers_json_codec import (
    JSParseError,
    SchemaValidator,
    ajv_errors_text,
    js_number_str,
    js_parse,
    js_stringify,
)
from plantwire.runtime.message import MISSING
from plantwire.testing import Case, run_case


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1"), (1.0, "1"), (1e21, "1e+21"), (1e-7, "1e-7"), (0.000001, "0.000001"),
     (123456789012, "123456789012"), (-1.5, "-1.5"), (2**70, "1.1805916207174113e+21")],
)  # fmt: skip
def test_js_number_str(value: float, text: str) -> None:
    assert js_number_str(value) == text


def test_stringify_matches_javascript() -> None:
    value = {"b": [1, None, True], "2": "x", "1": {"q": 'a"\n\x01'}, "u": MISSING}
    assert js_stringify(value) == '{"1":{"q":"a\\"\\n\\u0001"},"2":"x","b":[1,null,true]}'
    assert js_stringify({"a": [], "b": {}, "c": [1]}, 4) == (
        '{\n    "a": [],\n    "b": {},\n    "c": [\n        1\n    ]\n}'
    )
    assert js_stringify(b"\x01\x02") == '{"type":"Buffer","data":[1,2]}'
    assert js_stringify(MISSING) is MISSING
    assert js_stringify("\ud83c") == '"\\ud83c"'


def test_parse_rejects_what_javascript_rejects() -> None:
    for bad in ("{bad", "NaN", "[1,]", "", "1 2"):
        with pytest.raises(JSParseError):
            js_parse(bad)
    assert js_parse(b'{"b":1,"a":2}') == {"b": 1, "a": 2}
    assert list(js_parse('{"b":1,"10":2,"2":3}')) == ["2", "10", "b"]
    assert js_parse("12345678901234567890") == 12345678901234567890.0


def test_schema_errors_read_like_ajv() -> None:
    v = SchemaValidator({"type": "object", "properties": {"a": {"type": "number"}},
                         "required": ["a", "b"]})  # fmt: skip
    errors = v.errors({"a": "x"})
    assert ajv_errors_text(errors) == (
        "data must have required property 'b', data/a must be number"
    )
    assert errors[1]["instancePath"] == "/a"
    assert v.errors({"a": 1, "b": 2}) == []


async def _run(node: dict[str, Any], msgs: list[dict[str, Any]], expect: list[Any]) -> None:
    node = {"id": "n1", "type": "json", "wires": [[]], **node}
    steps: list[dict[str, Any]] = [{"inject": "n1", "msg": m} for m in msgs]
    case = Case(name="t", flow=[node], steps=steps, expect={"n1": [expect]}, settle_ms=50)
    result = await run_case(case)
    assert result.passed, result.detail


async def test_flow_toggle_and_pretty() -> None:
    await _run(
        {"property": "payload", "action": "", "pretty": True},
        [{"payload": {"a": 1}}, {"payload": '{"a":1}'}, {"topic": "no payload"}],
        [{"payload": '{\n    "a": 1\n}'}, {"payload": {"a": 1}}, {"topic": "no payload"}],
    )


async def test_flow_action_str_and_nested_property() -> None:
    await _run(
        {"property": "data.v", "action": "str"},
        [{"data": {"v": '"x"'}}, {"data": {"v": [1]}}],
        [{"data": {"v": '"x"'}}, {"data": {"v": "[1]"}}],
    )


async def test_flow_schema_valid_removes_schema() -> None:
    await _run(
        {"action": ""},
        [{"payload": '{"a":1}', "schema": {"type": "object"}}],
        [{"payload": {"a": 1}}],
    )
