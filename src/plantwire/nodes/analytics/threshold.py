"""threshold: a high / low limit alarm with deadband and delays that fires once per episode.

The episode state of each topic is kept in the node's context (in the store named by
`store`), so with a persistent store an alarm that is still active after a restart does
not fire again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import set_msg_property
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseFloat, OptFloat, node_type

from .stats import AnalyticsConfig, is_reset, read_value, topic_of
from .time_codec import msg_time

__all__ = ["ThresholdConfig", "ThresholdNode", "iso_time", "state_key"]

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/:")


def iso_time(t: float) -> str:
    """ISO 8601 UTC with milliseconds, as JavaScript's toISOString()."""
    stamp = dt.datetime.fromtimestamp(t, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def state_key(topic: str) -> str:
    """The context key of a topic's episode (characters a context path would split on
    are %-escaped)."""
    return "episode:" + "".join(c if c in _SAFE else f"%{ord(c):02X}" for c in topic)


class ThresholdConfig(AnalyticsConfig):
    """Properties of a threshold node."""

    high: OptFloat = Field(None, description="High limit: alarm when the value is above it.")
    low: OptFloat = Field(None, description="Low limit: alarm when the value is below it.")
    deadband: LooseFloat = Field(
        0.0,
        ge=0,
        description="Hysteresis: a high alarm clears only below high - deadband, a low "
        "alarm only above low + deadband.",
    )
    onDelay: LooseFloat = Field(
        0.0,
        ge=0,
        description="Seconds (message time) the limit must be exceeded before the alarm is raised.",
    )
    offDelay: LooseFloat = Field(
        0.0,
        ge=0,
        description="Seconds (message time) the clear condition must hold before the alarm clears.",
    )
    store: str = Field(
        "",
        description="Context store keeping the alarm state (empty: the default store). "
        "Use a persistent store so an ongoing episode survives a restart.",
    )

    @model_validator(mode="after")
    def _limits(self) -> ThresholdConfig:
        if self.high is None and self.low is None:
            raise ValueError("high: set a high limit, a low limit or both")
        if self.high is not None and self.low is not None and self.high <= self.low:
            raise ValueError(f"high: must be greater than low (high {self.high}, low {self.low})")
        return self


@node_type("threshold")
class ThresholdNode(Node):
    """High / low limit alarm that reports each episode exactly once.

    The value (at `property`, a number or numeric string) is compared with `high` and/or
    `low`. An alarm is raised when the value has been above `high` (or below `low`) for
    `onDelay` seconds of message time (`timeProperty`; arrival time when absent) and
    clears when it has been below `high - deadband` (above `low + deadband`) for
    `offDelay` seconds. Output 1 gets one message when an alarm is raised, output 2 one
    when it clears; readings in between pass nothing. The result at `output` is
    `{state: "high"|"low"|"normal", value, limit, since, topic}` — `since` is the ISO time
    the condition began; a clear message also has `cleared` (the alarm that ended).

    Each `msg.topic` has its own episode (unless `perTopic` is off), kept in the node's
    context in the store named by `store`. With a persistent store (sqlite /
    localfilesystem) an episode that is still going on after a restart does not fire
    again: exactly one work order or purchase order per episode. `msg.reset = true`
    forgets the episode of the message's topic (every episode when it has no topic)
    without sending anything.
    """

    config_model = ThresholdConfig
    category = "analytics"
    outputs = 2
    color = "#a6d5c6"
    icon = "alert.svg"

    def __init__(self, flow: Any, config: ThresholdConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.store = config.store or None
        self.episodes: dict[str, dict[str, Any]] = {}

    async def start(self) -> None:
        ctx = self.context()
        active = 0
        for key in ctx.keys(self.store):
            if key.startswith("episode:"):
                state = ctx.get(key, self.store)
                if isinstance(state, dict) and state.get("state") in ("high", "low"):
                    active += 1
        if active:
            self.status({"fill": "red", "shape": "dot", "text": f"{active} active on start"})

    def _load(self, topic: str) -> dict[str, Any]:
        state = self.episodes.get(topic)
        if state is None:
            stored = self.context().get(state_key(topic), self.store)
            if isinstance(stored, dict) and stored.get("state") in ("high", "low", "normal"):
                state = dict(stored)
            else:
                state = {"state": "normal", "since": None, "pending": None, "limit": None}
            self.episodes[topic] = state
        return state

    def _save(self, topic: str, state: dict[str, Any]) -> None:
        self.context().set(state_key(topic), dict(state), self.store)

    def _result(self, msg: Msg, payload: dict[str, Any]) -> Msg:
        set_msg_property(msg, self.cfg.output, payload)
        return msg

    def _raise_check(
        self, state: dict[str, Any], value: float, t: float
    ) -> tuple[str, float] | None:
        """In the normal state: the alarm to raise now, with its limit, if any."""
        cfg = self.cfg
        want = None
        limit = 0.0
        if cfg.high is not None and value > cfg.high:
            want, limit = "high", cfg.high
        elif cfg.low is not None and value < cfg.low:
            want, limit = "low", cfg.low
        pending = state.get("pending")
        if want is None:
            state["pending"] = None
            return None
        if not isinstance(pending, dict) or pending.get("to") != want:
            pending = state["pending"] = {"to": want, "t": t}
        if t - float(pending["t"]) >= cfg.onDelay:
            state.update(state=want, since=float(pending["t"]), pending=None, limit=limit)
            return want, limit
        return None

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        cfg = self.cfg
        topic = topic_of(msg, cfg.perTopic)
        if is_reset(msg):
            ctx = self.context()
            if topic:
                self.episodes.pop(topic, None)
                ctx.set(state_key(topic), MISSING, self.store)
            else:
                self.episodes.clear()
                for key in ctx.keys(self.store):
                    if key.startswith("episode:"):
                        ctx.set(key, MISSING, self.store)
            self.status({"fill": "grey", "shape": "ring", "text": f"reset {topic}".strip()})
            return
        value = read_value(self, msg, cfg.property)
        if value is None:
            return
        t = msg_time(msg, cfg.timeProperty)
        state = self._load(topic)
        before = (state["state"], state.get("pending"))
        raised: dict[str, Any] | None = None
        cleared: dict[str, Any] | None = None
        if state["state"] in ("high", "low"):
            alarm = state["state"]
            if alarm == "high":
                assert cfg.high is not None
                clear = value < cfg.high - cfg.deadband
            else:
                assert cfg.low is not None
                clear = value > cfg.low + cfg.deadband
            pending = state.get("pending")
            if not clear:
                state["pending"] = None
            else:
                if not isinstance(pending, dict) or pending.get("to") != "normal":
                    pending = state["pending"] = {"to": "normal", "t": t}
                if t - float(pending["t"]) >= cfg.offDelay:
                    began = float(pending["t"])
                    payload = {
                        "state": "normal",
                        "value": value,
                        "limit": state.get("limit"),
                        "since": iso_time(began),
                        "topic": msg.get("topic"),
                        "cleared": alarm,
                    }
                    state.update(state="normal", since=began, pending=None, limit=None)
                    cleared = payload
        if state["state"] == "normal":
            fired = self._raise_check(state, value, t)
            if fired is not None:
                raised = {
                    "state": fired[0],
                    "value": value,
                    "limit": fired[1],
                    "since": iso_time(float(state["since"])),
                    "topic": msg.get("topic"),
                }
        if (state["state"], state.get("pending")) != before or raised or cleared:
            self._save(topic, state)
        self._show(state, value, topic)
        if raised is None and cleared is None:
            return
        out1: Msg | None = None
        out2: Msg | None = None
        if cleared is not None:
            out2 = self._result(clone_msg(msg) if raised is not None else msg, cleared)
        if raised is not None:
            out1 = self._result(msg, raised)
        send([out1, out2])

    def _show(self, state: dict[str, Any], value: float, topic: str) -> None:
        name = f"{topic}: " if topic else ""
        current = state["state"]
        pending = state.get("pending")
        if current in ("high", "low"):
            fill, shape = "red", "dot"
            text = f"{name}{current} ({value:g})"
            if isinstance(pending, dict):
                fill, shape, text = "red", "ring", f"{text}, clearing"
        elif isinstance(pending, dict):
            fill, shape, text = "yellow", "ring", f"{name}{pending.get('to')}? ({value:g})"
        else:
            fill, shape, text = "green", "dot", f"{name}normal ({value:g})"
        self.status({"fill": fill, "shape": shape, "text": text})
