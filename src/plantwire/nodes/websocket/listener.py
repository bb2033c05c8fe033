"""websocket-listener: a websocket endpoint served on the runtime's HTTP server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import Field, field_validator

from plantwire.nodes.http._server import ResponseHandle, Route, server_for
from plantwire.runtime.message import new_msgid
from plantwire.spec import LooseBool, NodeConfig, node_type

from ._common import WebSocketEndpoint
from .ws_codec import check_listener_path

__all__ = ["WebSocketListenerConfig", "WebSocketListenerNode"]

log = logging.getLogger("plantwire.websocket")

MAX_FRAME = 16 * 1024 * 1024
"""Largest message accepted from a client (bytes)."""

CLOSE_TIMEOUT = 2.0
"""Seconds to wait for a client to answer the closing handshake."""


class WebSocketListenerConfig(NodeConfig):
    """The websocket-listener node as Node-RED writes it in flows.json."""

    path: str = Field(
        "",
        description="Path served on the runtime's HTTP port (setting http_node_port), "
        "e.g. /ws/line1; must start with '/'.",
    )
    wholemsg: LooseBool = Field(
        False,
        description="true: send and receive the whole message as JSON; false: msg.payload only.",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_listener_path(value)


class _ServerSession(web.WebSocketResponse):
    """One client connection, with its session id."""

    def __init__(self) -> None:
        super().__init__(timeout=CLOSE_TIMEOUT, max_msg_size=MAX_FRAME)
        self.sid = new_msgid()


@node_type("websocket-listener")
class WebSocketListenerNode(WebSocketEndpoint):
    """A websocket endpoint on the runtime's HTTP server (the port of the http in nodes,
    setting ``http_node_port``, default 1880): clients connect to
    ``ws://host:port<path>``. Any number of clients may connect; each connection is a
    session, and every message a `websocket in` node sends carries
    ``msg._session = {type: "websocket", id}``. A `websocket out` node replies to the
    session in ``msg._session`` only (if that client is gone, nothing is sent and a
    warning is logged); a message without ``_session`` goes to every connected client.
    The status of the nodes using it shows ``connected N`` (the number of clients).
    With ``wholemsg`` the whole message is sent and received as JSON."""

    config_model = WebSocketListenerConfig

    def __init__(self, flow: Any, config: WebSocketListenerConfig) -> None:
        super().__init__(flow, config)
        self.path = config.path
        self.wholemsg = config.wholemsg
        self.sessions: dict[str, _ServerSession] = {}
        self.route: Route | None = None
        self._shutting = False

    async def start(self) -> None:
        path = self.path
        if path.startswith("${"):
            try:
                path = check_listener_path(str(self.get_env(path[2:-1].strip()) or ""))
            except ValueError as exc:
                self.error(str(exc))
                return
            self.path = path
        paths: dict[str, WebSocketListenerNode] = self.flow.runtime.extensions.setdefault(
            "websocket", {}
        )
        key = path.rstrip("/").lower() or "/"
        other = paths.get(key)
        if other is not None and other is not self:
            self.error(f"path: cannot have two websocket listeners on the same path: {path}")
            return
        paths[key] = self
        self._key = key
        route = Route("GET", path, _no_handler, on_error=self.warn, raw=self._upgrade)
        server = server_for(self.flow.runtime)
        try:
            await server.add(route)
        except OSError as exc:
            where = f"{server.host}:{server.port}"
            self.error(f"cannot serve websocket {path}: cannot listen on {where} ({exc})")
            paths.pop(key, None)
            return
        self.route = route

    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        """Accept a client: upgrade the GET to a websocket and serve it until it closes."""
        headers = request.headers
        if self._shutting:
            return web.Response(status=503, text="websocket listener is closing")
        if "websocket" not in headers.get("Upgrade", "").lower():
            return web.Response(status=426, text="this path needs a websocket upgrade")
        if not headers.get("Sec-WebSocket-Key") or headers.get("Sec-WebSocket-Version") != "13":
            return web.Response(status=400, text="invalid websocket handshake")
        ws = _ServerSession()
        await ws.prepare(request)
        await self.serve(ws)
        return ws

    async def serve(self, ws: _ServerSession) -> None:
        """Run one client connection: register it, pass its frames on, forget it."""
        if not ws.prepared or self._shutting:
            return
        sid = ws.sid
        self.sessions[sid] = ws
        self._opened(len(self.sessions), sid)
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self.dispatch(str(frame.data), sid)
                elif frame.type == WSMsgType.BINARY:
                    await self.dispatch(bytes(frame.data), sid)
                elif frame.type == WSMsgType.ERROR:
                    self._failed(sid)
                    log.debug("websocket %s session %s: %s", self.path, sid, ws.exception())
                    break
        finally:
            self.sessions.pop(sid, None)
            self._closed(len(self.sessions), sid)

    # ----- sending (websocket out) ----------------------------------------------------

    async def reply(self, sid: str, frame: str | bytes) -> bool:
        """Send to one session; False when that client is no longer connected."""
        ws = self.sessions.get(sid)
        if ws is None or ws.closed:
            return False
        await _write(ws, frame)
        return True

    async def broadcast(self, frame: str | bytes) -> list[str]:
        """Send to every connected client; the errors (one text per failed client)."""
        failed: list[str] = []
        for sid, ws in list(self.sessions.items()):
            try:
                await _write(ws, frame)
            except Exception as exc:
                failed.append(f"{sid}: {exc}")
        return failed

    async def close(self, removed: bool) -> None:
        self._shutting = True
        sessions = list(self.sessions.values())
        if sessions:
            await asyncio.gather(
                *(ws.close(code=1001, message=b"server closing") for ws in sessions),
                return_exceptions=True,
            )
        if self.route is not None:
            await server_for(self.flow.runtime).remove(self.route)
            self.route = None
        paths = self.flow.runtime.extensions.get("websocket", {})
        key = getattr(self, "_key", None)
        if key is not None and paths.get(key) is self:
            del paths[key]
        self.users.clear()
        self.receivers.clear()


def _no_handler(req: dict[str, Any], handle: ResponseHandle) -> None:
    """Never called: the route serves the raw request (``Route.raw``)."""


async def _write(ws: web.WebSocketResponse, frame: str | bytes) -> None:
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)
