"""rbe (filter) node: report by exception and band modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.nodes.core.rbe import compare_objects, js_parse_float
from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case


async def check(cfg: dict[str, Any], msgs: list[dict[str, Any]], out: list[Any]) -> None:
    node = {"id": "n1", "type": "rbe", "wires": [[]], **cfg}
    case = {
        "name": "t",
        "flow": [node],
        "settle_ms": 20,
        "expect": {"n1": [out]},
        "steps": [{"inject": "n1", "msg": m} for m in msgs],
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


def test_helpers() -> None:
    assert js_parse_float(" 12.5abc") == 12.5
    assert compare_objects({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]})
    assert not compare_objects([1], [True])


async def test_rbei_blocks_first() -> None:
    await check(
        {"func": "rbei"}, [{"payload": 1}, {"payload": 1}, {"payload": 2}], [{"payload": 2}]
    )


async def test_deadband_eq_input_mode() -> None:
    msgs = [{"payload": v} for v in (10, 12, 14, 15)]
    await check(
        {"func": "deadbandEq", "gap": "2", "inout": "in"},
        msgs,
        [{"payload": 10}, {"payload": 12}, {"payload": 14}],
    )


async def test_topics_not_separated() -> None:
    msgs = [{"payload": 1, "topic": "a"}, {"payload": 1, "topic": "b"}]
    await check({"func": "rbe", "septopics": False}, msgs, [{"payload": 1, "topic": "a"}])


async def test_bad_gap_refused(tmp_path: Path) -> None:
    flows = [{"id": "bad", "type": "rbe", "func": "deadband", "gap": "x", "wires": [[]]}]
    with pytest.raises(FlowValidationError):
        await Runtime(RuntimeSettings(tmp_path)).deploy(flows)
