"""The ``/comms`` WebSocket: debug messages, node status, deploy events and log lines.

Every frame the server sends is a JSON array of ``{"topic": ..., "data": ...}`` events
(several events may share a frame). Topics:

- ``debug``: a debug node's sidebar message (``id``, ``z``, ``name``, ``path``,
  ``topic``, ``property``, ``format``, ``msg``). ``msg`` is text: the string itself, or
  the JSON of the value with long strings and arrays cut to ``max_length``
  (``{"__enc__": true, "type": "array", "length": N, "data": [...]}`` marks a cut array).
- ``debug/dropped``: ``{"id", "name", "dropped"}``: a node sent more than ``rate``
  messages in one second; the rest of that second was dropped.
- ``status/<node id>``: the node's status (``fill``, ``shape``, ``text``); on connect the
  last status of every node is sent.
- ``deploy``: ``{"rev", "type", "user", "added", "changed", "removed"}``.
- ``log``: a runtime log line (``level``, ``text``, ``id``, ``type``, ``name`` when a node
  wrote it).
- ``comms/dropped``: ``{"dropped": N}``: this client fell behind and N events were lost;
  ``debug/paused``: ``{"paused": bool, "dropped": N}`` answers a pause switch.

A client may send ``{"pause": true}`` / ``{"pause": false}``: while paused it gets no
``debug`` events (they are counted and the count is sent on resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from plantwire.runtime.message import MISSING
from plantwire.runtime.node import Node
from plantwire.runtime.runtime import Runtime

__all__ = ["Client", "CommsHub", "CommsLogHandler", "comms_endpoint", "encode_value"]

FRAME_LIMIT = 64 * 1024
"""Longest ``msg`` text of one debug event, whatever the value (characters)."""

_LEVELS = {
    logging.CRITICAL: "fatal",
    logging.ERROR: "error",
    logging.WARNING: "warn",
    logging.INFO: "info",
    logging.DEBUG: "debug",
}


def _level_name(level: int) -> str:
    for lvl, name in sorted(_LEVELS.items(), reverse=True):
        if level >= lvl:
            return name
    return "trace"


def _cut(text: str, max_length: int) -> str:
    return text if len(text) <= max_length else text[:max_length] + "..."


def _sanitise(value: Any, max_length: int, depth: int = 0) -> Any:
    """A JSON-able copy of ``value`` with long strings, arrays and buffers cut."""
    if value is MISSING:
        return {"__enc__": True, "type": "undefined"}
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"__enc__": True, "type": "number", "data": str(value)}
        return value
    if isinstance(value, str):
        return _cut(value, max_length)
    if depth > 10:
        return "[Object]" if isinstance(value, dict) else "[Array]"
    if isinstance(value, bytes | bytearray):
        data = list(value[:max_length])
        return {"__enc__": True, "type": "Buffer", "data": data, "length": len(value)}
    if isinstance(value, dict):
        return {str(k): _sanitise(v, max_length, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_sanitise(v, max_length, depth + 1) for v in value[:max_length]]
        if len(value) > max_length:
            return {"__enc__": True, "type": "array", "length": len(value), "data": items}
        return items
    return _cut(str(value), max_length)


def encode_value(value: Any, max_length: int = 1000) -> tuple[str, str]:
    """(format, text) of a debug value, as Node-RED's debug sidebar gets them."""
    if value is MISSING:
        return "undefined", "(undefined)"
    if value is None:
        return "null", "null"
    if isinstance(value, str):
        return f"string[{len(value)}]", _cut(value, max_length)
    if isinstance(value, bool):
        return "boolean", "true" if value else "false"
    if isinstance(value, int | float):
        return "number", json.dumps(_sanitise(value, max_length))
    if isinstance(value, bytes | bytearray):
        fmt = f"buffer[{len(value)}]"
    elif isinstance(value, list | tuple):
        fmt = f"array[{len(value)}]"
    elif isinstance(value, dict):
        fmt = "Object"
    else:
        return type(value).__name__, _cut(str(value), max_length)
    text = json.dumps(_sanitise(value, max_length), ensure_ascii=False, default=str)
    return fmt, _cut(text, FRAME_LIMIT)


@dataclass
class _Window:
    start: float
    count: int = 0
    dropped: int = 0
    name: str = ""
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class Client:
    """One connected WebSocket: its outgoing queue and its pause switch."""

    queue_size: int = 1000
    paused: bool = False
    paused_dropped: int = 0
    overflow: int = 0
    queue: asyncio.Queue[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def put(self, event: dict[str, Any]) -> None:
        if self.paused and event["topic"] == "debug":
            self.paused_dropped += 1
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflow += 1

    async def pump(self, ws: WebSocket) -> None:
        """Send queued events, as many per frame as are waiting."""
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < 200:
                batch.append(self.queue.get_nowait())
            if self.overflow:
                batch.append({"topic": "comms/dropped", "data": {"dropped": self.overflow}})
                self.overflow = 0
            await ws.send_text(json.dumps(batch, ensure_ascii=False, default=str))


class CommsHub:
    """Collects runtime events, rate-limits and truncates them, fans them out."""

    def __init__(
        self, *, max_length: int = 1000, rate: int = 10, log_level: int = logging.INFO
    ) -> None:
        self.max_length = max_length
        self.rate = rate
        self.log_level = log_level
        self.clients: set[Client] = set()
        self.statuses: dict[str, dict[str, Any]] = {}
        self._windows: dict[str, _Window] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runtime: Runtime | None = None

    # ----- runtime hooks -------------------------------------------------------------

    def attach(self, runtime: Runtime) -> None:
        self._loop = asyncio.get_running_loop()
        self._runtime = runtime
        runtime.status_listeners.append(self._on_status)
        runtime.log_listeners.append(self._on_log)
        runtime.debug_listeners.append(self._on_debug)

    def detach(self) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        with contextlib.suppress(ValueError):
            runtime.status_listeners.remove(self._on_status)
        with contextlib.suppress(ValueError):
            runtime.log_listeners.remove(self._on_log)
        with contextlib.suppress(ValueError):
            runtime.debug_listeners.remove(self._on_debug)
        for window in self._windows.values():
            if window.timer is not None:
                window.timer.cancel()
        self._windows.clear()
        self._runtime = None

    def publish(self, topic: str, data: Any) -> None:
        event = {"topic": topic, "data": data}
        for client in list(self.clients):
            client.put(event)

    def deployed(self, info: dict[str, Any], running: set[str]) -> None:
        """A deploy finished: forget the status of nodes that no longer run, tell clients."""
        for nid in [n for n in self.statuses if n not in running]:
            del self.statuses[nid]
        self.publish("deploy", info)

    def _allow(self, node_id: str, name: str) -> bool:
        """Rate limit per node: ``rate`` events per second, the rest counted and dropped."""
        now = time.monotonic()
        window = self._windows.get(node_id)
        if window is None or now - window.start >= 1.0:
            if window is not None:
                self._end_window(node_id)
            window = self._windows[node_id] = _Window(now, name=name)
        if window.count < self.rate:
            window.count += 1
            return True
        window.dropped += 1
        if window.timer is None and self._loop is not None:
            delay = max(0.0, window.start + 1.0 - now)
            window.timer = self._loop.call_later(delay, self._end_window, node_id)
        return False

    def _end_window(self, node_id: str) -> None:
        window = self._windows.pop(node_id, None)
        if window is None:
            return
        if window.timer is not None:
            window.timer.cancel()
        if window.dropped:
            self.publish(
                "debug/dropped",
                {"id": node_id, "name": window.name, "dropped": window.dropped},
            )

    def _on_debug(self, debug_msg: dict[str, Any]) -> None:
        node_id = str(debug_msg.get("id", ""))
        if not self.clients or not self._allow(node_id, str(debug_msg.get("name") or "")):
            return
        data: dict[str, Any] = {}
        for key in ("id", "z", "_alias", "path", "name", "property"):
            value = debug_msg.get(key, MISSING)
            if value is not MISSING and value is not None and value != "":
                data[key] = value
        topic = debug_msg.get("topic", MISSING)
        if topic is not MISSING:
            data["topic"] = _cut(str(topic), self.max_length)
        data["format"], data["msg"] = encode_value(debug_msg.get("msg", MISSING), self.max_length)
        self.publish("debug", data)

    def _on_status(self, node: Node, status: dict[str, Any]) -> None:
        clean = {k: v for k, v in (status or {}).items() if k in ("fill", "shape", "text")}
        if "text" in clean:
            clean["text"] = _cut(str(clean["text"]), self.max_length)
        self.statuses[node.id] = clean
        self.publish(f"status/{node.id}", clean)

    def _on_log(self, node: Node | None, level: int, text: str) -> None:
        if level < self.log_level or not self.clients:
            return
        data: dict[str, Any] = {
            "timestamp": int(time.time() * 1000),
            "level": _level_name(level),
            "text": _cut(str(text), self.max_length),
        }
        if node is not None:
            if not self._allow("log:" + node.id, node.name or ""):
                return
            data.update(id=node.id, type=node.type, name=node.name or "", z=node.z)
        self.publish("log", data)

    def log_record(self, record: logging.LogRecord) -> None:
        """A runtime log line that was not written by a node (see CommsLogHandler)."""
        if not self.clients:
            return
        text = record.getMessage()
        data = {
            "timestamp": int(record.created * 1000),
            "level": _level_name(record.levelno),
            "text": _cut(f"[{record.name}] {text}", self.max_length),
        }
        self.publish("log", data)


class CommsLogHandler(logging.Handler):
    """Sends the ``plantwire`` loggers' lines (not the node lines, which come through
    ``Runtime.log_listeners`` with their node) to the comms clients."""

    def __init__(self, hub: CommsHub, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.hub = hub
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("plantwire.node"):
            return
        loop = self.hub._loop
        if loop is None:
            return
        try:
            if threading.get_ident() == self._thread:
                self.hub.log_record(record)
            else:
                loop.call_soon_threadsafe(self.hub.log_record, record)
        except Exception:
            self.handleError(record)


async def comms_endpoint(ws: WebSocket, hub: CommsHub) -> None:
    """Serve one /comms connection until the client goes away."""
    await ws.accept()
    client = Client()
    for nid, status in hub.statuses.items():
        client.put({"topic": f"status/{nid}", "data": status})
    hub.clients.add(client)
    pump = asyncio.create_task(client.pump(ws))
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                command = json.loads(message.get("text") or "")
            except ValueError:
                continue
            if isinstance(command, dict) and isinstance(command.get("pause"), bool):
                client.paused = command["pause"]
                dropped, client.paused_dropped = client.paused_dropped, 0
                client.put(
                    {"topic": "debug/paused", "data": {"paused": client.paused, "dropped": dropped}}
                )
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.clients.discard(client)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
