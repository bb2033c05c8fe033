"""The Node base class: what every node type inherits.

A node type overrides some of

* ``async start()``: open connections, start timers; called once when its flow starts;
* ``on_input(msg, send, done)``: handle one message. It may be a plain method (fast
  path: called inline by the dispatcher, for nodes that only compute) or
  ``async def`` (run by the node's own worker task, one message at a time, for nodes
  that wait on I/O). When it returns, ``done()`` is called for it unless the class
  sets ``manual_done = True``, in which case the node calls ``done()`` itself (for
  example when a delayed message finally leaves). An exception it raises becomes
  ``node.error(exc, msg)``: it reaches catch nodes and never ends the process;
* ``async close(removed)``: release everything; ``removed`` is True when the node
  is deleted rather than redeployed. Timers and tasks made with :meth:`call_later`
  and :meth:`create_task` are cancelled by the runtime after ``close``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

from plantwire.runtime.message import MISSING, Msg, clone_msg, new_msgid
from plantwire.spec import NodeConfig

if TYPE_CHECKING:
    from plantwire.runtime.context import NodeContext
    from plantwire.runtime.flow import Flow

__all__ = ["DoneFn", "Node", "NodeStats", "SendFn"]

SendFn = Callable[[Any], None]
DoneFn = Callable[..., None]

log = logging.getLogger("plantwire.node")


class NodeStats:
    """Per-node counters the runtime keeps: messages in, out, errors, queue depth."""

    __slots__ = ("errors", "msgs_in", "msgs_out", "queued")

    def __init__(self) -> None:
        self.msgs_in = 0
        self.msgs_out = 0
        self.errors = 0
        self.queued = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "in": self.msgs_in,
            "out": self.msgs_out,
            "errors": self.errors,
            "queued": self.queued,
        }


class Node:
    """Base class of every node type (see the module docstring for the lifecycle)."""

    type_name: ClassVar[str] = ""
    config_model: ClassVar[type[NodeConfig]] = NodeConfig
    category: ClassVar[str] = "function"
    inputs: ClassVar[int] = 1
    outputs: int = 1
    """Number of outputs; a node type whose count comes from its config sets it in __init__."""
    color: ClassVar[str] = "#a6bbcf"
    icon: ClassVar[str] = "function.svg"
    manual_done: ClassVar[bool] = False
    is_config: ClassVar[bool] = False
    queue_limit: ClassVar[int] = 1000
    """Bound of the node's input queue; a full queue makes senders wait."""
    credential_fields: ClassVar[dict[str, str] | None] = None
    """Properties kept in the encrypted credential store, each "text" or "password"
    (write-only in the editor); their values are in ``self.credentials`` at run time."""

    def __init__(self, flow: Flow, config: NodeConfig) -> None:
        self.flow = flow
        self.config = config
        self.id: str = config.id
        self.type: str = config.type
        self.name: str = config.name or ""
        self.z: str = config.z
        self.g: str | None = config.g
        self.wires: list[list[str]] = config.wires
        self.alias: str | None = flow.alias_of(config.id)  # template id inside a subflow
        self.stats = NodeStats()
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._context: NodeContext | None = None
        self._targets: list[list[Node]] = []
        self._queue: deque[Msg] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._drained: asyncio.Event | None = None
        self._closing = False
        self._is_async = False
        self._downstream_async: list[Node] = []
        self.credentials: dict[str, Any] = {}
        self.last_status: dict[str, Any] = {}

    # ----- lifecycle hooks for subclasses -------------------------------------------

    async def start(self) -> None:
        """Start the node (open connections, start timers)."""

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> Awaitable[None] | None:
        """Handle one message; the default passes nothing on."""
        return None

    async def close(self, removed: bool) -> None:
        """Stop the node and release what it holds."""

    # ----- sending ------------------------------------------------------------------

    def send(self, msg: Any) -> None:
        """Send ``msg`` (a message, a list with one entry per output, or ``None``).

        Node-RED's rules: an entry may itself be a list of messages for that output;
        the first delivery gets the original object, every other one a deep copy.
        """
        if msg is None:
            return
        flow = self.flow
        runtime = flow.runtime
        if msg.__class__ is dict:
            if runtime.send_recorder is None:
                # fast path: one message on output 0
                if not self._targets:
                    return
                port0 = self._targets[0]
                if not port0:
                    return
                if "_msgid" not in msg:
                    msg["_msgid"] = new_msgid()
                self.stats.msgs_out += len(port0)
                deliver = runtime.deliver
                deliver(port0[0], msg)
                for target in port0[1:]:
                    deliver(target, clone_msg(msg))
                return
            outs: list[Any] = [msg]
        elif isinstance(msg, list):
            outs = msg
        else:
            raise TypeError(f"send() takes a message dict or a list, not {type(msg).__name__}")
        targets = self._targets
        recorder = runtime.send_recorder
        sent = False
        n_out = len(targets)
        for port, item in enumerate(outs):
            if item is None:
                continue
            batch = item if isinstance(item, list) else [item]
            if recorder is not None:
                for m in batch:
                    if m is not None:
                        if "_msgid" not in m:
                            m["_msgid"] = new_msgid()
                        recorder(self, port, m)
            if port >= n_out:
                continue
            for target in targets[port]:
                for m in batch:
                    if m is None:
                        continue
                    if "_msgid" not in m:
                        m["_msgid"] = new_msgid()
                    if sent:
                        m = clone_msg(m)
                    else:
                        sent = True
                    self.stats.msgs_out += 1
                    runtime.deliver(target, m)

    async def send_async(self, msg: Any) -> None:
        """Send, then wait until the nodes downstream have room (backpressure)."""
        self.send(msg)
        await self.flow.runtime.wait_for_room(self)

    # ----- status, errors, logging --------------------------------------------------

    def status(
        self,
        fill: str | dict[str, Any] | None = None,
        shape: str | None = None,
        text: Any = None,
    ) -> None:
        """Show a status under the node: ``status("green", "dot", "connected")``,
        ``status({"fill": ..., "shape": ..., "text": ...})``, or ``status({})`` to clear."""
        if isinstance(fill, dict):
            st = dict(fill)
        else:
            st = {}
            if fill is not None:
                st["fill"] = fill
            if shape is not None:
                st["shape"] = shape
            if text is not None:
                st["text"] = text
        self.last_status = st
        self.flow.handle_status(self, st)

    def error(self, err: Any, msg: Msg | None = None) -> None:
        """Report an error; with ``msg`` it reaches catch nodes, like Node-RED's node.error."""
        self.stats.errors += 1
        text = error_text(err)
        handled = False
        if msg is not None:
            handled = self.flow.handle_error(self, text, msg, err)
        if not handled:
            self.flow.runtime.node_log(self, logging.ERROR, text)

    def warn(self, text: Any) -> None:
        self.flow.runtime.node_log(self, logging.WARNING, str(text))

    def log(self, text: Any) -> None:
        self.flow.runtime.node_log(self, logging.INFO, str(text))

    def debug(self, text: Any) -> None:
        self.flow.runtime.node_log(self, logging.DEBUG, str(text))

    # ----- context, environment, typed inputs ---------------------------------------

    def context(self) -> NodeContext:
        """This node's context; ``.flow`` and ``.global_`` reach the wider scopes."""
        if self._context is None:
            self._context = self.flow.runtime.contexts.node_context(self)
        return self._context

    def get_env(self, name: str) -> Any:
        """Value of environment variable ``name`` as this node sees it, or MISSING."""
        return self.flow.get_env(name, self)

    # ----- timers and tasks the runtime cleans up -----------------------------------

    def call_later(self, delay: float, callback: Callable[[], Any]) -> asyncio.TimerHandle:
        """Run ``callback`` after ``delay`` seconds; cancelled when the node closes."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            try:
                callback()
            except Exception as exc:
                self.error(exc)

        handle = loop.call_later(max(0.0, delay), fire)
        self._timers.add(handle)
        return handle

    def cancel_timer(self, handle: asyncio.TimerHandle | None) -> None:
        if handle is not None:
            handle.cancel()
            self._timers.discard(handle)

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned by the node; cancelled when the node closes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.error(task.exception())

    def _cancel_owned(self) -> None:
        for h in self._timers:
            h.cancel()
        self._timers.clear()
        for t in list(self._tasks):
            t.cancel()
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type} {self.id}>"


def error_text(err: Any) -> str:
    """The message text of an error, as Node-RED puts it in ``msg.error.message``."""
    if isinstance(err, BaseException):
        text = str(err)
        if not text:
            text = type(err).__name__
        return text
    if err is MISSING or err is None:
        return ""
    return str(err)
