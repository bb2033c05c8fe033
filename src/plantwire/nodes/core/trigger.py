"""trigger: send a message, then optionally a second one after a delay or reset."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import (
    TYPED_INPUT_TYPES,
    TypedValue,
    get_msg_property,
    parse_js_number,
    prepare_typed,
    to_js_string,
)
from plantwire.expressions.dates import now_ms
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg, clone_msg, clone_value
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseInt, NodeConfig, choices, node_type

from .sequence_codec import Repeater, js_delay_seconds, js_truthy, parse_float_js
from .template_codec import MustacheError, parse_template, render

__all__ = ["TriggerConfig", "TriggerNode"]

_SPECIAL = ("pay", "payl", "nul", "null")
_UNITS = {"s": 1000.0, "min": 60_000.0, "hr": 3_600_000.0}


def _operand(value: Any, vtype: str, default: str) -> tuple[Any, str]:
    """Node-RED's defaults and legacy ``val`` type for op1/op2."""
    if not js_truthy(value):
        value = default
    vtype = vtype or "str"
    if vtype == "date" and value == default:
        value = ""
    if vtype == "val":
        if value in ("true", "false"):
            vtype = "bool"
        elif value == "null":
            return None, "null"
        else:
            vtype = "str"
    return value, vtype


class TriggerConfig(NodeConfig):
    """The trigger node as Node-RED writes it in flows.json."""

    op1: Any = Field("1", description="What to send first (empty: 1).")
    op2: Any = Field("0", description="What to send after the duration (empty: 0).")
    op1type: str = Field(
        "str",
        description="Type of op1: str, num, bool, json, bin, date, flow, global, env, "
        "pay (the original message) or nul (nothing).",
    )
    op2type: str = Field(
        "str",
        description="Type of op2: as op1type, plus payl (the latest message); the legacy "
        "'val' picks bool, null or str from the value.",
    )
    duration: Any = Field(
        "250",
        description="How long to wait; 0 waits for a reset; negative resends op1 every |duration|.",
    )
    extend: bool | str = Field(False, description="Extend the delay when a new message arrives.")
    overrideDelay: bool | str = Field(
        False, description="Let msg.delay (milliseconds) override the duration."
    )
    units: str = Field("ms", description="Units of duration: ms, s, min or hr.")
    reset: Any = Field("", description="A msg.payload value that resets the trigger.")
    bytopic: str = Field(
        "all",
        description="all: one trigger; topic: one per topic value.",
        json_schema_extra=choices("all", "topic"),
    )
    topic: str = Field("topic", description="The message property that names the topic.")
    outputs: LooseInt = Field(1, description="2 sends the second message on a second output.")

    @model_validator(mode="after")
    def _check(self) -> TriggerConfig:
        for name, value, vtype, default in (
            ("op1", self.op1, self.op1type, "1"),
            ("op2", self.op2, self.op2type, "0"),
        ):
            value, vtype = _operand(value, vtype, default)
            if vtype in _SPECIAL:
                continue
            if vtype not in TYPED_INPUT_TYPES:
                raise ValueError(f"{name}type: unknown type '{vtype}'")
            try:
                prepare_typed(value, vtype)
                if vtype == "str" and "{{" in to_js_string(value):
                    parse_template(to_js_string(value))
            except (ExpressionError, MustacheError) as err:
                raise ValueError(f"{name}: {err}") from None
        text = to_js_string(self.duration).strip() if self.duration is not None else ""
        if text and parse_js_number(text) is None and parse_float_js(text) is None:
            raise ValueError(f"duration: not a number '{self.duration}'")
        if self.bytopic not in ("all", "topic"):
            raise ValueError(f"bytopic: must be 'all' or 'topic', not '{self.bytopic}'")
        return self


class _Operand:
    """op1 or op2, prepared: a template, a typed value, or one of pay/payl/nul/null."""

    __slots__ = ("raw", "template", "type", "typed")

    def __init__(self, value: Any, vtype: str, default: str) -> None:
        self.raw, self.type = _operand(value, vtype, default)
        self.template = (
            to_js_string(self.raw)
            if self.type == "str" and "{{" in to_js_string(self.raw)
            else None
        )
        self.typed: TypedValue | None = None
        if self.type not in _SPECIAL and self.template is None:
            self.typed = prepare_typed(self.raw, self.type)

    def evaluate(self, node: Node, msg: Msg) -> Any:
        if self.typed is not None:
            return self.typed.evaluate(node, msg)
        return None if self.type == "null" else self.raw


class _Topic:
    __slots__ = ("m2", "tout")

    def __init__(self) -> None:
        self.tout: asyncio.TimerHandle | Repeater | int | None = None
        self.m2: Any = MISSING


@node_type("trigger")
class TriggerNode(Node):
    """Sends a message when triggered, then a second one after a delay unless reset.

    The first message is op1 (or the incoming message, or nothing), the second op2
    (or the original or latest message, or nothing) after the duration; messages that
    arrive meanwhile are ignored unless "extend" restarts the wait. Duration 0 waits
    for a reset; a negative duration resends op1 at that interval. ``msg.reset``, or a
    payload equal to the reset value, stops it. Per-topic mode keeps one trigger per
    value of the topic property. String operands may use ``{{mustache}}`` templates.
    """

    config_model = TriggerConfig
    category = "function"
    color = "#E6E0F8"
    icon = "trigger.svg"
    manual_done = True

    def __init__(self, flow: Any, config: TriggerConfig) -> None:
        super().__init__(flow, config)
        self.op1 = _Operand(config.op1, config.op1type, "1")
        self.op2 = _Operand(config.op2, config.op2type, "0")
        self.second = config.outputs == 2
        self.topic_prop = config.topic or "topic"
        self.bytopic = config.bytopic or "all"
        self.extend = config.extend is True or config.extend == "true"
        self.override = js_truthy(config.overrideDelay)
        self.reset = to_js_string(config.reset) if js_truthy(config.reset) else ""
        duration = parse_float_js(config.duration)
        self.duration = 250.0 if duration is None else duration
        self.loop = self.duration < 0
        if self.loop:
            self.duration = -self.duration
            self.extend = False
        self.duration *= _UNITS.get(config.units or "ms", 1.0)
        self.topics: dict[str, _Topic] = {}
        self.npay: dict[str, Msg] = {}

    def _stat(self) -> dict[str, Any]:
        count = len(self.topics)
        if count == 0:
            return {}
        if count == 1:
            return {"fill": "blue", "shape": "dot"}
        return {"fill": "blue", "shape": "dot", "text": count}

    def _cancel(self, state: _Topic | None) -> None:
        if state is None:
            return
        if isinstance(state.tout, Repeater):
            state.tout.stop()
        elif isinstance(state.tout, asyncio.TimerHandle):
            self.cancel_timer(state.tout)

    def _is_reset(self, msg: Msg) -> bool:
        if "reset" in msg:
            return True
        if self.reset == "" or "payload" not in msg:
            return False
        payload = msg["payload"]
        return (
            payload is not None and payload is not MISSING and to_js_string(payload) == self.reset
        )

    def _emit(self, send: SendFn, msg: Msg | None) -> None:
        send([None, msg] if self.second else msg)

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        value = get_msg_property(msg, self.topic_prop)
        topic = to_js_string(value) if js_truthy(value) else "_none"
        if self.bytopic == "all":
            topic = "_none"
        wait = self.duration
        if self.override and "delay" in msg:
            override = parse_float_js(msg["delay"])
            if override is not None:
                wait = override
        state = self.topics.setdefault(topic, _Topic())
        if self._is_reset(msg):
            self._cancel(state)
            del self.topics[topic]
            self.status(self._stat())
            done()
            return
        if self.op2.type == "payl":
            self.npay[topic] = clone_msg(msg)
        if state.tout is None or self.loop:
            try:
                self._first(msg, send, topic, state, wait)
            except Exception as err:
                done(err)
                return
            done()
            self.status(self._stat())
            if self.op1.type != "nul":
                send(clone_msg(msg))
            return
        if self.extend and wait > 0:
            if self.op2.type == "payl":
                state.m2 = clone_value(msg.get("payload", MISSING))
            self._cancel(state)
            state.tout = self.call_later(
                js_delay_seconds(wait), lambda: self._fire_extended(msg, send, topic)
            )
        done()

    def _first(self, msg: Msg, send: SendFn, topic: str, state: _Topic, wait: float) -> None:
        op1, op2 = self.op1, self.op2
        if op2.type == "pay":
            state.m2 = clone_value(msg.get("payload", MISSING))
        elif op2.template is not None:
            state.m2 = render(op2.template, msg)
        elif op2.type != "nul":
            state.m2 = op2.evaluate(self, msg)
        if op1.template is not None:
            msg["payload"] = render(op1.template, msg)
        elif op1.type not in ("pay", "nul"):
            _set_payload(msg, op1.evaluate(self, msg))
        if wait == 0:
            state.tout = 0
        elif self.loop:
            self._cancel(state)
            if op1.type != "nul":
                repeat = clone_msg(msg)

                def resend() -> None:
                    if op1.type == "date":
                        repeat["payload"] = now_ms()
                    send(clone_msg(repeat))

                state.tout = Repeater(self, wait, resend)
        elif not state.tout:
            state.tout = self.call_later(
                js_delay_seconds(wait), lambda: self._fire(msg, send, topic)
            )

    def _fire(self, msg: Msg, send: SendFn, topic: str) -> None:
        op2 = self.op2
        if op2.type == "nul":
            self.topics.pop(topic, None)
            self.status(self._stat())
            return
        msg2 = clone_msg(msg)
        state = self.topics.get(topic)
        if op2.type in ("flow", "global", "date") and state is not None:
            try:
                state.m2 = op2.evaluate(self, msg)
            except Exception as err:
                self.error(err)
                return
        if op2.type == "payl":
            self._emit(send, self.npay.pop(topic, None))
        else:
            _set_payload(msg2, state.m2 if state is not None else MISSING)
            self._emit(send, msg2)
        self.topics.pop(topic, None)
        self.status(self._stat())

    def _fire_extended(self, msg: Msg, send: SendFn, topic: str) -> None:
        op2 = self.op2
        state = self.topics.get(topic)
        msg2: Msg | None = None
        if op2.type in ("flow", "global") and state is not None:
            try:
                state.m2 = op2.evaluate(self, msg)
            except Exception as err:
                self.error(err)
                return
        if op2.type != "nul" and state is not None:
            msg2 = clone_msg(msg)
            _set_payload(msg2, state.m2)
        self.topics.pop(topic, None)
        self.status(self._stat())
        self._emit(send, msg2)

    async def close(self, removed: bool) -> None:
        for state in self.topics.values():
            self._cancel(state)
        self.topics.clear()
        self.status(self._stat())


def _set_payload(msg: Msg, value: Any) -> None:
    if value is MISSING:
        msg.pop("payload", None)
    else:
        msg["payload"] = value
