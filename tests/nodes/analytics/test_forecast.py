"""forecast node: time until a trending value reaches a limit, in a running flow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.runtime import Runtime
from tests.nodes.analytics.test_stats import T0, analytics_flow, feed, got, start


def levels(values: list[float], step: float = 60.0, topic: str = "silo1") -> list[dict[str, Any]]:
    """One reading per ``step`` seconds from T0."""
    return [
        {"topic": topic, "payload": {"level": v}, "timestamp": T0 + int(i * step * 1000)}
        for i, v in enumerate(values)
    ]


SILO = {"type": "forecast", "property": "payload.level", "output": "forecast", "limit": "10"}


async def test_silo_running_empty_gives_time_to_limit_and_eta(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await start(make_runtime, {**SILO, "window": "10", "direction": "falling"})
    await feed(rt, *levels([80, 79, 78, 77]))
    assert got(rt, "out1") == []  # minSamples 5 by default
    assert rt.get_node("n").last_status["text"] == "4/5"  # type: ignore[union-attr]
    await feed(rt, *levels([80, 79, 78, 77, 76])[4:])
    out = got(rt, "out1")
    assert len(out) == 1
    f = out[0]["forecast"]
    assert out[0]["payload"] == {"level": 76}
    assert f["value"] == 76 and f["samples"] == 5 and f["limit"] == 10.0
    assert f["slope"] == pytest.approx(-1 / 60)
    assert f["timeToLimit"] == pytest.approx(66 * 60)  # 66 % left at 1 % per minute
    assert f["r2"] == pytest.approx(1.0)
    eta = dt.datetime.fromtimestamp(T0 / 1000 + 240 + 66 * 60, dt.UTC)
    assert f["eta"] == eta.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # below the limit and still falling: the limit is reached (0); refilling: no crossing
    await feed(rt, *levels([12, 10, 9, 8, 7], topic="silo2"))
    assert got(rt, "out1")[-1]["forecast"]["timeToLimit"] == 0.0
    await feed(rt, *levels([7, 20, 40, 60, 80], topic="silo3"))
    last = got(rt, "out1")[-1]["forecast"]
    assert last["timeToLimit"] is None and last["eta"] is None and last["slope"] > 0


async def test_either_direction_and_a_flat_series(make_runtime: Callable[..., Runtime]) -> None:
    node = {**SILO, "limit": "4.5", "window": 5, "minSamples": "3", "output": "payload"}
    rt = await start(make_runtime, node)
    # vibration RMS rising toward 4.5 mm/s by 0.1 per hour
    await feed(rt, *levels([2.0, 2.1, 2.2], step=3600, topic="pump"))
    f = got(rt, "out1")[-1]["payload"]
    assert f["timeToLimit"] == pytest.approx(23 * 3600)
    await feed(rt, *levels([5.0, 5.1, 5.2], step=3600, topic="past"))
    assert got(rt, "out1")[-1]["payload"]["timeToLimit"] is None  # moving away from 4.5
    await feed(rt, *levels([3.0, 3.0, 3.0], topic="flat"))
    f = got(rt, "out1")[-1]["payload"]
    assert f["slope"] == 0.0 and f["timeToLimit"] is None and f["r2"] is None


async def test_emit_change_sends_only_when_time_to_limit_moves_beyond_tolerance(
    make_runtime: Callable[..., Runtime],
) -> None:
    node = {**SILO, "window": "10", "emit": "change", "tolerance": "10"}
    rt = await start(make_runtime, node)
    await feed(rt, *levels([80.0 - i for i in range(20)]))
    ttl = [m["forecast"]["timeToLimit"] for m in got(rt, "out1")]
    # 3960 s at the 5th reading, then 60 s less per reading: sent again once it moved by
    # more than 10 % of the last one sent (396 s -> 3540 s; 354 s -> 3180 s)
    assert ttl == pytest.approx([3960.0, 3540.0, 3180.0])


async def test_time_window_and_bad_values(make_runtime: Callable[..., Runtime]) -> None:
    node = {**SILO, "windowType": "time", "windowSeconds": "300", "minSamples": "2"}
    rt = await start(make_runtime, node)
    # an old steep drop falls out of the 300 s window; the recent trend is 1 per minute
    await feed(rt, *levels([100, 50, 49, 48, 47, 46, 45, 44]))
    f = got(rt, "out1")[-1]["forecast"]
    assert f["samples"] == 6 and f["slope"] == pytest.approx(-1 / 60)
    await feed(rt, {"payload": {"level": None}, "timestamp": T0 + 600_000})
    err = got(rt, "err")
    assert len(err) == 1 and "msg.payload.level is not a number: None" in err[0]["error"]["message"]
    assert len(got(rt, "out1")) == 7


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"limit": ""}, "limit"),
        ({"limit": "10", "minSamples": "1"}, "minSamples"),
        ({"limit": "10", "window": "3"}, "window: 3 messages can never reach minSamples 5"),
        ({"limit": "10", "windowType": "time"}, "windowSeconds"),
        ({"limit": "10", "direction": "down"}, "direction"),
    ],
)
async def test_bad_config_is_refused_naming_the_field(
    make_runtime: Callable[..., Runtime], bad: dict[str, Any], field: str
) -> None:
    rt = make_runtime()
    with pytest.raises(PlantwireError, match=field):
        await rt.deploy(analytics_flow({"type": "forecast", **bad}))
