"""When a reading was taken: the analytics nodes take time from the message when it carries
one (so a replayed log or a simulated plant drives them in its own time), else the clock."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

__all__ = ["msg_time", "parse_time"]


def parse_time(value: Any) -> float | None:
    """Epoch seconds from a timestamp: a number of milliseconds since 1970 (as Node-RED's
    ``Date.now()``), an ISO 8601 text (UTC when it names no zone), or a ``datetime``.
    None when ``value`` is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return float(text) / 1000.0
        except ValueError:
            pass
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parse_time(parsed)
    return None


def msg_time(msg: dict[str, Any], prop: str = "timestamp") -> float:
    """Epoch seconds of a message: ``msg[prop]`` when it holds a timestamp, else now."""
    if prop:
        stamp = parse_time(msg.get(prop))
        if stamp is not None:
            return stamp
    return time.time()
