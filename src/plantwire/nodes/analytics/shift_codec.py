"""Shifts for the analytics nodes: which shift a moment falls in, the config fields both
the oee and the integrate node share, and the bookkeeping that moves figures from one
shift to the next at the exact boundary. No I/O, no runtime: unit-testable as is."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from plantwire.spec import LooseFloat, NodeConfig, OptFloat

__all__ = [
    "DEFAULT_COUNTER_MAX",
    "Closing",
    "Shift",
    "ShiftConfig",
    "ShiftSchedule",
    "ShiftTracker",
    "counter_delta",
    "format_time",
    "linear",
    "number",
    "parse_shift_starts",
    "round_count",
]

DEFAULT_COUNTER_MAX = 4294967296.0
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


# ----- shift schedule -------------------------------------------------------------------


def parse_shift_starts(text: str) -> list[int]:
    """Seconds after midnight of each start time in ``"06:00,14:00,22:00"`` (sorted,
    duplicates removed). Raises ValueError naming the field ``shifts``."""
    starts: set[int] = set()
    for part in text.replace(";", ",").split(","):
        item = part.strip()
        if not item:
            continue
        found = _TIME_OF_DAY.match(item)
        if found is None:
            raise ValueError(f"shifts: '{item}' is not a time of day (HH:MM)")
        hours, minutes, seconds = int(found[1]), int(found[2]), int(found[3] or 0)
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ValueError(f"shifts: '{item}' is not a time of day (HH:MM)")
        starts.add(hours * 3600 + minutes * 60 + seconds)
    if not starts:
        raise ValueError("shifts: give at least one start time such as 06:00, or shiftSeconds")
    return sorted(starts)


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone ``name``; None (= the machine's local time) when empty."""
    if not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone: unknown time zone '{name}'") from exc


def _local(stamp: float, tz: ZoneInfo | None) -> dt.datetime:
    if tz is None:
        return dt.datetime.fromtimestamp(stamp).astimezone()
    return dt.datetime.fromtimestamp(stamp, tz)


def format_time(stamp: float, tz: ZoneInfo | None) -> str:
    """ISO 8601 with the zone's offset; milliseconds only when the moment has some."""
    spec = "seconds" if float(stamp).is_integer() else "milliseconds"
    return _local(stamp, tz).isoformat(timespec=spec)


def shift_name(stamp: float, tz: ZoneInfo | None) -> str:
    """``"2026-11-30 06:00"`` (seconds added when the start has any)."""
    local = _local(stamp, tz)
    fmt = "%Y-%m-%d %H:%M" if local.second == 0 and local.microsecond == 0 else "%Y-%m-%d %H:%M:%S"
    return local.strftime(fmt)


@dataclass(frozen=True)
class Shift:
    """One shift: its name (start in local time) and its start and end in epoch seconds."""

    name: str
    start: float
    end: float


class ShiftSchedule:
    """Shifts by start times of day in a time zone, or a fixed period aligned to multiples
    of it since 1970 (``period`` seconds, for tests and short batches)."""

    def __init__(
        self, starts: list[int] | None = None, period: float = 0.0, tz: ZoneInfo | None = None
    ) -> None:
        if period <= 0 and not starts:
            raise ValueError("shifts: give start times of day or shiftSeconds")
        self.starts = list(starts or [])
        self.period = float(period)
        self.tz = tz

    @classmethod
    def from_fields(cls, shifts: str, shift_seconds: float, timezone: str) -> ShiftSchedule:
        """From the node fields; ValueError names the field that is wrong."""
        tz = zone(timezone)
        if shift_seconds < 0 or not math.isfinite(shift_seconds):
            raise ValueError("shiftSeconds: must be 0 (use shifts) or a positive number")
        if shift_seconds > 0:
            return cls(period=shift_seconds, tz=tz)
        return cls(parse_shift_starts(shifts), tz=tz)

    def _starts_around(self, stamp: float) -> list[float]:
        local = _local(stamp, self.tz)
        out: list[float] = []
        for days in (-1, 0, 1, 2):
            day = local.date() + dt.timedelta(days=days)
            for offset in self.starts:
                naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=offset)
                when = naive if self.tz is None else naive.replace(tzinfo=self.tz)
                out.append(when.timestamp())  # naive: the machine's local time
        return sorted(set(out))

    def shift_at(self, stamp: float) -> Shift:
        """The shift ``stamp`` falls in: start <= stamp < end."""
        if self.period > 0:
            start = math.floor(stamp / self.period) * self.period
            if start + self.period <= stamp:  # float rounding
                start += self.period
            return Shift(shift_name(start, self.tz), start, start + self.period)
        starts = self._starts_around(stamp)
        begin = max(s for s in starts if s <= stamp)
        end = min(s for s in starts if s > stamp)
        return Shift(shift_name(begin, self.tz), begin, end)


# ----- counters -------------------------------------------------------------------------


def counter_delta(previous: float, current: float, counter_max: float) -> float:
    """What a cumulative counter counted from ``previous`` to ``current``.

    A rise is the difference. A fall is a wrap when going round through ``counter_max``
    is the shorter way (less than half the range); otherwise the counter was reset and
    restarted from 0, so the new value is what it counted since."""
    if current >= previous:
        return current - previous
    wrapped = counter_max - previous + current
    if 0 <= wrapped <= counter_max / 2:
        return wrapped
    return max(current, 0.0)


def number(value: Any, what: str, topic: Any) -> float:
    """``value`` as a finite number (numeric text too); ValueError naming topic and value."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    result: float | None = None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            result = float(value.strip())
        except ValueError:
            result = None
    if result is None or not math.isfinite(result):
        raise ValueError(f"{what} from topic '{topic}': {value!r} is not a number")
    return result


def round_count(value: float, digits: int = 3) -> float | int:
    """A count for a report: an int when whole, else rounded."""
    rounded = round(value, digits)
    return int(rounded) if float(rounded).is_integer() else rounded


# ----- config fields both nodes share ---------------------------------------------------


class ShiftConfig(NodeConfig):
    """Fields of the oee and integrate nodes that say when shifts begin and end."""

    shifts: str = Field(
        "06:00,14:00,22:00",
        description="Start times of the shifts in the day, HH:MM separated by commas; each "
        "shift ends where the next begins. Ignored when shiftSeconds is set.",
    )
    shiftSeconds: OptFloat = Field(
        0,
        description="Fixed shift length in seconds (aligned to multiples since 1970), for "
        "tests and short batches; 0 = use the start times in shifts.",
    )
    timezone: str = Field(
        "",
        description="IANA time zone of the shift start times and names, e.g. Europe/Berlin; "
        "empty = the machine's local time.",
    )
    timeProperty: str = Field(
        "timestamp",
        description="Message property holding the time of the reading (epoch milliseconds "
        "or ISO 8601 text); when it is missing the node uses the clock.",
    )
    counterMax: LooseFloat = Field(
        DEFAULT_COUNTER_MAX,
        description="Cumulative counters wrap to 0 at this value (4294967296 for uint32).",
    )
    closeDelaySeconds: LooseFloat = Field(
        60,
        description="An ended shift is reported once every counter has sent a reading after "
        "its end (so the counts up to the boundary are known), at the latest this many "
        "seconds of message time after the first message past the end.",
    )
    store: str = Field(
        "",
        description="Context store that keeps the running figures, e.g. a persistent one "
        "so a restart in mid-shift keeps counting; empty = the default store.",
    )

    @model_validator(mode="after")
    def _check_shifts(self) -> ShiftConfig:
        ShiftSchedule.from_fields(self.shifts, self.shiftSeconds or 0.0, self.timezone)
        if self.counterMax <= 0:
            raise ValueError("counterMax: must be greater than 0")
        if self.closeDelaySeconds < 0:
            raise ValueError("closeDelaySeconds: must be 0 or positive")
        return self

    def schedule(self) -> ShiftSchedule:
        return ShiftSchedule.from_fields(self.shifts, self.shiftSeconds or 0.0, self.timezone)


# ----- moving figures across shift boundaries -------------------------------------------

Amount = Callable[[float, float], float]
"""Amount of a quantity between two moments (used to split it at a shift boundary)."""


def linear(t0: float, t1: float, delta: float) -> Amount:
    """``delta`` spread evenly over [t0, t1] (counters: linear interpolation)."""
    span = t1 - t0

    def amount(a: float, b: float) -> float:
        if span <= 0:
            return delta if b >= t1 else 0.0
        return delta * (b - a) / span

    return amount


@dataclass
class Closing:
    """A shift that has ended but waits for the inputs that had not yet sent a reading
    after its end (their part before the end still belongs to it)."""

    shift: Shift
    end: float
    fig: dict[str, float]
    waiting: set[str]
    deadline: float


class ShiftTracker:
    """Current shift, its figures, shifts waiting to be reported and the interim schedule.

    Figures are a dict of floats per shift (``keys``). Subclasses add time-based figures in
    ``accrue(a, b)`` (for [a, b] of the current shift) and build payloads in
    ``report(shift, end, fig, final)``. An ended shift is reported once every input that
    had sent a reading before its end has sent one after it (so its part of that interval
    is known), or when message time is ``close_delay`` seconds past the message that
    closed it."""

    keys: tuple[str, ...] = ()

    def __init__(
        self, schedule: ShiftSchedule, interim: float = 0.0, close_delay: float = 60.0
    ) -> None:
        self.schedule = schedule
        self.interim = interim
        self.close_delay = close_delay
        self.shift: Shift | None = None
        self.pos: float | None = None
        self.has_data = False
        self.next_interim: float | None = None
        self.fig: dict[str, float] = dict.fromkeys(self.keys, 0.0)
        self.closing: list[Closing] = []
        self.readings: dict[str, float] = {}  # input -> time of its last reading

    # ----- hooks ----------------------------------------------------------------------

    def accrue(self, a: float, b: float) -> None:
        """Add time-based figures for [a, b] of the current shift to ``self.fig``."""

    def report(
        self, shift: Shift, end: float, fig: dict[str, float], final: bool
    ) -> dict[str, Any]:
        raise NotImplementedError

    def dump(self) -> dict[str, Any]:
        """What a subclass keeps besides the figures (JSON-able)."""
        return {}

    def load(self, data: dict[str, Any]) -> None:
        """Restore what ``dump`` gave."""

    # ----- helpers --------------------------------------------------------------------

    def shift_fields(self, shift: Shift, end: float, final: bool) -> dict[str, Any]:
        tz = self.schedule.tz
        return {
            "shift": shift.name,
            "start": format_time(shift.start, tz),
            "end": format_time(end, tz),
            "final": final,
        }

    def effective(self, stamp: float) -> float:
        """Message time, never before the position already reached."""
        return stamp if self.pos is None else max(stamp, self.pos)

    def _open(self, shift: Shift) -> None:
        self.shift = shift
        self.pos = shift.start
        self.has_data = False
        self.next_interim = shift.start + self.interim if self.interim > 0 else None
        self.fig = dict.fromkeys(self.keys, 0.0)

    def _close(self, end: float, now: float) -> None:
        assert self.shift is not None
        if self.has_data:
            waiting = {name for name, at in self.readings.items() if at < end}
            deadline = max(end, now) + self.close_delay
            self.closing.append(Closing(self.shift, end, self.fig, waiting, deadline))

    # ----- moving on ------------------------------------------------------------------

    def advance(
        self, stamp: float, spread: list[tuple[str, Amount, float]] | None = None, reading: str = ""
    ) -> list[dict[str, Any]]:
        """Move to ``stamp``, closing every shift that ended before it.

        ``spread`` holds quantities measured over an interval [start, stamp] as (figure
        key, amount function, start): every shift the interval overlaps gets its part
        (a part from before a shift that was already reported goes to the next one still
        open). ``reading`` names the input whose reading this is. Shifts in which no
        message arrived are not reported. Returns the reports that are ready."""
        items = list(spread or [])
        if self.shift is None or self.pos is None:
            self._open(self.schedule.shift_at(stamp))
            self.pos = stamp
        assert self.shift is not None and self.pos is not None
        when = max(stamp, self.pos)
        lows = [start for _, _, start in items]

        def give(fig: dict[str, float], end: float) -> None:
            for i, (key, amount, _) in enumerate(items):
                high = min(end, when)
                if high > lows[i]:
                    fig[key] = fig.get(key, 0.0) + amount(lows[i], high)
                    lows[i] = high

        for closing in self.closing:
            give(closing.fig, closing.end)
        while when >= self.shift.end:
            end = self.shift.end
            self.accrue(self.pos, end)
            give(self.fig, end)
            self._close(end, when)
            self._open(self.schedule.shift_at(end))
            assert self.shift is not None and self.pos is not None
        self.accrue(self.pos, when)
        for i, (key, amount, _) in enumerate(items):
            part = amount(lows[i], when) if when > lows[i] else amount(when, when)
            self.fig[key] = self.fig.get(key, 0.0) + part
        self.pos = when
        self.has_data = True
        if reading:
            self.readings[reading] = when
            for closing in self.closing:
                if when >= closing.end:
                    closing.waiting.discard(reading)
        return self._ready(when)

    def _ready(self, when: float) -> list[dict[str, Any]]:
        reports: list[dict[str, Any]] = []
        while self.closing:
            first = self.closing[0]
            if first.waiting and when < first.deadline:
                break
            self.closing.pop(0)
            reports.append(self.report(first.shift, first.end, first.fig, True))
        return reports

    def end_now(self, stamp: float) -> list[dict[str, Any]]:
        """Close the current shift at ``stamp`` ("end of shift now"); the next one starts
        there and ends where the scheduled shift ends."""
        reports = self.advance(stamp, [])
        assert self.shift is not None and self.pos is not None
        when = self.pos
        self._close(when, when)
        scheduled = self.schedule.shift_at(when)
        if scheduled.start == when:
            self._open(scheduled)
        else:
            self._open(Shift(shift_name(when, self.schedule.tz), when, scheduled.end))
        self.pos = when
        return reports + self._ready(when)

    def end_shift(self, stamp: float) -> list[dict[str, Any]]:
        """End the current shift now (time is never moved backwards)."""
        return self.end_now(self.effective(stamp))

    def advance_counter(
        self,
        key: str,
        previous: list[float] | None,
        current: float,
        when: float,
        counter_max: float,
    ) -> list[dict[str, Any]]:
        """Move to ``when`` with a cumulative counter reading ``current`` (figure ``key``):
        what it counted since ``previous`` ([value, time], None for the first reading) is
        split linearly over the shifts between."""
        spread: list[tuple[str, Amount, float]] = []
        if previous is not None:
            start = min(previous[1], when)
            delta = counter_delta(previous[0], current, counter_max)
            spread.append((key, linear(start, when, delta), start))
        return self.advance(when, spread, key)

    def flush(self) -> list[dict[str, Any]]:
        """Reports of every ended shift now, without waiting for late inputs."""
        reports = [self.report(c.shift, c.end, c.fig, True) for c in self.closing]
        self.closing = []
        return reports

    def interim_due(self) -> dict[str, Any] | None:
        """An interim (final = false) report when ``interim`` seconds have passed."""
        stamp = self.pos
        if self.next_interim is None or self.shift is None or stamp is None:
            return None
        if stamp < self.next_interim:
            return None
        steps = math.floor((stamp - self.shift.start) / self.interim) + 1
        self.next_interim = self.shift.start + steps * self.interim
        return self.report(self.shift, stamp, self.fig, False)

    # ----- persistence ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        def shift_list(shift: Shift) -> list[Any]:
            return [shift.name, shift.start, shift.end]

        return {
            "shift": shift_list(self.shift) if self.shift else None,
            "pos": self.pos,
            "hasData": self.has_data,
            "nextInterim": self.next_interim,
            "fig": dict(self.fig),
            "closing": [
                {
                    "shift": shift_list(c.shift),
                    "end": c.end,
                    "fig": dict(c.fig),
                    "waiting": sorted(c.waiting),
                    "deadline": c.deadline,
                }
                for c in self.closing
            ],
            "readings": dict(self.readings),
            "extra": self.dump(),
        }

    def from_dict(self, data: dict[str, Any]) -> None:
        def to_shift(raw: Any) -> Shift:
            return Shift(str(raw[0]), float(raw[1]), float(raw[2]))

        shift = data.get("shift")
        self.shift = to_shift(shift) if shift else None
        pos = data.get("pos")
        self.pos = float(pos) if pos is not None else None
        self.has_data = bool(data.get("hasData"))
        nxt = data.get("nextInterim")
        self.next_interim = float(nxt) if nxt is not None else None
        self.fig = {k: float(v) for k, v in dict(data.get("fig", {})).items()}
        self.closing = [
            Closing(
                to_shift(c["shift"]),
                float(c["end"]),
                {k: float(v) for k, v in dict(c["fig"]).items()},
                set(c.get("waiting", [])),
                float(c.get("deadline", c["end"])),
            )
            for c in data.get("closing", [])
        ]
        self.readings = {k: float(v) for k, v in dict(data.get("readings", {})).items()}
        extra = data.get("extra")
        if isinstance(extra, dict):
            self.load(extra)
