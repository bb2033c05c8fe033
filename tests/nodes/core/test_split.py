"""split node: strings, buffers, arrays and objects into sequences with Node-RED's msg.parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case

BASE: dict[str, Any] = {
    "id": "s",
    "type": "split",
    "splt": "\\n",
    "spltType": "str",
    "arraySplt": 1,
    "arraySpltType": "len",
    "stream": False,
    "addname": "",
    "property": "payload",
    "wires": [["strip"]],
}
STRIP = {
    "id": "strip",
    "type": "change",
    "rules": [{"t": "delete", "p": "parts.id", "pt": "msg"}],
    "wires": [[]],
}


async def run(node: dict[str, Any], msgs: list[dict[str, Any]]) -> list[Any]:
    case = {
        "flow": [{**BASE, **node}, STRIP],
        "steps": [{"inject": "s", "msg": m} for m in msgs],
        "settle_ms": 100,
        "expect": {"strip": [[]]},
    }
    result = await run_case(case_from_dict(case))
    return result.actual["strip"][0] if result.actual["strip"] else []


async def test_newline_is_the_default_separator() -> None:
    out = await run({}, [{"payload": "a\nb"}])
    assert [m["payload"] for m in out] == ["a", "b"]
    assert out[0]["parts"] == {"type": "string", "ch": "\n", "index": 0, "count": 2}


async def test_parts_id_is_shared_and_new_per_message() -> None:
    case = {
        "flow": [{**BASE, "splt": ",", "wires": [[]]}],
        "steps": [
            {"inject": "s", "msg": {"payload": "a,b"}},
            {"inject": "s", "msg": {"payload": "c,d"}},
        ],
        "settle_ms": 100,
        "expect": {"s": [[{}, {}, {}, {}]]},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail
    ids = [m["parts"]["id"] for m in result.actual["s"][0]]
    assert ids[0] == ids[1] != ids[2] == ids[3] and len(ids[0]) == 16


async def test_binary_separator_on_a_buffer() -> None:
    node = {"splt": "[44]", "spltType": "bin"}
    flow = [
        {
            "id": "mk",
            "type": "change",
            "wires": [["s"]],
            "rules": [
                {"t": "set", "p": "payload", "pt": "msg", "to": "[1,44,2,44,3]", "tot": "bin"}
            ],
        },
        {**BASE, **node},
        STRIP,
    ]
    case = {
        "flow": flow,
        "steps": [{"inject": "mk", "msg": {}}],
        "settle_ms": 100,
        "expect": {
            "strip": [
                [
                    {
                        "payload": {"type": "Buffer", "data": [1]},
                        "parts": {"type": "buffer", "ch": [44], "index": 0, "count": 3},
                    },
                    {"payload": {"type": "Buffer", "data": [2]}, "parts": {"index": 1}},
                    {"payload": {"type": "Buffer", "data": [3]}, "parts": {"index": 2}},
                ]
            ]
        },
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


async def test_stream_mode_keeps_the_tail_for_the_next_message() -> None:
    out = await run({"stream": True}, [{"payload": "a\nb"}, {"payload": "c\nd\n"}])
    assert [m["payload"] for m in out] == ["a", "bc", "d"]
    assert [m["parts"]["index"] for m in out] == [0, 1, 2]
    assert all("count" not in m["parts"] for m in out)


async def test_object_with_addname_and_other_property() -> None:
    node = {"addname": "topic", "property": "data"}
    out = await run(node, [{"data": {"x": 1, "y": 2}}])
    assert [(m["data"], m["topic"], m["parts"]["key"]) for m in out] == [
        (1, "x", "x"),
        (2, "y", "y"),
    ]
    assert out[0]["parts"]["property"] == "data"


async def test_object_integer_keys_come_first_as_in_javascript() -> None:
    out = await run({}, [{"payload": {"b": 1, "2": 2, "1": 3}}])
    assert [m["parts"]["key"] for m in out] == ["1", "2", "b"]


async def test_missing_property_and_numbers() -> None:
    assert await run({}, [{"topic": "no payload"}, {"payload": 5}]) == []


async def test_null_payload_is_an_error() -> None:
    flow = [{**BASE, "wires": [[]]}, {"id": "c", "type": "catch", "wires": [[]]}]
    case = {
        "flow": flow,
        "steps": [{"inject": "s", "msg": {"payload": None}}],
        "settle_ms": 100,
        "expect": {"c": [[{"payload": None}]]},
    }
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


@pytest.mark.parametrize(
    ("node", "text"),
    [
        ({"splt": "0", "spltType": "len"}, "split length"),
        ({"splt": "{}", "spltType": "bin"}, "array"),
        ({"arraySplt": "x"}, "array split length"),
    ],
)
async def test_bad_config_is_refused(tmp_path: Path, node: dict[str, Any], text: str) -> None:
    rt = Runtime(RuntimeSettings(tmp_path))
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy([{"id": "z", "type": "tab"}, {**BASE, **node, "z": "z", "wires": [[]]}])
    assert text in str(info.value)
