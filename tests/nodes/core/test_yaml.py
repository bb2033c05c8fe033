"""Tests of the yaml node and its js-yaml compatible codec."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
import yaml

from plantwire.nodes.core.parsers_yaml_codec import yaml_dump, yaml_load
from plantwire.runtime.message import MISSING
from plantwire.testing import Case, run_case


def test_load_uses_yaml_12_core_schema() -> None:
    data = yaml_load("a: yes\nb: 010\nc: 0x1F\nd: 1_000\ne: .inf\nf: ~\n2: x\nt: 2024-01-02\n")
    assert data["a"] == "yes" and data["b"] == 10 and data["c"] == 31 and data["d"] == 1000
    assert math.isinf(data["e"]) and data["f"] is None and data["2"] == "x"
    assert data["t"] == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert next(iter(data)) == "2"
    assert yaml_load("") is MISSING


def test_load_errors() -> None:
    with pytest.raises(yaml.YAMLError, match="duplicated"):
        yaml_load("a: 1\na: 2")
    with pytest.raises(yaml.YAMLError):
        yaml_load("a: 1\n---\nb: 2")


def test_dump_matches_js_yaml() -> None:
    value: dict[str, Any] = {"a": [1, {"b": 2, "c": [3]}], "d": {}, "e": [], "f": None, "g": 1.5,
             "s": "2024-01-01", "n": "null", "m": "a\nb\n", "k": "#x", "z": 1e-7}  # fmt: skip
    assert yaml_dump(value) == (
        "a:\n  - 1\n  - b: 2\n    c:\n      - 3\nd: {}\ne: []\nf: null\ng: 1.5\n"
        "s: '2024-01-01'\n'n': 'null'\nm: |\n  a\n  b\nk: '#x'\nz: 1.e-7\n"
    )


async def test_flow_round_trip() -> None:
    node = {"id": "n1", "type": "yaml", "property": "payload", "wires": [[]]}
    steps: list[dict[str, Any]] = [
        {"inject": "n1", "msg": {"payload": "a:\n  - 1\n"}},
        {"inject": "n1", "msg": {"payload": {"a": [1]}}},
        {"inject": "n1", "msg": {"payload": 5}},
    ]
    expect = [{"payload": {"a": [1]}}, {"payload": "a:\n  - 1\n"}]
    result = await run_case(Case(name="t", flow=[node], steps=steps, expect={"n1": [expect]},
                                 settle_ms=50))  # fmt: skip
    assert result.passed, result.detail
