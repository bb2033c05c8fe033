"""websocket in / websocket out: receive from and send to a listener or client node."""

from __future__ import annotations

from typing import Any

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, config_ref, node_type

from ._common import WebSocketEndpoint
from .listener import WebSocketListenerNode
from .remote import WebSocketClientNode
from .ws_codec import outgoing_frame, session_of

__all__ = ["WebSocketInConfig", "WebSocketInNode", "WebSocketOutConfig", "WebSocketOutNode"]


class _EndpointRef(NodeConfig):
    server: str = config_ref(
        "websocket-listener",
        "Id of the websocket-listener node (type: Listen on); used when no client.",
    )
    client: str = config_ref(
        "websocket-client",
        "Id of the websocket-client node (type: Connect to); wins over server.",
    )


class WebSocketInConfig(_EndpointRef):
    """The websocket in node as Node-RED writes it in flows.json."""


class WebSocketOutConfig(_EndpointRef):
    """The websocket out node as Node-RED writes it in flows.json."""


def _endpoint(node: Node, cfg: _EndpointRef) -> WebSocketEndpoint | None:
    field, ref = ("client", cfg.client) if cfg.client else ("server", cfg.server)
    found = node.flow.get_node(ref) if ref else None
    wanted = WebSocketClientNode if field == "client" else WebSocketListenerNode
    if not isinstance(found, wanted):
        kind = "websocket-client" if field == "client" else "websocket-listener"
        what = f"'{ref}' is not a {kind} node" if ref else f"no {kind} node is set"
        node.status("red", "ring", "missing configuration")
        node.error(f"{field}: missing server configuration ({what})")
        return None
    return found


async def _attach(node: Node, endpoint: WebSocketEndpoint, receives: bool) -> None:
    if isinstance(endpoint, WebSocketClientNode):
        endpoint.register(node, receives)
    else:
        endpoint.attach(node, receives)


async def _detach(node: Node, endpoint: WebSocketEndpoint) -> None:
    if isinstance(endpoint, WebSocketClientNode):
        await endpoint.deregister(node)
    else:
        endpoint.detach(node)


class _EndpointUser(Node):
    """Glue of websocket in / out: the listener or client node they use, found at start,
    attached to (``receives``: frames are passed to the node) and detached at close."""

    receives = False

    def __init__(self, flow: Any, config: _EndpointRef) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.endpoint: WebSocketEndpoint | None = None

    async def start(self) -> None:
        self.endpoint = _endpoint(self, self.cfg)
        if self.endpoint is not None:
            await _attach(self, self.endpoint, self.receives)

    async def close(self, removed: bool) -> None:
        if self.endpoint is not None:
            await _detach(self, self.endpoint)
            self.endpoint = None
        self.status({})


@node_type("websocket in")
class WebSocketInNode(_EndpointUser):
    """Sends a message for every frame received by a websocket-listener (from any of
    its clients) or a websocket-client connection. A text frame gives a string
    ``msg.payload``, a binary frame bytes; with the config node's ``wholemsg`` the
    frame is parsed as JSON and becomes the message (a JSON value that is not an
    object becomes ``msg.payload``; text that is not JSON is passed on as
    ``msg.payload`` unchanged). ``msg._session`` = ``{type: "websocket", id}`` names
    the connection, so a `websocket out` node can reply to that client only."""

    config_model = WebSocketInConfig
    category = "network"
    color = "rgb(215, 215, 160)"
    icon = "white-globe.svg"
    inputs = 0
    receives = True


@node_type("websocket out")
class WebSocketOutNode(_EndpointUser):
    """Sends ``msg.payload`` over a websocket: bytes as a binary frame, text as a text
    frame, objects and arrays as JSON text, numbers and booleans as text; a message
    without payload (or an empty string) sends nothing. With the config node's
    ``wholemsg`` the whole message (without ``_session``) is sent as JSON. On a
    websocket-listener a message with ``msg._session`` (from a `websocket in` node)
    goes to that client only, any other to every connected client. On a
    websocket-client it goes over the connection, queued in order while it is down."""

    config_model = WebSocketOutConfig
    category = "network"
    color = "rgb(215, 215, 160)"
    icon = "white-globe.svg"
    outputs = 0

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            raise ValueError("missing server configuration: the message was not sent")
        try:
            frame = outgoing_frame(msg, endpoint.wholemsg)
        except ValueError as exc:
            raise ValueError(f"cannot encode the message as JSON: {exc}") from exc
        if frame is None:
            return
        if isinstance(endpoint, WebSocketClientNode):
            await endpoint.send_frame(frame)
            return
        assert isinstance(endpoint, WebSocketListenerNode)
        sid = session_of(msg)
        if sid is not None:
            try:
                sent = await endpoint.reply(sid, frame)
            except Exception as exc:
                self.warn(f"an error occurred while sending to session {sid}: {exc}")
                return
            if not sent:
                self.warn(
                    f"websocket session {sid} is not connected to {endpoint.path}: message not sent"
                )
            return
        for failure in await endpoint.broadcast(frame):
            self.warn(f"an error occurred while sending: {failure}")
