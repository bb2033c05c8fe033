"""delay: delay each message, or limit the rate of messages passing through."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import parse_js_number
from plantwire.runtime.message import Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseInt, NodeConfig, choices, node_type

from .sequence_codec import (
    Repeater,
    js_delay_seconds,
    js_strict_equal,
    js_truthy,
    max_kept_msgs,
    parse_float_js,
    too_many,
)

__all__ = ["DelayConfig", "DelayNode"]

PAUSE_TYPES = ("delay", "delayv", "random", "rate", "burst", "queue", "timed")
_TIME_UNITS = {"milliseconds": 1.0, "minutes": 60_000.0, "hours": 3_600_000.0}
_TIME_UNITS["days"] = 86_400_000.0
_RATE_UNITS = {"minute": 60_000.0, "hour": 3_600_000.0, "day": 86_400_000.0}
TOO_MANY = "too many pending messages in delay node"

Number = float | int | str


def _num(value: Any) -> float:
    number = parse_js_number(value)
    return float("nan") if number is None else float(number)


class DelayConfig(NodeConfig):
    """The delay node as Node-RED writes it in flows.json."""

    pauseType: str = Field(
        "delay",
        json_schema_extra=choices(*PAUSE_TYPES),
        description="delay (fixed), delayv (msg.delay overrides), random, rate (limit all), "
        "burst, queue (each topic in turn) or timed (all topics each period).",
    )
    timeout: Number = Field("5", description="The fixed delay, in timeoutUnits.")
    timeoutUnits: str = Field(
        "seconds",
        description="milliseconds, seconds, minutes, hours or days.",
        json_schema_extra=choices("milliseconds", "seconds", "minutes", "hours", "days"),
    )
    rate: Number = Field("1", description="Messages per nbRateUnits rateUnits (rate modes).")
    nbRateUnits: Number | None = Field("1", description="How many rateUnits make the period.")
    rateUnits: str = Field(
        "second",
        description="second, minute, hour or day.",
        json_schema_extra=choices("second", "minute", "hour", "day"),
    )
    randomFirst: Number = Field("1", description="Shortest random delay, in randomUnits.")
    randomLast: Number = Field("5", description="Longest random delay, in randomUnits.")
    randomUnits: str = Field(
        "seconds",
        description="milliseconds, seconds, minutes, hours or days.",
        json_schema_extra=choices("milliseconds", "seconds", "minutes", "hours", "days"),
    )
    drop: bool | str = Field(
        False, description="Rate mode: drop intermediate messages instead of queueing them."
    )
    allowrate: bool | str = Field(
        False, description="Let msg.rate (in milliseconds) override the configured rate."
    )
    outputs: LooseInt = Field(
        1, description="2 sends dropped messages to a second output (rate/burst/queue modes)."
    )

    @model_validator(mode="after")
    def _check(self) -> DelayConfig:
        if self.pauseType not in PAUSE_TYPES:
            raise ValueError(f"pauseType: unknown pause type '{self.pauseType}'")
        checks: list[tuple[str, Any, str]] = []
        if self.pauseType in ("delay", "delayv"):
            checks.append(("timeout", self.timeout, "Invalid delay value"))
        elif self.pauseType == "random":
            checks.append(("randomFirst", self.randomFirst, "Invalid first random value"))
            checks.append(("randomLast", self.randomLast, "Invalid last random value"))
        else:
            checks.append(("rate", self.rate, "Invalid rate value"))
            if self.nbRateUnits is not None and self.nbRateUnits != "":
                checks.append(("nbRateUnits", self.nbRateUnits, "Invalid rate unit value"))
        for name, value, text in checks:
            number = parse_js_number(value) if value != "" else None
            if number is None or number < 0:
                raise ValueError(f"{name}: {text} '{value}'")
        return self


class _Delayed:
    """One message waiting in a delay: Node-RED's ``ourTimeout`` object."""

    __slots__ = ("_handle", "_handler", "_node", "_on_clear")

    def __init__(
        self, node: Node, handler: Callable[[], None], ms: float, on_clear: Callable[[], None]
    ) -> None:
        self._node = node
        self._handler = handler
        self._on_clear = on_clear
        self._handle: asyncio.TimerHandle | None = node.call_later(js_delay_seconds(ms), handler)

    def clear(self) -> None:
        self._node.cancel_timer(self._handle)
        self._on_clear()

    def trigger(self) -> None:
        self._node.cancel_timer(self._handle)
        self._handler()


class _Queued:
    __slots__ = ("done", "msg", "send")

    def __init__(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        self.msg = msg
        self.send = send
        self.done = done


@node_type("delay")
class DelayNode(Node):
    """Delays each message passing through, or limits the rate at which they pass.

    Delay modes: a fixed delay, ``msg.delay`` (milliseconds) overriding it, or a random
    delay. Rate modes: all messages evenly spaced (queued, or dropped, optionally to
    a second output), a burst of N per period, or per ``msg.topic`` (the latest of each
    topic, sent in turn or all together each period). ``msg.reset`` clears what is
    waiting; ``msg.flush`` (true or a count) sends it at once; ``msg.toFront`` queues at
    the front; ``msg.rate`` overrides the rate when allowed.
    """

    config_model = DelayConfig
    category = "function"
    color = "#E6E0F8"
    icon = "timer.svg"
    manual_done = True

    def __init__(self, flow: Any, config: DelayConfig) -> None:
        super().__init__(flow, config)
        self.outputs = max(1, config.outputs)
        self.pause_type = config.pauseType
        self.timeout = _num(config.timeout) * _TIME_UNITS.get(config.timeoutUnits, 1000.0)
        per = _RATE_UNITS.get(config.rateUnits, 1000.0)
        nb = _num(config.nbRateUnits) if config.nbRateUnits not in (None, "") else 0.0
        rate = _num(config.rate)
        self.rate = (per / rate if rate else float("inf")) * (nb if nb > 0 else 1)
        self.fixed_rate = self.rate
        self.timer = nb * per
        self.burst = rate
        rfactor = _TIME_UNITS.get(config.randomUnits, 1000.0)
        self.random_first = _num(config.randomFirst) * rfactor
        self.diff = _num(config.randomLast) * rfactor - self.random_first
        self.drop = js_truthy(config.drop)
        self.allowrate = js_truthy(config.allowrate)
        self.id_list: list[_Delayed] = []
        self.buffer: list[_Queued] = []
        self.interval: Repeater | None = None
        self.last_sent: float | None = None
        self.busy: asyncio.TimerHandle | None = None
        self.inflight = 0
        self.burst_timers: list[asyncio.TimerHandle] = []

    async def start(self) -> None:
        if self.pause_type == "burst":
            self.status({"fill": "green", "shape": "ring", "text": ""})
        elif self.pause_type in ("queue", "timed"):
            self.interval = Repeater(self, self.rate, self._topic_tick)

    # ----- helpers -------------------------------------------------------------------

    def _report_depth(self) -> None:
        if self.busy is None:

            def show() -> None:
                self.busy = None
                self.status({"fill": "blue", "shape": "dot", "text": len(self.buffer)})

            self.busy = self.call_later(0.5, show)

    def _stop_interval(self) -> None:
        if self.interval is not None:
            self.interval.stop()
            self.interval = None

    def _restart_interval(self, callback: Callable[[], None]) -> None:
        self._stop_interval()
        self.interval = Repeater(self, self.rate, callback)

    def _clear_list(self, show: bool) -> None:
        pending, self.id_list = self.id_list, []
        for item in pending:
            item.clear()
        if show:
            self.status({"fill": "blue", "shape": "ring", "text": 0})
        else:
            self.status({})

    def _flush_list(self, count: Any) -> None:
        n = len(self.id_list)
        if isinstance(count, int | float) and not isinstance(count, bool):
            n = min(int(count // 1), n)
        for _ in range(n):
            if self.id_list:
                self.id_list[0].trigger()
        self.status({"fill": "blue", "shape": "dot", "text": len(self.id_list)})

    def _send_from_buffer(self) -> None:
        if not self.buffer:
            self._stop_interval()
        else:
            item = self.buffer.pop(0)
            if len(item.msg) > 1:
                item.send(item.msg)
                item.done()
        self._report_depth()

    def _topic_tick(self) -> None:
        if self.pause_type == "queue":
            if self.buffer:
                item = self.buffer.pop(0)
                item.send(item.msg)
                item.done()
        else:
            while self.buffer:
                item = self.buffer.pop(0)
                item.send(item.msg)
                item.done()
        self._report_depth()

    def _rate_override(self, msg: Msg) -> float | None:
        if self.allowrate and "rate" in msg:
            return parse_float_js(msg["rate"])
        return None

    # ----- input ---------------------------------------------------------------------

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        mode = self.pause_type
        if mode in ("delay", "delayv", "random"):
            self._delay_input(msg, send, done)
        elif mode == "rate":
            if self.drop:
                self._drop_input(msg, send, done)
            else:
                self._rate_input(msg, send, done)
            if "reset" in msg:
                if "flush" not in msg:
                    self._stop_interval()
                    self.last_sent = None
                self.buffer = []
                self.rate = self.fixed_rate
                self.status({"fill": "blue", "shape": "ring", "text": 0})
                done()
        elif mode == "burst":
            self._burst_input(msg, send, done)
        else:
            self._topic_input(msg, send, done)

    def _delay_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        mode = self.pause_type
        if mode == "delay":
            wait = self.timeout
        elif mode == "delayv":
            wait = self.timeout
            if "delay" in msg:
                override = parse_float_js(msg["delay"])
                if override is not None:
                    wait = override
            wait = max(wait, 0.0)
        else:
            wait = self.random_first + self.diff * random.random()
        item: _Delayed

        def fire() -> None:
            if item in self.id_list:
                self.id_list.remove(item)
            if mode == "delayv" and not self.id_list:
                self.status({})
            if mode == "delay":
                if self.timeout > 1000:
                    self.status({"fill": "blue", "shape": "dot", "text": len(self.id_list)})
                send(msg)
            else:
                send(msg)
                if mode == "delayv" or self.timeout >= 1000:
                    self.status({"fill": "blue", "shape": "dot", "text": len(self.id_list)})
            done()

        item = _Delayed(self, fire, wait, done)
        if len(msg) == 2 and "flush" in msg:
            item.clear()
        else:
            self.id_list.append(item)
        if mode == "delay":
            if "reset" in msg:
                self._clear_list(True)
            elif "flush" in msg:
                self._flush_list(msg["flush"])
                done()
            elif self.timeout > 1000:
                self.status({"fill": "blue", "shape": "dot", "text": len(self.id_list)})
            return
        if "reset" in msg:
            self._clear_list(True)
        if "flush" in msg:
            self._flush_list(msg["flush"])
            done()
        if mode == "delayv" or self.timeout >= 1000:
            self.status({"fill": "blue", "shape": "dot", "text": len(self.id_list)})

    def _rate_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        m = clone_msg(msg)
        m.pop("flush", None)
        if len(m) > 1:
            override = self._rate_override(m)
            if self.interval is not None:
                if override is not None and override != self.rate:
                    self.rate = override
                    self._restart_interval(self._send_from_buffer)
                limit = max_kept_msgs(self.flow.runtime)
                if limit > 0 and len(self.buffer) >= limit:
                    self.buffer = []
                    self.error(too_many(TOO_MANY, limit), m)
                elif msg.get("toFront") is True:
                    self.buffer.insert(0, _Queued(m, send, done))
                    self._report_depth()
                else:
                    self.buffer.append(_Queued(m, send, done))
                    self._report_depth()
            else:
                if override is not None:
                    self.rate = override
                if "reset" in msg:
                    if "flush" in msg:
                        self.buffer.append(_Queued(m, send, done))
                else:
                    send(m)
                self._report_depth()
                self._restart_interval(self._send_from_buffer)
                done()
        if "flush" in msg:
            flush = msg["flush"]
            n = len(self.buffer)
            if isinstance(flush, int | float) and not isinstance(flush, bool):
                n = min(int(flush // 1), n)
            if n <= 0:
                self._stop_interval()
            else:
                for _ in range(n):
                    item = self.buffer.pop(0)
                    item.msg.pop("flush", None)
                    item.msg.pop("reset", None)
                    if len(item.msg) > 1:
                        self.send(item.msg)
                        item.done()
                self._restart_interval(self._send_from_buffer)
            self.status({"fill": "blue", "shape": "dot", "text": len(self.buffer)})
            done()

    def _drop_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if "reset" in msg:
            return
        override = self._rate_override(msg)
        if override is not None:
            self.rate = override
        now = asyncio.get_running_loop().time()
        if self.last_sent is None or (now - self.last_sent) * 1000.0 > self.rate:
            self.last_sent = now
            send(msg)
        elif self.outputs == 2:
            send([None, msg])
        done()

    def _burst_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if "reset" in msg:
            for handle in self.burst_timers:
                self.cancel_timer(handle)
            self.burst_timers = []
            self.inflight = 0
            self.status({"fill": "green", "shape": "ring", "text": ""})
            done()
            return
        if self.inflight < self.burst:
            self.inflight += 1
            send(msg)

            def release() -> None:
                if self.inflight == self.burst:
                    self.status({"fill": "green", "shape": "ring", "text": ""})
                self.inflight -= 1

            self.burst_timers.append(self.call_later(js_delay_seconds(self.timer), release))
        else:
            if self.outputs == 2:
                send([None, msg])
            self.status({"fill": "red", "shape": "dot", "text": ""})
        done()

    def _topic_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        override = self._rate_override(msg)
        if override is not None and override != self.rate:
            # Node-RED restarts the period with the one-message-per-tick sender here
            self.rate = override
            self._restart_interval(self._send_from_buffer)
        if "topic" not in msg:
            msg["topic"] = "_none_"
        for i, item in enumerate(self.buffer):
            if js_strict_equal(msg["topic"], item.msg.get("topic")):
                if self.outputs == 2:
                    send([None, item.msg])
                item.done()
                self.buffer[i] = _Queued(msg, send, done)
                break
        else:
            self.buffer.append(_Queued(msg, send, done))
            self._report_depth()
        if "flush" in msg:
            flush = msg["flush"]
            n = len(self.buffer)
            if isinstance(flush, int | float) and not isinstance(flush, bool):
                n = int(flush // 1)  # Node-RED does not bound a count by the queue length
            while n > 0 and self.buffer:
                item = self.buffer.pop(0)
                item.msg.pop("flush", None)
                item.msg.pop("reset", None)
                if len(item.msg) > 2:
                    self.send(item.msg)
                    item.done()
                n -= 1
            self.status({})
            done()
        if "reset" in msg:
            pending, self.buffer = self.buffer, []
            for item in pending:
                item.done()
            self.rate = self.fixed_rate
            self.status({"text": "reset"})
            done()

    async def close(self, removed: bool) -> None:
        mode = self.pause_type
        if mode in ("delay", "delayv", "random"):
            self._clear_list(False)
            return
        if mode == "burst":
            for handle in self.burst_timers:
                self.cancel_timer(handle)
            self.status({})
            return
        self._stop_interval()
        self.cancel_timer(self.busy)
        pending, self.buffer = self.buffer, []
        for item in pending:
            item.done()
        self.status({})
