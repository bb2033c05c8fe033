"""One MQTT connection (gmqtt), shared by every node that uses a broker config.

INTERFACE SKELETON — being implemented. The API other packages rely on:

    conn = MqttConnection(MqttOptions(host="127.0.0.1", port=1883, client_id="x",
                                      will=WillSpec("t/state", b"offline", 1, True)))
    conn.add_state_listener(lambda state, detail: ...)   # "connecting"/"connected"/"disconnected"
    await conn.start()                  # connects in the background, reconnects with backoff
    await conn.wait_connected(5.0)      # True once connected
    sub = conn.subscribe("a/+/c", 1, on_message)   # on_message(MqttMessage), re-subscribed on reconnect
    await conn.publish("a/b", b"payload", qos=1, retain=False, properties={...})
    conn.unsubscribe(sub)
    await conn.stop()                   # sends the close message if configured, disconnects
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plantwire.runtime.errors import PlantwireError

__all__ = [
    "MqttConnection",
    "MqttError",
    "MqttMessage",
    "MqttNotConnected",
    "MqttOptions",
    "Subscription",
    "WillSpec",
    "topic_matches",
]


class MqttError(PlantwireError):
    """An MQTT operation failed (with the broker's reason where it gave one)."""


class MqttNotConnected(MqttError):
    """publish() while the connection is down."""


@dataclass
class MqttMessage:
    """A received message. ``properties``: MQTT 5 properties by Node-RED's names
    (contentType, userProperties, responseTopic, correlationData, messageExpiryInterval,
    payloadFormatIndicator, subscriptionIdentifier, topicAlias)."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class WillSpec:
    """A message the connection publishes (will, birth or close message)."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class MqttOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""
    protocol_version: int = 4  # 4 = MQTT 3.1.1, 5 = MQTT 5
    keepalive: int = 60
    clean_session: bool = True
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    will: WillSpec | None = None
    birth: WillSpec | None = None
    close: WillSpec | None = None
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0


class Subscription:
    """Handle returned by :meth:`MqttConnection.subscribe`."""

    topic: str
    qos: int
    callback: Callable[[MqttMessage], None]


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching with ``+`` and ``#``; ``$share/<group>/`` prefixes are ignored."""
    raise NotImplementedError


class MqttConnection:
    def __init__(self, options: MqttOptions, name: str = "") -> None:
        raise NotImplementedError

    @property
    def state(self) -> str:
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    def add_state_listener(self, listener: Callable[[str, str], None]) -> None:
        raise NotImplementedError

    def remove_state_listener(self, listener: Callable[[str, str], None]) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def wait_connected(self, timeout: float | None = None) -> bool:
        raise NotImplementedError

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 0,
        retain: bool = False,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """Publish; for QoS 1/2 returns when the broker acknowledged. Raises
        MqttNotConnected when down, MqttError on an invalid topic or a broker refusal."""
        raise NotImplementedError

    def subscribe(
        self, topic_filter: str, qos: int, callback: Callable[[MqttMessage], None]
    ) -> Subscription:
        raise NotImplementedError

    def unsubscribe(self, sub: Subscription) -> None:
        raise NotImplementedError
