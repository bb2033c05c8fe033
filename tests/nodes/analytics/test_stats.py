"""stats node: rolling statistics in a running flow, driven by message timestamps."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import pytest

from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from tests.conftest import ProbeNode, probe, tab

T0 = 1_764_460_800_000  # epoch milliseconds


def analytics_flow(node: dict[str, Any], outputs: int = 1) -> list[dict[str, Any]]:
    """tab + the node under test (id "n") wired to probes out1..outN, and a catch -> err."""
    wires = [[f"out{i + 1}"] for i in range(outputs)]
    return [
        tab(),
        {"id": "n", "z": "t1", "wires": wires, **node},
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["err"]]},
        *(probe(f"out{i + 1}") for i in range(outputs)),
        probe("err"),
    ]


def got(rt: Runtime, nid: str) -> list[Msg]:
    node = rt.get_node(nid)
    assert isinstance(node, ProbeNode)
    return node.received


async def feed(rt: Runtime, *msgs: Msg) -> None:
    """Deliver messages to node "n" in order and wait until the flow is idle."""
    node = rt.get_node("n")
    assert node is not None
    for msg in msgs:
        rt.deliver(node, msg)
    await rt.idle()


async def start(
    make_runtime: Callable[..., Runtime], node: dict[str, Any], outputs: int = 1, **kw: Any
) -> Runtime:
    """A runtime (settings ``kw``) running ``analytics_flow(node, outputs)``."""
    rt = make_runtime(**kw)
    await rt.open()
    await rt.deploy(analytics_flow(node, outputs))
    return rt


async def test_count_window_statistics_are_placed_on_the_forwarded_message(
    make_runtime: Callable[..., Runtime],
) -> None:
    node = {"type": "stats", "window": "4", "property": "payload.level", "output": "stats"}
    rt = await start(make_runtime, node)
    values = [50.0, 48.0, 47.5, 45.0, 44.0, 41.0]
    await feed(
        rt,
        *(
            {"payload": {"level": v}, "timestamp": T0 + 60_000 * i, "tag": i}
            for i, v in enumerate(values)
        ),
    )
    out = got(rt, "out1")
    assert len(out) == 6
    assert out[0]["stats"]["count"] == 1 and out[0]["stats"]["stddev"] is None
    last = out[-1]
    assert last["tag"] == 5 and last["payload"] == {"level": 41.0}  # original msg forwarded
    s = last["stats"]
    window = values[-4:]
    assert s["count"] == 4
    assert s["mean"] == pytest.approx(statistics.fmean(window))
    assert s["stddev"] == pytest.approx(statistics.stdev(window))
    assert (s["min"], s["max"], s["first"], s["last"]) == (41.0, 47.5, 47.5, 41.0)
    assert s["span"] == pytest.approx(180.0)
    expected_slope = statistics.linear_regression([0, 60, 120, 180], window).slope
    assert s["slope"] == pytest.approx(expected_slope)
    assert got(rt, "err") == []


async def test_time_window_with_emit_full_waits_until_the_window_is_spanned(
    make_runtime: Callable[..., Runtime],
) -> None:
    node = {"type": "stats", "windowType": "time", "windowSeconds": "10", "emit": "full"}
    rt = await start(make_runtime, node)
    await feed(rt, *({"payload": i, "timestamp": T0 + 2000 * i} for i in range(5)))
    assert got(rt, "out1") == []  # 0..8 s: not yet 10 s of readings
    await feed(rt, {"payload": 5, "timestamp": T0 + 10_000})
    await feed(rt, {"payload": 6, "timestamp": T0 + 12_000})
    out = got(rt, "out1")
    assert len(out) == 2
    assert out[0]["payload"]["count"] == 6 and out[0]["payload"]["span"] == 10.0
    assert out[1]["payload"]["count"] == 6 and out[1]["payload"]["first"] == 1
    assert out[1]["payload"]["slope"] == pytest.approx(0.5)


async def test_topics_have_separate_windows_unless_per_topic_is_off(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await start(make_runtime, {"type": "stats", "window": 10})
    await feed(
        rt,
        {"topic": "a", "payload": 1, "timestamp": T0},
        {"topic": "b", "payload": 100, "timestamp": T0},
        {"topic": "a", "payload": 3, "timestamp": T0 + 1000},
    )
    means = [(m["topic"], m["payload"]["mean"]) for m in got(rt, "out1")]
    assert means == [("a", 1.0), ("b", 100.0), ("a", 2.0)]
    rt2 = make_runtime()
    await rt2.deploy(analytics_flow({"type": "stats", "window": 10, "perTopic": "false"}))
    await feed(
        rt2,
        {"topic": "a", "payload": 1, "timestamp": T0},
        {"topic": "b", "payload": 100, "timestamp": T0 + 1000},
    )
    assert got(rt2, "out1")[-1]["payload"]["mean"] == 50.5


async def test_numeric_strings_count_and_other_values_reach_catch_naming_the_property(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await start(make_runtime, {"type": "stats", "property": "payload.rms"})
    await feed(
        rt,
        {"payload": {"rms": " 2.5"}, "timestamp": T0},
        {"payload": {"rms": "worn"}, "timestamp": T0 + 1000},
        {"payload": {"vib": 1}, "timestamp": T0 + 2000},
        {"payload": {"rms": True}, "timestamp": T0 + 3000},
    )
    out = got(rt, "out1")
    assert len(out) == 1 and out[0]["payload"]["mean"] == 2.5
    errors = [m["error"]["message"] for m in got(rt, "err")]
    assert len(errors) == 3
    assert "msg.payload.rms" in errors[0] and "'worn'" in errors[0]
    assert "msg.payload.rms is missing" in errors[1]
    assert "msg.payload.rms" in errors[2] and "True" in errors[2]
    assert got(rt, "err")[0]["error"]["source"]["id"] == "n"


async def test_reset_clears_the_topic_window_and_old_times_are_refused(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await start(make_runtime, {"type": "stats", "window": 5})
    await feed(
        rt,
        {"payload": 10, "timestamp": T0 + 5000},
        {"payload": 20, "timestamp": T0 + 4000},  # older than the previous reading
    )
    assert len(got(rt, "out1")) == 1
    err = got(rt, "err")
    assert len(err) == 1 and "msg.timestamp" in err[0]["error"]["message"]
    await feed(rt, {"reset": True}, {"payload": 7, "timestamp": T0})
    out = got(rt, "out1")
    assert len(out) == 2  # the reset message itself is not forwarded
    assert out[-1]["payload"]["count"] == 1 and out[-1]["payload"]["mean"] == 7.0


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"window": "0"}, "window"),
        ({"windowType": "sliding"}, "windowType"),
        ({"windowType": "time", "windowSeconds": ""}, "windowSeconds"),
        ({"emit": "sometimes"}, "emit"),
        ({"property": ""}, "property"),
    ],
)
async def test_bad_config_is_refused_naming_the_field(
    make_runtime: Callable[..., Runtime], bad: dict[str, Any], field: str
) -> None:
    rt = make_runtime()
    with pytest.raises(PlantwireError, match=field):
        await rt.deploy(analytics_flow({"type": "stats", **bad}))
