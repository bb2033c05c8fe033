"""delay node: fixed/variable/random delays, rate limiting, topic queues, flush and reset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case

BASE: dict[str, Any] = {
    "id": "d",
    "type": "delay",
    "timeout": "5",
    "timeoutUnits": "seconds",
    "rate": "1",
    "nbRateUnits": "1",
    "rateUnits": "second",
    "randomFirst": "1",
    "randomLast": "5",
    "randomUnits": "seconds",
    "drop": False,
    "allowrate": False,
    "outputs": 1,
    "wires": [[]],
}


async def check(
    node: dict[str, Any],
    steps: list[dict[str, Any]],
    expect: list[list[Any]],
    settle_ms: int = 300,
    extra: list[dict[str, Any]] | None = None,
    more: dict[str, Any] | None = None,
) -> None:
    flow = [{**BASE, **node}, *(extra or [])]
    expected: dict[str, Any] = {"d": expect, **(more or {})}
    case = {"flow": flow, "steps": steps, "settle_ms": settle_ms, "expect": expected}
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


async def test_fixed_delay_keeps_order_and_content() -> None:
    node = {"pauseType": "delay", "timeout": "100", "timeoutUnits": "milliseconds"}
    steps = [
        {"inject": "d", "msg": {"payload": 1, "topic": "t"}},
        {"inject": "d", "msg": {"payload": 2}},
    ]
    await check(node, steps, [[{"payload": 1, "topic": "t"}, {"payload": 2}]], settle_ms=600)


async def test_fixed_delay_has_not_sent_before_the_delay() -> None:
    node = {"pauseType": "delay", "timeout": "2", "timeoutUnits": "seconds"}
    await check(node, [{"inject": "d", "msg": {"payload": 1}}], [[]], settle_ms=200)


async def test_reset_drops_delayed_messages() -> None:
    node = {"pauseType": "delay", "timeout": "300", "timeoutUnits": "milliseconds"}
    steps = [{"inject": "d", "msg": {"payload": 1}}, {"inject": "d", "msg": {"reset": True}}]
    await check(node, steps, [[]], settle_ms=700)


async def test_flush_with_count_releases_only_that_many() -> None:
    node = {"pauseType": "delay", "timeout": "5", "timeoutUnits": "seconds"}
    steps = [
        {"inject": "d", "msg": {"payload": 1}},
        {"inject": "d", "msg": {"payload": 2}},
        {"inject": "d", "msg": {"payload": 3}},
        {"inject": "d", "msg": {"flush": 2}},
    ]
    await check(node, steps, [[{"payload": 1}, {"payload": 2}]], settle_ms=200)


async def test_delayv_uses_msg_delay() -> None:
    node = {"pauseType": "delayv", "timeout": "5", "timeoutUnits": "seconds"}
    steps = [
        {"inject": "d", "msg": {"payload": "slow", "delay": 400}},
        {"inject": "d", "msg": {"payload": "fast", "delay": 20}},
    ]
    await check(node, steps, [[{"payload": "fast"}, {"payload": "slow"}]], settle_ms=900)


async def test_random_delay_sends_within_the_range() -> None:
    node = {
        "pauseType": "random",
        "randomFirst": "10",
        "randomLast": "50",
        "randomUnits": "milliseconds",
    }
    await check(node, [{"inject": "d", "msg": {"payload": 1}}], [[{"payload": 1}]], settle_ms=500)


async def test_rate_queue_spaces_messages_and_keeps_all() -> None:
    node = {"pauseType": "rate", "rate": "20", "rateUnits": "second"}
    steps = [{"inject": "d", "msg": {"payload": i}} for i in range(4)]
    await check(node, steps, [[{"payload": i} for i in range(4)]], settle_ms=900)


async def test_rate_queue_to_front() -> None:
    node = {"pauseType": "rate", "rate": "5", "rateUnits": "second"}
    steps = [
        {"inject": "d", "msg": {"payload": "a"}},
        {"inject": "d", "msg": {"payload": "b"}},
        {"inject": "d", "msg": {"payload": "c", "toFront": True}},
    ]
    expect = [[{"payload": "a"}, {"payload": "c"}, {"payload": "b"}]]
    await check(node, steps, expect, settle_ms=1200)


async def test_rate_drop_without_second_output_discards() -> None:
    node = {"pauseType": "rate", "rate": "1", "drop": True}
    steps = [{"inject": "d", "msg": {"payload": 1}}, {"inject": "d", "msg": {"payload": 2}}]
    await check(node, steps, [[{"payload": 1}]], settle_ms=200)


async def test_rate_queue_flush_sends_everything_queued() -> None:
    node = {"pauseType": "rate", "rate": "1", "rateUnits": "minute"}
    steps = [
        {"inject": "d", "msg": {"payload": 1}},
        {"inject": "d", "msg": {"payload": 2}},
        {"inject": "d", "msg": {"payload": 3}},
        {"inject": "d", "msg": {"flush": True}},
    ]
    await check(node, steps, [[{"payload": 1}, {"payload": 2}, {"payload": 3}]], settle_ms=200)


async def test_queue_mode_sends_topics_in_turn_and_replaces_per_topic() -> None:
    node = {"pauseType": "queue", "rate": "10", "outputs": 2, "wires": [[], []]}
    steps = [
        {"inject": "d", "msg": {"payload": 1, "topic": "a"}},
        {"inject": "d", "msg": {"payload": 2, "topic": "b"}},
        {"inject": "d", "msg": {"payload": 3, "topic": "a"}},
    ]
    expect: list[list[Any]] = [
        [{"payload": 3, "topic": "a"}, {"payload": 2, "topic": "b"}],
        [{"payload": 1}],
    ]
    await check(node, steps, expect, settle_ms=700)


async def test_queue_mode_reset_empties_the_queue_and_shows_reset() -> None:
    node = {"pauseType": "timed", "rate": "2"}
    status = {"id": "s", "type": "status", "scope": ["d"], "wires": [[]]}
    steps = [
        {"inject": "d", "msg": {"payload": 1, "topic": "a"}},
        {"inject": "d", "msg": {"reset": True}},
    ]
    await check(
        node,
        steps,
        [[]],
        settle_ms=150,
        extra=[status],
        more={"s": [[{"status": {"text": "reset"}}]]},
    )


async def test_rate_limit_error_names_the_limit(tmp_path: Path) -> None:
    settings = RuntimeSettings(tmp_path)
    settings.node_message_buffer_max_length = 2  # type: ignore[attr-defined]
    flow = [
        {**BASE, "pauseType": "rate", "rate": "1", "rateUnits": "minute"},
        {"id": "c", "type": "catch", "scope": ["d"], "wires": [[]]},
    ]
    steps = [{"inject": "d", "msg": {"payload": i}} for i in range(4)]
    case = {
        "flow": flow,
        "steps": steps,
        "settle_ms": 100,
        "expect": {
            "c": [
                [
                    {
                        "payload": 3,
                        "error": {
                            "message": "too many pending messages in delay node"
                            " (nodeMessageBufferMaxLength 2)"
                        },
                    }
                ]
            ]
        },
    }
    result = await run_case(case_from_dict(case), settings)
    assert result.passed, result.detail


@pytest.mark.parametrize(
    ("node", "field"),
    [
        ({"pauseType": "delay", "timeout": "abc"}, "timeout"),
        ({"pauseType": "rate", "rate": "-1"}, "rate"),
        ({"pauseType": "random", "randomFirst": "x"}, "randomFirst"),
        ({"pauseType": "sometimes"}, "pauseType"),
    ],
)
async def test_bad_config_is_refused(tmp_path: Path, node: dict[str, Any], field: str) -> None:
    rt = Runtime(RuntimeSettings(tmp_path))
    flows = [{"id": "t1", "type": "tab"}, {**BASE, **node, "z": "t1"}]
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy(flows)
    assert "d" in str(info.value) and field in str(info.value)
