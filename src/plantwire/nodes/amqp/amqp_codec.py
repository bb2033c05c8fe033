"""AMQP 0-9-1 message mapping without I/O: bodies to payloads and back, routing key lists,
header values, the ``msg.amqp`` properties."""

from __future__ import annotations

import datetime as _dt
import decimal
from typing import Any

from ..common.payload_codec import encode_body, loads_json, utf8_or_bytes

__all__ = [
    "EXCHANGE_TYPES",
    "decode_body",
    "encode_payload",
    "expiration_seconds",
    "header_value",
    "is_json_type",
    "plain",
    "routing_keys",
    "timestamp_ms",
]

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")


def is_json_type(content_type: str | None) -> bool:
    """True for application/json and the ``+json`` types."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    return ct == "application/json" or ct.endswith("+json")


def _is_text_type(content_type: str | None) -> bool:
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    return ct.startswith("text/") or is_json_type(ct)


def decode_body(body: bytes, content_type: str | None, parse_json: bool) -> Any:
    """The payload of a received body: parsed JSON when ``parse_json`` or the content type
    is JSON, text when the content type is text or JSON and the body is UTF-8, else the
    bytes. ValueError when JSON was asked for and the body is not JSON."""
    if parse_json or is_json_type(content_type):
        return loads_json(body, "message body")
    if _is_text_type(content_type):
        return utf8_or_bytes(body)
    return body


def encode_payload(payload: Any) -> tuple[bytes, str | None]:
    """A payload as a body and its content type: bytes as they are, text as UTF-8
    (text/plain), anything else as JSON (application/json)."""
    return encode_body(payload)


def routing_keys(text: str) -> list[str]:
    """A comma-separated list of routing keys (blanks trimmed, empties dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def header_value(value: Any) -> Any:
    """A value AMQP can carry in a header table (others as text)."""
    if value is None or isinstance(value, bool | int | float | str | bytes | decimal.Decimal):
        return value
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, dict):
        return {str(k): header_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [header_value(v) for v in value]
    return str(value)


def plain(value: Any) -> Any:
    """A received header value as a JSON-friendly value (bytes as text when UTF-8)."""
    if isinstance(value, bytes):
        return utf8_or_bytes(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, _dt.datetime):
        return timestamp_ms(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def timestamp_ms(value: _dt.datetime | None) -> int | None:
    """An AMQP timestamp as milliseconds since the epoch (naive values are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return int(value.timestamp() * 1000)


def expiration_seconds(value: Any) -> float | None:
    """``msg.amqp.expiration`` (milliseconds, as AMQP writes it) as seconds; None when
    unset. ValueError for a value that is not a non-negative number."""
    if value is None or value == "":
        return None
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"msg.amqp.expiration: {value!r} is not a number of milliseconds"
        ) from None
    if ms < 0:
        raise ValueError(f"msg.amqp.expiration: {value!r} is negative")
    return ms / 1000.0
