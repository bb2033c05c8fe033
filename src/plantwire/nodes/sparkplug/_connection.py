"""One MQTT session per Sparkplug node, renewed with a fresh will after every loss.

Sparkplug ties the will of a connection to the session: the edge node's NDEATH carries
the bdSeq of its NBIRTH, the host's STATE offline the timestamp of its STATE online. A
reconnect is a new session, so :class:`SparkplugSession` builds a new
:class:`MqttConnection` (with new options from ``make_options``) whenever the
connection is lost, instead of letting the client reconnect with the old will.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from plantwire.nodes.mqtt.client import MqttConnection, MqttMessage, MqttOptions, Subscription

if TYPE_CHECKING:
    from plantwire.runtime.node import Node

__all__ = ["SparkplugSession", "broker_options"]

log = logging.getLogger("plantwire.sparkplug")


def _field(cfg: Any, name: str, default: Any) -> Any:
    value = getattr(cfg, name, None)
    if value is None and isinstance(getattr(cfg, "model_extra", None), dict):
        value = cfg.model_extra.get(name)
    return default if value is None or value == "" else value


def broker_options(node: Node, broker_id: str, client_id: str) -> MqttOptions:
    """Connection options from the ``mqtt-broker`` config node ``broker_id``: host,
    port, TLS, protocol version, keepalive and credentials; our own client id."""
    broker = node.flow.get_node(broker_id) if broker_id else None
    if broker is None:
        raise ValueError(f"the MQTT broker config node {broker_id!r} does not exist")
    helper = getattr(broker, "build_options", None)
    if callable(helper):  # the broker node knows its options best (TLS config, MQTT 5)
        opts = helper()
        if isinstance(opts, MqttOptions):
            opts.client_id = client_id
            opts.will = opts.birth = opts.close = None
            opts.clean_session = True
            return opts
    cfg = broker.config
    host = str(_field(cfg, "broker", "127.0.0.1"))
    port = int(float(_field(cfg, "port", 1883)))
    tls: ssl.SSLContext | None = None
    if str(_field(cfg, "usetls", False)).lower() == "true":
        tls_node = (
            node.flow.get_node(str(_field(cfg, "tls", ""))) if _field(cfg, "tls", "") else None
        )
        make = getattr(tls_node, "ssl_context", None)
        ctx = make() if callable(make) else None
        tls = ctx if isinstance(ctx, ssl.SSLContext) else ssl.create_default_context()
    version = int(float(_field(cfg, "protocolVersion", 4)))
    creds = broker.credentials or {}
    return MqttOptions(
        host=host,
        port=port,
        client_id=client_id,
        protocol_version=5 if version == 5 else 4,
        keepalive=int(float(_field(cfg, "keepalive", 60))),
        clean_session=True,
        username=(str(creds["user"]) if creds.get("user") else None),
        password=(str(creds["password"]) if creds.get("password") else None),
        tls=tls,
    )


class SparkplugSession:
    """A supervised MQTT connection for a Sparkplug node (see the module docstring).

    ``make_options()`` is called for every new session (it sets the will);
    ``on_up()`` runs once a session is connected and subscribed; ``on_down()`` when it
    is lost. Subscriptions given to :meth:`subscribe` hold for every session.
    """

    def __init__(
        self,
        node: Node,
        make_options: Callable[[], MqttOptions],
        on_up: Callable[[], Awaitable[None]],
        on_down: Callable[[], None],
    ) -> None:
        self.node = node
        self.make_options = make_options
        self.on_up = on_up
        self.on_down = on_down
        self.conn: MqttConnection | None = None
        self._subs: list[tuple[str, int, Callable[[MqttMessage], None]]] = []
        self._handles: list[Subscription] = []
        self._was_up = False
        self._closing = False
        self._renewing = False

    def subscribe(self, topic: str, qos: int, callback: Callable[[MqttMessage], None]) -> None:
        """Subscribe (now and in every later session)."""
        self._subs.append((topic, qos, callback))

    async def start(self) -> None:
        """Open the first session (connects in the background)."""
        self._closing = False
        await self._open()

    async def _open(self) -> None:
        opts = self.make_options()
        conn = MqttConnection(opts, name=f"sparkplug {self.node.id}")
        self.conn = conn
        self._was_up = False
        self._handles = [conn.subscribe(t, q, cb) for t, q, cb in self._subs]
        conn.add_state_listener(lambda state, detail: self._state(conn, state, detail))
        await conn.start()

    def _state(self, conn: MqttConnection, state: str, detail: str) -> None:
        if conn is not self.conn or self._closing:
            return
        if state == "connected":
            self._was_up = True
            self.node.status("green", "dot", "connected")
            self.node.create_task(self._connected(conn))
        elif state == "connecting":
            self.node.status("yellow", "ring", "connecting")
        else:
            self.node.status("red", "ring", detail or "disconnected")
            if self._was_up:
                self._was_up = False
                self.on_down()
                if not self._renewing:
                    self.node.create_task(self._renew(conn))

    async def _connected(self, conn: MqttConnection) -> None:
        for sub in self._handles:
            await conn.wait_subscribed(sub, 10.0)
        if conn is self.conn and conn.connected and not self._closing:
            await self.on_up()

    async def _renew(self, old: MqttConnection) -> None:
        """The session was lost: a new connection with a new will."""
        self._renewing = True
        try:
            with contextlib.suppress(Exception):
                await old.stop()
            if not self._closing and old is self.conn:
                await self._open()
        finally:
            self._renewing = False

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Publish on the current session (raises MqttNotConnected when down)."""
        conn = self.conn
        if conn is None:
            from plantwire.nodes.mqtt.client import MqttNotConnected

            raise MqttNotConnected("not connected to the MQTT broker")
        await conn.publish(topic, payload, qos=qos, retain=retain)

    @property
    def connected(self) -> bool:
        return self.conn is not None and self.conn.connected

    async def stop(self) -> None:
        """Close the session (the connection sends its close message, if any)."""
        self._closing = True
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.stop(), 5.0)
            except Exception as exc:
                log.debug("sparkplug %s: stop: %s", self.node.id, exc)
