"""inject node: props, legacy form, once/repeat timers, trigger() and errors."""

from __future__ import annotations

import asyncio
import datetime as _dt
from pathlib import Path
from typing import Any

import pytest

from plantwire.nodes.core.inject import InjectNode, cron_iter
from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case


def flow(**cfg: Any) -> list[dict[str, Any]]:
    return [
        {"id": "t1", "type": "tab"},
        {"id": "i1", "type": "inject", "z": "t1", "wires": [["p"]], **cfg},
        {"id": "p", "type": "test-probe", "z": "t1", "wires": [[]]},
    ]


async def run(tmp_path: Path, seconds: float, **cfg: Any) -> tuple[Runtime, list[Any]]:
    rt = Runtime(RuntimeSettings(tmp_path))
    await rt.deploy(flow(**cfg))
    await asyncio.sleep(seconds)
    probe = rt.get_node("p")
    received = list(getattr(probe, "received", []))
    return rt, received


async def test_once_after_delay(tmp_path: Path) -> None:
    props = [{"p": "payload", "v": "x", "vt": "str"}, {"p": "n", "v": "2", "vt": "num"}]
    rt, got = await run(tmp_path, 0.15, props=props, once=True, onceDelay="0.05")
    await rt.stop()
    assert [(m["payload"], m["n"]) for m in got] == [("x", 2)]


async def test_repeat_interval(tmp_path: Path) -> None:
    rt, got = await run(
        tmp_path, 0.27, props=[{"p": "payload"}], payload="", payloadType="date", repeat="0.1"
    )
    await rt.stop()
    assert len(got) == 2 and all(isinstance(m["payload"], int) for m in got)


async def test_trigger_method(tmp_path: Path) -> None:
    rt = Runtime(RuntimeSettings(tmp_path))
    await rt.deploy(flow(props=[{"p": "payload", "v": "1+1", "vt": "jsonata"}]))
    node = rt.get_node("i1")
    assert isinstance(node, InjectNode)
    node.trigger()
    await asyncio.sleep(0.02)
    assert [m["payload"] for m in getattr(rt.get_node("p"), "received", [])] == [2]
    await rt.stop()


async def test_jsonata_error_is_caught() -> None:
    case = {
        "name": "t",
        "flow": [
            {
                "id": "i1",
                "type": "inject",
                "props": [{"p": "payload", "v": "$error('x')", "vt": "jsonata"}],
                "wires": [[]],
            },
            {"id": "c", "type": "catch", "wires": [[]]},
        ],
        "steps": [{"inject": "i1", "msg": {"payload": 0}}],
        "settle_ms": 20,
        "expect": {"i1": [[]], "c": [[{"payload": 0}]]},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


def test_cron_six_fields_puts_seconds_first() -> None:
    start = _dt.datetime(2024, 1, 1, 0, 0, 0)
    assert cron_iter("*/10 * * * * *", start).get_next(_dt.datetime).second == 10
    assert cron_iter("5 * * * *", start).get_next(_dt.datetime).minute == 5


@pytest.mark.parametrize("cfg", [{"crontab": "not a cron"}, {"repeat": "abc"}])
async def test_bad_schedule_refused(tmp_path: Path, cfg: dict[str, Any]) -> None:
    with pytest.raises(FlowValidationError) as info:
        await Runtime(RuntimeSettings(tmp_path)).deploy(flow(**cfg))
    assert "i1" in str(info.value)
