"""integrate: meter and rate integration (no runtime) and the node in a flow, with explicit
message times that cross shift boundaries; figures computed by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from plantwire.nodes.analytics.integrate_codec import IntegrateTracker, per_unit, trapezoid
from plantwire.nodes.analytics.shift_codec import ShiftSchedule
from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.runtime import Runtime
from tests.flowkit import deploy as _deploy
from tests.flowkit import received as _got
from tests.nodes.analytics.helpers import STORES, T0, feed, reports, shift_flow

# ----- maths ------------------------------------------------------------------------------


def test_trapezoid_split_at_a_point_is_exact() -> None:
    shape = trapezoid(0, 10.0, 3600, 20.0, 3600)  # kW, per hour: kWh
    assert shape(0, 3600) == pytest.approx(15.0)
    assert shape(0, 1800) == pytest.approx(6.25)  # 10 -> 15 kW over half an hour
    assert shape(1800, 3600) == pytest.approx(8.75)
    per_second = trapezoid(0, 2.0, 10, 2.0, 1)
    assert per_second(0, 10) == pytest.approx(20.0)


def test_per_unit() -> None:
    assert per_unit(14.4, 3000, 1000) == pytest.approx(4.8)
    assert per_unit(14.4, 0, 1000) is None


def test_tracker_rate_mode_skips_long_gaps() -> None:
    tr = IntegrateTracker(ShiftSchedule(period=3600), mode="rate", max_gap=900)
    assert tr.feed_value(T0, 10) == ([], None)
    tr.feed_value(T0 + 600, 10)
    reports, gap = tr.feed_value(T0 + 1800, 10)
    assert gap == 1200 and reports == []
    assert tr.energy == pytest.approx(10 * 600 / 3600)


def test_unknown_mode_and_rate_unit_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^mode: 'average'"):
        IntegrateTracker(ShiftSchedule(period=60), mode="average")
    with pytest.raises(ValueError, match=r"^rateUnit:"):
        IntegrateTracker(ShiftSchedule(period=60), rate_unit="day")


# ----- the node in a flow -----------------------------------------------------------------


def _flow(**cfg: Any) -> list[dict[str, Any]]:
    return shift_flow(
        {
            "id": "int",
            "type": "integrate",
        },
        **cfg,
    )


async def _feed(rt: Runtime, msgs: Sequence[tuple[float, str, Any]]) -> None:
    await feed(rt, "int", msgs)


async def _reports(rt: Runtime, count: int) -> list[dict[str, Any]]:
    return await reports(rt, count, "integrate")


METER: list[tuple[float, str, Any]] = [
    (0, "energy_wh", 1_000_000),
    (0, "units", 0),
    (3000, "energy_wh", 1_012_000),  # 12 kWh
    (3000, "units", 2400),
    (4200, "energy_wh", 1_016_800),  # 4.8 kWh over 1200 s: 2.4 before 11:00
    (4200, "units", 3600),  # 1200 over 1200 s: 600 before 11:00
    (7200, "energy_wh", 1_016_800),
    (7200, "units", 3600),
]


async def test_meter_per_shift_with_energy_per_1000_units(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await _deploy(make_runtime, _flow(scale="0.001", valueTopic="energy_wh"))
    await _feed(rt, METER)
    first, second = await _reports(rt, 2)
    assert first == {
        "shift": "2026-11-30 10:00",
        "start": "2026-11-30T10:00:00+00:00",
        "end": "2026-11-30T11:00:00+00:00",
        "final": True,
        "energy": 14.4,
        "units": 3000,
        "perUnit": 4.8,
        "perUnits": 1000,
        "unit": "kWh",
    }
    assert (second["shift"], second["energy"], second["units"]) == ("2026-11-30 11:00", 2.4, 600)
    assert second["perUnit"] == 4.0
    assert _got(rt, "err") == []


async def test_meter_wrap_reset_and_no_units(make_runtime: Callable[..., Runtime]) -> None:
    rt = await _deploy(make_runtime, _flow(scale="0.001", unitLabel="kWh"))
    await _feed(
        rt,
        [
            (0, "energy", 2**32 - 1000),
            (1000, "energy", 3000),  # wrapped: +4000 Wh
            (2000, "energy", 500),  # meter reset, 500 Wh counted since
            (3600, "energy", 500),
        ],
    )
    [r] = await _reports(rt, 1)
    assert r["energy"] == 4.5
    assert r["units"] == 0 and r["perUnit"] is None


async def test_rate_mode_integrates_power_and_skips_gaps(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await _deploy(make_runtime, _flow(mode="rate", rateUnit="h", maxGapSeconds="900"))
    logged: list[str] = []
    rt.log_listeners.append(lambda node, level, text: logged.append(text))
    await _feed(
        rt,
        [
            (0, "power_kw", 10),
            (600, "power_kw", 10),  # 10 kW x 1/6 h = 1.6667
            (1200, "power_kw", 20),  # mean 15 kW: 2.5
            (1800, "power_kw", 20),  # 3.3333
            (3000, "power_kw", 30),  # 1200 s gap > 900: not integrated
            (3900, "power_kw", 30),  # 30 kW x 900 s: 5 before 11:00, 2.5 after
        ],
    )
    [r] = await _reports(rt, 1)
    assert r["energy"] == pytest.approx(12.5, abs=1e-6)
    assert any("maxGapSeconds" in t and "not integrated" in t for t in logged)


async def test_interval_reports_and_end_of_shift_now(make_runtime: Callable[..., Runtime]) -> None:
    rt = await _deploy(make_runtime, _flow(intervalSeconds="900"))
    await _feed(rt, [(0, "kwh", 100.0), (900, "kwh", 101.5), (1000, "kwh", 102.0)])
    node = rt.get_node("int")
    assert node is not None
    rt.deliver(node, {"payload": "", "shift": "end", "timestamp": (T0 + 1200) * 1000})
    await _feed(rt, [(1400, "kwh", 103.0)])  # 1 kWh over 10:16:40 -> 10:23:20: half before
    got = await _reports(rt, 2)
    assert [(r["final"], r["end"], r["energy"]) for r in got] == [
        (False, "2026-11-30T10:15:00+00:00", 1.5),
        (True, "2026-11-30T10:20:00+00:00", 2.5),
    ]


async def test_restart_in_mid_shift_keeps_counting(make_runtime: Callable[..., Runtime]) -> None:
    flow = _flow(scale="0.001", valueTopic="energy_wh", store="file")
    rt = await _deploy(make_runtime, flow, context_storage=STORES)
    await _feed(rt, METER[:4])
    await rt.stop()
    rt2 = await _deploy(make_runtime, flow, context_storage=STORES)
    await _feed(rt2, METER[4:])
    first, _ = await _reports(rt2, 2)
    assert (first["energy"], first["units"], first["perUnit"]) == (14.4, 3000, 4.8)


async def test_bad_value_reaches_catch_naming_topic_and_value(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = await _deploy(make_runtime, _flow(valueTopic="energy"))
    await _feed(rt, [(0, "energy", "n/a"), (1, "units", {"n": 1}), (2, "power", 3)])
    errors = [m["error"]["message"] for m in _got(rt, "err")]
    assert errors == [
        "value from topic 'energy': 'n/a' is not a number",
        "units from topic 'units': {'n': 1} is not a number",
    ]  # topic 'power' is neither valueTopic nor unitTopic: ignored


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"mode": "average"}, "mode"),
        ({"mode": "rate", "rateUnit": "day"}, "rateUnit"),
        ({"perUnits": "0"}, "perUnits"),
        ({"maxGapSeconds": "0"}, "maxGapSeconds"),
        ({"shiftSeconds": "", "shifts": "25:00"}, "shifts"),
    ],
)
async def test_invalid_config_names_the_field(
    make_runtime: Callable[..., Runtime], cfg: dict[str, Any], field: str
) -> None:
    rt = make_runtime()
    with pytest.raises(PlantwireError, match=field):
        await rt.deploy(_flow(**cfg))
