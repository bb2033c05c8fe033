"""Store-and-forward for sink nodes that write to a remote system (a database, a queue, an
ERP): the node hands each message to an :class:`Outbox`; while the remote is reachable it is
delivered at once, otherwise it waits on disk (a :class:`~plantwire.runtime.spool.Spool`
under ``<data>/spool/<node id>.sqlite``) and is delivered in order when the remote is back.

    class MyOutConfig(OutboxConfig): ...          # adds spool, spoolMaxMessages, ... fields

    self.outbox = Outbox(self, cfg, self._deliver, remote="RabbitMQ at host:5672",
                         is_transient=lambda exc: isinstance(exc, ConnectionError))
    await self.outbox.start(up=True)               # in start()
    await self.outbox.submit(msg)                  # in on_input
    self.outbox.remote_up() / remote_down()        # when a connection state is known
    await self.outbox.stop()                       # in close()

``deliver(msg)`` does the write (and may send a result message on); it raises when the
message was not delivered. An exception for which ``is_transient`` is false means the
remote will never take this message (a constraint violation, a bad parameter): it is not
retried, and reaches catch nodes with the reason. A transient failure (connection refused,
timeout) keeps the message in the queue; the first failure of an outage reaches catch
nodes too, saying the message waits (also when the message is queued because the remote
is known to be down). Delivery is at-least-once and in order. With ``spool`` off
the message is delivered directly and any failure goes to catch nodes.

Connectionless remotes (SQL, HTTP) start ``up=True`` and stay up: a failing delivery backs
off (0.5 s doubling to 30 s) and retries. Remotes with a connection start ``up=False``
(not known yet: messages wait quietly until the first ``remote_up``) and call
``remote_down`` / ``remote_up`` from their connection state, so messages go straight to
disk while it is down; a message queued while the remote is known down is reported.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import Field, model_validator

from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.spool import Forwarder, Rejected, Spool
from plantwire.spec import LooseBool, LooseFloat, LooseInt, NodeConfig

if TYPE_CHECKING:
    from plantwire.runtime.node import Node

__all__ = ["Outbox", "OutboxConfig", "decode_msg", "encode_msg"]

log = logging.getLogger("plantwire.outbox")

_BYTES = "$plantwire.bytes"


class OutboxConfig(NodeConfig):
    """The store-and-forward settings of a sink node."""

    spool: LooseBool = Field(
        True,
        description="Keep messages on disk while the remote system is unreachable and "
        "deliver them, in order, when it is back (store and forward).",
    )
    spoolMaxMessages: LooseInt = Field(
        1_000_000, description="Most messages kept on disk; the oldest are dropped beyond."
    )
    spoolMaxAge: LooseFloat = Field(
        7 * 86400.0, description="Seconds a message may wait on disk before it is dropped."
    )
    spoolMaxBytes: LooseInt = Field(1 << 30, description="Most bytes kept on disk.")

    @model_validator(mode="after")
    def _check_spool(self) -> OutboxConfig:
        for name in ("spoolMaxMessages", "spoolMaxAge", "spoolMaxBytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive")
        return self


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {_BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    if value is MISSING:
        return None
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _revive(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _BYTES in value:
            return base64.b64decode(value[_BYTES])
        return {k: _revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) for v in value]
    return value


def encode_msg(msg: Msg) -> bytes:
    """A message as a spool item: JSON, with bytes kept as bytes, datetimes as ISO text and
    other values as text. ``_msgid`` and the keys starting with ``_`` but ``_session`` are
    kept too, so a replayed message carries its id."""
    return orjson.dumps(
        dict(msg), default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC
    )


def decode_msg(item: bytes) -> Msg:
    """The message an :func:`encode_msg` item holds."""
    value = _revive(orjson.loads(item))
    if not isinstance(value, dict):
        raise ValueError("spool item is not a message")
    return value


class Outbox:
    """Delivers a node's messages to a remote system, through a disk queue when needed."""

    def __init__(
        self,
        node: Node,
        cfg: OutboxConfig,
        deliver: Callable[[Msg], Awaitable[None]],
        *,
        remote: str,
        is_transient: Callable[[BaseException], bool],
        retry_max: float = 30.0,
    ) -> None:
        self.node, self.cfg, self._deliver = node, cfg, deliver
        self.remote, self._is_transient = remote, is_transient
        self.retry_max = retry_max
        self.forwarder: Forwarder | None = None
        self._live: dict[int, Msg] = {}  # items being submitted -> the caller's message
        self._failing = False  # the last delivery attempt failed
        self._reported = False  # this failing streak reached catch nodes already
        self._down = False  # remote_down() was called: the remote is known to be away

    @property
    def pending(self) -> int:
        """Messages waiting on disk."""
        return self.forwarder.pending if self.forwarder is not None else 0

    async def start(self, up: bool) -> None:
        """Open the disk queue (when ``spool`` is on); ``up``: the remote is reachable."""
        if not self.cfg.spool:
            return
        node = self.node
        path = node.flow.runtime.settings.data_dir / "spool" / f"{node.id}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        spool = Spool(
            path,
            max_messages=self.cfg.spoolMaxMessages,
            max_bytes=self.cfg.spoolMaxBytes,
            max_age=self.cfg.spoolMaxAge,
            name=f"{node.type} {node.name or node.id}",
        )
        forwarder = Forwarder(
            spool,
            self._send_item,
            name=node.name or node.id,
            retry_max=self.retry_max,
            on_reject=self._on_reject,
            on_fail=self._on_fail,
        )
        try:
            await forwarder.start()
        except Exception as exc:
            node.error(f"store-and-forward disabled: cannot open {path}: {exc}")
            return
        self.forwarder = forwarder
        if up:
            forwarder.remote_up()
        if forwarder.pending:
            node.log(f"{forwarder.pending} messages waiting for {self.remote} from before")

    async def stop(self) -> None:
        """Stop delivering; what waits stays on disk for the next start."""
        forwarder, self.forwarder = self.forwarder, None
        if forwarder is not None:
            await forwarder.stop()

    def remote_up(self) -> None:
        self._down = False
        if self.forwarder is not None:
            self.forwarder.remote_up()

    def remote_down(self) -> None:
        self._down = True
        if self.forwarder is not None:
            self.forwarder.remote_down()

    async def submit(self, msg: Msg) -> None:
        """Deliver ``msg`` now or queue it. Failures are reported to catch nodes with
        ``msg``; nothing raises for a message that was kept."""
        forwarder = self.forwarder
        if forwarder is None:
            try:
                await self._deliver(msg)
            except Exception as exc:
                self.node.error(self._reason(exc), msg)
            return
        item = encode_msg(msg)
        self._live[id(item)] = msg  # a direct send works on (and marks) the message itself
        try:
            await forwarder.submit(item)
        except Rejected as exc:
            self.node.error(self._reason(exc.__cause__ or exc), msg)
            return
        except Exception as exc:  # the spool itself failed: nothing kept
            self.node.error(f"message not queued for {self.remote}: {exc}", msg)
            return
        finally:
            self._live.pop(id(item), None)
        if self._down and not self._reported:  # queued because the remote is known down
            self._reported = True
            self.node.error(
                f"{self.remote} is not reachable; the message waits in the store-and-forward "
                f"queue ({self.pending} waiting) and is delivered when it is back",
                msg,
            )
        self._show()

    # ----- forwarder callbacks ----------------------------------------------------------

    def _msg_of(self, item: bytes) -> Msg:
        live = self._live.get(id(item))
        return live if live is not None else decode_msg(item)

    async def _send_item(self, item: bytes) -> None:
        msg = self._msg_of(item)
        try:
            await self._deliver(msg)
        except Exception as exc:
            if self._is_transient(exc):
                self._failing = True
                self._show()
                raise
            raise Rejected(str(exc)) from exc
        if self._failing or self._reported:
            self._failing = self._reported = False
            self.node.log(f"{self.remote} is reachable again")
        self._show()

    def _on_fail(self, item: bytes, exc: BaseException) -> None:
        pending = self.pending
        if not self._reported:
            self._reported = True
            self.node.error(
                f"{self._reason(exc)}; the message waits in the store-and-forward queue "
                f"({pending} waiting) and is delivered when {self.remote} is reachable",
                self._msg_of(item),
            )
        self._show()

    def _on_reject(self, item: bytes, exc: BaseException) -> None:
        self.node.error(
            f"{self._reason(exc.__cause__ or exc)} (queued message dropped)", decode_msg(item)
        )

    def _reason(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return text if self.remote in text else f"{self.remote}: {text}"

    def _show(self) -> None:
        pending = self.pending
        if pending:
            self.node.status("yellow", "ring", f"{pending} queued")
        elif self._failing:
            self.node.status("red", "ring", "unreachable")
