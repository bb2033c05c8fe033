"""redis-config: the config node that owns one Redis client (connection pool) shared by its
users, watches the server and tells them when it is reachable."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import redis.asyncio as aioredis
from pydantic import Field, model_validator
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseFloat, LooseInt, NodeConfig, config_ref, node_type

from ..common.connection import Backoff, ConnectionOwner, find_config_node

__all__ = ["RedisConfig", "RedisConfigNode", "RedisUser", "find_server", "is_connection_error"]

log = logging.getLogger("plantwire.redis")

CHECK_INTERVAL = 5.0


def is_connection_error(exc: BaseException) -> bool:
    """True for a failure of the connection (not of the command)."""
    return isinstance(
        exc,
        RedisConnectionError
        | RedisTimeoutError
        | ConnectionError
        | TimeoutError
        | asyncio.TimeoutError
        | OSError,
    )


class RedisUser(Protocol):
    """What a node using the connection provides."""

    id: str

    def redis_up(self) -> None: ...

    def redis_down(self, reason: str) -> None: ...


class _TlsConnection(Connection):
    """A Redis connection over TLS with an SSLContext built by a tls-config node."""

    def __init__(self, *, ssl_ctx: ssl.SSLContext, **kwargs: Any) -> None:
        self._ssl_ctx = ssl_ctx
        super().__init__(**kwargs)

    def _connection_arguments(self) -> Mapping[Any, Any]:
        args = dict(super()._connection_arguments())
        args["ssl"] = self._ssl_ctx
        return args


class RedisConfig(NodeConfig):
    """The redis-config node as it appears in flows.json (username and password are
    credentials)."""

    host: str = Field("localhost", description="Host name or address of the Redis server.")
    port: LooseInt = Field(6379, description="TCP port of the server.")
    db: LooseInt = Field(0, description="Database number.")
    usetls: LooseBool = Field(False, description="Connect with TLS.")
    tls: str = config_ref(
        "tls-config", "Certificates and CA for TLS (a tls-config node), used with usetls."
    )
    clientName: str = Field("", description="Client name shown by CLIENT LIST.")
    timeout: LooseFloat = Field(
        5.0, description="Seconds a connection attempt or a health check may take."
    )

    @model_validator(mode="after")
    def _check(self) -> RedisConfig:
        if not self.host.strip():
            raise ValueError("host: the server address is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port: {self.port} is not a TCP port")
        if self.db < 0:
            raise ValueError("db: must not be negative")
        if self.timeout <= 0:
            raise ValueError("timeout: must be positive")
        return self


@node_type("redis-config")
class RedisConfigNode(ConnectionOwner[RedisUser]):
    """A Redis server, shared by every redis in and redis out node that uses it.

    One connection pool per config node, opened by the first user and closed after the
    last. The node checks the server (PING) and, when it is lost, tries again with
    backoff (0.5 s doubling to 30 s); every user shows the state in its status and
    redis out nodes keep messages in their store-and-forward queue meanwhile. Username
    and password are credentials; TLS uses a tls-config node."""

    config_model = RedisConfig
    credential_fields: ClassVar[dict[str, str]] = {"username": "text", "password": "password"}
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0
    color = "#E53B2C"
    icon = "db.svg"

    def __init__(self, flow: Any, config: RedisConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.client: aioredis.Redis | None = None
        self.up = asyncio.Event()
        self._check = asyncio.Event()

    @property
    def label(self) -> str:
        return f"Redis at {self.cfg.host}:{self.cfg.port}"

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def get_client(self) -> aioredis.Redis:
        """The shared client (bytes in and out), made on first use."""
        if self.client is None:
            creds = self.credentials or {}
            kwargs: dict[str, Any] = {
                "host": self.cfg.host.strip(),
                "port": self.cfg.port,
                "db": self.cfg.db,
                "username": str(creds.get("username") or creds.get("user") or "") or None,
                "password": str(creds.get("password") or "") or None,
                "client_name": self.cfg.clientName or None,
                "socket_connect_timeout": self.cfg.timeout,
                "socket_keepalive": True,
                "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
                "max_connections": 100,
            }
            if self.cfg.usetls:
                tls_node = self.flow.get_node(self.cfg.tls) if self.cfg.tls else None
                if tls_node is not None and hasattr(tls_node, "ssl_context"):
                    ctx: ssl.SSLContext = tls_node.ssl_context()
                else:
                    ctx = ssl.create_default_context()
                kwargs.update(connection_class=_TlsConnection, ssl_ctx=ctx)
            pool = aioredis.ConnectionPool(**kwargs)
            self.client = aioredis.Redis(connection_pool=pool)
        return self.client

    def report_failure(self) -> None:
        """A user saw the connection fail: check the server now."""
        self._check.set()

    async def wait_up(self) -> None:
        await self.up.wait()

    # ----- health -----------------------------------------------------------------------

    def _set(self, state: str, reason: str = "") -> None:
        if state == self.state:
            return
        self.state = state
        if state == "connected":
            self.up.set()
            self._show("green", "dot", "connected")
        else:
            self.up.clear()
            self._show("red", "ring", "disconnected")
        for user in list(self.users.values()):
            if state == "connected":
                user.redis_up()
            else:
                user.redis_down(reason)

    async def _watch(self) -> None:
        client = self.get_client()
        backoff = Backoff()
        reported = False
        while True:
            self._check.clear()
            try:
                await asyncio.wait_for(client.ping(), self.cfg.timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                if not reported:
                    reported = True
                    self.warn(f"{self.label} is unreachable: {reason}; retrying")
                self._set("disconnected", reason)
                await backoff.wait()
                continue
            if reported:
                self.log(f"{self.label} is reachable again")
            reported = False
            backoff.reset()
            self._set("connected")
            try:
                await asyncio.wait_for(self._check.wait(), CHECK_INTERVAL)
            except TimeoutError:
                pass

    # ----- users ------------------------------------------------------------------------

    def register(self, node: RedisUser) -> None:
        """A node starts using the server; the first one starts the client."""
        self.users[node.id] = node
        if isinstance(node, Node):
            if self.connected:
                node.status("green", "dot", "connected")
            else:
                node.status("yellow", "ring", "connecting")
        if not self._running:
            self._start_task(self._watch())
        elif self.connected:
            node.redis_up()

    async def _release(self) -> None:
        self.up.clear()
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.aclose()
                await client.connection_pool.disconnect()
            except Exception:
                log.debug("closing %s failed", self.label, exc_info=True)


def find_server(node: Node, ref: str) -> RedisConfigNode | None:
    """The RedisConfigNode ``ref`` named in ``node``'s ``server`` field; None (with a red status and
    an error to catch nodes) when there is none."""
    return find_config_node(
        node, RedisConfigNode, "server", ref, f"redis-config node '{ref}' not found", "no server"
    )
