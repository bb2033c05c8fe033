"""link in, link out and link call: virtual wires between flows and visual subroutines."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import Field, field_validator

from plantwire.runtime.message import Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, choices, node_type

__all__ = ["LinkCallNode", "LinkInNode", "LinkOutNode", "find_link_target"]


def _links(value: Any) -> Any:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return value


class LinkInConfig(NodeConfig):
    links: list[str] = Field(
        default_factory=list, description="Ids of the link out nodes that send to this node."
    )

    _norm = field_validator("links", mode="before")(_links)


class LinkOutConfig(NodeConfig):
    mode: str = Field(
        "link",
        json_schema_extra=choices("link", "return", ""),
        description='"link": send to the link in nodes listed in links; "return": send the '
        "message back to the link call node that started the subroutine.",
    )
    links: list[str] = Field(
        default_factory=list, description="Ids of the link in nodes to send to (mode link)."
    )

    _norm = field_validator("links", mode="before")(_links)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if value is None or value == "":
            return "link"
        if value not in ("link", "return"):
            raise ValueError(f'mode must be "link" or "return", not {value!r}')
        return value


class LinkCallConfig(NodeConfig):
    links: list[str] = Field(
        default_factory=list, description="Id of the link in node to call (static link type)."
    )
    linkType: str = Field(
        "static",
        json_schema_extra=choices("static", "dynamic", ""),
        description='"static": call the link in node chosen in links; "dynamic": call the '
        "link in node whose id or name is in msg.target.",
    )
    timeout: str = Field(
        "30",
        description="Seconds to wait for the subroutine to return before reporting the "
        'error "timeout" (catchable).',
    )

    _norm = field_validator("links", mode="before")(_links)

    @field_validator("linkType", mode="before")
    @classmethod
    def _link_type(cls, value: Any) -> Any:
        if value is None or value == "":
            return "static"
        if value not in ("static", "dynamic"):
            raise ValueError(f'linkType must be "static" or "dynamic", not {value!r}')
        return value


@node_type("link in")
class LinkInNode(Node):
    """Receives messages from link out nodes (on any tab) and link call nodes.

    Output: the message, unchanged. A disabled link in node receives nothing.
    """

    config_model = LinkInConfig
    category = "common"
    inputs = 0
    color = "#ddd"
    icon = "link-in.svg"

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        send(msg)


@node_type("link out")
class LinkOutNode(Node):
    """Sends each message to link in nodes, or back to the calling link call node.

    Mode "link": every link in node listed in ``links`` (and every link in node that
    lists this node) gets the message, on whichever tab it is; each target after the
    first gets a copy. Mode "return": the message goes back to the link call node
    that started the subroutine (the last entry of ``msg._linkSource``); without one,
    the node warns "Missing return node information".
    """

    config_model = LinkOutConfig
    category = "common"
    inputs = 1
    outputs = 0
    color = "#ddd"
    icon = "link-out.svg"

    def __init__(self, flow: Any, config: LinkOutConfig) -> None:
        super().__init__(flow, config)
        self.mode = config.mode
        self.links = list(config.links)
        self._targets_for: object = None
        self._target_ids: list[str] = []

    def target_ids(self) -> list[str]:
        """Ids of the link in nodes this node sends to (its own list plus back-links)."""
        fs = self.flow.runtime.flowset
        if fs is not self._targets_for:
            me = self.alias or self.id
            ids = list(dict.fromkeys(self.links))
            if fs is not None:
                for raw in fs.raw:
                    if raw.get("type") == "link in" and raw["id"] not in ids:
                        links = _links(raw.get("links"))
                        if isinstance(links, list) and me in links:
                            ids.append(raw["id"])
            self._target_ids = ids
            self._targets_for = fs
        return self._target_ids

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        msg["_event"] = f"node:{self.id}"
        if self.mode == "return":
            self._return(msg)
            return
        flow = self.flow
        runtime = flow.runtime
        if runtime.send_recorder is not None:  # Node-RED wires link out to its targets: port 0
            runtime.send_recorder(self, 0, msg)
        first = True
        for tid in self.target_ids():
            target = flow.get_node(flow.map_id(tid))
            if target is None or target.type != "link in":
                continue  # disabled, deleted or on a disabled tab
            runtime.deliver(target, msg if first else clone_msg(msg))
            self.stats.msgs_out += 1
            first = False

    def _return(self, msg: Msg) -> None:
        stack = msg.get("_linkSource")
        if isinstance(stack, list) and stack:
            event = stack.pop()
            caller = None
            if isinstance(event, dict):
                caller = self.flow.runtime.get_node(str(event.get("node")))
            handler = getattr(caller, "return_link_message", None)
            if handler is not None and isinstance(event, dict):
                handler(event.get("id"), msg)
                return
        self.warn("Missing return node information")


def find_link_target(caller: Node, target: Any, dynamic: bool) -> Node:
    """The link in node that ``target`` (an id, or in dynamic mode a name) names.

    A name is looked for on the caller's own flow first, then on every tab (link in
    nodes inside subflow instances excluded); a name found more than once there is an
    error, as is a target that names no running link in node.
    """
    runtime = caller.flow.runtime
    found: Node | None = None
    if isinstance(target, str) and target:
        node = runtime.get_node(caller.flow.map_id(target)) or runtime.get_node(target)
        if node is not None and node.type == "link in":
            found = node
        elif dynamic:
            ins = [n for n in runtime.nodes() if n.type == "link in"]
            named = [n for n in ins if (n.name or n.id) == target]
            local = [n for n in named if n.flow is caller.flow]
            if len(local) == 1:
                found = local[0]
            else:
                tabs = [n for n in named if getattr(n.flow, "instance", None) is None]
                if len(tabs) == 1:
                    found = tabs[0]
                elif len(tabs) > 1:
                    raise LookupError(f"Multiple link-in nodes named '{target}' found")
    if found is None:
        shown = target if isinstance(target, str) else ""
        raise LookupError(f"target link-in node '{shown}' not found")
    return found


class _Pending:
    __slots__ = ("done", "saved", "send", "timer")

    def __init__(self, saved: Msg, send: SendFn, done: DoneFn) -> None:
        self.saved = saved
        self.send = send
        self.done = done
        self.timer: Any = None


@node_type("link call")
class LinkCallNode(Node):
    """Calls a subroutine: sends the message to a link in node and waits for its return.

    The flow behind the link in node must end in a link out node in "return" mode;
    the returned message leaves this node's output. Static: the target is the link in
    chosen in ``links``. Dynamic: ``msg.target`` holds the id or name of the link in
    node (a name on this node's own tab wins; a name found on several other tabs is an
    error). Calls nest: ``msg._linkSource`` is a stack of callers. No return within
    ``timeout`` seconds raises the catchable error "timeout".
    """

    config_model = LinkCallConfig
    category = "common"
    manual_done = True
    color = "#ddd"
    icon = "link-call.svg"

    def __init__(self, flow: Any, config: LinkCallConfig) -> None:
        super().__init__(flow, config)
        self.static_target = config.links[0] if config.links else ""
        self.dynamic = config.linkType == "dynamic"
        try:
            seconds = float(config.timeout or "30")
        except ValueError:
            seconds = 30.0
        if seconds != seconds:  # NaN
            seconds = 30.0
        self.timeout = seconds
        self._pending: dict[str, _Pending] = {}

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        target = msg.get("target") if self.dynamic else self.static_target
        try:
            node = find_link_target(self, target, self.dynamic)
        except LookupError as exc:
            done(f"Error: {exc}")
            return
        stack = msg.get("_linkSource")
        if not isinstance(stack, list):
            stack = []
            msg["_linkSource"] = stack
        event_id = secrets.token_hex(14)
        pending = _Pending(clone_msg(msg), send, done)
        pending.timer = self.call_later(self.timeout, lambda: self._timed_out(event_id))
        self._pending[event_id] = pending
        stack.append({"id": event_id, "node": self.id})
        self.flow.runtime.deliver(node, msg)

    def _timed_out(self, event_id: str) -> None:
        pending = self._pending.pop(event_id, None)
        if pending is not None:
            self.error("timeout", pending.saved)

    def return_link_message(self, event_id: Any, msg: Msg) -> None:
        """Called by a link out node in return mode with the subroutine's result."""
        stack = msg.get("_linkSource")
        if isinstance(stack, list) and not stack:
            del msg["_linkSource"]
        pending = self._pending.pop(str(event_id), None)
        if pending is None:
            self.send(msg)
            return
        self.cancel_timer(pending.timer)
        pending.send(msg)
        pending.done()

    async def close(self, removed: bool) -> None:
        self._pending.clear()
