"""oee: the maths (no runtime) and the node in a flow, with explicit message times that
cross shift boundaries; figures computed by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from plantwire.nodes.analytics.oee_codec import OeeTracker, oee_figures, parse_state_list
from plantwire.nodes.analytics.shift_codec import ShiftSchedule
from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.runtime import Runtime
from tests.flowkit import deploy as _deploy
from tests.flowkit import received as _got
from tests.nodes.analytics.helpers import STORES, T0, feed, reports, shift_flow


def _tracker(**kw: Any) -> OeeTracker:
    return OeeTracker(
        ShiftSchedule(period=3600),
        kw.pop("ideal", 60.0),
        parse_state_list(kw.pop("running", "1,RUNNING,running,true")),
        parse_state_list(kw.pop("stops", "")),
        **kw,
    )


# ----- maths ------------------------------------------------------------------------------


def test_oee_figures_of_the_worked_example() -> None:
    got = oee_figures(3600, 3000, 2400, 2350, 60)
    assert got["availability"] == 0.8333
    assert got["performance"] == 0.8
    assert got["quality"] == 0.9792
    assert got["oee"] == 0.6528


def test_oee_figures_cap_and_undefined_factors() -> None:
    fast = oee_figures(3600, 3600, 4000, 4000, 60)
    assert fast["performance"] == 1.0 and fast["rawPerformance"] == pytest.approx(1.1111, 1e-4)
    idle = oee_figures(3600, 0, 0, 0, 60)
    assert (idle["availability"], idle["performance"], idle["quality"], idle["oee"]) == (
        0.0,
        None,
        None,
        0.0,
    )
    stopped = oee_figures(0, 0, 0, 0, 60)
    assert stopped["availability"] is None and stopped["oee"] is None


def test_state_values_as_numbers_and_text() -> None:
    running = parse_state_list("1,RUNNING,running,true")
    tr = _tracker()
    value: Any
    for value in (1, 1.0, "1", "RUNNING", " running ", True):
        tr.feed_state(T0, value)
        assert tr.state in running, value
    for value in (0, 2, "IDLE", "FAULT", False, None):
        tr.feed_state(T0, value)
        assert tr.state not in running, value


def test_tracker_splits_counts_linearly_and_state_exactly_at_the_boundary() -> None:
    tr = _tracker()
    assert tr.feed_state(T0, 1) == []
    tr.feed_counter("total", T0, 0)
    tr.feed_counter("total", T0 + 3300, 3300)
    reports = tr.feed_counter("total", T0 + 3900, 3900)  # 600 over 600 s: 300 each side
    assert len(reports) == 1
    r = reports[0]
    assert (r["plannedSeconds"], r["runSeconds"], r["total"]) == (3600, 3600, 3600)
    assert (r["availability"], r["performance"], r["quality"], r["oee"]) == (1, 1, 1, 1)
    assert r["final"] is True
    # the next shift holds the rest
    later = tr.feed_counter("total", T0 + 7200, 3900)
    assert later[0]["total"] == 300 and later[0]["runSeconds"] == 3600


def test_ended_shift_waits_for_every_counter_then_for_the_close_delay() -> None:
    tr = _tracker(close_delay=60)
    tr.feed_state(T0, 1)
    tr.feed_counter("total", T0, 0)
    tr.feed_counter("good", T0, 0)
    tr.feed_counter("total", T0 + 3000, 3000)
    tr.feed_counter("good", T0 + 3000, 2900)
    assert tr.feed_counter("total", T0 + 3660, 3660) == []  # good still owes its part
    [r] = tr.feed_counter("good", T0 + 3660, 3560)  # 660 in 660 s: 600 before 11:00
    assert (r["total"], r["good"], r["reject"]) == (3600, 3500, 100)
    # a counter that stays silent holds the report at most close_delay s of message time
    assert tr.feed_counter("total", T0 + 7230, 7230) == []
    assert tr.feed_state(T0 + 7289, 1) == []
    [r2] = tr.feed_state(T0 + 7290, 1)
    assert r2["start"] == r["end"]
    assert (r2["total"], r2["good"]) == (3600, 60)


def test_tracker_skips_shifts_without_messages() -> None:
    tr = _tracker()
    tr.feed_state(T0 + 10, 1)
    reports = tr.feed_state(T0 + 4 * 3600 + 10, 1)  # three shifts later
    assert [r["start"] for r in reports] == [
        dt.datetime.fromtimestamp(T0, dt.UTC).astimezone().isoformat(timespec="seconds")
    ]
    assert reports[0]["runSeconds"] == 3590
    assert tr.shift is not None and tr.shift.start == T0 + 4 * 3600


def test_tracker_state_survives_a_round_trip() -> None:
    tr = _tracker(stops="0")
    tr.feed_state(T0, 1)
    tr.feed_counter("total", T0, 10)
    tr.feed_counter("total", T0 + 100, 110)
    again = _tracker(stops="0")
    again.from_dict(tr.to_dict())
    assert again.shift == tr.shift and again.shift is not None
    assert again.report(again.shift, T0 + 100, again.fig, False) == tr.report(
        again.shift, T0 + 100, tr.fig, False
    )
    assert again.report(again.shift, T0 + 100, again.fig, False)["total"] == 100


# ----- the node in a flow -----------------------------------------------------------------


def _flow(**cfg: Any) -> list[dict[str, Any]]:
    return shift_flow(
        {
            "id": "oee",
            "type": "oee",
            "idealRate": "60",
        },
        **cfg,
    )


async def _feed(rt: Runtime, msgs: Sequence[tuple[float, str, Any]], nid: str = "oee") -> None:
    await feed(rt, nid, msgs)


async def _reports(rt: Runtime, count: int) -> list[dict[str, Any]]:
    return await reports(rt, count, "oee")


WORKED: list[tuple[float, str, Any]] = [
    (0, "state", 1),
    (0, "total", 0),
    (0, "good", 0),
    (1500, "total", 1200),
    (1500, "good", 1180),
    (3000, "state", "IDLE"),
    (3000, "total", 2400),
    (3000, "good", 2350),
    (3600, "total", 2400),  # first reading of the next shift closes this one
    (3600, "good", 2350),  # ... and is reported when every counter has a reading past 11:00
]


async def test_worked_example_one_report_per_shift(make_runtime: Callable[..., Runtime]) -> None:
    rt = await _deploy(make_runtime, _flow())
    await _feed(rt, WORKED)
    [r] = await _reports(rt, 1)
    assert r == {
        "shift": "2026-11-30 10:00",
        "start": "2026-11-30T10:00:00+00:00",
        "end": "2026-11-30T11:00:00+00:00",
        "final": True,
        "plannedSeconds": 3600,
        "runSeconds": 3000,
        "total": 2400,
        "good": 2350,
        "reject": 50,
        "availability": 0.8333,
        "performance": 0.8,
        "quality": 0.9792,
        "oee": 0.6528,
    }
    assert _got(rt, "err") == []


async def test_counts_split_at_the_boundary_and_planned_stops(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await _deploy(make_runtime, _flow(plannedStopStates="0,IDLE", goodTopic=""))
    await _feed(
        rt,
        [
            (0, "state", "RUNNING"),
            (0, "total", 100),
            (0, "reject", 0),
            (1800, "state", "IDLE"),  # planned stop 600 s: not planned time
            (2400, "state", "RUNNING"),
            (3000, "state", 2),  # fault: planned, not running
            (3000, "total", 2500),  # 2400 in 2400 s of run
            (3000, "reject", 48),
            (3300, "state", 1),
            (3300, "total", 2500),
            (3900, "total", 3100),  # 600 in 600 s: 300 before 11:00, 300 after
            (7200, "total", 3100),
            (7200, "reject", 48),
        ],
    )
    first, second = await _reports(rt, 2)
    assert first["plannedSeconds"] == 3000
    assert first["runSeconds"] == 2700
    assert first["total"] == 2700
    assert (first["good"], first["reject"]) == (2652, 48)  # good = total - reject
    assert first["availability"] == 0.9
    assert first["performance"] == 1.0
    assert first["quality"] == round(2652 / 2700, 4)
    assert first["oee"] == round(0.9 * 1.0 * 2652 / 2700, 4)
    assert second["shift"] == "2026-11-30 11:00"
    assert (second["runSeconds"], second["total"]) == (3600, 300)
    assert second["performance"] == round(300 / 3600, 4)


async def test_counter_wrap_and_reset(make_runtime: Callable[..., Runtime]) -> None:
    rt = await _deploy(make_runtime, _flow(counterMax="1000"))
    await _feed(
        rt,
        [
            (0, "state", 1),
            (0, "total", 900),
            (600, "total", 990),  # +90
            (1200, "total", 20),  # wrapped: +30
            (1800, "total", 400),  # +380
            (2400, "total", 5),  # reset to 0 and counted 5 since
            (3000, "total", 105),  # +100
            (3600, "total", 105),
        ],
    )
    [r] = await _reports(rt, 1)
    assert r["total"] == 90 + 30 + 380 + 5 + 100
    assert r["good"] == r["total"]  # no good or reject input: all good


async def test_end_of_shift_now_and_interim_reports(make_runtime: Callable[..., Runtime]) -> None:
    rt = await _deploy(make_runtime, _flow(interimSeconds="600"))
    await _feed(
        rt,
        [
            (0, "state", 1),
            (0, "total", 0),
            (300, "total", 300),
            (600, "total", 600),  # interim at 10:10
            (900, "total", 900),
            (1200, "total", 1200),  # interim at 10:20
        ],
    )
    node = rt.get_node("oee")
    assert node is not None
    rt.deliver(node, {"topic": "shift", "payload": "", "timestamp": (T0 + 1500) * 1000})
    await _feed(rt, [(1800, "total", 1800), (3600, "total", 1800)])
    got = await _reports(rt, 4)
    interims = [r for r in got if not r["final"]]
    finals = [r for r in got if r["final"]]
    assert [(r["end"], r["total"]) for r in interims] == [
        ("2026-11-30T10:10:00+00:00", 600),
        ("2026-11-30T10:20:00+00:00", 1200),
    ]
    assert interims[0]["runSeconds"] == 600 and interims[0]["performance"] == 1.0
    early, rest = finals
    assert (early["shift"], early["end"], early["runSeconds"]) == (
        "2026-11-30 10:00",
        "2026-11-30T10:25:00+00:00",
        1500,
    )
    assert early["total"] == 1500  # 10:20 -> 10:30 counted 600: half of it before 10:25
    assert (rest["shift"], rest["start"], rest["end"]) == (
        "2026-11-30 10:25",
        "2026-11-30T10:25:00+00:00",
        "2026-11-30T11:00:00+00:00",
    )
    assert (rest["runSeconds"], rest["total"]) == (2100, 300)


async def test_restart_in_mid_shift_keeps_counting(make_runtime: Callable[..., Runtime]) -> None:
    flow = _flow(store="file")
    rt = await _deploy(make_runtime, flow, context_storage=STORES)
    await _feed(rt, WORKED[:5])
    assert _got(rt, "out") == []
    await rt.stop()
    rt2 = await _deploy(make_runtime, flow, context_storage=STORES)
    await _feed(rt2, WORKED[5:])
    [r] = await _reports(rt2, 1)
    assert (r["plannedSeconds"], r["runSeconds"], r["total"], r["good"]) == (3600, 3000, 2400, 2350)
    assert r["oee"] == 0.6528


async def test_bad_count_reaches_catch_and_other_topics_are_ignored(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await _deploy(make_runtime, _flow())
    logged: list[str] = []
    rt.log_listeners.append(lambda node, level, text: logged.append(text))
    await _feed(
        rt,
        [(0, "state", 1), (0, "total", 0), (1, "total", "lots"), (2, "speed", 5), (3, "speed", 6)],
    )
    await _feed(rt, [(1800, "total", 1800), (3600, "total", 3600)])
    errors = [m["error"]["message"] for m in _got(rt, "err")]
    assert errors == ["total from topic 'total': 'lots' is not a number"]
    assert len([t for t in logged if "topic 'speed' are ignored" in t]) == 1
    [r] = await _reports(rt, 1)
    assert (r["total"], r["runSeconds"]) == (3600, 3600)


async def test_performance_above_ideal_warns_once(make_runtime: Callable[..., Runtime]) -> None:
    rt = await _deploy(make_runtime, _flow(idealRate="10"))
    logged: list[str] = []
    rt.log_listeners.append(lambda node, level, text: logged.append(text))
    await _feed(
        rt,
        [
            (0, "state", 1),
            (0, "total", 0),
            (3600, "total", 1200),
            (7200, "total", 2400),
            (7300, "total", 2400),
        ],
    )
    first, second = await _reports(rt, 2)
    assert first["performance"] == 1.0 and second["performance"] == 1.0
    assert len([t for t in logged if "ideal rate too low" in t]) == 1


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"idealRate": "0"}, "idealRate"),
        ({"idealRate": "-5"}, "idealRate"),
        ({"shiftSeconds": "0", "shifts": "06:00,25:00"}, "shifts"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"interimSeconds": "-1"}, "interimSeconds"),
    ],
)
async def test_invalid_config_names_the_field(
    make_runtime: Callable[..., Runtime], cfg: dict[str, Any], field: str
) -> None:
    rt = make_runtime()
    with pytest.raises(PlantwireError, match=field):
        await rt.deploy(_flow(**cfg))
