"""switch node: JavaScript comparisons, rule types, sequences and deploy checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.nodes.core.switch import js_compare, js_loose_equals
from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.message import MISSING
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case


async def check(node: dict[str, Any], msgs: list[dict[str, Any]], out: list[list[Any]]) -> None:
    node = {
        "id": "n1",
        "type": "switch",
        "property": "payload",
        "checkall": "true",
        "outputs": len(node["rules"]),
        "wires": [[] for _ in node["rules"]],
        **node,
    }
    case = {
        "name": "t",
        "flow": [node],
        "steps": [{"inject": "n1", "msg": m} for m in msgs],
        "settle_ms": 20,
        "expect": {"n1": out},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


def test_js_semantics() -> None:
    assert js_loose_equals(5, "5") and js_loose_equals(None, MISSING)
    assert not js_loose_equals(None, 0) and js_loose_equals(True, 1)
    assert js_loose_equals([1, 2], "1,2") and not js_loose_equals({}, {})
    assert js_compare("9", "10", ">") and not js_compare(9, "10", ">")
    assert not js_compare("abc", 1, "<") and not js_compare("abc", 1, ">=")
    assert js_compare(None, 0, ">=")


async def test_istype_and_empty() -> None:
    rules = [
        {"t": "istype", "v": "string", "vt": "string"},
        {"t": "istype", "v": "undefined", "vt": "undefined"},
        {"t": "empty"},
        {"t": "hask", "v": "a", "vt": "str"},
    ]
    await check(
        {"rules": rules},
        [{"payload": ""}, {"x": 1}, {"payload": {"a": 1}}],
        [[{"payload": ""}], [{"x": 1}], [{"payload": ""}], [{"payload": {"a": 1}}]],
    )


async def test_regex_case_and_else() -> None:
    rules = [{"t": "regex", "v": "^ab", "vt": "str", "case": True}, {"t": "else"}]
    await check(
        {"rules": rules},
        [{"payload": "ABc"}, {"payload": "x"}],
        [[{"payload": "ABc"}], [{"payload": "x"}]],
    )


async def test_repair_recreates_parts() -> None:
    rules = [{"t": "gt", "v": "1", "vt": "num"}]
    msgs = [{"payload": i, "parts": {"id": "g", "index": i, "count": 3}} for i in range(3)]
    await check(
        {"rules": rules, "repair": True},
        msgs,
        [[{"payload": 2, "parts": {"index": 0, "count": 1}}]],
    )


async def test_jsonata_property() -> None:
    rules = [{"t": "eq", "v": "10", "vt": "num"}]
    await check(
        {"rules": rules, "property": "payload * 2", "propertyType": "jsonata"},
        [{"payload": 5}, {"payload": 4}],
        [[{"payload": 5}]],
    )


@pytest.mark.parametrize(
    "rule",
    [
        {"t": "eq", "v": "x", "vt": "num"},
        {"t": "jsonata_exp", "v": "(", "vt": "jsonata"},
        {"t": "nope"},
    ],
)
async def test_bad_rules_refused(tmp_path: Path, rule: dict[str, Any]) -> None:
    flows: list[dict[str, Any]] = [
        {"id": "t1", "type": "tab"},
        {"id": "bad", "type": "switch", "z": "t1", "rules": [rule], "wires": [[]]},
    ]
    with pytest.raises(FlowValidationError) as info:
        await Runtime(RuntimeSettings(tmp_path)).deploy(flows)
    assert "bad" in str(info.value)
