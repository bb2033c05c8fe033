"""opcua-client: the config node that owns one OPC UA session shared by its users."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from plantwire.runtime.node import Node
from plantwire.spec import LooseFloat, NodeConfig, choices, node_type

from ._pki import TrustList, ensure_own_certificate
from .client import ClientSettings, OpcUaConnection

__all__ = ["OpcUaClientConfig", "OpcUaClientNode", "status_for"]

POLICIES = ("None", "Basic256Sha256")
MODES = ("None", "Sign", "SignAndEncrypt")
AUTHS = ("anonymous", "username", "certificate")


def status_for(state: str, detail: str) -> tuple[str, str, str]:
    """Node status (fill, shape, text) for a connection state."""
    if state == "connected":
        return ("green", "dot", "connected")
    if state == "connecting":
        return ("yellow", "ring", "connecting")
    if "untrusted" in detail and "does not trust" not in detail:
        return ("red", "ring", "untrusted server certificate")
    if "does not trust our client certificate" in detail:
        return ("red", "ring", "server does not trust us")
    if "rejected the user" in detail:
        return ("red", "ring", "login rejected")
    return ("red", "ring", "disconnected")


class OpcUaClientConfig(NodeConfig):
    """The opcua-client config node as it appears in flows.json."""

    endpoint: str = Field(
        "opc.tcp://localhost:4840",
        description="Endpoint URL of the server (opc.tcp://host:port/path).",
    )
    securityPolicy: str = Field(
        "None",
        description="Security policy: None or Basic256Sha256.",
        json_schema_extra=choices(*POLICIES),
    )
    securityMode: str = Field(
        "None",
        description="Message security mode: None, Sign or SignAndEncrypt.",
        json_schema_extra=choices(*MODES),
    )
    authType: str = Field(
        "anonymous",
        json_schema_extra=choices(*AUTHS),
        description="User authentication: anonymous, username (user/password from the "
        "credentials) or certificate (the user certificate, or the application certificate).",
    )
    certFile: str = Field(
        "",
        description="Application certificate (DER or PEM). Empty: one is generated under "
        "<data dir>/pki/opcua/client/own/.",
    )
    keyFile: str = Field("", description="Private key of the application certificate (PEM).")
    userCertFile: str = Field(
        "", description="Certificate for certificate authentication (empty: the application one)."
    )
    userKeyFile: str = Field("", description="Private key for certificate authentication.")
    trustList: str = Field(
        "",
        description="Trusted server certificates: a folder of .der/.pem files, or PEM text. "
        "The folder <data dir>/pki/opcua/client/trusted/ is always trusted as well.",
    )
    applicationUri: str = Field(
        "", description="Application URI (empty: urn:plantwire:<host name>:client)."
    )
    timeout: LooseFloat = Field(5.0, description="Seconds to wait for each answer.")
    reconnectMaxDelay: LooseFloat = Field(
        5.0, description="Longest wait between reconnect attempts, seconds (backoff with jitter)."
    )
    watchdog: LooseFloat = Field(
        1.0, description="Seconds between checks that the server is still there."
    )

    @model_validator(mode="after")
    def _check(self) -> OpcUaClientConfig:
        if not self.endpoint.startswith("opc.tcp://"):
            raise ValueError(f"endpoint: '{self.endpoint}' is not an opc.tcp:// URL")
        if self.securityPolicy not in POLICIES:
            raise ValueError(
                f"securityPolicy: '{self.securityPolicy}' is not None or Basic256Sha256"
            )
        if self.securityMode not in MODES:
            raise ValueError(
                f"securityMode: '{self.securityMode}' is not None, Sign or SignAndEncrypt"
            )
        if (self.securityPolicy == "None") != (self.securityMode == "None"):
            raise ValueError(
                "securityMode: use mode None with policy None, and Sign or SignAndEncrypt "
                "with Basic256Sha256"
            )
        if self.authType not in AUTHS:
            raise ValueError(
                f"authType: '{self.authType}' is not anonymous, username or certificate"
            )
        if bool(self.certFile) != bool(self.keyFile):
            raise ValueError("certFile/keyFile: give both the certificate and its key, or neither")
        for name in ("timeout", "reconnectMaxDelay", "watchdog"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be more than 0 seconds")
        return self


@node_type("opcua-client")
class OpcUaClientNode(Node):
    """A session with an OPC UA server, shared by every OPC UA node that uses it.

    It connects when the first of them starts and reconnects with backoff after a
    failure; polled reads of all nodes go out together, subscriptions are created again
    after every reconnect. With Basic256Sha256 the application certificate (generated
    under ``<data dir>/pki/opcua/client/own/`` when none is given) identifies Plantwire
    to the server, and the server's certificate must be in the trust list: an untrusted
    one is refused and saved in ``pki/opcua/client/rejected/`` - move it to
    ``pki/opcua/client/trusted/`` (or the trust list folder) to trust that server."""

    config_model = OpcUaClientConfig
    credential_fields: ClassVar[dict[str, str]] = {"user": "text", "password": "password"}
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0

    def __init__(self, flow: Any, config: OpcUaClientConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.users: dict[str, Node] = {}
        self.conn: OpcUaConnection | None = None
        self._last_detail = ""
        self._listeners: list[Callable[[str, str], None]] = []

    @property
    def pki_dir(self) -> Path:
        """``<data dir>/pki/opcua/client``."""
        return Path(self.flow.runtime.settings.data_dir) / "pki" / "opcua" / "client"

    def settings(self) -> ClientSettings:
        """Connection settings from the config, credentials and the PKI folders."""
        cfg = self.cfg
        app_uri = cfg.applicationUri or f"urn:plantwire:{socket.gethostname()}:client"
        cert = Path(cfg.certFile).expanduser() if cfg.certFile else None
        key = Path(cfg.keyFile).expanduser() if cfg.keyFile else None
        if cert is None and (cfg.securityPolicy != "None" or cfg.authType == "certificate"):
            cert, key = ensure_own_certificate(
                self.pki_dir / "own",
                app_uri,
                f"Plantwire client {socket.gethostname()}",
                server=False,
            )
        trust = TrustList(folders=[self.pki_dir / "trusted"])
        text = cfg.trustList.strip()
        if text.startswith("-----BEGIN"):
            trust.pem = text
        elif text:
            trust.folders.append(Path(text).expanduser())
        (self.pki_dir / "trusted").mkdir(parents=True, exist_ok=True)
        creds = self.credentials or {}
        return ClientSettings(
            endpoint=cfg.endpoint,
            policy=cfg.securityPolicy,
            mode=cfg.securityMode,
            auth=cfg.authType,
            username=str(creds.get("user") or ""),
            password=str(creds.get("password") or ""),
            cert_path=cert,
            key_path=key,
            user_cert_path=Path(cfg.userCertFile).expanduser() if cfg.userCertFile else None,
            user_key_path=Path(cfg.userKeyFile).expanduser() if cfg.userKeyFile else None,
            trust=trust,
            rejected_dir=self.pki_dir / "rejected",
            application_uri=app_uri,
            timeout=cfg.timeout,
            backoff_max=cfg.reconnectMaxDelay,
            watchdog=cfg.watchdog,
        )

    def connection(self) -> OpcUaConnection:
        """The shared connection (made on first use; started by :meth:`register`)."""
        if self.conn is None:
            self.conn = OpcUaConnection(self.name or self.cfg.endpoint, self.settings())
            self.conn.coordinator.add_state_listener(self._on_state)
        return self.conn

    def add_state_listener(self, listener: Callable[[str, str], None]) -> None:
        """``listener(state, detail)`` on every connection state change (and now)."""
        self._listeners.append(listener)
        conn = self.conn
        listener(
            conn.coordinator.state if conn else "stopped",
            conn.coordinator.last_error if conn else "",
        )

    def remove_state_listener(self, listener: Callable[[str, str], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _on_state(self, state: str, detail: str) -> None:
        for user in list(self.users.values()):
            user.status(*status_for(state, detail))
        if state == "connected":
            self._last_detail = ""
        elif detail and detail != self._last_detail:
            self._last_detail = detail
            for user in list(self.users.values()):
                text = detail if self.cfg.endpoint in detail else f"{self.cfg.endpoint}: {detail}"
                user.error(f"OPC UA {text}")
        for listener in list(self._listeners):
            listener(state, detail)

    async def register(self, node: Node) -> OpcUaConnection:
        """A node starts using the session; the first one opens it."""
        conn = self.connection()
        self.users[node.id] = node
        node.status(*status_for(conn.coordinator.state, conn.coordinator.last_error))
        if len(self.users) == 1:
            await conn.start()
        return conn

    async def deregister(self, node: Node) -> None:
        """A node stops using the session; after the last one it is closed."""
        self.users.pop(node.id, None)
        if not self.users and self.conn is not None:
            await self.conn.stop()

    async def close(self, removed: bool) -> None:
        if self.conn is not None:
            await self.conn.stop()
            self.conn.coordinator.remove_state_listener(self._on_state)
            self.conn = None
        self.users.clear()
