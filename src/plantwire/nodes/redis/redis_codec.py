"""Redis values without I/O: payloads to stored values and back, stream entries."""

from __future__ import annotations

from typing import Any

from ..common.payload_codec import encode_body, loads_json, utf8_or_bytes

__all__ = ["decode_value", "encode_value", "names", "plain", "stream_fields", "text"]


def text(value: Any) -> Any:
    """Bytes from Redis as text when they are UTF-8, else as they are."""
    return utf8_or_bytes(value)


def plain(value: Any) -> Any:
    """A command reply as a JSON-friendly value (bytes as text when UTF-8, nested)."""
    if isinstance(value, bytes):
        return text(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(text(k)): plain(v) for k, v in value.items()}
    return value


def decode_value(value: bytes, parse_json: bool) -> Any:
    """A stored value as a payload: text (or bytes when not UTF-8), parsed JSON when asked
    for. ValueError when JSON was asked for and the value is not JSON."""
    if parse_json:
        return loads_json(value, "value")
    return text(value)


def encode_value(value: Any) -> bytes:
    """A payload as a stored value: bytes as they are, text as UTF-8, anything else
    (objects, arrays, numbers, booleans, null) as JSON text."""
    return encode_body(value)[0]


def stream_fields(payload: Any, field: str, from_payload: bool) -> dict[str, bytes]:
    """The fields of a stream entry: the payload's keys with ``from_payload`` and an object
    payload, else ``{field: payload}``. ValueError for an empty object."""
    if from_payload and isinstance(payload, dict):
        if not payload:
            raise ValueError("msg.payload: an empty object has no fields for the stream entry")
        return {str(k): encode_value(v) for k, v in payload.items()}
    return {field: encode_value(payload)}


def names(value: str) -> list[str]:
    """A comma-separated list of names (blanks trimmed, empties dropped)."""
    return [part.strip() for part in value.split(",") if part.strip()]
