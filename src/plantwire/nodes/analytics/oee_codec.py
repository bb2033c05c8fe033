"""OEE maths: availability x performance x quality per shift, from machine state and
cumulative counters. No I/O: unit-testable without a runtime."""

from __future__ import annotations

import math
from typing import Any

from .shift_codec import (
    DEFAULT_COUNTER_MAX,
    Shift,
    ShiftSchedule,
    ShiftTracker,
    number,
    round_count,
)

__all__ = ["OeeTracker", "oee_figures", "parse_state_list", "state_key"]

PERFORMANCE_WARN = 1.05
COUNTERS = ("total", "good", "reject")


def state_key(value: Any) -> str:
    """A state value as text to compare with the configured lists: ``1``, ``1.0`` and
    ``"1"`` are all ``"1"``; ``True`` is ``"true"``; text is trimmed and lower-cased."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip().lower()


def parse_state_list(text: str) -> set[str]:
    """``"1,RUNNING,running,true"`` -> the set of state keys."""
    return {state_key(item) for item in text.split(",") if item.strip()}


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def oee_figures(
    planned: float, run: float, total: float, good: float, ideal_rate: float
) -> dict[str, Any]:
    """Availability, performance, quality and OEE as fractions rounded to 4 decimals.

    availability = run / planned; performance = total / (ideal_rate per minute x run
    minutes), capped at 1; quality = good / total; oee = their product. A factor whose
    denominator is 0 is None; OEE is None when there was no planned time, 0 when there
    was planned time but no run time or no output. ``rawPerformance`` is uncapped."""
    availability = run / planned if planned > 0 else None
    raw_perf = total / (ideal_rate * run / 60.0) if run > 0 else None
    performance = min(raw_perf, 1.0) if raw_perf is not None else None
    quality = max(0.0, min(good / total, 1.0)) if total > 0 else None
    if availability is None:
        oee: float | None = None
    elif performance is None or quality is None:
        oee = 0.0
    else:
        oee = availability * performance * quality
    return {
        "availability": _ratio(availability),
        "performance": _ratio(performance),
        "quality": _ratio(quality),
        "oee": _ratio(oee),
        "rawPerformance": raw_perf,
    }


class OeeTracker(ShiftTracker):
    """Per-shift planned time, run time and counts, split exactly at shift boundaries."""

    keys = ("planned", "run", *COUNTERS)

    def __init__(
        self,
        schedule: ShiftSchedule,
        ideal_rate: float,
        running: set[str],
        planned_stops: set[str],
        counter_max: float = DEFAULT_COUNTER_MAX,
        interim: float = 0.0,
        close_delay: float = 60.0,
    ) -> None:
        super().__init__(schedule, interim, close_delay)
        self.ideal_rate = ideal_rate
        self.running = running
        self.planned_stops = planned_stops
        self.counter_max = counter_max
        self.state: str | None = None  # state key since self.pos; None = not known yet
        self.last: dict[str, list[float]] = {}  # counter -> [value, time]
        self.warned = False

    # ----- ShiftTracker hooks ---------------------------------------------------------

    def accrue(self, a: float, b: float) -> None:
        if self.state is None or b <= a:
            return
        if self.state not in self.planned_stops:
            self.fig["planned"] += b - a
        if self.state in self.running:
            self.fig["run"] += b - a

    def report(
        self, shift: Shift, end: float, fig: dict[str, float], final: bool
    ) -> dict[str, Any]:
        total = fig.get("total", 0.0)
        if "good" in self.last:
            good = fig.get("good", 0.0)
            reject = fig.get("reject", 0.0) if "reject" in self.last else max(total - good, 0.0)
        elif "reject" in self.last:
            reject = fig.get("reject", 0.0)
            good = max(total - reject, 0.0)
        else:  # no quality input: every unit counts as good
            good, reject = total, 0.0
        planned, run = fig.get("planned", 0.0), fig.get("run", 0.0)
        figures = oee_figures(planned, run, total, good, self.ideal_rate)
        raw = figures.pop("rawPerformance")
        if raw is not None and raw > PERFORMANCE_WARN:
            figures["performanceWarning"] = True
        out = self.shift_fields(shift, end, final)
        out.update(
            {
                "plannedSeconds": round_count(planned),
                "runSeconds": round_count(run),
                "total": round_count(total),
                "good": round_count(good),
                "reject": round_count(reject),
            }
        )
        out.update(figures)
        return out

    def dump(self) -> dict[str, Any]:
        return {"state": self.state, "last": self.last, "warned": self.warned}

    def load(self, data: dict[str, Any]) -> None:
        state = data.get("state")
        self.state = None if state is None else str(state)
        self.last = {k: [float(v[0]), float(v[1])] for k, v in dict(data.get("last", {})).items()}
        self.warned = bool(data.get("warned"))

    # ----- input ----------------------------------------------------------------------

    def feed_state(self, stamp: float, value: Any) -> list[dict[str, Any]]:
        """A state reading at ``stamp``: time up to it counts in the previous state."""
        reports = self.advance(self.effective(stamp))
        self.state = state_key(value)
        return reports

    def feed_counter(
        self, kind: str, stamp: float, value: Any, topic: Any = None
    ) -> list[dict[str, Any]]:
        """A cumulative counter reading (``kind`` total / good / reject) at ``stamp``; what
        it counted since the previous reading is split linearly over the shifts between.
        ValueError (naming topic and value) when ``value`` is not a number."""
        current = number(value, kind, kind if topic is None else topic)
        when = self.effective(stamp)
        reports = self.advance_counter(kind, self.last.get(kind), current, when, self.counter_max)
        self.last[kind] = [current, when]
        return reports

    def check_performance(self, report: dict[str, Any]) -> bool:
        """True the first time a report shows performance above 1.05 (ideal rate too low)."""
        if report.pop("performanceWarning", False) and not self.warned:
            self.warned = True
            return True
        return False
