"""stats: rolling statistics (mean, min, max, standard deviation, trend) of a numeric value.

The config fields and helpers shared by the analytics nodes (value property, time
property, per-topic state, output property, window kind) live here too; threshold and
forecast import them.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from plantwire.expressions import (
    get_msg_property,
    set_msg_property,
    to_js_string,
    validate_path,
)
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, OptFloat, OptInt, node_type

from .time_codec import msg_time
from .window_codec import RollingWindow, WindowError, to_number

__all__ = [
    "AnalyticsConfig",
    "StatsConfig",
    "StatsNode",
    "WindowConfig",
    "WindowNode",
    "is_reset",
    "read_value",
    "topic_of",
]


def _check_path(value: str) -> str:
    text = value[4:] if value.startswith("msg.") else value
    if not text:
        raise ValueError("must name a message property")
    try:
        validate_path(text)
    except Exception as exc:
        raise ValueError(str(exc)) from None
    return text


class AnalyticsConfig(NodeConfig):
    """Fields every analytics node has: where the value, time and result are."""

    property: str = Field(
        "payload",
        description="Message property holding the numeric value (a path such as "
        "payload.level). Numbers and numeric strings are accepted.",
    )
    timeProperty: str = Field(
        "timestamp",
        description="Message property holding the reading's time (epoch milliseconds, or "
        "ISO 8601 text). Messages without it use the time they arrive.",
    )
    perTopic: LooseBool = Field(
        True, description="Keep separate state for each msg.topic (off: one for all)."
    )
    output: str = Field(
        "payload", description="Message property the result is written to (a path)."
    )

    @field_validator("property")
    @classmethod
    def _property(cls, value: str) -> str:
        return _check_path(value)

    @field_validator("output")
    @classmethod
    def _output(cls, value: str) -> str:
        return _check_path(value)

    @field_validator("timeProperty")
    @classmethod
    def _time_property(cls, value: str) -> str:
        return value[4:] if value.startswith("msg.") else value


class WindowConfig(AnalyticsConfig):
    """The rolling window: the last N messages or the last N seconds."""

    windowType: Literal["count", "time"] = Field(
        "count",
        description="count: the last `window` messages; time: the last `windowSeconds` "
        "seconds of message time.",
    )
    window: OptInt = Field(10, description="Number of messages in the window (windowType count).")
    windowSeconds: OptFloat = Field(
        None, description="Length of the window in seconds (windowType time)."
    )

    @field_validator("windowType", mode="before")
    @classmethod
    def _window_type(cls, value: Any) -> Any:
        if value in ("count", "time", None, ""):
            return value or "count"
        raise ValueError(f"unknown window type {value!r}; use count or time")

    @model_validator(mode="after")
    def _window(self) -> WindowConfig:
        if self.windowType == "count" and (self.window is None or self.window < 1):
            raise ValueError(f"window: must be at least 1 message (got {self.window!r})")
        if self.windowType == "time" and (self.windowSeconds is None or not self.windowSeconds > 0):
            raise ValueError(
                f"windowSeconds: must be a number of seconds greater than 0 for a time "
                f"window (got {self.windowSeconds!r})"
            )
        return self

    def make_window(self) -> RollingWindow:
        if self.windowType == "time":
            return RollingWindow(seconds=self.windowSeconds)
        return RollingWindow(size=self.window or 1)


def topic_of(msg: Msg, per_topic: bool) -> str:
    """The state key of a message: its topic as text ("" without one, or when not per topic)."""
    if not per_topic:
        return ""
    topic = msg.get("topic", MISSING)
    if topic is MISSING or topic is None:
        return ""
    return to_js_string(topic)


def is_reset(msg: Msg) -> bool:
    """Whether ``msg.reset`` asks to clear state (any value but false / null)."""
    return msg.get("reset", MISSING) not in (MISSING, False, None)


def read_value(node: Node, msg: Msg, prop: str) -> float | None:
    """The numeric value at ``msg.<prop>``; reports an error naming the property and the
    value (reaching catch nodes) and returns None when it is missing or not a number."""
    try:
        value = get_msg_property(msg, prop)
    except Exception:
        value = MISSING
    if value is MISSING:
        node.error(f"msg.{prop} is missing: expected a number", msg)
        return None
    number = to_number(value)
    if number is None:
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        node.error(f"msg.{prop} is not a number: {shown[:80]}", msg)
        return None
    return number


def add_reading(
    node: Node, window: RollingWindow, msg: Msg, t: float, v: float, time_prop: str
) -> bool:
    """Add a reading; a time going backwards is reported (naming the time property)."""
    try:
        window.add(t, v)
    except WindowError as exc:
        node.error(f"msg.{time_prop or 'timestamp'}: {exc}; message ignored", msg)
        return False
    return True


W = TypeVar("W", bound=WindowConfig)


class WindowNode(Node, Generic[W]):
    """Base of a node that keeps a rolling window of readings per topic (stats, forecast):
    reset messages, reading the value and time, and adding them to the topic's window."""

    def __init__(self, flow: Any, config: W) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.windows: dict[str, RollingWindow] = {}

    def _forget(self, topic: str) -> None:
        """Called on a reset for ``topic`` ("" = all topics) after the windows are cleared."""

    def _reading(self, msg: Msg) -> tuple[str, RollingWindow, float, float] | None:
        """(topic, its window, time, value) of a message whose reading was added; None for
        a reset (done here) or a message reported as unusable."""
        cfg = self.cfg
        topic = topic_of(msg, cfg.perTopic)
        if is_reset(msg):
            if topic:
                self.windows.pop(topic, None)
            else:
                self.windows.clear()
            self._forget(topic)
            self.status({"fill": "grey", "shape": "ring", "text": "reset"})
            return None
        value = read_value(self, msg, cfg.property)
        if value is None:
            return None
        window = self.windows.get(topic)
        if window is None:
            window = self.windows[topic] = cfg.make_window()
        t = msg_time(msg, cfg.timeProperty)
        if not add_reading(self, window, msg, t, value, cfg.timeProperty):
            return None
        return topic, window, t, value


class StatsConfig(WindowConfig):
    """Properties of a stats node."""

    emit: Literal["every", "full"] = Field(
        "every",
        description="every: a result for every message; full: only once the window is "
        "full (holds `window` messages, or readings span `windowSeconds`).",
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@node_type("stats")
class StatsNode(WindowNode[StatsConfig]):
    """Rolling statistics of a numeric value over the last N messages or N seconds.

    The value is read from `property` (numbers and numeric strings), the time from
    `timeProperty` (epoch milliseconds or ISO text; the arrival time when absent). The
    message is forwarded with the result at `output`:
    `{count, mean, min, max, stddev, slope, first, last, span}` — `stddev` is the sample
    standard deviation (null for one reading), `slope` the least-squares trend in units
    per second (null until two readings at different times), `span` the seconds between
    the oldest and newest reading in the window.

    State is kept per `msg.topic` unless `perTopic` is off. `emit: full` holds results
    back until the window is full. A message with `msg.reset` clears the window of its
    topic (all windows when it has no topic) and is not forwarded. A value that is not a
    number, or a time older than the previous reading, reaches catch nodes and is not
    forwarded.
    """

    config_model = StatsConfig
    category = "analytics"
    color = "#a6d5c6"
    icon = "stats.svg"

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        cfg = self.cfg
        reading = self._reading(msg)
        if reading is None:
            return
        window = reading[1]
        result = window.summary()
        full = window.full
        self.status(
            {
                "fill": "green" if full else "yellow",
                "shape": "dot" if full else "ring",
                "text": f"mean {_fmt(result['mean'])} sd {_fmt(result['stddev'])} "
                f"n={result['count']}",
            }
        )
        if cfg.emit == "full" and not full:
            return
        set_msg_property(msg, cfg.output, result)
        send(msg)
