"""TypedInput values: preparation (validation) and evaluation."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from typing import Any

import pytest

from plantwire.expressions import (
    TYPED_INPUT_TYPES,
    compile_js_regex,
    evaluate_typed,
    parse_js_json,
    parse_js_number,
    prepare_typed,
)
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING


def test_types_listed() -> None:
    for t in [
        "msg",
        "flow",
        "global",
        "str",
        "num",
        "bool",
        "json",
        "bin",
        "re",
        "date",
        "env",
        "jsonata",
        "node",
    ]:
        assert t in TYPED_INPUT_TYPES


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", 12),
        ("3.5", 3.5),
        (" 7 ", 7),
        ("", 0),
        ("1e3", 1000),
        ("-2.0", -2),
        ("0x1A", 26),
        ("0o17", 15),
        ("0b101", 5),
        (".5", 0.5),
        ("5.", 5),
        ("+4", 4),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        (7, 7),
        (2.0, 2),
        (True, 1),
    ],
)
def test_parse_js_number(text: Any, number: float) -> None:
    result = parse_js_number(text)
    assert result == number
    assert type(result) is type(number) or isinstance(number, bool)


@pytest.mark.parametrize("text", ["abc", "1,5", "-0x1A", "0x", "1e", "NaN", "1_000", "12px"])
def test_parse_js_number_nan(text: str) -> None:
    assert parse_js_number(text) is None


def test_num() -> None:
    assert evaluate_typed("42", "num", None) == 42
    assert isinstance(evaluate_typed("42", "num", None), int)
    assert evaluate_typed("2.5", "num", None) == 2.5
    with pytest.raises(ExpressionError, match="invalid number 'abc'"):
        prepare_typed("abc", "num")


def test_str_and_bool() -> None:
    assert evaluate_typed("hello", "str", None) == "hello"
    assert evaluate_typed(5, "str", None) == "5"
    assert evaluate_typed(True, "str", None) == "true"
    assert evaluate_typed("true", "bool", None) is True
    assert evaluate_typed("TRUE", "bool", None) is True  # Node-RED: /^true$/i
    assert evaluate_typed("false", "bool", None) is False
    assert evaluate_typed("yes", "bool", None) is False
    assert evaluate_typed(True, "bool", None) is True


def test_json_is_parsed_and_cloned_each_time() -> None:
    prepared = prepare_typed('{"k":[1, 2.0, 2.5], "n": null}', "json")
    first = prepared.evaluate(None, None)
    assert first == {"k": [1, 2, 2.5], "n": None}
    assert isinstance(first["k"][1], int)
    first["k"].append(9)
    assert prepared.evaluate(None, None) == {"k": [1, 2, 2.5], "n": None}
    assert evaluate_typed("3", "json", None) == 3
    assert evaluate_typed('"s"', "json", None) == "s"


@pytest.mark.parametrize("bad", ["{bad", "NaN", "[1,]", "", "{'a':1}"])
def test_json_invalid(bad: str) -> None:
    with pytest.raises(ExpressionError, match="invalid json value"):
        prepare_typed(bad, "json")


def test_parse_js_json() -> None:
    assert parse_js_json("[1.0, 1.5]") == [1, 1.5]


def test_bin() -> None:
    assert evaluate_typed("[1, 2, 255, 256, -1]", "bin", None) == bytes([1, 2, 255, 0, 255])
    assert evaluate_typed('"héllo"', "bin", None) == "héllo".encode()
    assert evaluate_typed("[]", "bin", None) == b""
    with pytest.raises(ExpressionError, match="invalid bin"):
        prepare_typed("{}", "bin")
    with pytest.raises(ExpressionError, match="invalid bin"):
        prepare_typed("[1,", "bin")


def test_re() -> None:
    pattern = evaluate_typed(r"(\d+)", "re", None)
    assert isinstance(pattern, re.Pattern)
    assert pattern.findall("a1b22") == ["1", "22"]
    with pytest.raises(ExpressionError, match="invalid regular expression"):
        prepare_typed("(unclosed", "re")


def test_compile_js_regex() -> None:
    named = compile_js_regex(r"(?<year>\d{4})-\k<year>")
    match = named.fullmatch("2024-2024")
    assert match is not None and match.group("year") == "2024"
    assert compile_js_regex("(?<=a)b").search("ab")
    assert compile_js_regex("abc", "i").match("ABC")


def test_date_variants() -> None:
    before = int(time.time() * 1000)
    stamp = evaluate_typed("", "date", None)
    assert isinstance(stamp, int) and before - 5 <= stamp <= int(time.time() * 1000) + 5
    iso = evaluate_typed("iso", "date", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso)
    obj = evaluate_typed("object", "date", None)
    assert isinstance(obj, dt.datetime) and obj.tzinfo is not None
    year = evaluate_typed("YYYY", "date", None)
    assert year == str(dt.datetime.now().year)
    assert evaluate_typed(None, "date", None) is not None


def test_msg(node: Any) -> None:
    msg = {"payload": {"a": [1, 2]}, "k": "a"}
    assert evaluate_typed("payload.a[1]", "msg", node, msg) == 2
    assert evaluate_typed("msg.payload.a[0]", "msg", node, msg) == 1
    assert evaluate_typed("payload[msg.k]", "msg", node, msg) == [1, 2]
    assert evaluate_typed("nothing", "msg", node, msg) is MISSING
    assert evaluate_typed("payload", "msg", node, None) == "payload"  # Node-RED quirk
    with pytest.raises(ExpressionError):
        prepare_typed("a..b", "msg")


def test_flow_and_global(node: Any) -> None:
    ctx = node.context()
    ctx.flow.set("count", 3)
    ctx.flow.set("deep", {"x": [5, 6]})
    ctx.flow.set("count", 30, "file")
    ctx.global_.set("g", "G")
    ctx.flow.set("map", {"b": "bee"})
    assert evaluate_typed("count", "flow", node) == 3
    assert evaluate_typed("deep.x[1]", "flow", node) == 6
    assert evaluate_typed("#:(file)::count", "flow", node) == 30
    assert evaluate_typed("g", "global", node) == "G"
    assert evaluate_typed("nope", "flow", node) is MISSING
    assert evaluate_typed("map[msg.key]", "flow", node, {"key": "b"}) == "bee"
    assert evaluate_typed("count", "flow", None) == "count"


def test_env_typed(node: Any) -> None:
    assert evaluate_typed("PORT", "env", node) == 1880
    assert evaluate_typed("${HOST}", "env", node) == "alpha"
    assert evaluate_typed("${HOST}:${PORT}", "env", node) == "alpha:1880"
    assert evaluate_typed("NOPE", "env", node) == ""


def test_jsonata_typed(node: Any) -> None:
    assert evaluate_typed("payload * 2 + 1", "jsonata", node, {"payload": 2.5}) == 6
    assert evaluate_typed("msg.payload & '!'", "jsonata", node, {"payload": "hi"}) == "hi!"
    assert evaluate_typed("1 + 2", "jsonata", node, None) == 3
    with pytest.raises(ExpressionError, match="invalid JSONata expression"):
        prepare_typed("payload.(", "jsonata")


def test_node_and_cred_pass_through() -> None:
    assert evaluate_typed("abc123", "node", None) == "abc123"
    assert evaluate_typed("secret", "cred", None) == "secret"


def test_unknown_type() -> None:
    with pytest.raises(ExpressionError, match="unknown typed input type 'nope'"):
        prepare_typed("x", "nope")


def test_prepared_value_attributes() -> None:
    prepared = prepare_typed("5", "num")
    assert prepared.type == "num"
    assert prepared.value == "5"
    assert prepared.evaluate(None, None) == 5


def test_evaluate_typed_cache_distinguishes_types() -> None:
    assert evaluate_typed(1, "str", None) == "1"
    assert evaluate_typed(True, "str", None) == "true"
    assert evaluate_typed({"a": 1}, "json", None) == {"a": 1}  # unhashable: not cached
