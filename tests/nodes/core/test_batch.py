"""batch node: count (with overlap), interval and concat modes, reset and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case

BASE: dict[str, Any] = {
    "id": "b",
    "type": "batch",
    "mode": "count",
    "count": 2,
    "overlap": 0,
    "interval": 10,
    "allowEmptySequence": False,
    "topics": [],
    "honourParts": False,
    "wires": [[]],
}


async def check(
    node: dict[str, Any],
    steps: list[dict[str, Any]],
    expect: Any,
    settle_ms: int = 100,
    settings: RuntimeSettings | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> None:
    case = {
        "flow": [{**BASE, **node}, *(extra or [])],
        "steps": steps,
        "settle_ms": settle_ms,
        "expect": expect,
    }
    result = await run_case(case_from_dict(case), settings)
    assert result.passed, result.detail


def inject(payload: Any, **kw: Any) -> dict[str, Any]:
    return {"inject": "b", "msg": {"payload": payload, **kw}}


async def test_count_with_overlap() -> None:
    steps = [inject(i) for i in range(1, 6)]
    expect = {
        "b": [
            [
                {"payload": 1, "parts": {"index": 0, "count": 3}},
                {"payload": 2, "parts": {"index": 1, "count": 3}},
                {"payload": 3, "parts": {"index": 2, "count": 3}},
                {"payload": 3, "parts": {"index": 0, "count": 3}},
                {"payload": 4, "parts": {"index": 1, "count": 3}},
                {"payload": 5, "parts": {"index": 2, "count": 3}},
            ]
        ]
    }
    await check({"count": 3, "overlap": 1}, steps, expect)


async def test_reset_discards_pending() -> None:
    steps = [inject(1), {"inject": "b", "msg": {"reset": True}}, inject(2), inject(3)]
    await check({}, steps, {"b": [[{"payload": 2}, {"payload": 3}]]})


async def test_honour_parts_ends_a_group_early() -> None:
    steps = [inject(1), inject(2, parts={"id": "x", "index": 0, "count": 1}), inject(3)]
    expect = {
        "b": [
            [
                {"payload": 1, "parts": {"index": 0, "count": 2}},
                {"payload": 2, "parts": {"index": 1, "count": 2}},
            ]
        ]
    }
    await check({"count": 5, "honourParts": True}, steps, expect)


async def test_interval_groups_by_time_and_sends_empty_sequences() -> None:
    node = {"mode": "interval", "interval": "0.2", "allowEmptySequence": True}
    steps = [inject(1), inject(2), {"wait_ms": 300}]
    result = await run_case(
        case_from_dict(
            {"flow": [{**BASE, **node}], "steps": steps, "settle_ms": 200, "expect": {"b": [[]]}}
        )
    )
    sent = result.actual["b"][0]
    assert sent[0]["payload"] == 1 and sent[1]["payload"] == 2
    assert sent[0]["parts"]["count"] == 2
    assert len(sent) >= 3 and sent[2] == {"payload": None, "parts": sent[2]["parts"]}
    assert sent[2]["parts"]["count"] == 1


async def test_concat_without_parts_is_an_error() -> None:
    node = {"mode": "concat", "topics": [{"topic": "a"}]}
    catch = {"id": "c", "type": "catch", "wires": [[]]}
    expect = {"c": [[{"error": {"message": "no parts property in message"}}]]}
    await check(node, [inject(1, topic="a")], expect, extra=[catch])


async def test_limit_error_names_the_limit(tmp_path: Path) -> None:
    settings = RuntimeSettings(tmp_path)
    settings.node_message_buffer_max_length = 2  # type: ignore[attr-defined]
    catch = {"id": "c", "type": "catch", "wires": [[]]}
    text = "too many pending messages in batch node (nodeMessageBufferMaxLength 2)"
    steps = [inject(i) for i in range(3)]
    await check(
        {"count": 10},
        steps,
        {"c": [[{"payload": 2, "error": {"message": text}}]]},
        settings=settings,
        extra=[catch],
    )


@pytest.mark.parametrize(
    ("node", "text"),
    [
        ({"count": 2, "overlap": 2}, "Invalid count and overlap"),
        ({"mode": "odd"}, "mode"),
        ({"count": "many"}, "count"),
    ],
)
async def test_bad_config_is_refused(tmp_path: Path, node: dict[str, Any], text: str) -> None:
    rt = Runtime(RuntimeSettings(tmp_path))
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy([{"id": "z", "type": "tab"}, {**BASE, **node, "z": "z"}])
    assert text in str(info.value)
