"""Shift schedule, counters and splitting at shift boundaries (no runtime)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from plantwire.nodes.analytics.shift_codec import (
    ShiftSchedule,
    counter_delta,
    format_time,
    number,
    parse_shift_starts,
)

BERLIN = ZoneInfo("Europe/Berlin")


def _ts(text: str, tz: ZoneInfo = BERLIN) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def test_start_times_parse_and_bad_time_names_the_field() -> None:
    assert parse_shift_starts("22:00, 06:00,14:00") == [6 * 3600, 14 * 3600, 22 * 3600]
    assert parse_shift_starts("6:30:15") == [6 * 3600 + 30 * 60 + 15]
    for bad in ("25:00", "06:60", "six", "06"):
        with pytest.raises(ValueError, match=r"^shifts: '.*' is not a time of day"):
            parse_shift_starts(bad)
    with pytest.raises(ValueError, match=r"^shifts:"):
        parse_shift_starts(" , ")
    with pytest.raises(ValueError, match=r"^timezone: unknown time zone 'Mars/Base'"):
        ShiftSchedule.from_fields("06:00", 0, "Mars/Base")
    with pytest.raises(ValueError, match=r"^shiftSeconds:"):
        ShiftSchedule.from_fields("06:00", -5, "")


def test_shift_of_a_moment_by_start_times_in_a_zone() -> None:
    sched = ShiftSchedule.from_fields("06:00,14:00,22:00", 0, "Europe/Berlin")
    s = sched.shift_at(_ts("2026-11-30T06:00:00"))
    assert (s.name, s.start, s.end) == (
        "2026-11-30 06:00",
        _ts("2026-11-30T06:00:00"),
        _ts("2026-11-30T14:00:00"),
    )
    s = sched.shift_at(_ts("2026-11-30T13:59:59"))
    assert s.name == "2026-11-30 06:00"
    # the night shift crosses midnight: 02:00 belongs to the shift of the evening before
    s = sched.shift_at(_ts("2026-12-01T02:00:00"))
    assert s.name == "2026-11-30 22:00"
    assert s.end == _ts("2026-12-01T06:00:00")
    assert s.end - s.start == 8 * 3600
    assert format_time(s.start, BERLIN) == "2026-11-30T22:00:00+01:00"


def test_night_shift_over_a_clock_change_is_an_hour_shorter() -> None:
    sched = ShiftSchedule.from_fields("06:00,22:00", 0, "Europe/Berlin")
    s = sched.shift_at(_ts("2026-03-29T04:00:00"))  # clocks go forward at 02:00
    assert s.name == "2026-03-28 22:00"
    assert s.end - s.start == 7 * 3600


def test_one_shift_a_day() -> None:
    sched = ShiftSchedule.from_fields("06:00", 0, "UTC")
    s = sched.shift_at(_ts("2026-11-30T05:00:00", ZoneInfo("UTC")))
    assert s.name == "2026-11-29 06:00"
    assert s.end - s.start == 86400


def test_fixed_period_shifts_align_to_multiples() -> None:
    sched = ShiftSchedule.from_fields("", 3600, "UTC")
    base = _ts("2026-11-30T10:00:00", ZoneInfo("UTC"))
    s = sched.shift_at(base + 1234.5)
    assert (s.name, s.start, s.end) == ("2026-11-30 10:00", base, base + 3600)
    s = sched.shift_at(base + 3600)
    assert s.start == base + 3600
    short = ShiftSchedule.from_fields("06:00", 90, "UTC").shift_at(base + 100)
    assert short.name == "2026-11-30 10:01:30"
    assert format_time(short.start + 0.25, ZoneInfo("UTC")) == "2026-11-30T10:01:30.250+00:00"


def test_counter_delta_rise_wrap_and_reset() -> None:
    assert counter_delta(100, 250, 2**32) == 150
    assert counter_delta(2**32 - 10, 5, 2**32) == 15  # wrapped through 0
    assert counter_delta(990, 10, 1000) == 20
    assert counter_delta(123456, 40, 2**32) == 40  # reset: counted from 0 again
    assert counter_delta(400, 5, 1000) == 5  # going round would be 605 > half the range
    assert counter_delta(12.5, 0.0, 2**32) == 0.0


def test_number_names_topic_and_value() -> None:
    assert number("12.5", "total", "total") == 12.5
    assert number(7, "total", "total") == 7.0
    with pytest.raises(ValueError, match=r"total from topic 'bottles': 'lots' is not a number"):
        number("lots", "total", "bottles")
    with pytest.raises(ValueError, match="is not a number"):
        number(None, "total", "bottles")
    with pytest.raises(ValueError, match="is not a number"):
        number(float("nan"), "total", "bottles")
