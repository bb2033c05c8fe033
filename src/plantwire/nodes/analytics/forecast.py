"""forecast: when will a trending value reach a limit (linear least squares over a window)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from plantwire.expressions import set_msg_property
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, SendFn
from plantwire.spec import LooseFloat, LooseInt, node_type

from .stats import WindowConfig, WindowNode
from .threshold import iso_time
from .window_codec import Fit

__all__ = ["ForecastConfig", "ForecastNode", "time_to_limit", "ttl_changed"]


class ForecastConfig(WindowConfig):
    """Properties of a forecast node."""

    limit: LooseFloat = Field(description="The value whose crossing is forecast.")
    direction: Literal["either", "falling", "rising"] = Field(
        "either",
        description="either: the limit is reached from whichever side the trend comes; "
        "falling: only a falling trend counts (a level running empty) and a value at or "
        "below the limit gives timeToLimit 0; rising: the mirror image (wear, temperature).",
    )
    minSamples: LooseInt = Field(
        5, description="Readings needed in the window before anything is sent (at least 2)."
    )
    emit: Literal["every", "change"] = Field(
        "every",
        description="every: a forecast for every message; change: only when timeToLimit "
        "changed by more than `tolerance` percent (or became / stopped being null).",
    )
    tolerance: LooseFloat = Field(
        10.0, ge=0, description="Percent change of timeToLimit that counts as a change."
    )

    @model_validator(mode="after")
    def _samples(self) -> ForecastConfig:
        if self.minSamples < 2:
            raise ValueError(f"minSamples: must be at least 2 (got {self.minSamples})")
        if self.windowType == "count" and self.window is not None and self.window < self.minSamples:
            raise ValueError(
                f"window: {self.window} messages can never reach minSamples {self.minSamples}"
            )
        return self


def time_to_limit(fit: Fit, t: float, limit: float, direction: str) -> float | None:
    """Seconds from ``t`` until the fitted line reaches ``limit``; None when the line is
    flat or moving away from it. With a direction, a line already past the limit in
    that direction gives 0."""
    at = fit.value_at(t)
    slope = fit.slope
    if direction == "falling":
        if slope >= 0:
            return None
        return 0.0 if at <= limit else (limit - at) / slope
    if direction == "rising":
        if slope <= 0:
            return None
        return 0.0 if at >= limit else (limit - at) / slope
    if slope == 0:
        return None
    ttl = (limit - at) / slope
    return ttl if ttl >= 0 else None


def ttl_changed(old: float | None, new: float | None, tolerance: float) -> bool:
    """Whether ``new`` differs from ``old`` by more than ``tolerance`` percent."""
    if old is None or new is None:
        return (old is None) != (new is None)
    if old == 0:
        return new != 0
    return abs(new - old) > abs(old) * tolerance / 100.0


@node_type("forecast")
class ForecastNode(WindowNode[ForecastConfig]):
    """Forecasts when a trending value reaches a limit.

    A least-squares line of value over time is fitted to the readings of the window
    (the last `window` messages, or the last `windowSeconds` seconds of message time).
    Once `minSamples` readings are in the window, the message is forwarded with
    `{value, slope, timeToLimit, eta, limit, samples, r2}` at `output`: `value` is the
    latest reading, `slope` units per second, `timeToLimit` the seconds from the latest
    reading until the fitted line reaches `limit` (null when the line is flat or moving
    away from it), `eta` that moment as ISO 8601 UTC (or null), `r2` how well the line
    fits (0..1; null when the values do not vary).

    `direction: falling` suits a silo running empty: only a falling trend counts and a
    level already at or below the limit gives 0. Compare `timeToLimit` with a supplier
    lead time in a threshold node (low limit) to raise one purchase order per episode.
    `emit: change` forwards only when `timeToLimit` changed by more than `tolerance`
    percent. A message with `msg.reset` clears the window of its topic (all
    windows when it has no topic).
    """

    config_model = ForecastConfig
    category = "analytics"
    color = "#a6d5c6"
    icon = "forecast.svg"

    def __init__(self, flow: Any, config: ForecastConfig) -> None:
        super().__init__(flow, config)
        self.sent_ttl: dict[str, float | None] = {}

    def _forget(self, topic: str) -> None:
        if topic:
            self.sent_ttl.pop(topic, None)
        else:
            self.sent_ttl.clear()

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        cfg = self.cfg
        reading = self._reading(msg)
        if reading is None:
            return
        topic, window, t, value = reading
        if window.count < cfg.minSamples:
            self.status(
                {"fill": "yellow", "shape": "ring", "text": f"{window.count}/{cfg.minSamples}"}
            )
            return
        fit = window.fit()
        tol = cfg.tolerance
        ttl = None if fit is None else time_to_limit(fit, t, cfg.limit, cfg.direction)
        result: dict[str, Any] = {
            "value": value,
            "slope": None if fit is None else fit.slope,
            "timeToLimit": ttl,
            "eta": None if ttl is None else iso_time(t + ttl),
            "limit": cfg.limit,
            "samples": window.count,
            "r2": None if fit is None else fit.r2,
        }
        self.status(
            {
                "fill": "green" if ttl is None else "blue",
                "shape": "dot",
                "text": "no crossing" if ttl is None else f"limit in {_duration(ttl)}",
            }
        )
        known = topic in self.sent_ttl
        if cfg.emit == "change" and known and not ttl_changed(self.sent_ttl[topic], ttl, tol):
            return
        self.sent_ttl[topic] = ttl
        set_msg_property(msg, cfg.output, result)
        send(msg)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
