"""nats-server: the config node that owns one NATS connection shared by its users."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ssl
from pathlib import Path
from typing import Any, ClassVar, Protocol

import nats.errors
from nats.aio.client import Client as NATS
from pydantic import Field, model_validator

from plantwire.runtime.node import Node
from plantwire.spec import (
    ConfigNodeConfig,
    LooseBool,
    LooseFloat,
    LooseInt,
    choices,
    config_ref,
    node_type,
)

from ..common.connection import find_config_node
from .nats_codec import parse_servers

__all__ = ["STATUS", "NatsServerConfig", "NatsServerNode", "NatsUser", "find_server"]

AUTH_MODES = ("none", "user", "token", "nkey", "creds")

STATUS = {
    "connecting": ("yellow", "ring", "connecting"),
    "connected": ("green", "dot", "connected"),
    "disconnected": ("red", "ring", "disconnected, reconnecting"),
    "closed": ("red", "ring", "closed"),
    "error": ("red", "ring", "configuration error"),
}


class NatsUser(Protocol):
    """What a node using the connection may implement to follow its state."""

    def nats_state(self, state: str) -> None: ...


class NatsServerConfig(ConfigNodeConfig):
    """The nats-server node as it appears in flows.json (secrets are credentials)."""

    servers: str = Field(
        "nats://127.0.0.1:4222",
        description="Comma-separated server URLs (nats://host:4222, tls://host:4222); the "
        "client moves to the next one when a server is lost. The node name is the "
        "connection name the server shows.",
    )
    auth: str = Field(
        "none",
        json_schema_extra=choices(*AUTH_MODES),
        description="Authentication: none; user (user and password in the credentials); "
        "token (token in the credentials); nkey (seed in the credentials); creds (the "
        "credentials file named by credsFile). nkey and creds need the nkeys package.",
    )
    credsFile: str = Field("", description="Path of the .creds file (JWT and seed), auth creds.")
    usetls: LooseBool = Field(
        False, description="Connect with TLS (also implied by a tls:// server URL)."
    )
    tls: str = config_ref("tls-config", "Id of the tls-config node with certificates and CA.")
    maxReconnectAttempts: LooseInt = Field(
        -1,
        description="Reconnect attempts per server after a lost connection; -1 tries "
        "forever. After the last one the connection is closed until the next deploy.",
    )
    reconnectWait: LooseFloat = Field(2.0, description="Seconds between reconnect attempts.")
    connectTimeout: LooseFloat = Field(2.0, description="Seconds one connection attempt may take.")

    @model_validator(mode="after")
    def _check(self) -> NatsServerConfig:
        parse_servers(self.servers)
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth: '{self.auth}' is not one of {', '.join(AUTH_MODES)}")
        if self.auth == "creds" and not self.credsFile.strip():
            raise ValueError("credsFile: auth 'creds' needs the path of a credentials file")
        if self.maxReconnectAttempts < -1:
            raise ValueError("maxReconnectAttempts: -1 (forever), 0 or more")
        if self.reconnectWait <= 0:
            raise ValueError("reconnectWait: must be positive")
        if self.connectTimeout <= 0:
            raise ValueError("connectTimeout: must be positive")
        return self


@node_type("nats-server")
class NatsServerNode(Node):
    """A NATS server (or cluster), shared by every nats in / nats out node that uses it.

    One connection per server node: the first user opens it, the last one to close drains
    and closes it. A lost connection is re-established by the client (every
    ``reconnectWait`` seconds, ``maxReconnectAttempts`` times per server, -1 = forever);
    subscriptions are restored, and the state (connecting, connected, disconnected,
    closed) is shown under every node that uses it. When the server cannot be reached at
    start, connecting is retried with backoff (up to 30 s).

    Authentication secrets (password, token, nkey seed) are credentials, stored encrypted
    apart from the flow and never shown in a status or message."""

    config_model = NatsServerConfig
    credential_fields: ClassVar[dict[str, str]] = {
        "user": "text",
        "password": "password",
        "token": "password",
        "seed": "password",
    }
    is_config = True
    category = "config"
    color = "#7CB9E8"
    icon = "bridge.svg"
    inputs = 0
    outputs = 0

    def __init__(self, flow: Any, config: NatsServerConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.servers = parse_servers(config.servers)
        self.users: dict[str, Node] = {}
        self.nc: NATS | None = None
        self.state = "connecting"
        self.detail = ""
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._warned = False

    @property
    def label(self) -> str:
        return self.name or ", ".join(self.servers)

    @property
    def remote(self) -> str:
        """How errors name this server."""
        return f"NATS at {', '.join(self.servers)}"

    @property
    def is_connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    # ----- users ----------------------------------------------------------------------

    def register(self, node: Node) -> None:
        """A node starts using the connection (the first one opens it)."""
        self.users[node.id] = node
        self._show(node)
        if self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._connect_loop())

    async def deregister(self, node: Node) -> None:
        """A node stops using the connection; after the last one it is closed."""
        self.users.pop(node.id, None)
        if not self.users:
            await self._shutdown()

    async def client(self) -> NATS:
        """The connected client (waits until the first connection is made)."""
        while True:
            await self._ready.wait()
            nc = self.nc
            if nc is not None and not nc.is_closed:
                return nc
            await asyncio.sleep(0.05)

    def secrets(self) -> list[str]:
        creds = self.credentials or {}
        return [str(v) for k, v in creds.items() if v and k in ("password", "token", "seed")]

    def mask(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text

    # ----- connection -----------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        cfg, creds = self.cfg, self.credentials or {}
        opts: dict[str, Any] = {
            "servers": self.servers,
            "name": cfg.name or "plantwire",
            "allow_reconnect": True,
            "max_reconnect_attempts": cfg.maxReconnectAttempts,
            "reconnect_time_wait": cfg.reconnectWait,
            "connect_timeout": cfg.connectTimeout,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            "closed_cb": self._on_closed,
        }
        if cfg.auth == "user":
            user = str(creds.get("user") or creds.get("username") or "")
            if not user:
                raise ValueError("auth 'user' needs a user name in the credentials")
            opts["user"], opts["password"] = user, str(creds.get("password") or "")
        elif cfg.auth == "token":
            token = str(creds.get("token") or "")
            if not token:
                raise ValueError("auth 'token' needs a token in the credentials")
            opts["token"] = token
        elif cfg.auth in ("nkey", "creds"):
            if importlib.util.find_spec("nkeys") is None:
                raise ValueError(f"auth '{cfg.auth}' needs the Python package nkeys installed")
            if cfg.auth == "nkey":
                seed = str(creds.get("seed") or "")
                if not seed:
                    raise ValueError("auth 'nkey' needs the nkey seed in the credentials")
                opts["nkeys_seed_str"] = seed
            else:
                path = Path(cfg.credsFile).expanduser()
                if not path.is_file():
                    raise ValueError(f"credsFile: {path} does not exist")
                opts["user_credentials"] = str(path)
        wants_tls = cfg.usetls or any(s.startswith(("tls://", "wss://")) for s in self.servers)
        if wants_tls:
            tls_node = self.flow.get_node(cfg.tls) if cfg.tls else None
            if cfg.tls and tls_node is None:
                raise ValueError(f"tls: no tls-config node with id '{cfg.tls}'")
            ctx: ssl.SSLContext
            if tls_node is not None and hasattr(tls_node, "ssl_context"):
                ctx = tls_node.ssl_context()
                servername = str(getattr(getattr(tls_node, "cfg", None), "servername", "") or "")
                if servername:
                    opts["tls_hostname"] = servername
            else:
                ctx = ssl.create_default_context()
            opts["tls"] = ctx
        return opts

    async def _connect_loop(self) -> None:
        delay = 0.5
        while not self._closing:
            self._set_state("connecting")
            try:
                opts = self._options()
            except ValueError as exc:
                self._set_state("error", str(exc))
                self.error(f"{self.remote}: {exc}")
                for user in list(self.users.values()):
                    user.error(f"{self.remote}: {exc}")
                return
            nc = NATS()
            self.nc = nc
            try:
                await nc.connect(**opts)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await nc.close()
                raise
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await nc.close()
                if not self._warned:
                    self._warned = True
                    self.warn(f"cannot connect to {self.remote}: {self._why(exc)}")
                self._set_state("disconnected", self._why(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self._warned = False
            self.log(f"connected to {self._where(nc)}")
            self._ready.set()
            self._set_state("connected")
            return

    async def _shutdown(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        nc, self.nc = self.nc, None
        self._ready.clear()
        if nc is not None and not nc.is_closed:
            try:
                if nc.is_connected:
                    await asyncio.wait_for(nc.drain(), 5.0)
                else:
                    await nc.close()
            except Exception:
                with contextlib.suppress(Exception):
                    await nc.close()
        self.state = "closed"

    def _why(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, nats.errors.NoServersError):
            text = "no server could be reached"
        return self.mask(text)

    @staticmethod
    def _where(nc: NATS) -> str:
        url = nc.connected_url
        return f"nats://{url.hostname}:{url.port}" if url is not None else "NATS"

    # ----- client callbacks -----------------------------------------------------------

    async def _on_error(self, exc: Exception) -> None:
        self.detail = self._why(exc)

    async def _on_disconnected(self) -> None:
        if not self._closing and self.state == "connected":
            self.warn(f"lost the connection to {self.remote}; reconnecting")
            self._set_state("disconnected")

    async def _on_reconnected(self) -> None:
        if not self._closing and self.nc is not None:
            self.log(f"reconnected to {self._where(self.nc)}")
            self._set_state("connected")

    async def _on_closed(self) -> None:
        if not self._closing and self._ready.is_set():
            self.error(f"{self.remote}: connection closed after the reconnect attempts ran out")
            self._ready.clear()
            self._set_state("closed")

    def _set_state(self, state: str, detail: str = "") -> None:
        changed = state != self.state
        self.state = state
        if detail:
            self.detail = detail
        if not changed:
            return
        for user in list(self.users.values()):
            self._show(user)
            hook = getattr(user, "nats_state", None)
            if hook is not None:
                try:
                    hook(state)
                except Exception as exc:
                    user.error(exc)

    def _show(self, user: Node) -> None:
        fill, shape, text = STATUS.get(self.state, STATUS["connecting"])
        user.status(fill, shape, text)

    async def close(self, removed: bool) -> None:
        self.users.clear()
        await self._shutdown()


def find_server(node: Node, ref: str) -> NatsServerNode | None:
    """The NatsServerNode ``ref`` named in ``node``'s ``server`` field; None (with a red status and
    an error to catch nodes) when there is none."""
    return find_config_node(
        node,
        NatsServerNode,
        "server",
        ref,
        f"no nats-server config node with id '{ref}'",
        "no server",
    )
