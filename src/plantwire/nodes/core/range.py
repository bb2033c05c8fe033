"""range: map a number from one range onto another."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator

from plantwire.expressions import (
    get_msg_property,
    set_msg_property,
    to_js_string,
    validate_path,
)
from plantwire.nodes.core.switch import js_to_number
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, choices, node_type

__all__ = ["RangeConfig", "RangeNode", "js_div", "js_mod", "js_round"]


def js_div(a: float, b: float) -> float:
    """JavaScript ``a / b`` (division by zero gives Infinity or NaN)."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        negative = (a < 0) != (math.copysign(1.0, b) < 0)
        return -math.inf if negative else math.inf
    return a / b


def js_mod(a: float, b: float) -> float:
    """JavaScript ``a % b`` (the sign follows the dividend; NaN for b == 0)."""
    if b == 0 or math.isnan(a) or math.isnan(b) or math.isinf(a):
        return math.nan
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def js_round(value: float) -> float:
    """JavaScript ``Math.round``: halves round up, towards +Infinity."""
    if not math.isfinite(value):
        return value
    return float(math.floor(value + 0.5))


def _number(value: float) -> int | float:
    if math.isfinite(value) and value.is_integer():
        return int(value)
    return value


class RangeConfig(NodeConfig):
    """Properties of a range node."""

    minin: Any = Field("", description="Input range: from.")
    maxin: Any = Field("", description="Input range: to.")
    minout: Any = Field("", description="Target range: from.")
    maxout: Any = Field("", description="Target range: to.")
    action: str = Field(
        "scale",
        json_schema_extra=choices("scale", "clamp", "roll", "drop"),
        description="scale: scale the value; clamp: scale and limit to the target range; "
        "roll: scale and wrap within the target range; drop: scale, but drop the "
        "message if the value is outside the input range.",
    )
    round: LooseBool = Field(False, description="Round the result to the nearest integer.")
    property: str = Field("payload", description="The message property holding the number.")

    @field_validator("minin", "maxin", "minout", "maxout")
    @classmethod
    def _numeric(cls, value: Any) -> Any:
        if value is None or value == "":
            return value
        if math.isnan(js_to_number(value)):
            raise ValueError(f"not a number: '{to_js_string(value)}'")
        return value

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        if value not in ("scale", "clamp", "roll", "drop"):
            raise ValueError(f"unknown action '{value}': use scale, clamp, roll or drop")
        return value

    @field_validator("property")
    @classmethod
    def _property(cls, value: str) -> str:
        value = value or "payload"
        try:
            validate_path(value[4:] if value.startswith("msg.") else value)
        except ExpressionError as err:
            raise ValueError(str(err)) from None
        return value


@node_type("range")
class RangeNode(Node):
    """Maps a numeric property from an input range to a target range (linear scaling).

    Non-numeric strings are logged and dropped; a message without the property passes
    unchanged. Actions: scale, clamp (limit to the input range first), roll (wrap into
    the input range first) and drop (discard values outside the input range). The
    result can be rounded to the nearest integer.
    """

    config_model = RangeConfig
    category = "function"
    color = "#e2d96e"
    icon = "range.svg"

    def __init__(self, flow: Any, config: RangeConfig) -> None:
        super().__init__(flow, config)
        self.action = config.action
        self.round = config.round
        self.minin = js_to_number(config.minin if config.minin is not None else MISSING)
        self.maxin = js_to_number(config.maxin if config.maxin is not None else MISSING)
        self.minout = js_to_number(config.minout if config.minout is not None else MISSING)
        self.maxout = js_to_number(config.maxout if config.maxout is not None else MISSING)
        if self.minin > self.maxin:
            self.minin, self.maxin = self.maxin, self.minin
            self.minout, self.maxout = self.maxout, self.minout
        if self.round:
            self.maxout = (
                float(math.floor(self.maxout)) if math.isfinite(self.maxout) else self.maxout
            )
            self.minout = (
                float(math.ceil(self.minout)) if math.isfinite(self.minout) else self.minout
            )
        self.property = config.property or "payload"

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        value = get_msg_property(msg, self.property)
        if value is MISSING:
            send(msg)  # no property: pass the message on
            return
        n = js_to_number(value)
        if math.isnan(n):
            self.log(f"Not a number: {to_js_string(value)}")
            return
        if self.action == "drop" and (n < self.minin or n > self.maxin):
            return
        if self.action == "clamp":
            if n < self.minin:
                n = self.minin
            if n > self.maxin:
                n = self.maxin
        if self.action == "roll":
            divisor = self.maxin - self.minin
            n = js_mod(js_mod(n - self.minin, divisor) + divisor, divisor) + self.minin
        result = (
            js_div(n - self.minin, self.maxin - self.minin) * (self.maxout - self.minout)
            + self.minout
        )
        if self.round:
            result = js_round(result)
        set_msg_property(msg, self.property, _number(result))
        send(msg)
