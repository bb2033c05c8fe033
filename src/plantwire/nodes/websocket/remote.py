"""websocket-client: an outgoing websocket connection shared by its in / out nodes."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from typing import Any

import aiohttp
from pydantic import Field, field_validator

from plantwire.runtime.message import MISSING, new_msgid
from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseInt, NodeConfig, config_ref, node_type

from ._common import WebSocketEndpoint
from .ws_codec import check_client_url, subprotocols, upgrade_headers

__all__ = ["WebSocketClientConfig", "WebSocketClientNode"]

log = logging.getLogger("plantwire.websocket")

RECONNECT_MIN = 0.5
"""First reconnect delay (seconds); it doubles per failed attempt up to RECONNECT_MAX."""
RECONNECT_MAX = 3.0
"""Longest reconnect delay: Node-RED retries every 3 seconds."""
MAX_FRAME = 16 * 1024 * 1024


def _js_parse_int(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0.0
    return value


class WebSocketClientConfig(NodeConfig):
    """The websocket-client node as Node-RED writes it in flows.json."""

    path: str = Field("", description="URL to connect to: ws://host:port/path or wss://...")
    tls: str = config_ref("tls-config", "Id of a tls-config node (certificates for wss://).")
    wholemsg: LooseBool = Field(
        False,
        description="true: send and receive the whole message as JSON; false: msg.payload only.",
    )
    hb: float = Field(
        0.0,
        description="Heartbeat: send a ping every hb seconds and reconnect when no pong "
        "came back (empty or 0: off).",
    )
    subprotocol: str = Field("", description="Subprotocols to ask for, comma separated.")
    headers: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra headers of the upgrade request: {keyType, keyValue, valueType, "
        "valueValue} entries as Node-RED writes them (valueType env: an environment variable).",
    )
    queue: LooseInt = Field(
        1000,
        description="Plantwire: messages kept while disconnected, sent in order on reconnect "
        "(when full the oldest is dropped, with a warning; 0: keep none).",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_client_url(value)

    @field_validator("hb", mode="before")
    @classmethod
    def _hb(cls, value: Any) -> Any:
        value = _js_parse_int(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"hb: '{value}' is not a number of seconds") from None
        if number < 0:
            raise ValueError(f"hb: {value} must not be negative")
        return number

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        return value if isinstance(value, list) else []

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"queue: {value} must not be negative")
        return value


@node_type("websocket-client")
class WebSocketClientNode(WebSocketEndpoint):
    """A connection to a websocket server (``ws://`` or ``wss://`` URL, TLS settings from
    a tls-config node), opened when the first `websocket in` / `websocket out` node
    using it starts and closed when the last one stops. A lost or refused connection
    is retried after 0.5 s, doubling to at most 3 s; the status shows connecting,
    connected or disconnected. With a heartbeat (``hb`` seconds) a ping is sent and the
    connection is dropped and reopened when the pong does not come back in time.
    Messages sent while disconnected are kept in order (up to ``queue``; when it is
    full the oldest is dropped with a warning) and sent as soon as the connection is
    back. Received messages carry ``msg._session = {type: "websocket", id}`` (one id
    per connection)."""

    config_model = WebSocketClientConfig

    def __init__(self, flow: Any, config: WebSocketClientConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.url = config.path
        self.wholemsg = config.wholemsg
        self.heartbeat = config.hb
        self.protocols = subprotocols(config.subprotocol)
        self.pending: deque[str | bytes] = deque()
        self.limit = config.queue
        self.dropped = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.conn_id = ""
        self.state = "disconnected"
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # ----- users ----------------------------------------------------------------------

    def register(self, node: Node, receives: bool) -> None:
        """A websocket in / out node starts using the connection; the first one opens it."""
        self.attach(node, receives)
        if not self.last_event:
            node.status("yellow", "ring", "connecting")
        if self._task is None:
            self._task = self.create_task(self._run())

    async def deregister(self, node: Node) -> None:
        """A node stops using the connection; after the last one it is closed."""
        self.detach(node)
        if not self.users:
            await self._stop()

    # ----- the connection -------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext | bool | None:
        if not self.cfg.tls:
            return None
        tls = self.flow.get_node(self.cfg.tls)
        if tls is None or not hasattr(tls, "ssl_context"):
            raise ValueError(f"tls: tls-config node '{self.cfg.tls}' not found")
        ctx: ssl.SSLContext = tls.ssl_context()
        return ctx

    def _env(self, name: str) -> Any:
        value = self.get_env(name)
        return None if value is MISSING else value

    async def _run(self) -> None:
        url = self.url
        if url.startswith("${"):
            url = check_client_url(str(self._env(url[2:-1].strip()) or ""))
        try:
            ssl_ctx = self._ssl()
        except ValueError as exc:
            self._failed("", "tls error")
            self.error(str(exc))
            return
        headers = upgrade_headers(self.cfg.headers, self._env)
        delay = RECONNECT_MIN
        down_reported = False
        self._http = aiohttp.ClientSession()
        while True:
            self.state = "connecting"
            self._status_all({"fill": "yellow", "shape": "ring", "text": "connecting"})
            sid = new_msgid()
            try:
                async with self._http.ws_connect(
                    url,
                    protocols=self.protocols,
                    heartbeat=self.heartbeat or None,
                    ssl=ssl_ctx if ssl_ctx is not None else True,
                    headers=headers,
                    max_msg_size=MAX_FRAME,
                    timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                ) as ws:
                    self.ws, self.conn_id, self.state = ws, sid, "connected"
                    delay = RECONNECT_MIN
                    if down_reported:
                        self.log(f"reconnected to {url}")
                        down_reported = False
                    self._opened(None, sid)
                    await self._flush(ws)
                    async for frame in ws:
                        if frame.type == aiohttp.WSMsgType.TEXT:
                            await self.dispatch(str(frame.data), sid)
                        elif frame.type == aiohttp.WSMsgType.BINARY:
                            await self.dispatch(bytes(frame.data), sid)
                        elif frame.type == aiohttp.WSMsgType.ERROR:
                            break
                    reason = _close_reason(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = _error_text(exc)
                self._failed(sid)
            finally:
                was_up = self.ws is not None
                self.ws = None
                self.state = "disconnected"
            if was_up:
                self._closed(0, sid)
            if not down_reported:
                self.warn(f"websocket {url}: {reason}; reconnecting")
                down_reported = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _flush(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async with self._lock:
            sent = 0
            while self.pending and not ws.closed:
                try:
                    await _write(ws, self.pending[0])
                except Exception:
                    break
                self.pending.popleft()
                sent += 1
            if self.dropped:
                self.warn(
                    f"websocket {self.url}: {self.dropped} message(s) were dropped while "
                    f"disconnected (queue of {self.limit} full); {sent} queued sent"
                )
                self.dropped = 0

    async def send_frame(self, frame: str | bytes) -> None:
        """Send now when connected (and nothing is waiting), else queue it in order."""
        async with self._lock:
            ws = self.ws
            if ws is not None and not ws.closed and not self.pending:
                try:
                    await _write(ws, frame)
                    return
                except Exception:
                    pass  # the connection just went: keep the frame for the next one
            if self.limit <= 0:
                self.dropped += 1
                if self.dropped == 1:
                    self.warn(f"websocket {self.url}: not connected, message dropped (queue 0)")
                return
            if len(self.pending) >= self.limit:
                self.pending.popleft()
                self.dropped += 1
                if self.dropped == 1:
                    self.warn(
                        f"websocket {self.url}: queue of {self.limit} messages full while "
                        "disconnected; dropping the oldest"
                    )
            self.pending.append(frame)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        ws = self.ws
        if ws is not None and not ws.closed:
            try:
                await asyncio.wait_for(ws.close(), 2.0)
            except Exception as exc:
                log.debug("websocket %s close: %s", self.url, exc)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.ws = None
        self.state = "disconnected"
        self.last_event = {}

    async def close(self, removed: bool) -> None:
        await self._stop()
        if self.pending:
            self.warn(
                f"websocket {self.url}: {len(self.pending)} queued message(s) were not sent "
                "(the node stopped before the connection came back)"
            )
            self.pending.clear()
        self.users.clear()
        self.receivers.clear()


def _close_reason(ws: aiohttp.ClientWebSocketResponse) -> str:
    exc = ws.exception()
    if exc is not None:
        return f"connection lost ({_error_text(exc)})"
    return f"closed by the server (code {ws.close_code})"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"the server refused the websocket upgrade ({exc.status} {exc.message})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return f"cannot connect ({text})"


async def _write(ws: aiohttp.ClientWebSocketResponse, frame: str | bytes) -> None:
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)
