"""debug node: status summaries, listeners, util.inspect formatting."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from plantwire.nodes.core.debug import inspect
from plantwire.runtime.message import MISSING
from plantwire.runtime.runtime import Runtime, RuntimeSettings


def test_inspect() -> None:
    assert inspect({"a": 1, "b c": "x"}) == "{ a: 1, 'b c': 'x' }"
    assert inspect([1, [2, [3, [4]]]]) == "[ 1, [ 2, [ 3, [Array] ] ] ]"
    assert inspect(b"\x01\xff") == "<Buffer 01 ff>"
    assert inspect(MISSING) == "undefined" and inspect(None) == "null"
    assert inspect(list(range(10))) == "[\n  0, 1, 2, 3, 4,\n  5, 6, 7, 8, 9\n]"


async def deploy(tmp_path: Path, **cfg: Any) -> tuple[Runtime, list[dict[str, Any]]]:
    rt = Runtime(RuntimeSettings(tmp_path))
    statuses: list[dict[str, Any]] = []
    rt.status_listeners.append(lambda node, st: statuses.append(dict(st)))
    node = {"id": "d1", "type": "debug", "z": "t1", "wires": [], **cfg}
    await rt.deploy([{"id": "t1", "type": "tab"}, node])
    return rt, statuses


async def test_status_auto_truncates(tmp_path: Path) -> None:
    rt, statuses = await deploy(tmp_path, tostatus=True, complete="payload")
    node = rt.get_node("d1")
    assert node is not None
    rt.receive_now(node, {"payload": "x" * 40})
    rt.receive_now(node, {"payload": {"a": 1}})
    rt.receive_now(node, {"payload": {"a": 1}})  # unchanged: no new status
    await asyncio.sleep(0.01)
    assert statuses[-2:] == [
        {"fill": "grey", "shape": "dot", "text": "x" * 32 + "..."},
        {"fill": "grey", "shape": "dot", "text": "{ a: 1 }"},
    ]
    await rt.stop()


async def test_status_of_error_and_listener(tmp_path: Path) -> None:
    rt, statuses = await deploy(tmp_path, tostatus=True, complete="true", targetType="full")
    seen: list[dict[str, Any]] = []
    rt.debug_listeners = [seen.append]  # type: ignore[attr-defined]
    node = rt.get_node("d1")
    assert node is not None
    rt.receive_now(node, {"payload": 1, "error": {"message": "bad"}})
    assert statuses[-1] == {"fill": "red", "shape": "dot", "text": "bad"}
    assert seen and seen[0]["msg"]["payload"] == 1 and seen[0]["id"] == "d1"
    await rt.stop()


async def test_counter(tmp_path: Path) -> None:
    rt, statuses = await deploy(tmp_path, tostatus=True, statusType="counter")
    node = rt.get_node("d1")
    assert node is not None
    for _ in range(3):
        rt.receive_now(node, {"payload": 1})
    await asyncio.sleep(0.3)
    assert statuses[-1] == {"fill": "blue", "shape": "ring", "text": "3"}
    await rt.stop()


async def test_jsonata_output(tmp_path: Path) -> None:
    rt, _ = await deploy(tmp_path, complete="payload * 2", targetType="jsonata")
    seen: list[dict[str, Any]] = []
    rt.debug_listeners = [seen.append]  # type: ignore[attr-defined]
    node = rt.get_node("d1")
    assert node is not None
    rt.receive_now(node, {"payload": 4})
    assert seen[0]["msg"] == 8 and "property" not in seen[0]
    await rt.stop()
