"""Flow: the running nodes of one tab (or one subflow instance, or the global configs).

A Flow creates its nodes from their validated configs, wires them, routes errors to
catch nodes, status changes to status nodes and ``done()`` to complete nodes, and
answers environment-variable look-ups (group, tab, subflow, global) for its nodes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from plantwire.runtime.message import Msg, clone_msg
from plantwire.runtime.node import Node

if TYPE_CHECKING:
    from plantwire.runtime.context import ContextView
    from plantwire.runtime.flowset import FlowDef
    from plantwire.runtime.runtime import Runtime

__all__ = ["Flow"]

log = logging.getLogger("plantwire.flow")

ERROR_LOOP_LIMIT = 10


class Flow:
    """The running part of one FlowDef."""

    def __init__(
        self,
        runtime: Runtime,
        definition: FlowDef,
        parent: Flow | None,
        *,
        flow_id: str | None = None,
        path: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.definition = definition
        self.parent = parent
        self.id = flow_id or definition.id
        self.path = path or self.id
        self.label = definition.label
        self.active: dict[str, Node] = {}
        self.groups: dict[str, dict[str, Any]] = dict(definition.groups)
        self.env: dict[str, Any] = {}
        self.group_env: dict[str, dict[str, Any]] = {}
        self.catch_nodes: list[Node] = []
        self.status_nodes: list[Node] = []
        self.complete_map: dict[str, list[Node]] = {}
        parent_view: ContextView | None = (
            parent.context_view if parent is not None and parent.parent else None
        )
        self.context_view: ContextView = runtime.contexts.flow_view(self.id, parent_view)

    # ----- construction -------------------------------------------------------------

    def node_configs(self) -> list[dict[str, Any]]:
        """Raw node objects of this flow, configs first (they are used by the others)."""
        d = self.definition
        return list(d.configs.values()) + list(d.nodes.values())

    def map_id(self, node_id: str) -> str:
        """The id a node of the definition gets in this flow (changed in subflow instances)."""
        return node_id

    def alias_of(self, node_id: str) -> str | None:
        """The template id of a node of a subflow instance (None elsewhere)."""
        return None

    async def start(self, only: set[str] | None = None) -> None:
        """Create and start the nodes not yet running (all, or those in ``only``)."""
        if not self.env and self.definition.raw.get("env"):
            self.env = self.runtime.evaluate_env_list(self.definition.raw.get("env"), self)
        for gid, group in self.groups.items():
            if gid not in self.group_env and group.get("env"):
                self.group_env[gid] = self.runtime.evaluate_env_list(group["env"], self, gid)
        created: list[Node] = []
        for raw in self.node_configs():
            nid = self.map_id(raw["id"])
            if nid in self.active or (only is not None and raw["id"] not in only):
                continue
            if raw.get("d") is True:
                continue
            node = self.runtime.create_node(self, raw)
            if node is not None:
                self.active[nid] = node
                created.append(node)
        self.rewire()
        self.index_handlers()
        for node in created:
            try:
                await node.start()
            except Exception as exc:
                node.error(f"failed to start: {exc}")
                node.status("red", "ring", "start failed")

    def rewire(self) -> None:
        """Resolve every active node's wires to node objects."""
        for node in self.active.values():
            targets: list[list[Node]] = []
            for port in node.wires:
                resolved = []
                for tid in port:
                    target = self.get_node(self.map_id(tid))
                    if target is not None:  # Node-RED delivers along every wire
                        resolved.append(target)
                targets.append(resolved)
            node._targets = targets

    def index_handlers(self) -> None:
        """Build the lists of catch, status and complete nodes (Node-RED's order)."""
        self.catch_nodes = [n for n in self.active.values() if n.type == "catch"]
        self.status_nodes = [n for n in self.active.values() if n.type == "status"]
        self.complete_map = {}
        for n in self.active.values():
            if n.type == "complete":
                # a complete node never watches a node it is wired to (that would loop)
                wired = {t for port in n.wires for t in port}
                for sid in getattr(n, "scope_ids", None) or []:
                    if sid not in wired:
                        self.complete_map.setdefault(self.map_id(sid), []).append(n)

        def order(n: Node) -> int:
            scope = getattr(n, "scope", None)
            if scope:
                return 0
            return 2 if getattr(n, "uncaught", False) else 1

        self.catch_nodes.sort(key=order)

    async def stop(self, ids: set[str] | None = None, removed: set[str] | None = None) -> None:
        """Close the given nodes (all when ``ids`` is None); configs close last."""
        removed = removed or set()
        chosen = [
            (nid, node)
            for nid, node in self.active.items()
            if ids is None or nid in ids or (node.alias is not None and node.alias in ids)
        ]
        chosen.sort(key=lambda item: item[1].is_config)
        for nid, _ in chosen:
            del self.active[nid]
        if not chosen:
            return
        await asyncio.gather(
            *(self.runtime.close_node(node, nid in removed) for nid, node in chosen)
        )
        self.index_handlers()

    # ----- look-ups -----------------------------------------------------------------

    def get_node(self, node_id: str) -> Node | None:
        node = self.active.get(node_id)
        if node is not None:
            return node
        if self.parent is not None:
            return self.parent.get_node(node_id)
        return self.runtime.get_node(node_id)

    def get_env(self, name: str, node: Node | None = None) -> Any:
        """Environment variable ``name`` as ``node`` sees it (node, group, flow, parent)."""
        if node is not None:
            if name == "NR_NODE_ID":
                return node.id
            if name == "NR_NODE_NAME":
                return node.name
            if name == "NR_NODE_PATH":
                return f"{self.path}/{node.alias or node.id}"
            if not name.startswith("$parent."):
                gid = node.g
                while gid:
                    group = self.groups.get(gid)
                    if group is None:
                        break
                    if name == "NR_GROUP_ID":
                        return gid
                    if name == "NR_GROUP_NAME":
                        return group.get("name", "")
                    genv = self.group_env.get(gid)
                    if genv and name in genv:
                        return genv[name]
                    gid = group.get("g")
        return self.get_setting(name)

    def get_setting(self, name: str) -> Any:
        """A flow-level environment variable, delegating to the parent scope."""
        if name == "NR_FLOW_NAME":
            return self.label
        if name == "NR_FLOW_ID":
            return self.id
        if name.startswith("$parent."):
            name = name[8:]
        elif name in self.env:
            return self.env[name]
        if self.parent is not None:
            return self.parent.get_setting(name)
        return self.runtime.get_global_env(name)

    # ----- message routing ------------------------------------------------------------

    def deliver(self, target: Node, msg: Msg) -> None:
        self.runtime.deliver(target, msg)

    def handle_error(
        self, node: Node, text: str, msg: Msg, err: Any, reporter: Node | None = None
    ) -> bool:
        """Route an error with its message to catch nodes; True when one took it."""
        reporter = reporter or node
        count = 1
        prev = msg.get("error")
        if isinstance(prev, dict):
            src = prev.get("source")
            if isinstance(src, dict) and src.get("id") == node.id:
                count = int(src.get("count") or 0) + 1
                if count >= ERROR_LOOP_LIMIT:
                    node.warn("Message exceeded maximum number of catches")
                    return False
        handled = False
        candidates = self._scoped_candidates(self.catch_nodes, reporter)
        by_uncaught = False
        for catch in candidates:
            if getattr(catch, "uncaught", False) and not by_uncaught:
                if handled:
                    continue
                by_uncaught = True
            out = clone_msg(msg)
            if "error" in out:
                out["_error"] = out["error"]
            error: dict[str, Any] = {
                "message": text,
                "source": {"id": node.id, "type": node.type, "name": node.name, "count": count},
            }
            if isinstance(err, BaseException):
                error["stack"] = f"{type(err).__name__}: {text}"
            out["error"] = error
            self.runtime.receive_now(catch, out)
            handled = True
        return handled

    def handle_status(
        self, node: Node, status: dict[str, Any], reporter: Node | None = None, mute: bool = False
    ) -> bool:
        """Route a status change to status nodes; True when one took it."""
        reporter = reporter or node
        if not mute:
            if "text" in status and not isinstance(status["text"], str):
                from plantwire.expressions import to_js_string

                status["text"] = to_js_string(status["text"])
            self.runtime.emit_status(node, status)
        handled = False
        for target in self._scoped_candidates(self.status_nodes, reporter):
            message_status = dict(status)
            message_status["source"] = {"id": node.id, "type": node.type, "name": node.name}
            self.runtime.receive_now(target, {"status": message_status})
            handled = True
        return handled

    def handle_complete(self, node: Node, msg: Msg) -> None:
        for target in self.complete_map.get(node.id, ()):
            out = clone_msg(msg)
            out["complete"] = {"source": {"id": node.id, "type": node.type, "name": node.name}}
            self.runtime.receive_now(target, out)

    def _scoped_candidates(self, handlers: list[Node], reporter: Node) -> list[Node]:
        """Handlers whose scope covers ``reporter``, nearest group first (Node-RED's rule)."""
        found: list[tuple[int, int, Node]] = []
        for i, handler in enumerate(handlers):
            scope = getattr(handler, "scope", None)
            if handler.g and scope == "group" and not reporter.g:
                continue
            if (
                isinstance(scope, list)
                and reporter.id not in scope
                and (reporter.alias is None or reporter.alias not in scope)
            ):
                continue
            distance = 0
            if reporter.g:
                group = self.groups.get(reporter.g)
                while group is not None and group.get("id") != handler.g:
                    distance += 1
                    group = self.groups.get(group.get("g") or "")
                if group is None and handler.g and scope == "group":
                    continue
            found.append((distance, i, handler))
        found.sort(key=lambda item: (item[0], item[1]))
        return [h for _, _, h in found]


class SubflowFlow(Flow):
    """The nodes of one subflow instance, with ids ``<instance id>-<template id>``."""

    def __init__(self, runtime: Runtime, definition: FlowDef, parent: Flow, instance: Node) -> None:
        self.instance = instance
        super().__init__(
            runtime,
            definition,
            parent,
            flow_id=instance.id,
            path=f"{parent.path}/{instance.alias or instance.id}",
        )
        self.context_view = runtime.contexts.flow_view(instance.id, parent.context_view)
        self.label = definition.label
        self.status_output: list[Node] = []

    def map_id(self, node_id: str) -> str:
        if node_id in self.definition.nodes or node_id in self.definition.configs:
            return f"{self.instance.id}-{node_id}"
        return node_id

    def alias_of(self, node_id: str) -> str | None:
        prefix = f"{self.instance.id}-"
        return node_id[len(prefix) :] if node_id.startswith(prefix) else None

    def get_setting(self, name: str) -> Any:
        if name == "NR_SUBFLOW_NAME":
            return self.instance.name or self.definition.label
        if name == "NR_SUBFLOW_ID":
            return self.instance.id
        if name == "NR_SUBFLOW_PATH":
            return self.path
        if name == "NR_FLOW_NAME" or name == "NR_FLOW_ID":
            assert self.parent is not None
            return self.parent.get_setting(name)
        return super().get_setting(name)

    def handle_error(
        self, node: Node, text: str, msg: Msg, err: Any, reporter: Node | None = None
    ) -> bool:
        if super().handle_error(node, text, msg, err, reporter):
            return True
        assert self.parent is not None
        return self.parent.handle_error(node, text, msg, err, self.instance)

    def handle_status(
        self, node: Node, status: dict[str, Any], reporter: Node | None = None, mute: bool = False
    ) -> bool:
        handled = super().handle_status(node, status, reporter, mute)
        if not handled and (not self.definition.raw.get("status") or node is self.instance):
            assert self.parent is not None
            handled = self.parent.handle_status(node, status, self.instance, True)
        return handled
