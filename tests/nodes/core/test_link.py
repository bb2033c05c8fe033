"""link in / link out / link call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case


def _set(nid: str, prop: str, value: Any, wires: list[str], z: str = "") -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": nid,
        "type": "change",
        "rules": [{"t": "set", "p": prop, "pt": "msg", "to": value, "tot": "str"}],
        "wires": [wires],
    }
    if z:
        node["z"] = z
    return node


async def _run(case: dict[str, Any]) -> None:
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


async def test_link_out_to_several_link_ins_each_get_a_copy() -> None:
    await _run(
        {
            "flow": [
                {"id": "lo", "type": "link out", "mode": "link", "links": ["a", "b"]},
                {"id": "a", "type": "link in", "links": ["lo"], "wires": [["ca"]]},
                {"id": "b", "type": "link in", "links": ["lo"], "wires": [["cb"]]},
                _set("ca", "payload", "A", []),
                _set("cb", "topic", "B", []),
            ],
            "steps": [{"inject": "lo", "msg": {"payload": 1, "topic": "t"}}],
            "expect": {
                "ca": [[{"payload": "A", "topic": "t"}]],
                "cb": [[{"payload": 1, "topic": "B"}]],
            },
        }
    )


async def test_link_in_listing_the_link_out_is_enough() -> None:
    await _run(
        {
            "flow": [
                {"id": "lo", "type": "link out", "links": []},
                {"id": "li", "type": "link in", "links": ["lo"], "wires": [["c"]]},
                _set("c", "via", "back-link", []),
            ],
            "steps": [{"inject": "lo", "msg": {"payload": 1}}],
            "expect": {"c": [[{"payload": 1, "via": "back-link"}]]},
        }
    )


async def test_disabled_link_in_and_disabled_tab_receive_nothing() -> None:
    await _run(
        {
            "flow": [
                {"id": "t1", "type": "tab"},
                {"id": "t2", "type": "tab", "disabled": True},
                {"id": "lo", "type": "link out", "links": ["li1", "li2"], "z": "t1"},
                {"id": "li1", "type": "link in", "d": True, "wires": [["c1"]], "z": "t1"},
                _set("c1", "x", "1", [], "t1"),
                {"id": "li2", "type": "link in", "wires": [["c2"]], "z": "t2"},
                _set("c2", "x", "2", [], "t2"),
            ],
            "steps": [{"inject": "lo", "msg": {"payload": 1}}],
            "expect": {"c1": [[]]},
        }
    )


def _routine(prefix: str, name: str, value: str, z: str = "") -> list[dict[str, Any]]:
    li: dict[str, Any] = {"id": f"{prefix}in", "type": "link in", "name": name, "links": []}
    li["wires"] = [[f"{prefix}ch"]]
    ret: dict[str, Any] = {"id": f"{prefix}ret", "type": "link out", "mode": "return"}
    nodes = [li, _set(f"{prefix}ch", "payload", value, [f"{prefix}ret"]), ret]
    if z:
        for n in nodes:
            n["z"] = z
    return nodes


async def test_link_call_static_returns_result() -> None:
    await _run(
        {
            "flow": [
                {
                    "id": "lc",
                    "type": "link call",
                    "links": ["rin"],
                    "linkType": "static",
                    "timeout": "2",
                    "wires": [[]],
                },
                *_routine("r", "", "done"),
            ],
            "steps": [{"inject": "lc", "msg": {"payload": 0, "topic": "t"}}],
            "expect": {"lc": [[{"payload": "done", "topic": "t"}]]},
        }
    )


async def test_link_call_dynamic_by_id_and_by_unique_name_on_other_tab() -> None:
    await _run(
        {
            "flow": [
                {"id": "t1", "type": "tab"},
                {"id": "t2", "type": "tab"},
                {
                    "id": "lc",
                    "type": "link call",
                    "linkType": "dynamic",
                    "links": [],
                    "timeout": "2",
                    "wires": [[]],
                    "z": "t1",
                },
                *_routine("r", "svc", "remote", "t2"),
            ],
            "steps": [
                {"inject": "lc", "msg": {"payload": 0, "target": "svc"}},
                {"wait_ms": 50},
                {"inject": "lc", "msg": {"payload": 0, "target": "rin"}},
            ],
            "expect": {"lc": [[{"payload": "remote", "target": "svc"}, {"payload": "remote"}]]},
        }
    )


async def test_link_call_errors_not_found_and_timeout() -> None:
    await _run(
        {
            "flow": [
                {
                    "id": "lc",
                    "type": "link call",
                    "linkType": "dynamic",
                    "links": [],
                    "timeout": "0.1",
                    "wires": [[]],
                },
                {"id": "dead", "type": "link in", "name": "dead", "wires": [[]]},
                {"id": "c", "type": "catch", "scope": None, "wires": [["log"]]},
                {"id": "log", "type": "change", "rules": [], "wires": [[]]},
            ],
            "steps": [
                {"inject": "lc", "msg": {"payload": 1, "target": "nowhere"}},
                {"inject": "lc", "msg": {"payload": 2, "target": "dead"}},
                {"wait_ms": 300},
            ],
            "expect": {
                "lc": [[]],
                "log": [
                    [
                        {
                            "payload": 1,
                            "error": {
                                "message": "Error: target link-in node 'nowhere' not found",
                                "source": {"id": "lc", "type": "link call"},
                            },
                        },
                        {"payload": 2, "error": {"message": "timeout"}},
                    ]
                ],
            },
        }
    )


async def test_nested_link_calls_return_to_the_right_caller() -> None:
    inner = _routine("i", "", "inner")
    await _run(
        {
            "flow": [
                {
                    "id": "outer",
                    "type": "link call",
                    "links": ["oin"],
                    "timeout": "2",
                    "wires": [[]],
                },
                {"id": "oin", "type": "link in", "wires": [["innercall"]]},
                {
                    "id": "innercall",
                    "type": "link call",
                    "links": ["iin"],
                    "timeout": "2",
                    "wires": [["och"]],
                },
                _set("och", "topic", "outer", ["oret"]),
                {"id": "oret", "type": "link out", "mode": "return"},
                *inner,
            ],
            "steps": [{"inject": "outer", "msg": {"payload": 0}}],
            "expect": {
                "outer": [[{"payload": "inner", "topic": "outer"}]],
                "innercall": [[{"payload": "inner"}]],
            },
        }
    )


async def test_return_link_out_without_caller_sends_nothing() -> None:
    await _run(
        {
            "flow": [{"id": "r", "type": "link out", "mode": "return"}],
            "steps": [{"inject": "r", "msg": {"payload": 1}}],
            "expect": {"r": [[]]},
        }
    )


async def test_bad_link_config_refused(tmp_path: Path) -> None:
    flows: list[dict[str, Any]] = [
        {"id": "t", "type": "tab"},
        {"id": "lo", "type": "link out", "mode": "sideways", "z": "t", "wires": []},
    ]
    with pytest.raises(FlowValidationError) as info:
        await Runtime(RuntimeSettings(tmp_path)).deploy(flows)
    assert info.value.problems[0].node_id == "lo"
    assert info.value.problems[0].field == "mode"
