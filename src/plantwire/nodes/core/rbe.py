"""rbe (the "filter" node): report by exception, deadband and narrowband filters."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import Field, field_validator

from plantwire.expressions import get_msg_property, to_js_string
from plantwire.nodes.core.switch import js_to_number
from plantwire.runtime.message import MISSING, Msg, clone_value
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, node_type

__all__ = ["RbeConfig", "RbeNode", "compare_objects", "js_parse_float"]

_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_SPACE += "".join(chr(c) for c in range(0x2000, 0x200B))
_FUNCS = ("rbe", "rbei", "deadband", "deadbandEq", "narrowband", "narrowbandEq")


def js_parse_float(value: Any) -> float:
    """JavaScript ``parseFloat(value)``: the numeric prefix of ``String(value)``, or NaN."""
    text = to_js_string(value).lstrip(_JS_SPACE)
    match = _FLOAT_PREFIX.match(text)
    if match is None:
        return math.nan
    token = match.group(0)
    if token.lstrip("+-") == "Infinity":
        return -math.inf if token.startswith("-") else math.inf
    return float(token)


def _strict_equals(a: Any, b: Any) -> bool:
    """JavaScript ``a === b`` for primitives (objects compare by identity)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict | list | bytes | bytearray) or isinstance(b, dict | list):
        return a is b
    return type(a) is type(b) and a == b


def compare_objects(a: Any, b: Any) -> bool:
    """Node-RED's ``RED.util.compareObjects``: deep equality of JSON-like values."""
    if a is b or _strict_equals(a, b):
        return True
    if a is None or a is MISSING or b is None or b is MISSING:
        return False
    if isinstance(a, list) != isinstance(b, list):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(compare_objects(x, y) for x, y in zip(a, b, strict=False))
    a_buf = isinstance(a, bytes | bytearray)
    if a_buf != isinstance(b, bytes | bytearray):
        return False
    if a_buf:
        return bytes(a) == bytes(b)
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    if len(a) != len(b):
        return False
    return all(compare_objects(v, b.get(k, MISSING)) for k, v in a.items())


def _is_object(value: Any) -> bool:
    """``typeof value === "object"`` (null included)."""
    return value is None or (
        not isinstance(value, str | int | float | bool) and value is not MISSING
    )


class RbeConfig(NodeConfig):
    """Properties of a filter (rbe) node."""

    func: str = Field(
        "rbe",
        description="Mode: rbe (block unless value changes), rbei (same, ignoring the "
        "initial value), deadband / deadbandEq (block unless the change is greater than / "
        "at least the gap), narrowband / narrowbandEq (block if the change is greater "
        "than / at least the gap).",
    )
    gap: str = Field("", description='The value change, a number or a percentage ("5%").')
    start: str = Field("", description="Start value for narrowband (blank: the first value).")
    inout: str = Field(
        "out", description="Compare to the last valid output value (out) or last input (in)."
    )
    septopics: Any = Field(True, description="Apply the mode separately for each topic.")
    property: str = Field("payload", description="The property to watch.")
    topi: str = Field("topic", description="The property that separates topics.")

    @field_validator("func")
    @classmethod
    def _func(cls, value: str) -> str:
        if value and value not in _FUNCS:
            raise ValueError(f"unknown mode '{value}': use one of {', '.join(_FUNCS)}")
        return value

    @field_validator("gap")
    @classmethod
    def _gap(cls, value: str) -> str:
        text = value[:-1] if value.endswith("%") else value
        if value and math.isnan(js_parse_float(text)):
            raise ValueError(f"gap '{value}' is not a number or a percentage")
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if value and math.isnan(js_parse_float(value)):
            raise ValueError(f"start value '{value}' is not a number")
        return value


@node_type("rbe")
class RbeNode(Node):
    """Filter: passes a message only when the watched property changes.

    *block unless value changes* (rbe) compares any value, objects deeply;
    *rbei* also blocks the first value. *deadband* modes pass numeric changes
    larger than the gap (a number or a percentage of the previous value);
    *narrowband* modes block them. Values are kept per topic unless disabled.
    A message with ``msg.reset`` clears the stored value (of its topic).
    """

    config_model = RbeConfig
    category = "function"
    color = "#e2d96e"
    icon = "rbe.png"

    def __init__(self, flow: Any, config: RbeConfig) -> None:
        super().__init__(flow, config)
        self.func = config.func or "rbe"
        gap = config.gap or "0"
        self.pc = gap.endswith("%")
        self.gap_text = gap
        self.gap_percent = js_parse_float(gap) if self.pc else math.nan
        self.start_value = config.start or ""
        self.inout = config.inout or "out"
        self.property = config.property or "payload"
        self.topi = config.topi or "topic"
        self.septopics = config.septopics is not False
        self.previous: dict[str, Any] = {}

    def _number(self, value: Any) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return js_to_number(value)

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        try:
            topic = get_msg_property(msg, self.topi)
        except Exception:
            topic = MISSING
        if "reset" in msg:
            if self.septopics and isinstance(topic, str) and topic:
                self.previous.pop(to_js_string(msg.get("topic", MISSING)), None)
            else:
                self.previous = {}
        try:
            value = get_msg_property(msg, self.property)
        except Exception:
            value = MISSING
        if value is MISSING:
            return
        t = "_no_topic"
        nan = isinstance(topic, float) and math.isnan(topic)
        if self.septopics and topic not in (MISSING, None, "", 0, False) and not nan:
            t = to_js_string(topic)
        if self.func in ("rbe", "rbei"):
            self._rbe(msg, value, t)
        else:
            self._band(msg, value, t)

    def _rbe(self, msg: Msg, value: Any, t: str) -> None:
        do_send = self.func != "rbei" or t in self.previous
        previous = self.previous.get(t, MISSING)
        if _is_object(value):
            if not _is_object(previous):
                previous = self.previous[t] = {}
            if not compare_objects(value, previous):
                self.previous[t] = clone_value(value)
                if do_send:
                    self.send(msg)
        elif previous is MISSING or not _strict_equals(value, previous):
            self.previous[t] = value
            if do_send:
                self.send(msg)

    def _band(self, msg: Msg, value: Any, t: str) -> None:
        n = js_parse_float(value)
        if math.isnan(n):
            self.warn("no number found in payload")
            return
        func = self.func
        if t not in self.previous and func in ("narrowband", "narrowbandEq"):
            self.previous[t] = n if self.start_value == "" else self._number(self.start_value)
        if self.pc:
            prev = self.previous.get(t, MISSING)
            gap = (
                abs(self._number(prev) * self.gap_percent / 100)
                if prev is not MISSING
                else math.nan
            )
            gap = 0.0 if math.isnan(gap) or gap == 0 else gap
        else:
            gap = self._number(self.gap_text)
        if t not in self.previous and func == "narrowbandEq":
            self.previous[t] = n
        if t not in self.previous:
            self.previous[t] = n - gap - 1
        diff = abs(n - self._number(self.previous[t]))
        send = False
        if diff == gap:
            send = func in ("deadbandEq", "narrowband")
        elif diff > gap:
            send = func in ("deadband", "deadbandEq")
        elif diff < gap:
            send = func in ("narrowband", "narrowbandEq")
        if send:
            if self.inout == "out":
                self.previous[t] = n
            self.send(msg)
        if self.inout == "in":
            self.previous[t] = n
