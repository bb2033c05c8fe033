"""Runtime: owns the flows, delivers messages, deploys changes.

Message delivery keeps Node-RED's order: every ``send`` appends to one FIFO that a
dispatcher drains on the event loop, one batch per loop turn (Node-RED's
``setImmediate``). A node with a plain ``on_input`` runs inline; a node with an
``async def on_input`` gets a worker task and a bounded queue of its own.

Backpressure, which Node-RED lacks: sources send with ``await node.send_async(msg)``,
which waits while the dispatcher's FIFO is above its high-water mark or while a
queue of an async node downstream is full; an async node's worker waits the same way
before taking its next message. Memory stays bounded however fast a source is.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plantwire.registry import Registry, load_node_types
from plantwire.runtime.context import ContextManager
from plantwire.runtime.credentials import CredentialStore
from plantwire.runtime.diff import diff_flowsets
from plantwire.runtime.errors import FlowValidationError, Problem
from plantwire.runtime.flow import Flow
from plantwire.runtime.flowset import FlowSet, parse_flows
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import Node, error_text

__all__ = ["DEPLOY_TYPES", "Runtime", "RuntimeSettings"]

log = logging.getLogger("plantwire.runtime")
node_log = logging.getLogger("plantwire.node")

DEPLOY_TYPES = ("full", "flows", "nodes", "reload")


class RuntimeSettings:
    """Settings of one runtime (Node-RED's settings.js, the parts that apply)."""

    def __init__(
        self,
        data_dir: str | Path = ".plantwire",
        *,
        context_storage: dict[str, Any] | None = None,
        credential_secret: str | None = None,
        env: dict[str, Any] | None = None,
        node_close_timeout: float = 15.0,
        queue_high_water: int = 10000,
        function_timeout: float = 0.0,
        node_message_buffer_max_length: int | None = None,
        http_node_host: str = "127.0.0.1",
        http_node_port: int = 1880,
        http_node_response_timeout: float = 120.0,
        http_request_timeout: float = 120.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.context_storage = context_storage
        self.credential_secret = credential_secret
        self.env = dict(env or {})
        self.node_close_timeout = node_close_timeout
        self.queue_high_water = queue_high_water
        self.function_timeout = function_timeout
        self.node_message_buffer_max_length = node_message_buffer_max_length
        self.http_node_host = http_node_host
        """Where `http in` nodes are served (Node-RED serves them on its own port)."""
        self.http_node_port = http_node_port
        self.http_node_response_timeout = http_node_response_timeout
        """Seconds an `http in` request waits for its `http response` before a 504."""
        self.http_request_timeout = http_request_timeout
        """Default timeout of `http request` nodes, seconds."""
        """Most messages a sequence node (join, batch, sort, delay rate) keeps; None is
        the default bound, 0 unlimited (Node-RED's nodeMessageBufferMaxLength)."""


class Done:
    """The ``done`` callable handed to a node with each message."""

    __slots__ = ("called", "msg", "node")

    def __init__(self, node: Node, msg: Msg) -> None:
        self.node = node
        self.msg = msg
        self.called = False

    def __call__(self, err: Any = None) -> None:
        if self.called:
            return
        self.called = True
        node = self.node
        if err is not None and err is not MISSING:
            node.error(err, self.msg)
        elif node.flow.complete_map:
            node.flow.handle_complete(node, self.msg)


class Runtime:
    """Runs a set of flows; see the module docstring for delivery and backpressure."""

    def __init__(self, settings: RuntimeSettings | None = None, registry: Registry | None = None):
        self.settings = settings or RuntimeSettings()
        self.registry = registry or load_node_types(lazy=True)
        self.contexts = ContextManager.from_settings(
            self.settings.context_storage, self.settings.data_dir
        )
        self.credentials = CredentialStore(self.settings.data_dir, self.settings.credential_secret)
        self.flowset: FlowSet | None = None
        self.global_flow: Flow | None = None
        self.flows: dict[str, Flow] = {}
        self.send_recorder: Callable[[Node, int, Msg], None] | None = None
        self.debug_listeners: list[Callable[[dict[str, Any]], None]] = []
        """Called with every debug node's sidebar message (the editor's debug pane)."""
        self.status_listeners: list[Callable[[Node, dict[str, Any]], None]] = []
        self.log_listeners: list[Callable[[Node | None, int, str], None]] = []
        self.extensions: dict[str, Any] = {}
        """Per-runtime state of node packages (e.g. the UNS topic tree), by package name."""
        self._queue: deque[tuple[Node, Msg]] = deque()
        self._scheduled = False
        self._room: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._lock = asyncio.Lock()

    # ----- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        """Open context stores and credentials (before the first deploy)."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        await self.contexts.open()
        self.credentials.load()
        self._started = True

    async def deploy(self, flows: list[dict[str, Any]], mode: str = "full") -> dict[str, list[str]]:
        """Validate ``flows`` and make them the running flows.

        ``mode`` is Node-RED's deployment type: ``full`` restarts everything,
        ``flows`` restarts the tabs that changed, ``nodes`` only the changed nodes,
        ``reload`` is like full. A flow with problems raises FlowValidationError and
        leaves the running flows untouched. Returns the ids added/changed/removed.
        """
        if mode not in DEPLOY_TYPES:
            raise ValueError(f"unknown deployment type {mode!r}; use one of {DEPLOY_TYPES}")
        await self.open()
        async with self._lock:
            before = self.credentials.snapshot()
            try:
                flows = self.credentials.extract(flows)
                new = parse_flows(flows, self.registry)
                self._check_creatable(new)
            except BaseException:  # a refused flow changes no credentials either
                self.credentials.restore(before)
                raise
            for t in sorted(new.unknown_types):
                log.warning(
                    "flow uses node type %r, which is not installed: its nodes do nothing", t
                )
            old = self.flowset
            if old is not None and _global_env_changed(old, new):
                mode = "full"  # every node may read the global env
            if old is None or mode in ("full", "reload"):
                await self._stop_all()
                self.flowset = new
                await self._start_all()
                self.credentials.save()
                ids = [r["id"] for r in new.raw]
                return {"added": ids, "changed": [], "removed": []}
            diff = diff_flowsets(old, new, mode)
            await self._apply_diff(new, diff)
            self.credentials.save()
            return diff

    async def stop(self) -> None:
        """Close every node and the context stores."""
        async with self._lock:
            await self._stop_all()
            await self.contexts.close()
            self._started = False

    async def _start_all(self) -> None:
        fs = self.flowset
        assert fs is not None
        self.global_flow = Flow(self, fs.global_flow, None)
        self.global_flow.env = self.global_config_env(fs)
        await self.global_flow.start()
        self.flows = {}
        for tab in fs.tabs.values():
            if tab.disabled:
                continue
            flow = Flow(self, tab, self.global_flow)
            self.flows[tab.id] = flow
        for flow in self.flows.values():
            await flow.start()
        self._rewire_all()

    async def _stop_all(self) -> None:
        for flow in list(self.flows.values()):
            await flow.stop()
        if self.global_flow is not None:
            await self.global_flow.stop()
        self.flows = {}
        self.global_flow = None

    async def _apply_diff(self, new: FlowSet, diff: dict[str, list[str]]) -> None:
        restart = set(diff["changed"]) | set(diff["removed"])
        removed = set(diff["removed"])
        for flow in list(self.flows.values()):
            await flow.stop(restart, removed)
        assert self.global_flow is not None
        await self.global_flow.stop(restart, removed)
        self.flowset = new
        self.global_flow.definition = new.global_flow
        self.global_flow.groups = dict(new.global_flow.groups)
        await self.global_flow.start()
        for tab_id in list(self.flows):
            tab = new.tabs.get(tab_id)
            if tab is None or tab.disabled or tab_id in restart:
                gone = self.flows.pop(tab_id)
                await gone.stop(None, set(gone.active) if tab is None else None)
        for tab in new.tabs.values():
            if tab.disabled:
                continue
            running = self.flows.get(tab.id)
            if running is None:
                running = Flow(self, tab, self.global_flow)
                self.flows[tab.id] = running
            else:
                running.definition = tab
                running.groups = dict(tab.groups)
                running.label = tab.label
            await running.start()
        self._rewire_all()

    def _rewire_all(self) -> None:
        fs = self.flowset
        if self.global_flow is not None:
            self.global_flow.rewire()
        for flow in self.flows.values():
            if fs is not None:
                for node in flow.active.values():
                    raw = fs.by_id.get(node.id)
                    if raw is not None and isinstance(raw.get("wires"), list):
                        node.wires = raw["wires"]
            flow.rewire()
            flow.index_handlers()
        for flow in self.all_flows():
            for node in flow.active.values():
                node._downstream_async = downstream_async(node)

    def _check_creatable(self, fs: FlowSet) -> None:
        """Problems only an attempt to build the node finds (e.g. code that won't compile)."""
        problems: list[Problem] = []
        for nid, cfg in fs.configs.items():
            if cfg.type.startswith("subflow:") or cfg.type not in self.registry:
                continue
            cls = self.registry.get(cfg.type)
            check = getattr(cls, "check_config", None)
            if check is not None:
                problems.extend(Problem(nid, cfg.type, f, m) for f, m in check(cfg))
        if problems:
            raise FlowValidationError(problems)

    # ----- nodes ------------------------------------------------------------------------

    def create_node(self, flow: Flow, raw: dict[str, Any]) -> Node | None:
        """Instantiate one node of ``flow`` from its node object."""
        from plantwire.runtime.subflow import SubflowInstanceNode, substitute_env_props

        fs = self.flowset
        assert fs is not None
        nid = flow.map_id(raw["id"])
        config = fs.configs[raw["id"]]
        substituted = substitute_env_props(raw, flow)
        if substituted is not raw or nid != raw["id"]:
            data = dict(substituted)
            data["id"] = nid
            if nid != raw["id"]:
                data["z"] = flow.id
            model = type(config)
            try:
                config = model.model_validate(data)
            except Exception as exc:
                log.error("node %s (%s): %s", nid, raw["type"], exc)
                return None
        try:
            if raw["type"].startswith("subflow:"):
                node: Node = SubflowInstanceNode(flow, config, fs.subflows[raw["type"][8:]])
            else:
                cls = self.registry.get(raw["type"]) if raw["type"] in self.registry else None
                if cls is None:
                    cls = self.registry.get("unknown")
                node = cls(flow, config)
        except Exception as exc:
            log.error("node %s (%s) could not be created: %s", nid, raw["type"], exc)
            return None
        node.credentials = self.credentials.get(raw["id"])
        node._is_async = inspect.iscoroutinefunction(type(node).on_input)
        return node

    async def close_node(self, node: Node, removed: bool) -> None:
        node._closing = True
        try:
            await asyncio.wait_for(node.close(removed), self.settings.node_close_timeout)
        except TimeoutError:
            node.error(f"close timed out after {self.settings.node_close_timeout}s")
        except Exception as exc:
            node.error(f"error while closing: {exc}")
        finally:
            node._cancel_owned()
        if removed:
            self.contexts.delete_scope(f"{node.id}:{node.z}")

    def all_flows(self) -> list[Flow]:
        out: list[Flow] = []
        stack: list[Flow] = ([self.global_flow] if self.global_flow else []) + list(
            self.flows.values()
        )
        while stack:
            f = stack.pop(0)
            out.append(f)
            for n in f.active.values():
                child = getattr(n, "child", None)
                if isinstance(child, Flow):
                    stack.append(child)
        return out

    def get_node(self, node_id: str) -> Node | None:
        """Find a running node anywhere (tabs, global config nodes, subflow instances)."""
        for flow in self.all_flows():
            node = flow.active.get(node_id)
            if node is not None:
                return node
        return None

    def nodes(self) -> list[Node]:
        return [n for f in self.all_flows() for n in f.active.values()]

    def stats(self) -> dict[str, dict[str, int]]:
        """Messages in / out / errors / queued per node id."""
        return {n.id: n.stats.as_dict() for n in self.nodes()}

    # ----- delivery -----------------------------------------------------------------------

    def deliver(self, target: Node, msg: Msg) -> None:
        """Queue ``msg`` for ``target`` (delivered on the next dispatcher batch)."""
        target.stats.queued += 1
        self._queue.append((target, msg))
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            loop.call_soon(self._drain)

    def _drain(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        receive = self.receive_now
        for _ in range(len(queue)):
            target, msg = popleft()
            target.stats.queued -= 1
            receive(target, msg)
        if queue:
            assert self._loop is not None
            self._loop.call_soon(self._drain)
        else:
            self._scheduled = False
        room = self._room
        if room is not None and len(queue) < self.settings.queue_high_water:
            room.set()
            self._room = None

    def receive_now(self, node: Node, msg: Msg) -> None:
        """Hand ``msg`` to ``node``'s input handler now (Node-RED's node.receive)."""
        if node._closing:
            return
        node.stats.msgs_in += 1
        if node._is_async:
            self._enqueue_async(node, msg)
            return
        done = Done(node, msg)
        try:
            node.on_input(msg, node.send, done)
        except Exception as exc:
            if not done.called:
                done.called = True
                node.error(exc, msg)
            return
        if not done.called and not node.manual_done:
            # done() without an error, inline: this runs once per hop
            done.called = True
            if node.flow.complete_map:
                node.flow.handle_complete(node, msg)

    def _enqueue_async(self, node: Node, msg: Msg) -> None:
        if node._queue is None:
            node._queue = deque()
            node._wake = asyncio.Event()
            node._worker = asyncio.get_running_loop().create_task(self._worker(node))
        node._queue.append(msg)
        node.stats.queued += 1
        assert node._wake is not None
        node._wake.set()

    async def _worker(self, node: Node) -> None:
        queue = node._queue
        wake = node._wake
        assert queue is not None and wake is not None
        while True:
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            msg = queue.popleft()
            node.stats.queued -= 1
            if node._drained is not None and node.stats.queued < node.queue_limit:
                node._drained.set()
                node._drained = None
            done = Done(node, msg)
            try:
                await node.on_input(msg, node.send, done)  # type: ignore[misc]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not done.called:
                    done.called = True
                    node.error(exc, msg)
            else:
                if not node.manual_done and not done.called:
                    done()
            await self.wait_for_room(node)

    async def wait_for_room(self, node: Node) -> None:
        """Wait until the dispatcher and ``node``'s async successors have room.

        Messages still in the dispatcher FIFO are given one loop turn first, so that
        what they will add to the queues downstream is counted.
        """
        if self._queue:
            await asyncio.sleep(0)
        while len(self._queue) >= self.settings.queue_high_water:
            if self._room is None:
                self._room = asyncio.Event()
            await self._room.wait()
        for target in node._downstream_async:
            # queued counts messages in the dispatcher FIFO and in the node's own queue
            while target.stats.queued >= target.queue_limit and not target._closing:
                if target._drained is None:
                    target._drained = asyncio.Event()
                await target._drained.wait()

    async def idle(self, timeout: float = 5.0) -> None:
        """Wait until no message is queued anywhere (for tests and clean shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            busy = bool(self._queue) or any(n._queue for n in self.nodes() if n._queue is not None)
            if not busy:
                return
            await asyncio.sleep(0.001)

    # ----- status and logs -------------------------------------------------------------

    def emit_status(self, node: Node, status: dict[str, Any]) -> None:
        for listener in self.status_listeners:
            listener(node, status)

    def node_log(self, node: Node | None, level: int, text: str) -> None:
        if node is not None:
            label = f"[{node.type}:{node.name or node.id}]"
            node_log.log(level, "%s %s", label, text)
        else:
            node_log.log(level, "%s", text)
        for listener in self.log_listeners:
            listener(node, level, text)

    # ----- environment -------------------------------------------------------------------

    def get_global_env(self, name: str) -> Any:
        if self.global_flow is not None and name in self.global_flow.env:
            return self.global_flow.env[name]
        if name in self.settings.env:
            return self.settings.env[name]
        return os.environ.get(name, MISSING)

    def global_config_env(self, fs: FlowSet) -> dict[str, Any]:
        env: dict[str, Any] = {}
        for raw in fs.global_flow.configs.values():
            if raw["type"] == "global-config" and raw.get("env"):
                assert self.global_flow is not None
                env.update(self.evaluate_env_list(raw["env"], self.global_flow))
        return env

    def evaluate_env_list(
        self, items: Any, flow: Flow, group_id: str | None = None
    ) -> dict[str, Any]:
        """Evaluate a list of ``{name, value, type}`` env entries, in order."""
        from plantwire.expressions import evaluate_typed

        result: dict[str, Any] = {}
        from plantwire.runtime.envscope import EnvScope

        scope = EnvScope(flow, result, group_id)
        for item in items or []:
            if not isinstance(item, dict) or not item.get("name"):
                continue
            vtype = item.get("type") or "str"
            value = item.get("value", "")
            try:
                if vtype == "cred":
                    creds = self.credentials.get(group_id or flow.definition.id)
                    result[item["name"]] = creds.get(item["name"], "")
                else:
                    result[item["name"]] = evaluate_typed(value, vtype, scope, None)
            except Exception as exc:
                log.error("env %s of %s: %s", item["name"], group_id or flow.id, error_text(exc))
        return result


def downstream_async(node: Node) -> list[Node]:
    """The async nodes reachable from ``node`` through sync nodes (for backpressure)."""
    seen: set[int] = set()
    found: list[Node] = []
    stack = [t for port in node._targets for t in port]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if getattr(n, "_is_async", False):
            found.append(n)
            continue
        stack.extend(t for port in n._targets for t in port)
    return found


def _global_env_changed(old: FlowSet, new: FlowSet) -> bool:
    def env_of(fs: FlowSet) -> list[Any]:
        return [r.get("env") for r in fs.raw if r.get("type") == "global-config"]

    return env_of(old) != env_of(new)
