"""sort node: arrays by value or JSONata key, message sequences, errors and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case

SORT: dict[str, Any] = {
    "id": "s",
    "type": "sort",
    "order": "ascending",
    "as_num": False,
    "target": "payload",
    "targetType": "msg",
    "msgKey": "payload",
    "msgKeyType": "elem",
    "seqKey": "payload",
    "seqKeyType": "msg",
    "wires": [[]],
}


async def check(
    node: dict[str, Any],
    steps: list[dict[str, Any]],
    expect: list[list[Any]],
    extra: list[dict[str, Any]] | None = None,
    more: dict[str, Any] | None = None,
    settings: RuntimeSettings | None = None,
) -> None:
    case = {
        "flow": [{**SORT, **node}, *(extra or [])],
        "steps": steps,
        "settle_ms": 100,
        "expect": {"s": expect, **(more or {})},
    }
    result = await run_case(case_from_dict(case), settings)
    assert result.passed, result.detail


def inject(payload: Any, **kw: Any) -> dict[str, Any]:
    return {"inject": "s", "msg": {"payload": payload, **kw}}


async def test_strings_sort_lexically_and_descending() -> None:
    await check({}, [inject(["10", "9", "100"])], [[{"payload": ["10", "100", "9"]}]])
    await check({"order": "descending"}, [inject([1, 3, 2])], [[{"payload": [3, 2, 1]}]])


async def test_array_by_jsonata_key() -> None:
    node = {"msgKey": "age", "msgKeyType": "jsonata"}
    data = [{"n": "a", "age": 30}, {"n": "b", "age": 20}]
    await check(node, [inject(data)], [[{"payload": [data[1], data[0]]}]])


async def test_sequence_by_jsonata_descending() -> None:
    node = {
        "targetType": "seq",
        "seqKey": "payload.v",
        "seqKeyType": "jsonata",
        "order": "descending",
    }
    steps = [inject({"v": i}, parts={"id": "g", "index": i, "count": 3}) for i in (1, 3, 2)]
    expect = [[{"payload": {"v": v}, "parts": {"index": i}} for i, v in enumerate((3, 2, 1))]]
    await check(node, steps, expect)


async def test_sequence_without_parts_is_dropped() -> None:
    await check({"targetType": "seq"}, [inject(1)], [[]])


async def test_jsonata_error_is_reported() -> None:
    node = {"msgKey": "$number('x')", "msgKeyType": "jsonata"}
    catch = {"id": "c", "type": "catch", "wires": [[]]}
    result = await run_case(
        case_from_dict(
            {
                "flow": [{**SORT, **node}, catch],
                "steps": [inject([1, 2])],
                "settle_ms": 100,
                "expect": {"s": [[]], "c": [[{"payload": [1, 2]}]]},
            }
        )
    )
    assert result.passed, result.detail
    message = result.actual["c"][0][0]["error"]["message"]
    assert message.startswith("Invalid JSONata expression in sort node: ")


async def test_limit_drops_the_oldest_group(tmp_path: Path) -> None:
    settings = RuntimeSettings(tmp_path)
    settings.node_message_buffer_max_length = 2  # type: ignore[attr-defined]
    catch = {"id": "c", "type": "catch", "wires": [[]]}
    steps = [
        inject(1, parts={"id": "a", "index": 0, "count": 2}),
        inject(2, parts={"id": "b", "index": 0, "count": 2}),
        inject(3, parts={"id": "c", "index": 0, "count": 2}),
        inject(4, parts={"id": "b", "index": 1, "count": 2}),
    ]
    text = "Too many pending messages in sort node (nodeMessageBufferMaxLength 2)"
    await check(
        {"targetType": "seq"},
        steps,
        [[{"payload": 2}, {"payload": 4}]],
        extra=[catch],
        more={"c": [[{"payload": 1, "error": {"message": text}}]]},
        settings=settings,
    )


@pytest.mark.parametrize(
    "node",
    [
        {"msgKey": "$$$(", "msgKeyType": "jsonata"},
        {"targetType": "seq", "seqKey": "a..b", "seqKeyType": "msg"},
    ],
)
async def test_bad_config_is_refused(tmp_path: Path, node: dict[str, Any]) -> None:
    rt = Runtime(RuntimeSettings(tmp_path))
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy([{"id": "z", "type": "tab"}, {**SORT, **node, "z": "z"}])
    assert "s" in str(info.value)
