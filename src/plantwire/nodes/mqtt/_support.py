"""Data types and gmqtt adapters of :mod:`plantwire.nodes.mqtt.client`.

Import the public names from ``plantwire.nodes.mqtt.client``; this module is its
implementation detail.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gmqtt  # type: ignore[import-untyped]
from gmqtt.storage import PersistentStorage  # type: ignore[import-untyped]

from plantwire.runtime.errors import PlantwireError

__all__ = [
    "AckStore",
    "Filter",
    "GmqttClient",
    "InflightWindow",
    "MqttError",
    "MqttMessage",
    "MqttNotConnected",
    "MqttOptions",
    "Subscription",
    "WillSpec",
    "WriteBatcher",
    "connect_once",
    "describe_error",
    "make_gmqtt_client",
    "publish_packet_qos0",
]


class MqttError(PlantwireError):
    """An MQTT operation failed (with the broker's reason where it gave one)."""


class MqttNotConnected(MqttError):
    """publish() while the connection is down."""


@dataclass(slots=True)
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
    """Everything needed to connect; ``connect_properties`` are MQTT 5 CONNECT
    properties by Node-RED's names (sessionExpiryInterval, userProperties, ...)."""

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
    connect_timeout: float = 15.0
    connect_properties: dict[str, Any] = field(default_factory=dict)


class Subscription:
    """Handle returned by :meth:`MqttConnection.subscribe`."""

    def __init__(
        self,
        topic: str,
        qos: int,
        callback: Callable[[MqttMessage], None],
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
    ) -> None:
        self.topic = topic
        self.qos = qos
        self.callback = callback
        self.no_local = no_local
        self.retain_as_published = retain_as_published
        self.retain_handling = retain_handling

    def __repr__(self) -> str:
        return f"<Subscription {self.topic} qos {self.qos}>"


class InflightWindow:
    """At most ``limit`` unacknowledged QoS 1/2 publishes; waiters are served in order.

    gmqtt raises OverflowError instead of waiting when the broker's receive maximum is
    reached, so publish() takes a slot here first.
    """

    def __init__(self) -> None:
        self.limit = 65533
        self.used = 0
        self.open = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def take(self) -> bool:
        """Wait for a free slot; False when the window was closed (connection down)."""
        while self.used >= self.limit or self._waiters:
            if not self.open:
                return False
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
            if self.used < self.limit:
                break
        if not self.open:
            return False
        self.used += 1
        return True

    def release(self) -> None:
        self.used -= 1
        self.wake()

    def wake(self) -> None:
        """Wake as many waiters as there are free slots (all of them when closed)."""
        free = self.limit - self.used if self.open else len(self._waiters)
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


class Filter:
    """One broker subscription and the callbacks that share it."""

    __slots__ = ("acked", "filter", "granted", "mid", "sub_id", "subs")

    def __init__(self, topic_filter: str, sub_id: int) -> None:
        self.filter = topic_filter
        self.sub_id = sub_id
        self.subs: list[Subscription] = []
        self.mid: int | None = None
        self.granted: int | None = None
        self.acked = asyncio.Event()

    def options(self) -> tuple[int, bool, bool, int]:
        first = self.subs[0]
        qos = max(s.qos for s in self.subs)
        return qos, first.no_local, first.retain_as_published, first.retain_handling


class GmqttClient(gmqtt.Client):  # type: ignore[misc]
    """gmqtt's client with its own reconnect turned into a signal to our loop."""

    owner: Any = None

    async def reconnect(self, delay: bool = False) -> None:
        if self.owner is not None:
            self.owner._lost()


class AckStore(PersistentStorage):  # type: ignore[misc]
    """gmqtt's store of unacknowledged packets that also wakes publish() on an ack."""

    def __init__(self, owner: Any) -> None:
        super().__init__()
        self._owner = owner

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        self._owner._acked(mid)

    def clear(self) -> None:
        mids = [mid for mid, _ in self.get_all()]
        super().clear()
        self._owner._session_cleared(mids)


def describe_error(exc: BaseException, host: str, port: int) -> str:
    """A plant engineer's description of why connecting failed."""
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {host}:{port} (is the broker running?)"
    if isinstance(exc, TimeoutError):
        return f"no answer from {host}:{port} in time"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate was not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.__class__.__name__ == "gaierror":
        return f"cannot resolve host name {host!r}"
    text = str(exc) or type(exc).__name__
    return text


def make_gmqtt_client(owner: Any, will: Any, connect_properties: dict[str, Any]) -> Any:
    """A gmqtt client wired to ``owner`` (an MqttConnection)."""
    o = owner.options
    client = GmqttClient(
        o.client_id or None,
        clean_session=o.clean_session,
        will_message=will,
        persistent_storage=AckStore(owner),
        logger=logging.getLogger("plantwire.mqtt.gmqtt"),
        **connect_properties,
    )
    client.owner = owner
    if o.username is not None:
        client.set_auth_credentials(o.username, o.password)
    client.on_message = owner._on_message
    client.on_subscribe = owner._on_subscribe
    client.on_disconnect = lambda *_a: owner._lost()
    handler = client._package_handler
    if o.protocol_version != 5:
        handler._handler_cache[0x30] = _qos0_publish(owner, handler.__get_handler__(0x30))
    # gmqtt drops the reason code of PUBACK / PUBREC: note it before gmqtt handles them
    for cmd in (0x40, 0x50):
        handler._handler_cache[cmd] = _reason_peeker(owner._reasons, handler.__get_handler__(cmd))
    return client


def _qos0_publish(
    owner: Any, original: Callable[[int, bytes], None]
) -> Callable[[int, bytes], None]:
    """gmqtt's PUBLISH handler with a short path for QoS 0 with MQTT 3.1.1 (no
    properties, no acknowledgement): topic and payload straight to ``owner.dispatch``.
    Everything else (QoS 1/2, a topic that is not UTF-8, a short packet) goes to gmqtt."""
    dispatch = owner.dispatch

    def handle(cmd: int, packet: bytes) -> None:
        end = 2 + int.from_bytes(packet[:2], "big")
        if cmd & 0x06 or end > len(packet) or end == 2:
            original(cmd, packet)
            return
        try:
            topic = packet[2:end].decode("utf-8")
        except UnicodeDecodeError:
            original(cmd, packet)
            return
        dispatch(topic, packet[end:], 0, bool(cmd & 0x01), {})

    return handle


def publish_packet_qos0(topic: str, payload: bytes, retain: bool) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet with QoS 0 (what gmqtt builds, without its Message
    object and logging per message)."""
    name = topic.encode("utf-8")
    size = 2 + len(name) + len(payload)
    head = bytearray((0x31 if retain else 0x30,))
    while True:  # remaining length, a variable byte integer
        byte, size = size & 0x7F, size >> 7
        head.append(byte | 0x80 if size else byte)
        if not size:
            break
    head += len(name).to_bytes(2, "big")
    head += name
    return bytes(head) + payload


_WRITE_THROUGH_GAP = 50e-6  # seconds since the previous publish: write at once


class WriteBatcher:
    """Coalesces the PUBLISH packets written in one event-loop turn into one socket
    write (one ``send()`` for a burst instead of one per message).

    Installed on a gmqtt connection once it is up. Packets keep their order: any
    other packet (PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT...) first flushes what is
    buffered and is written at once, so a disconnect never overtakes a publish. A
    publish that follows the previous one after a pause (messages trickling in, not a
    burst) is written at once too: waiting for the end of the loop turn would only add
    a turn."""

    __slots__ = ("_connection", "_last", "_loop", "_parts", "_transport")

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._transport = connection._transport
        self._loop = asyncio.get_running_loop()
        self._parts: list[bytes] = []
        self._last = 0.0

    @classmethod
    def install(cls, connection: Any) -> None:
        protocol = connection._protocol
        protocol.write_data = cls(connection).write

    def write(self, data: bytes) -> None:
        if data[0] & 0xF0 != 0x30:  # not a PUBLISH: keep order, write now
            self.flush()
            self._send(data)
            return
        now = time.monotonic()
        last, self._last = self._last, now
        if not self._parts:
            if now - last > _WRITE_THROUGH_GAP:
                self._send(data)
                return
            self._loop.call_soon(self.flush)
        self._parts.append(data)

    def flush(self) -> None:
        if self._parts:
            parts, self._parts = self._parts, []
            self._send(parts[0] if len(parts) == 1 else b"".join(parts))

    def _send(self, data: bytes) -> None:
        self._connection._last_data_out = time.monotonic()
        transport = self._transport
        if not transport.is_closing():
            transport.write(data)


def _reason_peeker(
    reasons: dict[int, int], original: Callable[[int, bytes], None]
) -> Callable[[int, bytes], None]:
    def handle(cmd: int, packet: bytes) -> None:
        if len(packet) > 2:
            reasons[int.from_bytes(packet[:2], "big")] = packet[2]
        original(cmd, packet)

    return handle


async def connect_once(client: Any, o: Any, lost_event: asyncio.Event) -> None:
    """One connection attempt of gmqtt ``client`` with MqttOptions ``o``; gives up early
    when the broker closes the connection before CONNACK (``lost_event``)."""
    attempt = asyncio.ensure_future(
        client.connect(
            o.host, o.port, ssl=o.tls or False, keepalive=o.keepalive, version=o.protocol_version
        )
    )
    lost = asyncio.ensure_future(lost_event.wait())
    try:
        done, _ = await asyncio.wait(
            {attempt, lost}, timeout=o.connect_timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        lost.cancel()
        if not attempt.done():
            attempt.cancel()
    if attempt in done:
        attempt.result()
    elif not done:
        raise TimeoutError()
    if lost_event.is_set() or not client.is_connected:
        hint = " (is the TLS client certificate accepted?)" if o.tls else ""
        raise ConnectionError(f"the broker closed the connection while connecting{hint}")
