"""Helpers shared by the tests of the per-shift nodes (oee, integrate): a flow with the node,
a catch node and probes, messages at explicit times, and waiting for the reports."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

from plantwire.runtime.runtime import Runtime
from tests.conftest import probe, tab
from tests.flowkit import received

T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC).timestamp()
"""Start of a one-hour shift (shiftSeconds 3600 aligns to whole hours)."""

STORES = {"default": "memory", "memory": {"module": "memory"}, "file": {"module": "sqlite"}}


def shift_flow(node: dict[str, Any], **cfg: Any) -> list[dict[str, Any]]:
    """A flow with ``node`` (one-hour UTC shifts, wired to probe "out", ``cfg`` on top), a
    catch node wired to probe "err" and the two probes."""
    node = {"z": "t1", "shiftSeconds": "3600", "timezone": "UTC", **node, "wires": [["out"]]}
    node.update(cfg)
    return [
        tab(),
        node,
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["err"]]},
        probe("out"),
        probe("err"),
    ]


async def feed(rt: Runtime, nid: str, msgs: Sequence[tuple[float, str, Any]]) -> None:
    """Deliver (seconds after T0, topic, payload) messages and let the dispatcher run."""
    node = rt.get_node(nid)
    assert node is not None
    for offset, topic, payload in msgs:
        rt.deliver(node, {"topic": topic, "payload": payload, "timestamp": (T0 + offset) * 1000})
    for _ in range(50):
        await asyncio.sleep(0)


async def reports(rt: Runtime, count: int, topic: str) -> list[dict[str, Any]]:
    """The payloads at probe "out" once there are ``count`` (all with msg.topic ``topic``)."""
    for _ in range(250):
        if len(received(rt, "out")) >= count:
            break
        await asyncio.sleep(0.02)
    got = received(rt, "out")
    assert len(got) >= count, f"{len(got)} of {count}: {got} err={received(rt, 'err')}"
    assert all(m["topic"] == topic for m in got)
    return [m["payload"] for m in got]
