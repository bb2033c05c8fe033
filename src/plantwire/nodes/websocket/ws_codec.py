"""What the websocket nodes put on the wire and what they make of a frame (no I/O).

Node-RED's rules (22-websocket.js):

* receiving, payload mode: a text frame becomes ``{payload: str}``, a binary frame
  ``{payload: bytes}``;
* receiving, whole-message mode: the frame is parsed as JSON; an object becomes the
  message, any other JSON value ``{payload: value}``, text that is not JSON
  ``{payload: frame}`` (no error);
* every received message gets ``_session = {type: "websocket", id}``;
* sending, payload mode: bytes go as a binary frame, text as a text frame, objects and
  arrays as JSON text, other values as JavaScript's ``String(value)``; a message
  without a payload, or with an empty string, sends nothing;
* sending, whole-message mode: the message without ``_session`` as JSON text.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from plantwire.expressions import to_js_string
from plantwire.nodes.core.parsers_json_codec import js_parse, js_stringify
from plantwire.runtime.message import MISSING, Msg

__all__ = [
    "check_client_url",
    "check_listener_path",
    "incoming_msg",
    "outgoing_frame",
    "session_of",
    "subprotocols",
    "upgrade_headers",
]

SESSION_TYPE = "websocket"


def incoming_msg(data: str | bytes, wholemsg: bool, session_id: str) -> Msg:
    """The message a received frame becomes (text: str, binary: bytes)."""
    msg: Msg
    if wholemsg:
        try:
            parsed = js_parse(data)
        except ValueError:
            msg = {"payload": data}
        else:
            # Node-RED would pass a JSON array on as if it were a list of outputs and
            # fail on null; both become the payload here
            msg = parsed if isinstance(parsed, dict) else {"payload": parsed}
    else:
        msg = {"payload": data}
    msg["_session"] = {"type": SESSION_TYPE, "id": session_id}
    return msg


def _ensure_string(value: Any) -> str:
    """RED.util.ensureString: objects (and null) as JSON, the rest as String(value)."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, dict | list | tuple):
        out = js_stringify(value)
        return "" if out is MISSING else str(out)
    return to_js_string(value)


def outgoing_frame(msg: Msg, wholemsg: bool) -> str | bytes | None:
    """The frame a websocket out node sends for ``msg``: str (text frame), bytes
    (binary frame) or None (nothing to send). ValueError for a circular message."""
    if wholemsg:
        body = {k: v for k, v in msg.items() if k != "_session"}
        out = js_stringify(body)
        return None if out is MISSING else str(out)
    payload = msg.get("payload", MISSING)
    if payload is MISSING:
        return None
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    text = _ensure_string(payload)
    return text or None


def session_of(msg: Msg) -> str | None:
    """The websocket session id in ``msg._session``, if the message carries one."""
    sess = msg.get("_session")
    if isinstance(sess, dict) and sess.get("type") == SESSION_TYPE and "id" in sess:
        return str(sess["id"])
    return None


def check_listener_path(path: str) -> str:
    """The listener path, or ValueError naming the field."""
    path = path.strip()
    if not path:
        raise ValueError("path: a websocket-listener needs a path such as /ws/data")
    if path.startswith("${"):
        return path  # an environment variable, checked again when the node starts
    if re.match(r"^wss?://", path, re.IGNORECASE):
        raise ValueError(
            f"path: '{path}' is a URL; a websocket-listener serves a path such as /ws "
            "(use a websocket-client node to connect to a URL)"
        )
    if not path.startswith("/"):
        raise ValueError(f"path: '{path}' must start with '/'")
    if "/debug/ws" in path:
        raise ValueError(f"path: '{path}' is reserved (it contains /debug/ws)")
    return path


def check_client_url(url: str) -> str:
    """The client URL, or ValueError naming the field."""
    url = url.strip()
    if not url:
        raise ValueError("path: a websocket-client needs a ws:// or wss:// URL")
    if url.startswith("${"):
        return url
    if not re.match(r"^wss?://", url, re.IGNORECASE):
        raise ValueError(f"path: '{url}' must be a ws:// or wss:// URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise ValueError(f"path: '{url}' is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise ValueError(f"path: '{url}' has no host")
    return url


def subprotocols(value: str) -> list[str]:
    """Node-RED's subprotocol field: a comma-separated list."""
    return [p.strip() for p in value.split(",") if p.strip()]


def upgrade_headers(items: Any, env: Any = None) -> dict[str, str]:
    """Node-RED's client ``headers`` list (keyType/keyValue/valueType/valueValue) as a
    dict; ``env(name)`` resolves a value of type env. Entries without a name or value
    are left out, as Node-RED does."""
    out: dict[str, str] = {}
    if not isinstance(items, list):
        return out
    for item in items:
        if not isinstance(item, dict):
            continue
        key_type = str(item.get("keyType") or "")
        name = str(item.get("keyValue") or "") if key_type == "other" else key_type
        value_type = str(item.get("valueType") or "")
        raw = item.get("valueValue")
        value: Any
        if value_type == "other":
            value = raw
        elif value_type == "env":
            value = env(str(raw or "")) if env is not None else None
        else:
            value = value_type
        if name and value not in (None, "", MISSING):
            out[name] = to_js_string(value)
    return out
