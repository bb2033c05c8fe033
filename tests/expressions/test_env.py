"""Env var substitution and JavaScript String() conversion."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from plantwire.expressions import (
    evaluate_env_property,
    js_number_to_string,
    substitute_env,
    to_js_string,
)
from plantwire.runtime.message import MISSING


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.0, "5"),
        (5, "5"),
        (2.5, "2.5"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (123456.789, "123456.789"),
        (10**21, "1e+21"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (MISSING, "undefined"),
        ([1, None, "a", [2, 3]], "1,,a,2,3"),
        ({"a": 1}, "[object Object]"),
        (b"hi", "hi"),
        ("text", "text"),
        (re.compile("a+"), "/a+/"),
    ],
)
def test_to_js_string(value: Any, text: str) -> None:
    assert to_js_string(value) == text


def test_js_number_to_string_round_trip_digits() -> None:
    assert js_number_to_string(1 / 3) == "0.3333333333333333"
    assert js_number_to_string(-1e-7) == "-1e-7"
    assert js_number_to_string(1.2345e25) == "1.2345e+25"


def test_to_js_string_datetime() -> None:
    when = dt.datetime(2024, 3, 5, 10, 20, 30, tzinfo=dt.UTC)
    assert to_js_string(when).startswith("Tue Mar 05 2024 10:20:30 GMT+0000")


def test_substitute_env(node: Any) -> None:
    assert substitute_env("${HOST}:${PORT}", node) == "alpha:1880"
    assert substitute_env("r=${RATIO} f=${FLAG} n=${NUL} x=${NOPE}", node) == (
        "r=2.5 f=true n=null x="
    )
    assert substitute_env("no refs", node) == "no refs"


def test_evaluate_env_property(node: Any) -> None:
    assert evaluate_env_property("PORT", node) == 1880  # whole name: value kept as is
    assert evaluate_env_property("${PORT}", node) == 1880
    assert evaluate_env_property("${HOST} and ${PORT}", node) == "alpha and 1880"
    assert evaluate_env_property("NOPE", node) == ""
    assert evaluate_env_property("${NOPE}", node) == ""


def test_env_without_node_uses_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTWIRE_TEST_VAR", "yes")
    assert evaluate_env_property("PLANTWIRE_TEST_VAR", None) == "yes"
    assert substitute_env("<${PLANTWIRE_TEST_VAR}>", None) == "<yes>"
