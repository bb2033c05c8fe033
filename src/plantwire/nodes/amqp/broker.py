"""amqp-broker: the config node that owns one AMQP 0-9-1 connection shared by its users."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, ClassVar, Protocol

import aio_pika
from aio_pika.abc import AbstractConnection
from pydantic import Field, model_validator

from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseFloat, LooseInt, NodeConfig, config_ref, node_type

from ..common.connection import Backoff, ConnectionOwner, find_config_node

__all__ = ["AmqpBrokerConfig", "AmqpBrokerNode", "AmqpUser", "find_broker"]

log = logging.getLogger("plantwire.amqp")


class AmqpUser(Protocol):
    """What a node using the broker provides: called when the connection is up / lost."""

    id: str

    async def amqp_up(self, connection: AbstractConnection) -> None: ...

    def amqp_down(self, reason: str) -> None: ...


class AmqpBrokerConfig(NodeConfig):
    """The amqp-broker node as it appears in flows.json (user and password are credentials)."""

    host: str = Field("localhost", description="Host name or address of the AMQP server.")
    port: LooseInt = Field(5672, description="TCP port of the server (5671 with TLS usually).")
    vhost: str = Field("/", description="Virtual host.")
    usetls: LooseBool = Field(False, description="Connect with TLS.")
    tls: str = config_ref("tls-config", "Id of the tls-config node used with TLS.")
    heartbeat: LooseInt = Field(
        30, description="Heartbeat interval in seconds asked of the server (0: off)."
    )
    prefetch: LooseInt = Field(
        10, description="Unacknowledged messages a consumer may hold (amqp in; 0: no limit)."
    )
    connectTimeout: LooseFloat = Field(10.0, description="Seconds a connection attempt may take.")

    @model_validator(mode="after")
    def _check(self) -> AmqpBrokerConfig:
        if not self.host.strip():
            raise ValueError("host: the server address is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port: {self.port} is not a TCP port")
        if self.heartbeat < 0:
            raise ValueError("heartbeat: must not be negative")
        if self.prefetch < 0 or self.prefetch > 65535:
            raise ValueError("prefetch: must be between 0 and 65535")
        if self.connectTimeout <= 0:
            raise ValueError("connectTimeout: must be positive")
        return self


@node_type("amqp-broker")
class AmqpBrokerNode(ConnectionOwner[AmqpUser]):
    """A connection to an AMQP 0-9-1 server (RabbitMQ), shared by every amqp in and
    amqp out node that uses it.

    The first user opens the connection, the last one closes it. A lost connection is
    reopened with backoff (0.5 s doubling to 30 s); every user shows the state in its
    status, consumers declare their queues and bindings again, and amqp out nodes keep
    messages in their store-and-forward queue meanwhile. User name and password are
    credentials; TLS uses a tls-config node."""

    config_model = AmqpBrokerConfig
    credential_fields: ClassVar[dict[str, str]] = {"user": "text", "password": "password"}
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0
    color = "#FF6600"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: AmqpBrokerConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.connection: AbstractConnection | None = None

    @property
    def label(self) -> str:
        return f"RabbitMQ at {self.cfg.host}:{self.cfg.port}"

    @property
    def connected(self) -> bool:
        conn = self.connection
        return self.state == "connected" and conn is not None and not conn.is_closed

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.cfg.usetls:
            return None
        tls_node = self.flow.get_node(self.cfg.tls) if self.cfg.tls else None
        if tls_node is not None and hasattr(tls_node, "ssl_context"):
            ctx: ssl.SSLContext = tls_node.ssl_context()
            return ctx
        return ssl.create_default_context()

    async def _connect(self) -> AbstractConnection:
        creds = self.credentials or {}
        ctx = self._ssl_context()
        kwargs: dict[str, Any] = {
            "host": self.cfg.host.strip(),
            "port": self.cfg.port,
            "login": str(creds.get("user") or "guest"),
            "password": str(creds.get("password") or "guest"),
            "virtualhost": self.cfg.vhost or "/",
            "heartbeat": self.cfg.heartbeat,
            "timeout": self.cfg.connectTimeout,
            "client_properties": {"connection_name": f"plantwire {self.name or self.id}"},
        }
        if ctx is not None:
            kwargs.update(ssl=True, ssl_context=ctx)
        return await asyncio.wait_for(
            aio_pika.connect(**kwargs), timeout=self.cfg.connectTimeout + 1
        )

    async def _run(self) -> None:
        backoff = Backoff()
        reported = False
        while True:
            self.state = "connecting"
            self._show("yellow", "ring", "connecting")
            try:
                conn = await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = _reason(exc)
                self.state = "disconnected"
                self._show("red", "ring", "disconnected")
                for user in list(self.users.values()):
                    user.amqp_down(reason)
                if not reported:
                    reported = True
                    self.warn(f"cannot connect to {self.label}: {reason}; retrying")
                await backoff.wait()
                continue
            closed = asyncio.Event()
            lost: list[str] = []

            def on_close(
                _conn: Any,
                exc: BaseException | None,
                ev: asyncio.Event = closed,
                why: list[str] = lost,
            ) -> None:
                why.append(_reason(exc) if exc is not None else "closed")
                ev.set()

            conn.close_callbacks.add(on_close)
            self.connection = conn
            self.state = "connected"
            if reported:
                self.log(f"connected to {self.label} again")
            reported = False
            backoff.reset()
            for user in list(self.users.values()):
                try:
                    await user.amqp_up(conn)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.debug("amqp user %s failed to start", user.id, exc_info=True)
                    if isinstance(user, Node):
                        user.error(f"{self.label}: {_reason(exc)}")
                        user.status("red", "ring", "error")
                    continue
                if isinstance(user, Node) and not closed.is_set():
                    user.status("green", "dot", "connected")
            await closed.wait()
            self.connection = None
            self.state = "disconnected"
            reason = lost[0] if lost else "closed"
            self._show("red", "ring", "disconnected")
            for user in list(self.users.values()):
                user.amqp_down(reason)
            self.warn(f"connection to {self.label} lost: {reason}; reconnecting")
            reported = True
            await backoff.wait(grow=False)

    # ----- users ----------------------------------------------------------------------

    async def register(self, node: AmqpUser) -> None:
        """A node starts using the connection; the first one opens it. The node's
        ``amqp_up`` is called now when connected, and after every (re)connect."""
        self.users[node.id] = node
        if not self._running:
            self._start_task(self._run())
            if isinstance(node, Node):
                node.status("yellow", "ring", "connecting")
        elif self.connected and self.connection is not None:
            if isinstance(node, Node):
                node.status("green", "dot", "connected")
            await node.amqp_up(self.connection)
        elif isinstance(node, Node):
            node.status("red", "ring", "disconnected")

    async def _release(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None and not conn.is_closed:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:
                log.debug("closing %s failed", self.label, exc_info=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "connection timed out"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return f"connection refused ({text})"
    return text


def find_broker(node: Node, ref: str) -> AmqpBrokerNode | None:
    """The AmqpBrokerNode ``ref`` named in ``node``'s ``broker`` field; None (with a red status and
    an error to catch nodes) when there is none."""
    return find_config_node(
        node, AmqpBrokerNode, "broker", ref, f"amqp-broker node '{ref}' not found", "no broker"
    )
