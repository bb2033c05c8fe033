"""range node: scale, clamp, roll, drop and rounding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case


async def check(cfg: dict[str, Any], values: list[Any], out: list[Any]) -> None:
    node = {
        "id": "n1",
        "type": "range",
        "minin": "0",
        "maxin": "10",
        "minout": "0",
        "maxout": "100",
        "wires": [[]],
        **cfg,
    }
    case = {
        "name": "t",
        "flow": [node],
        "settle_ms": 20,
        "expect": {"n1": [out]},
        "steps": [{"inject": "n1", "msg": {"payload": v}} for v in values],
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


async def test_drop_and_round() -> None:
    await check({"action": "drop", "round": True}, [-1, 0.55, 11, "abc"], [{"payload": 6}])


async def test_round_half_up_and_missing_property() -> None:
    await check(
        {"action": "scale", "round": True, "minout": "-10", "maxout": "10"},
        [2.5],
        [{"payload": -5}],
    )
    node = {
        "id": "n1",
        "type": "range",
        "minin": "0",
        "maxin": "1",
        "minout": "0",
        "maxout": "2",
        "wires": [[]],
    }
    case = {
        "name": "t",
        "flow": [node],
        "settle_ms": 20,
        "steps": [{"inject": "n1", "msg": {"topic": "x"}}],
        "expect": {"n1": [[{"topic": "x"}]]},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


async def test_reversed_input_range() -> None:
    await check({"minin": "10", "maxin": "0"}, [0, 10], [{"payload": 100}, {"payload": 0}])


async def test_bad_config_refused(tmp_path: Path) -> None:
    flows = [{"id": "bad", "type": "range", "minin": "x", "maxin": "1", "wires": [[]]}]
    with pytest.raises(FlowValidationError):
        await Runtime(RuntimeSettings(tmp_path)).deploy(flows)
