"""Message payloads as the bytes a broker carries and back (amqp, redis). No I/O."""

from __future__ import annotations

import datetime as _dt
import decimal
import json
from typing import Any

__all__ = ["encode_body", "json_default", "loads_json", "utf8_or_bytes"]


def json_default(value: Any) -> Any:
    """JSON for values ``json`` does not know: dates as ISO text, decimals as numbers,
    bytes as a list of byte values, sets and tuples as lists, anything else as text."""
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return list(bytes(value))
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def encode_body(payload: Any) -> tuple[bytes, str | None]:
    """A payload as bytes and its content type: bytes as they are (None), text as UTF-8
    (text/plain), anything else - objects, arrays, numbers, booleans, null - as compact
    JSON (application/json)."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload), None
    if isinstance(payload, str):
        return payload.encode("utf-8"), "text/plain"
    body = json.dumps(payload, default=json_default, separators=(",", ":")).encode("utf-8")
    return body, "application/json"


def utf8_or_bytes(value: Any) -> Any:
    """Bytes as text when they are UTF-8, else as they are; other values unchanged."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def loads_json(data: bytes, what: str) -> Any:
    """Parsed JSON; ValueError "the ``what`` is not valid JSON (reason)" otherwise."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ValueError(f"the {what} is not valid JSON ({exc})") from None
