"""threshold node: one message per alarm episode, hysteresis, delays in message time,
and an ongoing episode surviving a restart with a persistent context store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.runtime import Runtime
from tests.nodes.analytics.test_stats import T0, analytics_flow, feed, got, start

STORES = {
    "default": "memory",
    "memory": {"module": "memory"},
    "file": {"module": "localfilesystem"},
}


def readings(*pairs: tuple[float, float], topic: str = "silo1") -> list[dict[str, Any]]:
    """Messages (seconds after T0, value) with explicit timestamps."""
    return [{"topic": topic, "payload": v, "timestamp": T0 + int(s * 1000)} for s, v in pairs]


async def test_high_alarm_fires_once_per_episode_and_clears_below_the_deadband(
    make_runtime: Callable[..., Runtime],
) -> None:
    node = {"type": "threshold", "high": "90", "deadband": "5"}
    rt = await start(make_runtime, node, outputs=2)
    await feed(rt, *readings((0, 50), (10, 91), (20, 95), (30, 92), (40, 86)))
    raised, cleared = got(rt, "out1"), got(rt, "out2")
    assert len(raised) == 1 and cleared == []
    assert raised[0]["payload"] == {
        "state": "high",
        "value": 91.0,
        "limit": 90.0,
        "since": "2025-11-30T00:00:10.000Z",
        "topic": "silo1",
    }
    assert "high" in rt.get_node("n").last_status["text"]  # type: ignore[union-attr]
    await feed(rt, *readings((50, 84.9), (60, 80)))
    assert len(got(rt, "out1")) == 1
    cleared = got(rt, "out2")
    assert len(cleared) == 1
    assert cleared[0]["payload"]["state"] == "normal"
    assert cleared[0]["payload"]["cleared"] == "high"
    assert cleared[0]["payload"]["value"] == 84.9
    assert cleared[0]["payload"]["since"] == "2025-11-30T00:00:50.000Z"
    assert "normal" in rt.get_node("n").last_status["text"]  # type: ignore[union-attr]
    await feed(rt, *readings((70, 99)))  # a new episode
    assert len(got(rt, "out1")) == 2 and len(got(rt, "out2")) == 1


async def test_on_and_off_delays_are_measured_in_message_time(
    make_runtime: Callable[..., Runtime],
) -> None:
    node = {"type": "threshold", "low": "10", "onDelay": "30", "offDelay": "20"}
    rt = await start(make_runtime, node, outputs=2)
    # below 10 at 0 s, recovers at 20 s (pending dropped), below again from 30 s
    await feed(rt, *readings((0, 8), (10, 7), (20, 12), (30, 9), (50, 6)))
    assert got(rt, "out1") == []
    await feed(rt, *readings((60, 5)))
    raised = got(rt, "out1")
    assert len(raised) == 1
    assert raised[0]["payload"]["state"] == "low"
    assert raised[0]["payload"]["since"] == "2025-11-30T00:00:30.000Z"
    await feed(rt, *readings((70, 15), (80, 9), (90, 15), (100, 16)))
    assert got(rt, "out2") == []  # 15 at 70 s was interrupted by 9 at 80 s
    await feed(rt, *readings((110, 16), (115, 17)))
    cleared = got(rt, "out2")
    assert len(cleared) == 1 and cleared[0]["payload"]["since"] == "2025-11-30T00:01:30.000Z"
    assert len(got(rt, "out1")) == 1


async def test_topics_are_separate_episodes_and_reset_forgets_one(
    make_runtime: Callable[..., Runtime],
) -> None:
    node = {"type": "threshold", "high": "4.5", "property": "payload.rms", "output": "alarm"}
    rt = await start(make_runtime, node, outputs=2)

    def rms(topic: str, s: float, v: float) -> dict[str, Any]:
        return {"topic": topic, "payload": {"rms": v}, "timestamp": T0 + int(s * 1000)}

    await feed(rt, rms("pump1", 0, 5.0), rms("pump2", 0, 3.0), rms("pump2", 5, 6.0))
    await feed(rt, rms("pump1", 10, 5.5), rms("pump2", 10, 7.0))
    raised = got(rt, "out1")
    assert [(m["topic"], m["alarm"]["value"]) for m in raised] == [("pump1", 5.0), ("pump2", 6.0)]
    assert raised[0]["payload"] == {"rms": 5.0}  # the reading stays, the result is at `output`
    await feed(rt, {"topic": "pump1", "reset": True}, rms("pump1", 20, 5.2), rms("pump2", 20, 8))
    assert [m["topic"] for m in got(rt, "out1")] == ["pump1", "pump2", "pump1"]
    assert got(rt, "out2") == []
    ctx = rt.get_node("n").context()  # type: ignore[union-attr]
    assert sorted(ctx.keys()) == ["episode:pump1", "episode:pump2"]
    await feed(rt, {"reset": True})  # no topic: every episode is forgotten
    assert ctx.keys() == []
    await feed(rt, rms("pump1", 30, 5.2), rms("pump2", 30, 8))
    assert len(got(rt, "out1")) == 5 and got(rt, "out2") == []


async def test_a_jump_from_high_to_low_clears_and_raises_with_one_message(
    make_runtime: Callable[..., Runtime],
) -> None:
    node = {"type": "threshold", "high": "80", "low": "20", "deadband": "2"}
    rt = await start(make_runtime, node, outputs=2)
    await feed(rt, *readings((0, 85), (10, 80), (20, 5)))
    raised, cleared = got(rt, "out1"), got(rt, "out2")
    assert [m["payload"]["state"] for m in raised] == ["high", "low"]
    assert len(cleared) == 1 and cleared[0]["payload"]["cleared"] == "high"
    assert raised[1]["payload"]["limit"] == 20.0 and cleared[0]["payload"]["limit"] == 80.0
    assert raised[1] is not cleared[0]  # the same reading, two separate messages
    assert raised[1]["timestamp"] == cleared[0]["timestamp"]


async def test_a_value_that_is_not_a_number_reaches_catch(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await start(make_runtime, {"type": "threshold", "high": 1}, outputs=2)
    await feed(rt, {"payload": "n/a", "timestamp": T0}, {"payload": "3", "timestamp": T0})
    err = got(rt, "err")
    assert len(err) == 1 and "msg.payload is not a number: 'n/a'" in err[0]["error"]["message"]
    assert len(got(rt, "out1")) == 1  # the numeric string "3" raised the alarm


async def test_an_ongoing_episode_does_not_fire_again_after_a_restart(
    make_runtime: Callable[..., Runtime],
) -> None:
    node = {"type": "threshold", "high": "90", "deadband": "2", "store": "file"}
    rt = await start(make_runtime, node, outputs=2, context_storage=STORES)
    await feed(rt, *readings((0, 95)), *readings((0, 99), topic="silo2"))
    assert len(got(rt, "out1")) == 2
    await rt.stop()

    rt2 = await start(make_runtime, node, outputs=2, context_storage=STORES)
    assert "2 active" in rt2.get_node("n").last_status["text"]  # type: ignore[union-attr]
    await feed(rt2, *readings((60, 96), (120, 97)))
    assert got(rt2, "out1") == []  # still the same episode
    await feed(rt2, *readings((180, 80), (240, 70)))
    cleared = got(rt2, "out2")
    assert len(cleared) == 1
    assert cleared[0]["payload"]["cleared"] == "high" and cleared[0]["payload"]["limit"] == 90.0
    await feed(rt2, *readings((300, 95)))
    assert len(got(rt2, "out1")) == 1  # the next episode fires
    await rt2.stop()

    # without a persistent store the episode is forgotten: this is what `store` prevents
    node_mem = {**node, "store": ""}
    rt3 = await start(make_runtime, node_mem, outputs=2, context_storage=STORES)
    await feed(rt3, *readings((0, 95)))
    await rt3.stop()
    rt4 = await start(make_runtime, node_mem, outputs=2, context_storage=STORES)
    await feed(rt4, *readings((60, 95)))
    assert len(got(rt4, "out1")) == 1


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"high": "10", "low": "20"}, "high: must be greater than low"),
        ({"high": "", "low": ""}, "high: set a high limit"),
        ({"high": "10", "deadband": "-1"}, "deadband"),
        ({"high": "10", "onDelay": "soon"}, "onDelay"),
        ({"high": "10", "output": "a..b"}, "output"),
    ],
)
async def test_bad_config_is_refused_naming_the_field(
    make_runtime: Callable[..., Runtime], bad: dict[str, Any], field: str
) -> None:
    rt = make_runtime()
    with pytest.raises(PlantwireError, match=field):
        await rt.deploy(analytics_flow({"type": "threshold", **bad}, outputs=2))
