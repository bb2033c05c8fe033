"""window_codec: the rolling-window maths against exact formulas on random data."""

from __future__ import annotations

import math
import random
import statistics
from fractions import Fraction

import pytest

from plantwire.nodes.analytics.window_codec import RollingWindow, WindowError, to_number

EPOCH = 1_764_460_800.0  # 2025-11-30, an epoch-sized time base


def exact_fit(ts: list[float], vs: list[float]) -> tuple[float, float | None]:
    """Slope and r² computed with exact rational arithmetic."""
    n = len(ts)
    ft = [Fraction(t) for t in ts]
    fv = [Fraction(v) for v in vs]
    mt = sum(ft) / n
    mv = sum(fv) / n
    sxx = sum((t - mt) ** 2 for t in ft)
    sxy = sum((t - mt) * (v - mv) for t, v in zip(ft, fv, strict=True))
    syy = sum((v - mv) ** 2 for v in fv)
    slope = sxy / sxx
    r2 = None if syy == 0 else float(sxy * sxy / (sxx * syy))
    return float(slope), r2


def check(window: RollingWindow, ts: list[float], vs: list[float]) -> None:
    assert window.count == len(vs)
    assert window.first == vs[0] and window.last == vs[-1]
    assert window.min == min(vs) and window.max == max(vs)
    assert window.mean == pytest.approx(statistics.fmean(vs), rel=1e-12, abs=1e-9)
    if len(vs) > 1:
        sd = statistics.stdev(vs)
        assert window.stddev == pytest.approx(sd, rel=1e-9, abs=1e-9)
    assert window.span == pytest.approx(ts[-1] - ts[0], abs=1e-6)
    if len(vs) > 1 and ts[-1] > ts[0]:
        slope, r2 = exact_fit(ts, vs)
        fit = window.fit()
        assert fit is not None
        assert fit.slope == pytest.approx(slope, rel=1e-7, abs=1e-9)
        if r2 is not None and fit.r2 is not None:
            assert fit.r2 == pytest.approx(r2, abs=1e-7)


@pytest.mark.parametrize("size", [1, 2, 7, 50])
def test_count_window_matches_exact_formulas_on_random_data(size: int) -> None:
    rng = random.Random(size)
    w = RollingWindow(size=size)
    ts: list[float] = []
    vs: list[float] = []
    t = EPOCH
    for i in range(600):
        t += rng.uniform(0.0, 5.0) if i % 13 else 0.0  # repeated times too
        v = rng.gauss(500.0, 40.0) + 0.05 * i
        w.add(t, v)
        ts.append(t)
        vs.append(v)
        ts, vs = ts[-size:], vs[-size:]
        check(w, ts, vs)
    assert w.full


def test_time_window_evicts_by_message_time() -> None:
    rng = random.Random(3)
    w = RollingWindow(seconds=60.0)
    kept: list[tuple[float, float]] = []
    t = EPOCH
    for _ in range(800):
        t += rng.choice([0.5, 1.0, 7.0, 30.0, 90.0])
        v = rng.uniform(-1000.0, 1000.0)
        w.add(t, v)
        kept.append((t, v))
        kept = [(a, b) for a, b in kept if t - a <= 60.0]
        check(w, [a for a, _ in kept], [b for _, b in kept])


def test_time_window_keeps_a_reading_exactly_window_seconds_old_and_is_full_then() -> None:
    w = RollingWindow(seconds=10.0)
    w.add(EPOCH, 1.0)
    w.add(EPOCH + 5, 2.0)
    assert not w.full
    w.add(EPOCH + 10, 3.0)
    assert w.full and w.count == 3
    w.add(EPOCH + 10.5, 4.0)
    assert w.count == 3 and w.first == 2.0
    w.clear()
    assert w.count == 0 and not w.full and w.mean is None
    w.add(EPOCH + 100, 5.0)
    assert not w.full  # a fresh start must span the window again


def test_epoch_sized_times_and_large_offsets_keep_their_precision() -> None:
    # a slow drift of 1e-6 units/s on a value of 1e6, sampled at epoch times
    w = RollingWindow(size=1000)
    ts: list[float] = []
    vs: list[float] = []
    for i in range(5000):
        t = EPOCH + i * 0.1
        v = 1_000_000.0 + 1e-6 * (t - EPOCH) + (0.001 if i % 2 else -0.001)
        w.add(t, v)
        ts.append(t)
        vs.append(v)
    slope, _ = exact_fit(ts[-1000:], vs[-1000:])
    assert w.slope == pytest.approx(slope, rel=1e-6)
    assert w.slope == pytest.approx(1e-6, rel=0.1)
    assert w.stddev == pytest.approx(statistics.stdev(vs[-1000:]), rel=1e-6)
    assert w.mean == pytest.approx(statistics.fmean(vs[-1000:]), abs=1e-7)


def test_constant_series_gives_slope_zero_and_stddev_zero() -> None:
    w = RollingWindow(size=20)
    for i in range(100):
        w.add(EPOCH + i * 1.7, 42.123456789)
    assert w.stddev == 0.0
    assert w.slope == 0.0
    fit = w.fit()
    assert fit is not None and fit.r2 is None
    assert fit.value_at(EPOCH + 10_000) == 42.123456789


def test_perfect_line_has_r2_one_and_exact_slope() -> None:
    w = RollingWindow(size=30)
    for i in range(30):
        w.add(EPOCH + 60.0 * i, 80.0 - 0.01 * 60.0 * i)
    fit = w.fit()
    assert fit is not None
    assert fit.slope == pytest.approx(-0.01, rel=1e-9)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.value_at(EPOCH + 60.0 * 29) == pytest.approx(80.0 - 0.01 * 60 * 29, abs=1e-9)


def test_few_readings_have_no_stddev_or_slope() -> None:
    w = RollingWindow(size=5)
    assert w.summary()["mean"] is None
    w.add(EPOCH, 3.0)
    s = w.summary()
    assert s["count"] == 1 and s["stddev"] is None and s["slope"] is None and s["span"] == 0
    w.add(EPOCH, 5.0)  # same time: a variance but no line
    assert w.stddev == pytest.approx(math.sqrt(2.0)) and w.slope is None


def test_time_going_backwards_is_refused_and_changes_nothing() -> None:
    w = RollingWindow(size=5)
    w.add(EPOCH + 10, 1.0)
    with pytest.raises(WindowError, match="older than the previous reading"):
        w.add(EPOCH + 9, 2.0)
    assert w.count == 1 and w.last == 1.0


def test_bad_window_arguments() -> None:
    with pytest.raises(ValueError):
        RollingWindow()
    with pytest.raises(ValueError):
        RollingWindow(size=0)
    with pytest.raises(ValueError):
        RollingWindow(seconds=0)


def test_numbers_and_numeric_strings_only() -> None:
    assert to_number(3) == 3.0
    assert to_number(" 12.5 ") == 12.5
    assert to_number("1e3") == 1000.0
    bad: object
    for bad in (True, None, "", "12abc", "nan", "inf", float("nan"), [], {"a": 1}):
        assert to_number(bad) is None
