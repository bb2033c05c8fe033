"""NATS without I/O: server lists, subjects, payloads and headers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "SCHEMES",
    "check_publish_subject",
    "check_subject",
    "decode_payload",
    "encode_headers",
    "encode_payload",
    "parse_servers",
]

SCHEMES = ("nats", "tls", "ws", "wss")


def parse_servers(text: str) -> list[str]:
    """``"nats://a:4222, b"`` -> ``["nats://a:4222", "nats://b:4222"]``; ValueError names the
    entry that is not a NATS URL."""
    servers: list[str] = []
    for raw in text.replace(";", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        url = entry if "://" in entry else f"nats://{entry}"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"servers: '{entry}' is not a NATS URL ({exc})") from None
        if parts.scheme not in SCHEMES:
            raise ValueError(
                f"servers: '{entry}' has scheme '{parts.scheme}', not one of {', '.join(SCHEMES)}"
            )
        if not parts.hostname:
            raise ValueError(f"servers: '{entry}' has no host")
        if parts.password or parts.username:
            raise ValueError(
                f"servers: put the user and password of '{parts.hostname}' in the "
                "credentials, not in the URL"
            )
        if port is None and parts.scheme in ("nats", "tls"):
            url = f"{parts.scheme}://{parts.hostname}:4222{parts.path}"
        servers.append(url)
    if not servers:
        raise ValueError("servers: no server URL given (e.g. nats://127.0.0.1:4222)")
    return servers


def check_subject(subject: str, field: str = "subject") -> str:
    """A subscription subject: tokens separated by dots, ``*`` a whole token, ``>`` last."""
    subject = subject.strip()
    if not subject:
        raise ValueError(f"{field}: the subject is empty")
    if any(c.isspace() for c in subject):
        raise ValueError(f"{field}: '{subject}' contains white space")
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if not token:
            raise ValueError(f"{field}: '{subject}' has an empty token")
        if ("*" in token or ">" in token) and token not in ("*", ">"):
            raise ValueError(f"{field}: '{subject}': a wildcard must be a whole token")
        if token == ">" and i != len(tokens) - 1:
            raise ValueError(f"{field}: '{subject}': '>' must be the last token")
    return subject


def check_publish_subject(subject: str, field: str = "subject") -> str:
    """A subject a message is published to: no wildcards."""
    subject = check_subject(subject, field)
    if any(t in ("*", ">") for t in subject.split(".")):
        raise ValueError(f"{field}: cannot publish to '{subject}': it contains a wildcard")
    return subject


def encode_payload(value: Any) -> bytes:
    """msg.payload as message data: bytes as they are, text as UTF-8, None as nothing,
    anything else as JSON."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":"), default=str).encode("utf-8")


def decode_payload(data: bytes, parse_json: bool) -> Any:
    """Message data as msg.payload: JSON parsed when asked and valid, else text when it is
    UTF-8, else bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return bytes(data)
    if parse_json and text.strip():
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def encode_headers(value: Any) -> dict[str, str] | None:
    """msg.headers (an object) as NATS headers: names and values as text; lists become
    comma-separated values. None when there is nothing to send."""
    if not isinstance(value, dict) or not value:
        return None
    out: dict[str, str] = {}
    for key, item in value.items():
        name = str(key).strip()
        if not name or any(c.isspace() or c == ":" for c in name):
            raise ValueError(f"msg.headers: '{key}' is not a valid header name")
        if isinstance(item, list | tuple):
            text = ",".join(str(v) for v in item)
        elif isinstance(item, bytes):
            text = item.decode("utf-8", "replace")
        elif isinstance(item, str):
            text = item
        else:
            text = json.dumps(item) if isinstance(item, dict) else str(item)
        if "\r" in text or "\n" in text:
            raise ValueError(f"msg.headers: the value of '{name}' contains a line break")
        out[name] = text
    return out
