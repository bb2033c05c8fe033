"""The flow-test runner's matching rules and case loading."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.message import MISSING
from plantwire.testing import load_case, matches, to_json_value
from plantwire.testing.runner import case_from_dict, run_case


def test_subset_rule_for_objects_exact_for_lists_and_scalars() -> None:
    assert matches({"a": 1}, {"a": 1.0, "b": 2}) is None
    assert matches({"a": {"b": 1}}, {"a": {"b": 1, "c": 3}}) is None
    assert matches({"a": [1, 2]}, {"a": [1, 2, 3]}) is not None
    assert matches({"a": [{"b": 1}]}, {"a": [{"b": 1, "c": 2}]}) is not None  # inside lists: equal
    assert matches({"a": True}, {"a": 1}) is not None
    assert matches({"a": "1"}, {"a": 1}) is not None
    assert matches({"_msgid": "x"}, {}) is None
    diff = matches({"a": {"b": 2}}, {"a": {"b": 3}})
    assert diff is not None and "msg.a.b" in diff


def test_json_view_of_values() -> None:
    assert to_json_value(b"\x01\x02") == {"type": "Buffer", "data": [1, 2]}
    assert to_json_value({"_msgid": "1", "a": MISSING, "b": math.nan}, top=True) == {"b": None}
    assert to_json_value(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"
    assert to_json_value(re.compile("x")) == {}
    assert to_json_value((1, MISSING)) == [1, None]


def test_bad_case_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(PlantwireError, match=r"bad\.json: not a readable JSON case file"):
        load_case(bad)
    with pytest.raises(PlantwireError, match="missing 'expect'"):
        case_from_dict({"flow": []}, "x")


async def test_unordered_comparison_and_count_mismatch() -> None:
    flow = [{"id": "j", "type": "junction", "wires": [[]]}]
    steps = [{"inject": "j", "msg": {"payload": i}} for i in (1, 2)]
    unordered = case_from_dict(
        {
            "name": "u",
            "flow": flow,
            "steps": steps,
            "ordered": False,
            "settle_ms": 20,
            "expect": {"j": [[{"payload": 2}, {"payload": 1}]]},
        }
    )
    assert (await run_case(unordered)).passed
    too_many = case_from_dict(
        {
            "name": "c",
            "flow": flow,
            "steps": steps,
            "settle_ms": 20,
            "expect": {"j": [[{"payload": 1}]]},
        }
    )
    result = await run_case(too_many)
    assert not result.passed and "expected 1 message(s), got 2" in result.detail
    missing_node = case_from_dict(
        {"name": "m", "flow": flow, "steps": [{"inject": "nope", "msg": {}}], "expect": {}}
    )
    result = await run_case(missing_node)
    assert not result.passed and "no running node 'nope'" in result.detail
