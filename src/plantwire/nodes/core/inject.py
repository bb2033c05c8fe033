"""inject: start a flow by hand, once at start, at intervals or on a cron schedule."""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
from typing import Any

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from plantwire.expressions import (
    TYPED_INPUT_TYPES,
    TypedValue,
    parse_js_number,
    prepare_typed,
    set_msg_property,
    to_js_string,
)
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg, new_msgid
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, choices, node_type

__all__ = ["InjectConfig", "InjectNode", "InjectProp", "cron_iter"]

MAX_REPEAT = 2147483
"""Longest repeat interval in seconds (Node-RED's limit, from setInterval)."""


def cron_iter(expr: str, start: _dt.datetime) -> croniter:
    """A croniter for a Node-RED (cronosjs) crontab: six fields put seconds first."""
    fields = expr.split()
    return croniter(expr, start, second_at_beginning=len(fields) >= 6)


class InjectProp(BaseModel):
    """One property an inject node sets: ``p`` = value ``v`` of type ``vt``."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    p: str = Field("", description="The message property to set.")
    v: Any = Field(None, description="The value.")
    vt: str | None = Field(
        None,
        description="Type of the value: str, num, bool, json, ...",
        json_schema_extra=choices(*TYPED_INPUT_TYPES),
    )


def _jsonata_message(err: BaseException) -> str:
    text = str(err)
    return text.split(" failed: ", 1)[-1] if " failed: " in text else text


class _Prop:
    """A prepared property (the value compiled once)."""

    __slots__ = ("error", "p", "typed", "v", "vt")

    def __init__(self, p: str, v: Any, vt: str) -> None:
        self.p = p
        self.v = v
        self.vt = vt
        self.typed: TypedValue | None = None
        self.error: str | None = None
        if not p or vt not in TYPED_INPUT_TYPES:
            return
        if vt == "jsonata" and not v:
            return
        try:
            self.typed = prepare_typed(v, vt)
        except ExpressionError as err:
            if vt == "jsonata":
                self.error = f"Invalid JSONata expression: {_jsonata_message(err)}"
            elif vt in ("json", "bin"):
                self.error = f"SyntaxError: {err}"
            else:
                self.error = f"Error: {err}"


def _resolve_props(config: InjectConfig) -> list[tuple[str, Any, str]]:
    """Node-RED's handling of the legacy payload/topic form: (p, v, vt) triples."""
    if config.props is None:
        return [
            ("payload", config.payload, config.payloadType or "str"),
            ("topic", config.topic, "str"),
        ]
    out: list[tuple[str, Any, str]] = []
    for prop in config.props:
        v: Any = prop.v if "v" in prop.model_fields_set else MISSING
        vt = prop.vt
        if prop.p == "payload" and v is MISSING:
            v, vt = config.payload, config.payloadType
        elif prop.p == "topic" and prop.vt == "str" and v is MISSING:
            v = config.topic
        out.append((prop.p, "" if v is MISSING or v is None else v, vt or "str"))
    return out


class InjectConfig(NodeConfig):
    """Properties of an inject node."""

    props: list[InjectProp] | None = Field(
        None, description="The properties to set on each message (None: legacy form)."
    )
    repeat: Any = Field("", description="Repeat interval in seconds ('' for none).")
    crontab: str = Field("", description="Cron schedule (minute hour day month weekday).")
    once: LooseBool = Field(False, description="Inject once after the flow starts.")
    onceDelay: Any = Field(0.1, description="Seconds to wait before the first inject.")
    payload: Any = Field("", description="Legacy: the payload value.")
    payloadType: str | None = Field(
        None, description="Legacy: type of the payload (missing: str, as Node-RED runs it)."
    )
    topic: Any = Field("", description="Legacy: msg.topic.")

    @field_validator("repeat")
    @classmethod
    def _repeat(cls, value: Any) -> Any:
        if value is None or value == "":
            return ""
        number = parse_js_number(value)
        if number is None or number < 0:
            raise ValueError("Invalid repeat value")
        return value

    @field_validator("crontab")
    @classmethod
    def _crontab(cls, value: str) -> str:
        value = (value or "").strip()
        if value:
            try:
                cron_iter(value, _dt.datetime.now())
            except Exception as err:
                raise ValueError(f"invalid crontab '{value}': {err}") from None
        return value


@node_type("inject")
class InjectNode(Node):
    """Injects a message into a flow: by hand, once after start, or on a schedule.

    Each message gets the configured properties (``msg.payload``, ``msg.topic`` and
    any others), whose values can be strings, numbers, booleans, JSON, buffers, the
    current time, env variables, JSONata results or flow/global context values.
    It can repeat at an interval or follow a cron schedule. A message arriving at its
    input (or a call to :meth:`trigger`) makes it inject with that message.
    """

    config_model = InjectConfig
    category = "common"
    inputs = 0
    color = "#a6bbcf"
    icon = "inject.svg"

    def __init__(self, flow: Any, config: InjectConfig) -> None:
        super().__init__(flow, config)
        self.props = [_Prop(p, v, vt) for p, v, vt in _resolve_props(config)]
        for prop in self.props:
            if prop.error is not None and prop.vt == "jsonata":
                self.error(prop.error)
        repeat = parse_js_number(config.repeat) if config.repeat != "" else None
        if repeat is not None and repeat > MAX_REPEAT:
            self.error("Interval too large")
            repeat = None
        self.repeat: float | None = float(repeat) if repeat and math.isfinite(repeat) else None
        self.crontab = config.crontab
        self.once = config.once
        delay = parse_js_number(config.onceDelay) if config.onceDelay not in ("", None) else 0
        self.once_delay = float(delay) if delay else 0.1
        self._timer: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        if self.once:
            self._timer = self.call_later(self.once_delay, self._once)
        else:
            self._setup_repeat()

    def _once(self) -> None:
        self.trigger()
        self._setup_repeat()

    def _setup_repeat(self) -> None:
        if self.repeat is not None and self.repeat > 0:
            self.debug(f"repeat = {self.repeat * 1000:g}")
            self._timer = self.call_later(self.repeat, self._tick)
        elif self.crontab:
            self.debug(f"crontab = {self.crontab}")
            self._schedule_cron()

    def _tick(self) -> None:
        assert self.repeat is not None
        self._timer = self.call_later(self.repeat, self._tick)
        self.trigger()

    def _schedule_cron(self) -> None:
        now = _dt.datetime.now().astimezone()
        nxt = cron_iter(self.crontab, now).get_next(_dt.datetime)
        self._timer = self.call_later((nxt - now).total_seconds(), self._cron_fire)

    def _cron_fire(self) -> None:
        self._schedule_cron()
        self.trigger()

    def trigger(self, msg: Msg | None = None) -> None:
        """Inject now, as the editor's button does (``msg`` may carry
        ``__user_inject_props__`` to override the configured properties)."""
        if self._closing:
            return
        out: Msg = {} if msg is None else msg
        if "_msgid" not in out:
            out["_msgid"] = new_msgid()
        self.flow.runtime.receive_now(self, out)

    async def close(self, removed: bool) -> None:
        self.cancel_timer(self._timer)
        self._timer = None

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        props = self.props
        user = msg.pop("__user_inject_props__", MISSING)
        if isinstance(user, list):
            props = [self._user_prop(p) for p in user]
        errors: list[str] = []
        for prop in props:
            if not prop.p:
                continue
            if prop.error is not None:
                errors.append(prop.error)
                continue
            if prop.typed is None:
                if prop.vt == "jsonata":
                    continue  # an empty expression sets nothing
                value: Any = to_js_string(prop.v) if prop.vt == "str" else prop.v
            else:
                try:
                    value = prop.typed.evaluate(self, msg)
                except ExpressionError as err:
                    if prop.vt == "jsonata":
                        errors.append(f"Invalid JSONata expression: {_jsonata_message(err)}")
                    else:
                        errors.append(f"Error: {err}")
                    continue
                except Exception as err:
                    errors.append(f"Error: {err}")
                    continue
            try:
                set_msg_property(msg, prop.p, value, True)
            except Exception as err:
                errors.append(f"Error: {err}")
        if errors:
            done("; ".join(errors))
            return
        send(msg)
        done()

    @staticmethod
    def _user_prop(raw: Any) -> _Prop:
        if not isinstance(raw, dict):
            return _Prop("", "", "str")
        v = raw.get("v")
        vt = raw.get("vt")
        return _Prop(
            to_js_string(raw.get("p", "")) if raw.get("p") else "",
            "" if v is None else v,
            vt if isinstance(vt, str) else "str",
        )
