"""Flow building blocks for the Modbus node tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from plantwire.runtime.runtime import Runtime
from tests.conftest import probe, tab


def client(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": "mc",
        "type": "modbus-client",
        "clienttype": "tcp",
        "tcpHost": "127.0.0.1",
        "tcpPort": str(port),  # as the editor writes it
        "clientTimeout": "300",
        "reconnectTimeout": "200",
        **extra,
    }


def reader(points: list[dict[str, Any]], nid: str = "rd", **extra: Any) -> dict[str, Any]:
    return {
        "id": nid,
        "type": "modbus-read",
        "z": "t1",
        "name": extra.pop("name", "pump"),
        "server": "mc",
        "rate": "100",
        "rateUnit": "ms",
        "points": points,
        "wires": [["out"]],
        **extra,
    }


def flow(*nodes: dict[str, Any]) -> list[dict[str, Any]]:
    """A tab with the given nodes, an ``out`` probe, and a catch node feeding ``errs``."""
    return [
        tab(),
        *nodes,
        probe("out"),
        {"id": "catch", "type": "catch", "z": "t1", "scope": None, "wires": [["errs"]]},
        probe("errs"),
    ]


def hp(name: str, address: int, dtype: str = "uint16", **kw: Any) -> dict[str, Any]:
    return {"name": name, "table": "holding", "address": address, "type": dtype, **kw}


async def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Wait until ``cond()`` is truthy; fails with ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.02)


def latest(msgs: list[dict[str, Any]]) -> dict[str, Any]:
    """The newest good value per point from per-point messages."""
    out: dict[str, Any] = {}
    for m in msgs:
        if m.get("quality", {}).get("status") == "good":
            out[m["point"]] = m["payload"]
    return out


def get(rt: Runtime, node_id: str) -> Any:
    """A running node (typed loosely: tests read probe and node attributes)."""
    node = rt.get_node(node_id)
    assert node is not None, f"node {node_id} is not running"
    return node
