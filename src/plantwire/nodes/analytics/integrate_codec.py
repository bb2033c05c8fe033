"""Energy per shift: a cumulative meter (counter mode) or an instantaneous rate such as
power in kW integrated over message time (rate mode, trapezoidal), optionally divided by
a cumulative unit counter. No I/O: unit-testable without a runtime."""

from __future__ import annotations

from typing import Any

from .shift_codec import (
    DEFAULT_COUNTER_MAX,
    Amount,
    Shift,
    ShiftSchedule,
    ShiftTracker,
    counter_delta,
    linear,
    number,
    round_count,
)

__all__ = ["MODES", "RATE_UNITS", "IntegrateTracker", "per_unit", "trapezoid"]

MODES = ("counter", "rate")
RATE_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}


def trapezoid(t0: float, v0: float, t1: float, v1: float, unit_seconds: float) -> Amount:
    """The integral of the straight line from (t0, v0) to (t1, v1) over any part [a, b] of
    [t0, t1], with the value meaning "per ``unit_seconds``"."""
    span = t1 - t0
    slope = (v1 - v0) / span if span > 0 else 0.0

    def amount(a: float, b: float) -> float:
        if span <= 0 or b <= a:
            return 0.0
        va = v0 + slope * (a - t0)
        vb = v0 + slope * (b - t0)
        return (va + vb) / 2.0 * (b - a) / unit_seconds

    return amount


def per_unit(energy: float, units: float, per_units: float) -> float | None:
    """Energy per ``per_units`` units; None when nothing was produced."""
    if units <= 0:
        return None
    return energy / units * per_units


class IntegrateTracker(ShiftTracker):
    """Energy and units per shift."""

    keys = ("energy", "units")

    def __init__(
        self,
        schedule: ShiftSchedule,
        mode: str = "counter",
        scale: float = 1.0,
        rate_unit: str = "h",
        max_gap: float = 300.0,
        per_units: float = 1000.0,
        unit_label: str = "kWh",
        counter_max: float = DEFAULT_COUNTER_MAX,
        interim: float = 0.0,
        close_delay: float = 60.0,
    ) -> None:
        super().__init__(schedule, interim, close_delay)
        if mode not in MODES:
            raise ValueError(f"mode: '{mode}' is not one of {', '.join(MODES)}")
        if rate_unit not in RATE_UNITS:
            raise ValueError(f"rateUnit: '{rate_unit}' is not one of {', '.join(RATE_UNITS)}")
        self.mode = mode
        self.scale = scale
        self.unit_seconds = RATE_UNITS[rate_unit]
        self.max_gap = max_gap
        self.per_units = per_units
        self.unit_label = unit_label
        self.counter_max = counter_max
        self.last_value: list[float] | None = None  # [value, time]
        self.last_units: list[float] | None = None

    @property
    def energy(self) -> float:
        """Energy of the current shift so far."""
        return self.fig.get("energy", 0.0)

    def report(
        self, shift: Shift, end: float, fig: dict[str, float], final: bool
    ) -> dict[str, Any]:
        out = self.shift_fields(shift, end, final)
        energy, units = fig.get("energy", 0.0), fig.get("units", 0.0)
        ratio = per_unit(energy, units, self.per_units)
        out.update(
            {
                "energy": round(energy, 6),
                "units": round_count(units),
                "perUnit": None if ratio is None else round(ratio, 6),
                "perUnits": round_count(self.per_units),
                "unit": self.unit_label,
            }
        )
        return out

    def dump(self) -> dict[str, Any]:
        return {"lastValue": self.last_value, "lastUnits": self.last_units}

    def load(self, data: dict[str, Any]) -> None:
        last_value = data.get("lastValue")
        last_units = data.get("lastUnits")
        self.last_value = [float(x) for x in last_value] if last_value else None
        self.last_units = [float(x) for x in last_units] if last_units else None

    def feed_value(
        self, stamp: float, value: Any, topic: Any = None
    ) -> tuple[list[dict[str, Any]], float | None]:
        """An energy reading (meter value or rate). Returns the reports that are ready and,
        in rate mode, the length of a gap that was too long to integrate (else None).
        ValueError naming topic and value when ``value`` is not a number."""
        current = number(value, "value", topic)
        when = self.effective(stamp)
        spread: list[tuple[str, Amount, float]] = []
        gap: float | None = None
        previous = self.last_value
        if previous is not None:
            start = min(previous[1], when)
            if self.mode == "counter":
                delta = counter_delta(previous[0], current, self.counter_max) * self.scale
                spread.append(("energy", linear(start, when, delta), start))
            elif when - start > self.max_gap:
                gap = when - start
            else:
                shape = trapezoid(
                    start, previous[0] * self.scale, when, current * self.scale, self.unit_seconds
                )
                spread.append(("energy", shape, start))
        reports = self.advance(when, spread, "energy")
        self.last_value = [current, when]
        return reports, gap

    def feed_units(self, stamp: float, value: Any, topic: Any = None) -> list[dict[str, Any]]:
        """A cumulative unit counter reading, split linearly over shift boundaries."""
        current = number(value, "units", topic)
        when = self.effective(stamp)
        reports = self.advance_counter("units", self.last_units, current, when, self.counter_max)
        self.last_units = [current, when]
        return reports
