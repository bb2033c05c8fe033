"""Subflow instances: a node of type ``subflow:<id>`` running its own copy of the subflow."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from plantwire.runtime.flow import Flow, SubflowFlow
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig

if TYPE_CHECKING:
    from plantwire.runtime.flowset import FlowDef

__all__ = ["SubflowInstanceNode", "substitute_env_props"]

_WHOLE_ENV = re.compile(r"^\$\{(\S+)\}$")
_SKIP_PROPS = frozenset({"id", "type", "z", "g", "wires", "x", "y", "name", "d"})


def substitute_env_props(raw: dict[str, Any], flow: Flow) -> dict[str, Any]:
    """Replace property values that are exactly ``${NAME}`` by that env variable.

    Node-RED does this for every node property when the node is created; a value that
    only contains ``${...}`` among other text is left alone. Returns ``raw`` itself when
    nothing changed.
    """
    out: dict[str, Any] | None = None
    for key, value in raw.items():
        if key in _SKIP_PROPS:
            continue
        new = _subst(value, flow)
        if new is not value:
            if out is None:
                out = dict(raw)
            out[key] = new
    return out if out is not None else raw


def _subst(value: Any, flow: Flow) -> Any:
    if isinstance(value, str):
        if value.startswith("${"):
            m = _WHOLE_ENV.match(value)
            if m:
                found = flow.get_env(m.group(1))
                if found is not MISSING and found != "":
                    return found
        return value
    if isinstance(value, list):
        items = [_subst(v, flow) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        d = {k: _subst(v, flow) for k, v in value.items()}
        return d if any(d[k] is not value[k] for k in value) else value
    return value


class _PortNode(Node):
    """Virtual node: what reaches it leaves the subflow instance on output ``port``."""

    def __init__(self, instance: SubflowInstanceNode, port: int) -> None:
        cfg = NodeConfig.model_validate(
            {"id": f"{instance.id}-out{port}", "type": "subflow-port", "z": instance.id}
        )
        super().__init__(instance.child_flow(), cfg)
        self.instance = instance
        self.port = port

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        out: list[Any] = [None] * (self.port + 1)
        out[self.port] = msg
        self.instance.send(out)


class _StatusPortNode(Node):
    """Virtual node: messages reaching the subflow's status output set the instance status."""

    def __init__(self, instance: SubflowInstanceNode) -> None:
        cfg = NodeConfig.model_validate(
            {"id": f"{instance.id}-status", "type": "subflow-status", "z": instance.id}
        )
        super().__init__(instance.child_flow(), cfg)
        self.instance = instance

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        payload = msg.get("payload")
        if isinstance(payload, str):
            self.instance.status({"fill": "grey", "shape": "dot", "text": payload})
        elif isinstance(payload, dict):
            if any(k in payload for k in ("fill", "shape", "text")):
                self.instance.status(
                    {k: payload[k] for k in ("fill", "shape", "text") if k in payload}
                )
            else:
                self.instance.status({})
        elif payload is not None and payload is not MISSING:
            from plantwire.expressions import to_js_string

            self.instance.status({"fill": "grey", "shape": "dot", "text": to_js_string(payload)})


class SubflowInstanceNode(Node):
    """An instance of a subflow: routes its input into the subflow's copy of nodes."""

    category = "subflows"

    def __init__(self, flow: Flow, config: NodeConfig, definition: FlowDef) -> None:
        super().__init__(flow, config)
        self.definition = definition
        self.outputs_count = len(definition.raw.get("out") or [])
        self.child: SubflowFlow | None = None
        self._in_targets: list[Node] = []
        self._passthrough: list[int] = []

    def child_flow(self) -> Flow:
        assert self.child is not None
        return self.child

    async def start(self) -> None:
        child = SubflowFlow(self.flow.runtime, self.definition, self.flow, self)
        self.child = child
        merged: dict[str, dict[str, Any]] = {}
        for item in list(self.definition.raw.get("env") or []) + list(
            getattr(self.config, "env", None) or []
        ):
            if isinstance(item, dict) and item.get("name"):
                merged[item["name"]] = item
        child.env = self.flow.runtime.evaluate_env_list(list(merged.values()), child)
        child.port_nodes = [_PortNode(self, i) for i in range(self.outputs_count)]  # type: ignore[attr-defined]
        status_def = self.definition.raw.get("status")
        child.status_node = _StatusPortNode(self) if status_def else None  # type: ignore[attr-defined]
        await child.start()
        self._wire_ports()

    def _wire_ports(self) -> None:
        child = self.child
        assert child is not None
        port_nodes: list[Node] = child.port_nodes  # type: ignore[attr-defined]
        for i, out in enumerate(self.definition.raw.get("out") or []):
            for w in out.get("wires") or []:
                if w.get("id") == self.definition.id:
                    self._passthrough.append(i)
                    continue
                src = child.active.get(child.map_id(w["id"]))
                if src is None:
                    continue
                port = int(w.get("port", 0))
                while len(src._targets) <= port:
                    src._targets.append([])
                src._targets[port].append(port_nodes[i])
        status_def = self.definition.raw.get("status")
        if status_def and child.status_node is not None:  # type: ignore[attr-defined]
            for w in status_def.get("wires") or []:
                src = child.active.get(child.map_id(w["id"]))
                if src is not None:
                    port = int(w.get("port", 0))
                    while len(src._targets) <= port:
                        src._targets.append([])
                    src._targets[port].append(child.status_node)  # type: ignore[attr-defined]
        ins = self.definition.raw.get("in") or []
        self._in_targets = []
        if ins:
            for w in ins[0].get("wires") or []:
                target = child.active.get(child.map_id(w["id"]))
                if target is not None:
                    self._in_targets.append(target)

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        child = self.child
        if child is None:
            return
        first = True
        for target in self._in_targets:
            child.deliver(target, msg if first else clone_msg(msg))
            first = False
        for port in self._passthrough:
            out: list[Any] = [None] * (port + 1)
            out[port] = msg if first else clone_msg(msg)
            first = False
            self.send(out)

    async def close(self, removed: bool) -> None:
        if self.child is not None:
            await self.child.stop(None, set(self.child.active) if removed else None)
