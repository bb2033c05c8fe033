"""What the websocket-listener and websocket-client config nodes share: their users,
the status Node-RED shows on them, and handing a received frame to the in nodes."""

from __future__ import annotations

from typing import Any

from plantwire.runtime.message import clone_msg
from plantwire.runtime.node import Node

from .ws_codec import SESSION_TYPE, incoming_msg

__all__ = ["WebSocketEndpoint"]


class WebSocketEndpoint(Node):
    """Base of the two config node types; ``websocket in`` / ``websocket out`` nodes
    register with it and get its connection events as their status."""

    category = "config"
    is_config = True
    inputs = 0
    outputs = 0
    color = "rgb(215, 215, 160)"
    icon = "white-globe.svg"

    wholemsg: bool = False

    def __init__(self, flow: Any, config: Any) -> None:
        super().__init__(flow, config)
        self.users: dict[str, Node] = {}
        self.receivers: list[Node] = []
        self.last_event: dict[str, Any] = {}

    # ----- users ----------------------------------------------------------------------

    def attach(self, node: Node, receives: bool) -> None:
        """Record a user (``receives``: a websocket in node) and show the current status."""
        self.users[node.id] = node
        if receives and node not in self.receivers:
            self.receivers.append(node)
        if self.last_event:
            node.status(dict(self.last_event))

    def detach(self, node: Node) -> None:
        self.users.pop(node.id, None)
        if node in self.receivers:
            self.receivers.remove(node)

    # ----- events -> status (Node-RED's opened / erro / closed) -----------------------

    def _status_all(self, status: dict[str, Any]) -> None:
        self.last_event = status
        for user in list(self.users.values()):
            user.status(dict(status))

    def _opened(self, count: int | None, sid: str) -> None:
        text = "connected" if count is None else f"connected {count}"
        self._status_all(self._event("green", "dot", text, "connect", sid))

    def _closed(self, count: int | None, sid: str) -> None:
        if count:
            status = self._event("green", "dot", f"connected {count}", "disconnect", sid)
        else:
            status = self._event("red", "ring", "disconnected", "disconnect", sid)
        self._status_all(status)

    def _failed(self, sid: str, text: str = "error") -> None:
        self._status_all(self._event("red", "ring", text, "error", sid))

    @staticmethod
    def _event(fill: str, shape: str, text: str, event: str, sid: str) -> dict[str, Any]:
        return {
            "fill": fill,
            "shape": shape,
            "text": text,
            "event": event,
            "_session": {"type": SESSION_TYPE, "id": sid},
        }

    # ----- received frames ------------------------------------------------------------

    async def dispatch(self, data: str | bytes, sid: str) -> None:
        """Send the message a frame becomes from every websocket in node (backpressure:
        waits while the flow is busy, so a fast peer is slowed down, not buffered)."""
        receivers = list(self.receivers)
        if not receivers:
            return
        msg = incoming_msg(data, self.wholemsg, sid)
        for i, node in enumerate(receivers):
            await node.send_async(msg if i == 0 else clone_msg(msg))
