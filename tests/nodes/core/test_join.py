"""join node: automatic (after split), manual builds, accumulate, timeout and reduce mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case

JOIN: dict[str, Any] = {
    "id": "j",
    "type": "join",
    "mode": "custom",
    "build": "array",
    "property": "payload",
    "propertyType": "msg",
    "key": "topic",
    "joiner": "\\n",
    "joinerType": "str",
    "useparts": False,
    "accumulate": False,
    "timeout": "",
    "count": "",
    "reduceRight": False,
    "wires": [[]],
}
SPLIT: dict[str, Any] = {
    "id": "s",
    "type": "split",
    "splt": ",",
    "spltType": "str",
    "arraySplt": 1,
    "arraySpltType": "len",
    "stream": False,
    "addname": "",
    "property": "payload",
    "wires": [["j"]],
}


async def check(
    node: dict[str, Any],
    steps: list[dict[str, Any]],
    expect: list[list[Any]],
    settle_ms: int = 100,
    extra: list[dict[str, Any]] | None = None,
    more: dict[str, Any] | None = None,
    settings: RuntimeSettings | None = None,
) -> None:
    case = {
        "flow": [{**JOIN, **node}, *(extra or [])],
        "steps": steps,
        "settle_ms": settle_ms,
        "expect": {"j": expect, **(more or {})},
    }
    result = await run_case(case_from_dict(case), settings)
    assert result.passed, result.detail


def inject(payload: Any, target: str = "j", **kw: Any) -> dict[str, Any]:
    return {"inject": target, "msg": {"payload": payload, **kw}}


async def test_auto_rejoins_a_split_string_and_buffer() -> None:
    await check({"mode": "auto"}, [inject("a,b,c", "s")], [[{"payload": "a,b,c"}]], extra=[SPLIT])
    split = {**SPLIT, "splt": "2", "spltType": "len", "wires": [["j"]]}
    mk = {
        "id": "mk",
        "type": "change",
        "wires": [["s"]],
        "rules": [{"t": "set", "p": "payload", "pt": "msg", "to": "[1,2,3]", "tot": "bin"}],
    }
    await check(
        {"mode": "auto"},
        [{"inject": "mk", "msg": {}}],
        [[{"payload": {"type": "Buffer", "data": [1, 2, 3]}}]],
        extra=[split, mk],
    )


async def test_auto_restores_outer_parts() -> None:
    steps = [inject("a,b", "s", parts={"id": "outer", "index": 1, "count": 4})]
    expect = [[{"payload": "a,b", "parts": {"id": "outer", "index": 1, "count": 4}}]]
    await check({"mode": "auto"}, steps, expect, extra=[SPLIT])


async def test_auto_without_parts_warns_and_drops() -> None:
    await check({"mode": "auto"}, [inject(1)], [[]])


async def test_manual_count_string_joiner_escape() -> None:
    steps = [inject("a"), inject("b")]
    await check({"build": "string", "count": "2"}, steps, [[{"payload": "a\nb"}]])


async def test_manual_buffer_with_binary_joiner() -> None:
    node = {"build": "buffer", "count": "2", "joiner": "[0]", "joinerType": "bin"}
    expect = [[{"payload": {"type": "Buffer", "data": [97, 0, 98]}}]]
    await check(node, [inject("a"), inject("b")], expect)


async def test_manual_buffer_refuses_numbers() -> None:
    catch = {"id": "c", "type": "catch", "wires": [[]]}
    node = {"build": "buffer", "count": "2"}
    await check(
        node,
        [inject(5)],
        [[]],
        extra=[catch],
        more={"c": [[{"error": {"message": "Cannot join number to buffer"}}]]},
    )


async def test_manual_whole_messages_array() -> None:
    node = {"propertyType": "full", "count": "2"}
    case = {
        "flow": [{**JOIN, **node}],
        "steps": [inject(1, topic="a"), inject(2, topic="b")],
        "settle_ms": 100,
        "expect": {"j": [[{"topic": "b"}]]},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail
    joined = result.actual["j"][0][0]["payload"]
    assert [(m["payload"], m["topic"]) for m in joined] == [(1, "a"), (2, "b")]
    assert all("_msgid" in m for m in joined)  # whole messages, as Node-RED keeps them


async def test_accumulate_resends_on_every_later_message() -> None:
    node = {"build": "object", "count": "2", "accumulate": True}
    steps = [inject(1, topic="a"), inject(2, topic="b"), inject(3, topic="a")]
    expect = [[{"payload": {"a": 1, "b": 2}}, {"payload": {"a": 3, "b": 2}}]]
    await check(node, steps, expect)


async def test_timeout_sends_a_partial_group() -> None:
    node = {"timeout": "0.15"}
    await check(node, [inject(1), inject(2)], [[{"payload": [1, 2]}]], settle_ms=500)


async def test_reset_discards_the_partial_group() -> None:
    steps = [inject(1), {"inject": "j", "msg": {"reset": True}}, inject(2, complete=True)]
    await check({}, steps, [[{"payload": [2]}]])


async def test_manual_uses_parts_count_when_count_is_empty() -> None:
    node = {"useparts": True, "count": ""}
    steps = [inject("x,y,z", "s")]
    await check(node, steps, [[{"payload": ["x", "y", "z"]}]], extra=[SPLIT])


async def test_reduce_right_and_init_string() -> None:
    node = {
        "mode": "reduce",
        "reduceExp": "$A & payload",
        "reduceInit": "",
        "reduceInitType": "str",
        "reduceRight": True,
        "reduceFixup": "",
    }
    await check(node, [inject("a,b,c", "s")], [[{"payload": "cba"}]], extra=[SPLIT])


async def test_reduce_uses_index_and_count() -> None:
    node = {
        "mode": "reduce",
        "reduceExp": "$A + $I * $N",
        "reduceInit": "0",
        "reduceInitType": "num",
    }
    await check(node, [inject("a,b,c", "s")], [[{"payload": 9}]], extra=[SPLIT])


async def test_reduce_passes_messages_without_parts() -> None:
    node = {"mode": "reduce", "reduceExp": "$A", "reduceInit": "0", "reduceInitType": "num"}
    await check(node, [inject(7)], [[{"payload": 7}]])


async def test_reduce_limit_error_names_the_limit(tmp_path: Path) -> None:
    settings = RuntimeSettings(tmp_path)
    settings.node_message_buffer_max_length = 1  # type: ignore[attr-defined]
    catch = {"id": "c", "type": "catch", "wires": [[]]}
    node = {"mode": "reduce", "reduceExp": "$A", "reduceInit": "0", "reduceInitType": "num"}
    steps = [
        inject(1, parts={"id": "g", "index": 0, "count": 3}),
        inject(2, parts={"id": "g", "index": 1, "count": 3}),
    ]
    text = "too many pending messages in join node (nodeMessageBufferMaxLength 1)"
    await check(
        node,
        steps,
        [[]],
        extra=[catch],
        settings=settings,
        more={"c": [[{"payload": 2, "error": {"message": text}}]]},
    )


@pytest.mark.parametrize(
    ("node", "text"),
    [
        ({"mode": "reduce", "reduceExp": "$A +"}, "Invalid JSONata expression"),
        ({"mode": "reduce", "reduceExp": ""}, "Invalid JSONata expression"),
        ({"joiner": "[x", "joinerType": "bin"}, "joiner"),
        ({"count": "three"}, "count"),
    ],
)
async def test_bad_config_is_refused(tmp_path: Path, node: dict[str, Any], text: str) -> None:
    rt = Runtime(RuntimeSettings(tmp_path))
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy([{"id": "z", "type": "tab"}, {**JOIN, **node, "z": "z"}])
    assert text in str(info.value)
