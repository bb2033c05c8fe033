"""The value message every device-reading node sends.

    {
      "payload": 42.5,                          # a value, or {name: value} for a group
      "topic": "plant/line1/filler/level",      # from the node's topic template
      "quality": {"status": "good"},            # or {"status": "bad", "reason": "..."}
      "sourceTimestamp": "2026-11-29T23:00:00.123Z",   # from the device when it gives one
      "receiveTimestamp": "2026-11-29T23:00:00.125Z",  # when Plantwire got it
      "point": "level", "unit": "%"             # for single-point messages
    }

Topic templates take placeholders in braces: ``{point}``, ``{name}`` (node name),
``{device}``, ``{unit}`` and any key of the point's definition.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

__all__ = ["GOOD", "bad", "format_topic", "iso_now", "iso_time", "uncertain", "value_msg"]

GOOD: dict[str, Any] = {"status": "good"}


def bad(reason: str) -> dict[str, Any]:
    """Quality of a value that could not be read, with the reason a plant engineer reads."""
    return {"status": "bad", "reason": reason}


def uncertain(reason: str) -> dict[str, Any]:
    return {"status": "uncertain", "reason": reason}


def iso_time(when: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z`` (JavaScript's toISOString)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def iso_now() -> str:
    return iso_time(datetime.now(UTC))


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def format_topic(template: str, fields: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders from ``fields``; unknown placeholders are left as they are."""
    if "{" not in template:
        return template
    return _PLACEHOLDER.sub(
        lambda m: str(fields[m.group(1)]) if fields.get(m.group(1)) is not None else m.group(0),
        template,
    )


def value_msg(
    payload: Any,
    *,
    topic: str = "",
    quality: dict[str, Any] | None = None,
    source_time: datetime | None = None,
    receive_time: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build a value message (see the module docstring)."""
    received = iso_time(receive_time) if receive_time is not None else iso_now()
    msg: dict[str, Any] = {
        "payload": payload,
        "topic": topic,
        "quality": quality or GOOD,
        "sourceTimestamp": iso_time(source_time) if source_time is not None else received,
        "receiveTimestamp": received,
    }
    msg.update({k: v for k, v in extra.items() if v is not None})
    return msg
