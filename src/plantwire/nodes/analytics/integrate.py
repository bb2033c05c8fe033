"""integrate: energy (or any quantity) per shift from a meter or a rate, optionally per
units produced."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from plantwire.runtime.message import Msg
from plantwire.spec import LooseFloat, OptFloat, node_type

from ._shiftnode import ShiftNode
from .integrate_codec import MODES, RATE_UNITS, IntegrateTracker
from .shift_codec import ShiftConfig

__all__ = ["IntegrateConfig", "IntegrateNode"]


class IntegrateConfig(ShiftConfig):
    """The integrate node as it appears in flows.json."""

    mode: str = Field(
        "counter",
        description="counter: the value is a cumulative meter (e.g. energy_kwh, energy_wh); "
        "rate: the value is a rate (e.g. power in kW) integrated over message time.",
    )
    scale: LooseFloat = Field(
        1.0, description="Multiply the value by this, e.g. 0.001 for a Wh meter in kWh."
    )
    rateUnit: str = Field(
        "h",
        description="Rate mode: the value is per s, min or h (kW is per h: kWh result).",
    )
    maxGapSeconds: LooseFloat = Field(
        300,
        description="Rate mode: two readings further apart than this are not integrated "
        "(the gap is unknown; a warning says so).",
    )
    valueTopic: str = Field(
        "",
        description="msg.topic of the value messages; empty = any topic other than unitTopic "
        "and shift.",
    )
    unitTopic: str = Field(
        "units",
        description="msg.topic of an optional cumulative unit counter (e.g. bottles): the "
        "report then gives the energy per perUnits units.",
    )
    perUnits: LooseFloat = Field(1000, description="Report the energy per this many units.")
    unitLabel: str = Field("kWh", description="Unit of the result, copied into the report.")
    intervalSeconds: OptFloat = Field(
        0,
        description="Also send the running figures of the current shift (final = false) "
        "every this many seconds of message time; 0 = only at shift end.",
    )

    @model_validator(mode="after")
    def _check(self) -> IntegrateConfig:
        if self.mode not in MODES:
            raise ValueError(f"mode: '{self.mode}' is not one of {', '.join(MODES)}")
        if self.rateUnit not in RATE_UNITS:
            raise ValueError(f"rateUnit: '{self.rateUnit}' is not one of s, min, h")
        if not self.maxGapSeconds > 0:
            raise ValueError("maxGapSeconds: must be greater than 0")
        if not self.perUnits > 0:
            raise ValueError("perUnits: must be greater than 0")
        if self.scale == 0:
            raise ValueError("scale: must not be 0")
        if (self.intervalSeconds or 0) < 0:
            raise ValueError("intervalSeconds: must be 0 (off) or positive")
        if self.valueTopic and self.valueTopic == self.unitTopic:
            raise ValueError("valueTopic: must differ from unitTopic")
        return self


@node_type("integrate")
class IntegrateNode(ShiftNode[IntegrateConfig, IntegrateTracker]):
    """Energy per shift, and energy per 1,000 units.

    In ``counter`` mode the value is a cumulative meter (kWh, or a Wh counter with
    ``scale`` 0.001): the energy of a shift is what the meter counted in it, with wraps at
    ``counterMax`` and resets handled as for counters in the oee node. In ``rate`` mode the
    value is a rate such as power in kW (``rateUnit`` h): it is integrated over message time
    with the trapezoidal rule; two readings further apart than ``maxGapSeconds`` are not
    integrated and a warning says so.

    Messages whose topic is ``unitTopic`` carry a cumulative unit counter (bottles): the
    report then also gives ``perUnit`` = energy per ``perUnits`` units (null when nothing
    was produced). Time comes from the message (``timeProperty``). Amounts between two
    readings on either side of a shift boundary are split at the boundary (linearly for
    meters and counters, exactly along the straight line for rates).

    When a shift has ended and every input has sent a reading past its end (at the latest
    ``closeDelaySeconds`` of message time after the first message past the end) the node
    sends ``msg.topic = "integrate"``
    and ``msg.payload = {shift, start, end, energy, units, perUnit, perUnits, unit, final:
    true}``; with ``intervalSeconds`` it also sends the running figures (final = false).
    Shifts in which no message arrived are not reported; messages with other topics are
    ignored (a warning names each such topic once). A message with topic ``shift``
    (or ``msg.shift = "end"``) ends the current shift now. Figures are kept in node
    context (``store``) so a restart in mid-shift keeps counting. A value that is not a
    number reaches catch nodes with its topic and value.
    """

    config_model = IntegrateConfig
    category = "analytics"
    color = "#a6d5c6"
    icon = "batch.svg"
    report_topic = "integrate"

    def _signature_fields(self) -> list[Any]:
        return [self.cfg.mode, self.cfg.scale, self.cfg.rateUnit]

    def _new_tracker(self) -> IntegrateTracker:
        cfg = self.cfg
        return IntegrateTracker(
            cfg.schedule(),
            mode=cfg.mode,
            scale=cfg.scale,
            rate_unit=cfg.rateUnit,
            max_gap=cfg.maxGapSeconds,
            per_units=cfg.perUnits,
            unit_label=cfg.unitLabel,
            counter_max=cfg.counterMax,
            interim=cfg.intervalSeconds or 0.0,
            close_delay=cfg.closeDelaySeconds,
        )

    def _show(self) -> None:
        tracker = self.tracker
        if tracker.shift is None:
            self.status({})
            return
        text = f"{tracker.shift.name}: {round(tracker.energy, 3)} {self.cfg.unitLabel}"
        self.status("green", "dot", text)

    def _expected_topics(self) -> tuple[str, ...]:
        return (self.cfg.valueTopic, self.cfg.unitTopic)

    def _feed(self, msg: Msg, stamp: float, topic: Any) -> list[dict[str, Any]] | None:
        cfg = self.cfg
        if cfg.unitTopic and topic == cfg.unitTopic:
            return self.tracker.feed_units(stamp, msg.get("payload"), topic)
        if cfg.valueTopic and topic != cfg.valueTopic:
            return None
        reports, gap = self.tracker.feed_value(stamp, msg.get("payload"), topic)
        if gap is not None:
            self.warn(
                f"{gap:g} s between two readings is more than maxGapSeconds "
                f"{cfg.maxGapSeconds:g}: not integrated"
            )
        return reports
