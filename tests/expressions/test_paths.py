"""Property expressions: parsing, reading, writing, deleting."""

from __future__ import annotations

from typing import Any

import pytest

from plantwire.expressions import (
    delete_msg_property,
    delete_property,
    get_msg_property,
    get_property,
    normalise_path,
    parse_context_key,
    path_to_string,
    resolve_path_string,
    set_msg_property,
    set_property,
    validate_path,
)
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING


@pytest.mark.parametrize(
    ("expr", "parts"),
    [
        ("payload", ["payload"]),
        ("payload.a.b", ["payload", "a", "b"]),
        ('a["b c"].d[0]', ["a", "b c", "d", 0]),
        ("a['x']", ["a", "x"]),
        ("a['x\"y']", ["a", 'x"y']),
        ("msg.payload", ["msg", "payload"]),
        ("a.0.b", ["a", 0, "b"]),
        ("a.0", ["a", "0"]),  # Node-RED keeps a trailing segment as text
        ('a["0"]', ["a", "0"]),
        ("a[12][3]", ["a", 12, 3]),
        ("$a._b", ["$a", "_b"]),
        ("a-b.c", ["a-b", "c"]),
        ('"a b".c', ["a b", "c"]),
        ("a[0]b", ["a", 0, "b"]),
        ("ä.x", ["ä", "x"]),
    ],
)
def test_normalise_valid(expr: str, parts: list[Any]) -> None:
    assert normalise_path(expr) == parts


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "a..b",
        "a[",
        "a]",
        ".a",
        "a.",
        "[0]",
        "a[b]",
        "a b",
        "a['']",
        "a['x'",
        "a[1a]",
        "a['x'y]",
        "a.'b'",
        "a.[0]",
        'a"b"',
        "a[msg.b",
        "a.-b",
        "'a'b",
        "a.ö",
    ],
)
def test_normalise_invalid(expr: str) -> None:
    with pytest.raises(ExpressionError, match="invalid property expression"):
        normalise_path(expr)
    with pytest.raises(ExpressionError):
        validate_path(expr)


def test_error_names_expression() -> None:
    with pytest.raises(ExpressionError, match=r"invalid property expression 'a\.\.b': "):
        normalise_path("a..b")


def test_normalise_is_cached_and_returns_fresh_lists() -> None:
    first = normalise_path("a.b")
    first.append("x")
    assert normalise_path("a.b") == ["a", "b"]


def test_cross_reference() -> None:
    msg: dict[str, Any] = {"key": "b", "idx": 1, "a": {"b": [10, 20]}}
    assert get_property(msg, "a[msg.key]") == [10, 20]
    assert get_property(msg, "a[msg.key][msg.idx]") == 20
    assert normalise_path("a[msg.key]", msg) == ["a", "b"]
    set_property(msg, "a[msg.key][msg.idx]", 99)
    assert msg["a"]["b"] == [10, 99]
    validate_path("a[msg.key]")
    with pytest.raises(ExpressionError, match="needs a message"):
        normalise_path("a[msg.key]")
    with pytest.raises(ExpressionError, match="undefined"):
        get_property(msg, "a[msg.nothing]")
    msg2 = {"k": "x.y", "a": {}}
    assert resolve_path_string("a[msg.k]", msg2) == 'a["x.y"]'


def test_path_to_string() -> None:
    assert path_to_string(["a", "b", 0]) == 'a["b"][0]'
    assert path_to_string(["a", 'q"q']) == "a['q\"q']"
    assert path_to_string([]) == ""


def test_get_property_basics() -> None:
    msg = {"payload": {"a": {"b": 1}, "list": [1, [2, 3]], "s": "abc", "n": None, "z": 0}}
    assert get_property(msg, "payload.a.b") == 1
    assert get_property(msg, "payload.list[1][0]") == 2
    assert get_property(msg, "payload.list.1.1") == 3
    assert get_property(msg, "payload.list.0") == 1  # "0" as text still indexes
    assert get_property(msg, "payload.s[1]") == "b"
    assert get_property(msg, "payload.s.length") == 3
    assert get_property(msg, "payload.list.length") == 2
    assert get_property(msg, "payload.n") is None
    assert get_property(msg, "payload.z") == 0


def test_get_property_missing() -> None:
    msg = {"payload": {"a": 1, "s": "abc", "n": None, "l": [1]}}
    for expr in [
        "nope",
        "nope.deeper",
        "payload.a.b",
        "payload.s[5]",
        "payload.n.x",
        "payload.l[3]",
        "payload.l.x",
        "payload.s.x",
    ]:
        assert get_property(msg, expr) is MISSING, expr


def test_get_property_int_key_on_dict_and_bytes() -> None:
    assert get_property({"a": {"0": "zero"}}, "a[0]") == "zero"
    assert get_property({"b": b"AB"}, "b[1]") == 66
    assert get_property({"b": b"AB"}, "b.length") == 2


def test_get_msg_property_strips_msg() -> None:
    msg = {"payload": 5, "msg": {"payload": 6}}
    assert get_msg_property(msg, "msg.payload") == 5
    assert get_property(msg, "msg.payload") == 6


def test_set_creates_dicts_and_lists() -> None:
    msg: dict[str, Any] = {}
    set_property(msg, "a.b.c", 1)
    set_property(msg, "x[0].y", 2)
    set_property(msg, "l[2]", "z")
    set_property(msg, "m.0.n", 3)
    assert msg == {"a": {"b": {"c": 1}}, "x": [{"y": 2}], "l": [None, None, "z"], "m": [{"n": 3}]}


def test_set_next_key_decides_container() -> None:
    msg: dict[str, Any] = {}
    set_property(msg, "a[0][1]", "v")
    assert msg == {"a": [[None, "v"]]}
    msg = {}
    set_property(msg, 'a["0"]', "v")
    assert msg == {"a": {"0": "v"}}


def test_set_on_string_intermediate_is_ignored() -> None:
    # conformance change/set-deep-on-string: payload stays "text"
    msg = {"payload": "text"}
    set_property(msg, "payload.a.b", "deep")
    assert msg == {"payload": "text"}
    msg2: dict[str, Any] = {"payload": None}
    set_property(msg2, "payload.a", 1)
    assert msg2 == {"payload": None}
    msg3: dict[str, Any] = {"payload": 5}
    set_property(msg3, "payload.a", 1)
    assert msg3 == {"payload": 5}


def test_set_without_create_missing() -> None:
    msg: dict[str, Any] = {"a": {}}
    set_property(msg, "b.c", 1, create_missing=False)
    set_property(msg, "a.c", 1, create_missing=False)
    assert msg == {"a": {"c": 1}}


def test_set_overwrites_and_replaces_list_items() -> None:
    msg: dict[str, Any] = {"payload": [1, 2, 3], "o": {"k": 1}}
    set_property(msg, "payload[1]", "two")
    set_property(msg, "payload[3]", 4)
    set_property(msg, "o.k", {"deep": True})
    assert msg == {"payload": [1, "two", 3, 4], "o": {"k": {"deep": True}}}


def test_set_missing_deletes() -> None:
    msg: dict[str, Any] = {"a": {"b": 1, "c": 2}, "l": [1, 2, 3]}
    set_property(msg, "a.b", MISSING)
    set_property(msg, "l[0]", MISSING)
    assert msg == {"a": {"c": 2}, "l": [2, 3]}


def test_delete_property() -> None:
    msg: dict[str, Any] = {"a": {"b": 1}, "l": [1, 2, 3], "payload": 1}
    delete_property(msg, "a.b")
    delete_property(msg, "l[1]")
    delete_property(msg, "nothing.here")  # does not create parents
    delete_msg_property(msg, "msg.payload")
    assert msg == {"a": {}, "l": [1, 3]}


def test_set_msg_property_strips_msg() -> None:
    msg: dict[str, Any] = {}
    set_msg_property(msg, "msg.payload.x", 1)
    assert msg == {"payload": {"x": 1}}


def test_set_on_non_container_root_is_ignored() -> None:
    text = "abc"
    set_property(text, "a", 1)  # no error, nothing happens
    assert text == "abc"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("#:(file)::foo.bar", ("file", "foo.bar")),
        ("#:(memory)::a[0]", ("memory", "a[0]")),
        ("foo", (None, "foo")),
        ("#:(a b)::x", (None, "#:(a b)::x")),
        ("#:()::x", (None, "#:()::x")),
    ],
)
def test_parse_context_key(key: str, expected: tuple[str | None, str]) -> None:
    assert parse_context_key(key) == expected
