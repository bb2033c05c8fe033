"""trigger node: op1/op2 types, waiting, extend, reset, per-topic, second output, loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case

BASE: dict[str, Any] = {
    "id": "t",
    "type": "trigger",
    "op1": "1",
    "op2": "0",
    "op1type": "str",
    "op2type": "str",
    "duration": "100",
    "extend": "false",
    "overrideDelay": "false",
    "units": "ms",
    "reset": "",
    "bytopic": "all",
    "topic": "topic",
    "outputs": 1,
    "wires": [[]],
}


async def check(
    node: dict[str, Any],
    steps: list[dict[str, Any]],
    expect: list[list[Any]],
    settle_ms: int = 400,
    extra: list[dict[str, Any]] | None = None,
    more: dict[str, Any] | None = None,
) -> None:
    flow = [{**BASE, **node}, *(extra or [])]
    case = {
        "flow": flow,
        "steps": steps,
        "settle_ms": settle_ms,
        "expect": {"t": expect, **(more or {})},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


def inject(payload: Any, **kw: Any) -> dict[str, Any]:
    return {"inject": "t", "msg": {"payload": payload, **kw}}


async def test_typed_operands() -> None:
    node = {"op1": "5", "op1type": "num", "op2": '{"a":1}', "op2type": "json"}
    await check(node, [inject("x")], [[{"payload": 5}, {"payload": {"a": 1}}]])


async def test_empty_operands_default_to_1_and_0() -> None:
    node = {"op1": "", "op2": "", "op1type": "str", "op2type": "num"}
    await check(node, [inject("x")], [[{"payload": "1"}, {"payload": 0}]])


async def test_legacy_val_type() -> None:
    node = {"op1": "true", "op1type": "val", "op2": "null", "op2type": "val"}
    await check(node, [inject("x")], [[{"payload": True}, {"payload": None}]])


async def test_original_payload_pay_and_latest_message_payl() -> None:
    node = {"op1type": "pay", "op2type": "payl", "duration": "200"}
    steps = [inject("first", topic="a"), {"wait_ms": 30}, inject("second", topic="b")]
    expect = [[{"payload": "first", "topic": "a"}, {"payload": "second", "topic": "b"}]]
    await check(node, steps, expect, settle_ms=500)


async def test_op2_pay_sends_the_original_payload() -> None:
    node = {"op1": "on", "op2type": "pay"}
    await check(node, [inject("orig")], [[{"payload": "on"}, {"payload": "orig"}]])


async def test_second_output() -> None:
    node = {"outputs": 2, "wires": [[], []]}
    await check(node, [inject("x")], [[{"payload": "1"}], [{"payload": "0"}]])


async def test_extend_restarts_the_wait() -> None:
    node = {"duration": "250", "extend": True}
    steps = [inject(1), {"wait_ms": 150}, inject(2), {"wait_ms": 150}]
    # after 300 ms nothing more than op1 was sent, because the 2nd message extended it
    case_expect = [[{"payload": "1"}]]
    await check(node, steps, case_expect, settle_ms=0)
    await check(node, steps, [[{"payload": "1"}, {"payload": "0"}]], settle_ms=500)


async def test_reset_by_payload_value() -> None:
    node = {"duration": "200", "reset": "stop"}
    steps = [inject(1), {"wait_ms": 20}, inject("stop"), {"wait_ms": 20}, inject(2)]
    await check(
        node, steps, [[{"payload": "1"}, {"payload": "1"}, {"payload": "0"}]], settle_ms=500
    )


async def test_per_topic_triggers_are_independent() -> None:
    node = {"bytopic": "topic", "op1type": "pay", "op2type": "nul"}
    steps = [inject(1, topic="a"), inject(2, topic="b"), inject(3, topic="a")]
    await check(node, steps, [[{"payload": 1}, {"payload": 2}]], settle_ms=300)


async def test_override_delay_with_msg_delay() -> None:
    node = {"duration": "5", "units": "s", "overrideDelay": True}
    await check(
        node, [inject("x", delay=50)], [[{"payload": "1"}, {"payload": "0"}]], settle_ms=400
    )


async def test_negative_duration_repeats_op1_until_reset() -> None:
    node = {"duration": "-60", "op1type": "pay"}
    steps = [inject("tick"), {"wait_ms": 400}, {"inject": "t", "msg": {"reset": True}}]
    result = await run_case(
        case_from_dict(
            {
                "flow": [{**BASE, **node}],
                "steps": steps,
                "settle_ms": 300,
                "expect": {"t": [[{"payload": "tick"}]]},
            }
        )
    )
    sent = result.actual["t"][0]
    assert len(sent) >= 3 and all(m["payload"] == "tick" for m in sent)


async def test_context_operand_read_when_the_wait_ends() -> None:
    node = {"op1": "x", "op1type": "flow", "op2": "x", "op2type": "flow", "duration": "150"}
    rule = [{"t": "set", "p": "x", "pt": "flow", "to": "payload", "tot": "msg"}]
    first = {"id": "c", "type": "change", "rules": rule, "wires": [["t"]]}
    later = {"id": "c2", "type": "change", "rules": rule, "wires": [[]]}
    steps: list[dict[str, Any]] = [
        {"inject": "c", "msg": {"payload": "a"}},
        {"wait_ms": 50},
        {"inject": "c2", "msg": {"payload": "b"}},
    ]
    await check(node, steps, [[{"payload": "a"}, {"payload": "b"}]], extra=[first, later])


async def test_status_counts_topics() -> None:
    node = {"bytopic": "topic", "duration": "100"}
    status = {"id": "s", "type": "status", "scope": ["t"], "wires": [[]]}
    steps = [inject(1, topic="a"), inject(2, topic="b")]
    more = {
        "s": [
            [
                {"status": {"fill": "blue", "shape": "dot"}},
                {"status": {"fill": "blue", "shape": "dot", "text": "2"}},
                {"status": {"fill": "blue", "shape": "dot"}},
                {"status": {}},
            ]
        ]
    }
    expect = [[{"payload": "1"}, {"payload": "1"}, {"payload": "0"}, {"payload": "0"}]]
    await check(node, steps, expect, extra=[status], more=more)


@pytest.mark.parametrize(
    ("node", "field"),
    [
        ({"op1": "abc", "op1type": "num"}, "op1"),
        ({"op2": "{bad", "op2type": "json"}, "op2"),
        ({"duration": "soon"}, "duration"),
        ({"op1type": "weird"}, "op1type"),
    ],
)
async def test_bad_config_is_refused(tmp_path: Path, node: dict[str, Any], field: str) -> None:
    rt = Runtime(RuntimeSettings(tmp_path))
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy([{"id": "z", "type": "tab"}, {**BASE, **node, "z": "z"}])
    assert field in str(info.value)
