"""Backpressure: bounded queues make sources wait instead of memory growing."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import probe, tab


async def test_source_waits_for_a_slow_async_sink(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            probe("src", [["mid"]]),
            probe("mid", [["slow"]]),
            {
                "id": "slow",
                "type": "test-slow",
                "z": "t1",
                "delay": 0.002,
                "limit": 5,
                "wires": [[]],
            },
        ]
    )
    src, slow = rt.get_node("src"), rt.get_node("slow")
    for i in range(100):
        await src.send_async({"payload": i})
        assert slow.stats.queued <= slow.queue_limit + 1
    for _ in range(500):
        await asyncio.sleep(0.01)
        if len(slow.received) == 100:
            break
    assert [m["payload"] for m in slow.received] == list(range(100))  # nothing lost, in order
    assert slow.max_depth <= slow.queue_limit


async def test_dispatcher_high_water_bounds_the_fifo(make_runtime: Any) -> None:
    rt = make_runtime(queue_high_water=50)
    await rt.deploy([tab(), probe("src", [["a", "b"]]), probe("a"), probe("b")])
    src = rt.get_node("src")
    peak = 0
    for i in range(1000):
        await src.send_async({"payload": i})
        peak = max(peak, len(rt._queue))
    await rt.idle()
    assert peak <= 50 + 2
    assert len(rt.get_node("b").received) == 1000
