"""change node: rules, replace semantics, context targets and deploy-time checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.nodes.core.change import js_replace
from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case


async def check(rules: list[dict[str, Any]], msgs: list[dict[str, Any]], out: list[Any]) -> None:
    case = {
        "name": "t",
        "flow": [{"id": "n1", "type": "change", "rules": rules, "wires": [[]]}],
        "steps": [{"inject": "n1", "msg": m} for m in msgs],
        "settle_ms": 20,
        "expect": {"n1": [out]},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


def test_js_replace_patterns() -> None:
    import re

    assert js_replace("a1b22", re.compile(r"(\d+)"), "<$1>") == "a<1>b<22>"
    assert js_replace("abc", re.compile("b"), "[$&$$]") == "a[b$]c"
    assert js_replace("abc", re.compile("b"), "$`$'") == "aacc"
    assert js_replace("an undefined x undefined", None, "U") == "an U x undefined"
    assert js_replace("x", re.compile("x"), 5) == "5"


async def test_set_types() -> None:
    rules = [
        {"t": "set", "p": "payload", "pt": "msg", "to": "0x10", "tot": "num"},
        {"t": "set", "p": "a.b[1]", "pt": "msg", "to": "[1]", "tot": "json"},
        {"t": "set", "p": "c", "pt": "msg", "to": "payload", "tot": "msg"},
    ]
    await check(rules, [{"payload": 1}], [{"payload": 16, "a": {"b": [None, [1]]}, "c": 16}])


async def test_change_number_and_string() -> None:
    rules = [
        {
            "t": "change",
            "p": "payload",
            "pt": "msg",
            "from": "5",
            "fromt": "num",
            "to": "five",
            "tot": "str",
        }
    ]
    await check(
        rules,
        [{"payload": 5}, {"payload": 6}, {"payload": "5"}, {"payload": "55"}],
        [{"payload": "five"}, {"payload": 6}, {"payload": "five"}, {"payload": "fivefive"}],
    )


async def test_change_str_to_num_whole_match() -> None:
    rules = [
        {
            "t": "change",
            "p": "payload",
            "pt": "msg",
            "from": "on",
            "fromt": "str",
            "to": "1",
            "tot": "num",
        }
    ]
    await check(
        rules, [{"payload": "on"}, {"payload": "on/on"}], [{"payload": 1}, {"payload": "1/1"}]
    )


async def test_move_and_delete() -> None:
    rules = [
        {"t": "move", "p": "payload.a", "pt": "msg", "to": "payload", "tot": "msg"},
        {"t": "delete", "p": "topic", "pt": "msg"},
    ]
    await check(rules, [{"payload": {"a": {"x": 1}}, "topic": "t"}], [{"payload": {"x": 1}}])


async def test_jsonata_error_drops_message() -> None:
    rules = [{"t": "set", "p": "payload", "pt": "msg", "to": "$error('boom')", "tot": "jsonata"}]
    await check(rules, [{"payload": 1}], [])


async def test_context_store_syntax_and_legacy_rule() -> None:
    case = {
        "name": "t",
        "flow": [
            {
                "id": "a",
                "type": "change",
                "wires": [["b"]],
                "rules": [
                    {"t": "set", "p": "#:(memory)::k", "pt": "global", "to": "v", "tot": "str"}
                ],
            },
            {
                "id": "b",
                "type": "change",
                "action": "replace",
                "property": "payload",
                "to": "msg.topic",
                "wires": [["c"]],
            },
            {
                "id": "c",
                "type": "change",
                "wires": [[]],
                "rules": [{"t": "set", "p": "k", "pt": "msg", "to": "k", "tot": "global"}],
            },
        ],
        "steps": [{"inject": "a", "msg": {"payload": 0, "topic": "T"}}],
        "settle_ms": 20,
        "expect": {"c": [[{"payload": "T", "k": "v"}]]},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


@pytest.mark.parametrize(
    "rule",
    [
        {"t": "set", "p": "payload", "to": "abc", "tot": "num"},
        {"t": "set", "p": "payload", "to": "{bad", "tot": "json"},
        {"t": "set", "p": "payload", "to": "1 +", "tot": "jsonata"},
        {"t": "change", "p": "payload", "from": "(", "fromt": "re", "to": "x"},
        {"t": "bogus", "p": "payload"},
    ],
)
async def test_bad_rules_refused(tmp_path: Path, rule: dict[str, Any]) -> None:
    flows: list[dict[str, Any]] = [
        {"id": "t1", "type": "tab"},
        {"id": "bad", "type": "change", "z": "t1", "rules": [rule], "wires": [[]]},
    ]
    with pytest.raises(FlowValidationError) as info:
        await Runtime(RuntimeSettings(tmp_path)).deploy(flows)
    assert "bad" in str(info.value)
