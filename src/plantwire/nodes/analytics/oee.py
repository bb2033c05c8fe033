"""oee: overall equipment effectiveness per shift from machine state and counters."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from plantwire.runtime.message import Msg
from plantwire.spec import LooseFloat, OptFloat, node_type

from ._shiftnode import ShiftNode, is_shift_end
from .oee_codec import OeeTracker, parse_state_list
from .shift_codec import ShiftConfig

__all__ = ["OeeConfig", "OeeNode", "is_shift_end"]


class OeeConfig(ShiftConfig):
    """The oee node as it appears in flows.json."""

    stateTopic: str = Field("state", description="msg.topic of machine state messages.")
    totalTopic: str = Field(
        "total", description="msg.topic of the cumulative count of all units made."
    )
    goodTopic: str = Field("good", description="msg.topic of the cumulative count of good units.")
    rejectTopic: str = Field(
        "reject",
        description="msg.topic of the cumulative count of rejected units; used for "
        "good = total - reject when no good count arrives.",
    )
    runningStates: str = Field(
        "1,RUNNING,running,true",
        description="State values (comma separated) that mean the machine is running; any "
        "other state is not running.",
    )
    plannedStopStates: str = Field(
        "",
        description="State values (comma separated) that are planned stops, e.g. 0,IDLE: "
        "their time is not planned production time.",
    )
    idealRate: LooseFloat = Field(
        0, description="Ideal rate in units per minute (e.g. the rated line speed); > 0."
    )
    interimSeconds: OptFloat = Field(
        0,
        description="Also send the running figures of the current shift (final = false) "
        "every this many seconds of message time; 0 = only at shift end.",
    )

    @model_validator(mode="after")
    def _check(self) -> OeeConfig:
        if not self.idealRate > 0:
            raise ValueError("idealRate: must be greater than 0 (units per minute)")
        if (self.interimSeconds or 0) < 0:
            raise ValueError("interimSeconds: must be 0 (off) or positive")
        if not self.stateTopic.strip() or not self.totalTopic.strip():
            raise ValueError("stateTopic: the state and total topics must not be empty")
        return self


@node_type("oee")
class OeeNode(ShiftNode[OeeConfig, OeeTracker]):
    """Computes OEE (availability x performance x quality) per shift.

    Wire machine state and cumulative counters into one node; ``msg.topic`` tells them
    apart (``stateTopic``, ``totalTopic``, ``goodTopic``, ``rejectTopic``). The time of a
    reading comes from the message (``timeProperty``, epoch ms or ISO text), so a replay or a
    simulator that runs faster drives the shifts in its own time.

    * availability = run time / planned time (states in ``plannedStopStates`` are not
      planned time; states in ``runningStates`` are run time; time before the first
      state message is not counted);
    * performance = total / (``idealRate`` per minute x run minutes), capped at 1 (a
      warning, once, when it is above 1.05: the ideal rate is too low);
    * quality = good / total (good = total - reject without a good count; 1 without
      either);
    * oee = the product. Fractions are 0..1 rounded to 4 decimals; null when undefined.

    Counters may wrap at ``counterMax`` or be reset to 0: a fall is a wrap when that is the
    shorter way round, else a reset (the new value is counted from 0). A counter increase
    between two readings on either side of a shift boundary is split linearly; state time is
    split exactly.

    When a shift has ended and every counter has sent a reading past its end (at the latest
    ``closeDelaySeconds`` of message time after the first message past the end) the node
    sends ``msg.topic = "oee"`` and
    ``msg.payload = {shift, start, end, plannedSeconds, runSeconds, total, good, reject,
    availability, performance, quality, oee, final: true}``. Shifts in which no message
    arrived are not reported; messages with other topics are ignored (a warning names each
    such topic once). A message with topic ``shift`` (or ``msg.shift = "end"``)
    ends the current shift now. The running figures are kept in node context (``store``),
    so a restart in mid-shift keeps counting. A count that is not a number reaches catch
    nodes with its topic and value.
    """

    config_model = OeeConfig
    category = "analytics"
    color = "#a6d5c6"
    icon = "gauge.svg"
    report_topic = "oee"

    def _signature_fields(self) -> list[Any]:
        cfg = self.cfg
        return [cfg.idealRate, cfg.runningStates, cfg.plannedStopStates]

    def _new_tracker(self) -> OeeTracker:
        cfg = self.cfg
        return OeeTracker(
            cfg.schedule(),
            cfg.idealRate,
            parse_state_list(cfg.runningStates),
            parse_state_list(cfg.plannedStopStates),
            cfg.counterMax,
            cfg.interimSeconds or 0.0,
            cfg.closeDelaySeconds,
        )

    def _show(self) -> None:
        shift = self.tracker.shift
        if shift is None:
            self.status({})
            return
        state = self.tracker.state
        running = state is not None and state in self.tracker.running
        self.status("green" if running else "grey", "dot", f"{shift.name} state {state}")

    def _expected_topics(self) -> tuple[str, ...]:
        cfg = self.cfg
        return (cfg.stateTopic, cfg.totalTopic, cfg.goodTopic, cfg.rejectTopic)

    def _feed(self, msg: Msg, stamp: float, topic: Any) -> list[dict[str, Any]] | None:
        cfg = self.cfg
        if topic == cfg.stateTopic:
            return self.tracker.feed_state(stamp, msg.get("payload"))
        if topic not in (cfg.totalTopic, cfg.goodTopic, cfg.rejectTopic) or not topic:
            return None
        kind = (
            "total" if topic == cfg.totalTopic else "good" if topic == cfg.goodTopic else "reject"
        )
        return self.tracker.feed_counter(kind, stamp, msg.get("payload"), topic)

    def _check_report(self, report: dict[str, Any]) -> None:
        if self.tracker.check_performance(report):
            self.warn(
                f"performance {report.get('performance')} capped: the run produced more "
                f"than idealRate {self.cfg.idealRate}/min allows; is the ideal rate too low?"
            )
