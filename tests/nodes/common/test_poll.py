"""The polling coordinator: packing per interval, shared cycles, failures and reconnects.

The device here is an in-process object that counts requests; the protocol tests
(tests/nodes/modbus, s7, enip) run the same coordinator against real servers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from plantwire.nodes.common.poll import ConnectionLost, PointResult, PollCoordinator
from plantwire.nodes.common.values import bad, format_topic, iso_time, value_msg


@dataclass(frozen=True)
class Request:
    points: tuple[int, ...]


class Device:
    """Registers 0..99 holding their own address times 10; can fail in several ways."""

    def __init__(self) -> None:
        self.up = True
        self.requests: list[Request] = []
        self.broken: set[int] = set()
        self.connects = 0

    async def connect(self) -> None:
        if not self.up:
            raise OSError("connection refused")
        self.connects += 1

    async def disconnect(self) -> None:
        pass

    async def execute(self, request: Request) -> dict[int, Any]:
        if not self.up:
            raise ConnectionLost("socket closed")
        self.requests.append(request)
        if self.broken & set(request.points):
            raise ValueError("illegal data address")
        return {p: p * 10 for p in request.points}


def plan(points: list[int]) -> Sequence[Request]:
    """Pack sorted addresses into requests of at most 5 contiguous-ish points (gap <= 2)."""
    out: list[list[int]] = []
    for p in sorted(points):
        if out and p - out[-1][-1] <= 2 and len(out[-1]) < 5:
            out[-1].append(p)
        else:
            out.append([p])
    return [Request(tuple(group)) for group in out]


def coordinator(device: Device, **kw: Any) -> PollCoordinator[int]:
    return PollCoordinator(
        "test device",
        connect=device.connect,
        disconnect=device.disconnect,
        plan=plan,
        execute=device.execute,
        backoff_min=0.05,
        backoff_max=0.2,
        **kw,
    )


async def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_one_cycle_serves_every_subscriber_with_packed_requests() -> None:
    device = Device()
    coord = coordinator(device)
    got_a: list[dict[int, PointResult]] = []
    got_b: list[dict[int, PointResult]] = []
    coord.subscribe([1, 2, 3], 0.05, got_a.append)
    coord.subscribe([3, 4, 20], 0.05, got_b.append)
    await coord.start()
    await wait_for(lambda: got_a and got_b)
    await coord.stop()
    assert got_a[0] == {1: PointResult(10), 2: PointResult(20), 3: PointResult(30)}
    assert got_b[0][20] == PointResult(200)
    first_cycle = device.requests[:2]
    assert first_cycle == [Request((1, 2, 3, 4)), Request((20,))]  # 5 points, 2 requests


async def test_a_failing_request_marks_only_its_points_bad() -> None:
    device = Device()
    device.broken = {20}
    coord = coordinator(device)
    got: list[dict[int, PointResult]] = []
    coord.subscribe([1, 20], 0.05, got.append)
    await coord.start()
    await wait_for(lambda: len(got) >= 2)
    await coord.stop()
    assert got[-1][1] == PointResult(10)
    assert got[-1][20] == PointResult(error="illegal data address")
    assert coord.state == "stopped"


async def test_connection_loss_reconnects_with_one_log_line_each_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    device = Device()
    coord = coordinator(device)
    states: list[str] = []
    coord.add_state_listener(lambda state, detail: states.append(state))
    got: list[dict[int, PointResult]] = []
    coord.subscribe([1], 0.02, got.append)
    with caplog.at_level(logging.INFO, logger="plantwire.poll"):
        await coord.start()
        await wait_for(lambda: coord.state == "connected" and got)
        device.up = False
        await wait_for(lambda: coord.state == "reconnecting")
        await asyncio.sleep(0.5)  # several failed attempts
        assert got[-1][1].error == "not connected: connection refused"
        device.up = True
        await wait_for(lambda: coord.state == "connected" and got[-1][1].ok)
        await coord.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if "connected again" in r.getMessage()]
    assert len(warnings) == 1 and len(infos) == 1
    assert "reconnecting" in states and states[-1] == "stopped"
    assert device.connects == 2


async def test_writes_share_the_connection_and_fail_clearly_when_down() -> None:
    device = Device()
    coord = coordinator(device)
    coord.subscribe([1], 1.0, lambda r: None)
    await coord.start()
    assert await coord.wait_connected(5)
    assert await coord.call(lambda: device.execute(Request((7,)))) == {7: 70}
    await coord.stop()
    with pytest.raises(ConnectionLost, match="not connected"):
        await coord.call(lambda: device.execute(Request((7,))))


async def test_timeouts_and_subscriber_changes() -> None:
    device = Device()

    async def slow(request: Request) -> dict[int, Any]:
        if 50 in request.points:
            await asyncio.sleep(1)
        return await device.execute(request)

    coord = PollCoordinator(
        "slow",
        connect=device.connect,
        disconnect=device.disconnect,
        plan=plan,
        execute=slow,
        request_timeout=0.05,
    )
    got: list[dict[int, PointResult]] = []
    sub = coord.subscribe([1, 50], 0.05, got.append)
    await coord.start()
    await wait_for(lambda: got)
    assert got[0][50].error == "no answer within 0.05 s" and got[0][1].ok
    coord.unsubscribe(sub)
    assert coord.subscribers == 0
    with pytest.raises(ValueError, match="interval"):
        coord.subscribe([1], 0, got.append)
    await coord.stop()


def test_value_messages() -> None:
    msg = value_msg(
        5,
        topic=format_topic("plant/{line}/{point}", {"line": "l1", "point": "x"}),
        quality=bad("timeout"),
        point="x",
        unit=None,
    )
    assert msg["topic"] == "plant/l1/x" and msg["quality"] == {"status": "bad", "reason": "timeout"}
    assert "unit" not in msg and msg["sourceTimestamp"] == msg["receiveTimestamp"]
    assert format_topic("a/{missing}", {}) == "a/{missing}"
    from datetime import datetime

    assert iso_time(datetime(2026, 1, 2, 3, 4, 5, 6000)) == "2026-01-02T03:04:05.006Z"


async def test_stop_right_after_unsubscribe_is_prompt() -> None:
    device = Device()
    coord = coordinator(device)
    for _ in range(20):
        sub = coord.subscribe([1], 0.01, lambda r: None)
        await coord.start()
        await asyncio.sleep(0.02)
        coord.unsubscribe(sub)
        await asyncio.wait_for(coord.stop(), 2)
