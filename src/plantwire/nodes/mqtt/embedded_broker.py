"""mqtt-embedded-broker: an MQTT broker (amqtt) running inside the Plantwire process."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import logging
import socket
from dataclasses import dataclass, field
from typing import Any, ClassVar

from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin  # type: ignore[import-untyped]
from pydantic import Field, field_validator

from plantwire.runtime.node import Node
from plantwire.spec import LooseInt, NodeConfig, node_type

__all__ = ["EmbeddedBrokerConfig", "EmbeddedBrokerNode", "PasswordAuthPlugin"]

log = logging.getLogger("plantwire.mqtt.broker")

_SHUTDOWN_TIMEOUT = 10.0


class EmbeddedBrokerConfig(NodeConfig):
    host: str = Field(
        "127.0.0.1",
        description="Address to listen on: 127.0.0.1 accepts clients of this machine only, "
        "0.0.0.0 every IPv4 interface.",
    )
    port: LooseInt = Field(1883, description="TCP port to listen on (1883 is MQTT's default).")
    sessionExpiry: LooseInt = Field(
        86400,
        description="Seconds a disconnected persistent session (clean session off) and its "
        "queued messages are kept; 0 keeps them until the broker stops.",
    )

    @field_validator("host", mode="before")
    @classmethod
    def _host(cls, value: Any) -> Any:
        return "127.0.0.1" if value is None or str(value).strip() == "" else str(value).strip()

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"port must be between 1 and 65535, not {value}")
        return value

    @field_validator("sessionExpiry")
    @classmethod
    def _expiry(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"sessionExpiry must be 0 or more seconds, not {value}")
        return value


class PasswordAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """amqtt authentication plugin: one user name and password, given in memory."""

    @dataclass
    class Config:
        username: str = ""
        password: str = field(default="", repr=False)

    async def authenticate(self, *, session: Any) -> bool:
        cfg = self.context.config
        user = (session.username or "").encode()
        password = (session.password or "").encode()
        ok_user = hmac.compare_digest(user, cfg.username.encode())
        ok_password = hmac.compare_digest(password, cfg.password.encode())
        return ok_user and ok_password


@node_type("mqtt-embedded-broker")
class EmbeddedBrokerNode(Node):
    """Runs an MQTT broker inside Plantwire, so a small installation needs no separate
    Mosquitto: mqtt in / mqtt out nodes (and any other client on the network) connect to
    it through an mqtt-broker config node pointing at its host and port.

    The broker is amqtt and speaks **MQTT 3.1.1 only** (clients must not ask for MQTT 5).
    QoS 0, 1 and 2, retained messages, last will and persistent sessions work; retained
    messages and sessions live in memory and are gone when the broker restarts.

    Authentication: with a user name set in the credentials, every client must log in
    with that user name and password; without one, anonymous clients are accepted.

    Status: green "listening on host:port", red when the port is taken (the error names
    the port; the rest of the flows keep running).
    """

    credential_fields: ClassVar[dict[str, str] | None] = {"user": "text", "password": "password"}

    config_model = EmbeddedBrokerConfig
    category = "network"
    inputs = 0
    outputs = 0
    color = "#d8bfd8"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: EmbeddedBrokerConfig) -> None:
        super().__init__(flow, config)
        self.host = config.host
        self.port = config.port
        self.session_expiry = config.sessionExpiry
        self.broker: Any = None

    def broker_config(self) -> dict[str, Any]:
        """The amqtt configuration (no files): one TCP listener and the auth plugin."""
        user = str(self.credentials.get("user") or "")
        password = str(self.credentials.get("password") or "")
        if user:
            auth_path = f"{PasswordAuthPlugin.__module__}.{PasswordAuthPlugin.__qualname__}"
            auth: dict[str, Any] = {auth_path: {"username": user, "password": password}}
        else:
            auth = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        bind = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return {
            "listeners": {"default": {"type": "tcp", "bind": bind}},
            "session_expiry_interval": self.session_expiry or None,
            "plugins": auth,
        }

    async def start(self) -> None:
        where = f"{self.host}:{self.port}"
        self.status("yellow", "ring", "starting")
        problem = _port_problem(self.host, self.port)
        if problem is None:
            broker = Broker(self.broker_config())
            try:
                await broker.start()
            except Exception as exc:
                problem = _port_problem(self.host, self.port) or str(exc.__cause__ or exc)
                with contextlib.suppress(Exception):
                    await broker.plugins_manager.close()
            else:
                self.broker = broker
        if problem is not None:
            self.status("red", "ring", f"port {self.port} unavailable")
            self.error(f"the embedded MQTT broker cannot listen on {where}: {problem}")
            return
        self.status("green", "dot", f"listening on {where}")
        self.log(f"MQTT broker (MQTT 3.1.1) listening on {where}")

    async def close(self, removed: bool) -> None:
        broker, self.broker = self.broker, None
        if broker is None:
            return
        try:
            await asyncio.wait_for(broker.shutdown(), _SHUTDOWN_TIMEOUT)
        except Exception as exc:
            self.warn(f"the embedded MQTT broker did not stop cleanly: {exc}")
            for server in getattr(broker, "_servers", {}).values():  # free the port anyway
                with contextlib.suppress(Exception):
                    server.instance.close()
        self.status({})


def _port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in words), or None when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is already in use (is another MQTT broker running?)"
            if exc.errno == errno.EACCES:
                return f"no permission to use port {port} (ports below 1024 need privileges)"
            return f"cannot use address {host} port {port}: {exc.strerror or exc}"
    return None
