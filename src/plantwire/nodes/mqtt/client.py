"""One MQTT connection (gmqtt), shared by every node that uses a broker config.

    conn = MqttConnection(MqttOptions(host="127.0.0.1", port=1883, client_id="x",
                                      will=WillSpec("t/state", b"offline", 1, True)))
    conn.add_state_listener(lambda state, detail: ...)   # "connecting"/"connected"/"disconnected"
    await conn.start()                  # connects in the background, reconnects with backoff
    await conn.wait_connected(5.0)      # True once connected
    sub = conn.subscribe("a/+/c", 1, on_message)   # on_message(MqttMessage); renewed on reconnect
    await conn.publish("a/b", b"payload", qos=1, retain=False, properties={...})
    conn.unsubscribe(sub)
    await conn.stop()                   # sends the close message if configured, disconnects

gmqtt does the protocol; this module owns the reconnect loop (exponential backoff, so
``stop()`` is always prompt), the subscriptions (one broker subscription per filter,
shared by several callbacks and renewed after every reconnect), acknowledgements of
QoS 1/2 publishes and the in-flight window (the broker's receive maximum).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import gmqtt  # type: ignore[import-untyped]

from ._support import (
    Filter,
    InflightWindow,
    MqttError,
    MqttMessage,
    MqttNotConnected,
    MqttOptions,
    Subscription,
    WillSpec,
    WriteBatcher,
    connect_once,
    describe_error,
    make_gmqtt_client,
    publish_packet_qos0,
)
from .topics import (
    from_wire_properties,
    to_wire_properties,
    topic_matches,
    validate_filter,
    validate_publish_topic,
)

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

log = logging.getLogger("plantwire.mqtt")
for _name in ("gmqtt", "plantwire.mqtt.gmqtt"):  # gmqtt logs every packet and drop
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.ERROR)
_WRITE_BUFFER_LIMIT = 1 << 20


class MqttConnection:
    """A supervised MQTT client connection (see the module docstring)."""

    def __init__(self, options: MqttOptions, name: str = "") -> None:
        self.options = options
        self.name = name or f"{options.host}:{options.port}"
        self._state = "disconnected"
        self._detail = ""
        self._listeners: list[Callable[[str, str], None]] = []
        self._filters: dict[str, Filter] = {}
        self._routes: dict[str, tuple[Subscription, ...]] = {}  # topic -> its subscriptions
        self._by_mid: dict[int, Filter] = {}
        self._next_sub_id = 1
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._reasons: dict[int, int] = {}
        self._window = InflightWindow()
        self._pausers: set[str] = set()
        self._connected = False
        self._sub_ids_ok = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._lost_event: asyncio.Event | None = None
        self._connected_event: asyncio.Event | None = None
        self._client: Any = None
        self.server_properties: dict[str, Any] = {}

    # ----- state ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "connecting", "connected" or "disconnected"."""
        return self._state

    @property
    def detail(self) -> str:  # why the connection is down ("" when connected)
        return self._detail

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def v5(self) -> bool:
        return self.options.protocol_version == 5

    def add_state_listener(self, listener: Callable[[str, str], None]) -> None:
        self._listeners.append(listener)

    def remove_state_listener(self, listener: Callable[[str, str], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _set_state(self, state: str, detail: str = "") -> None:
        if state == self._state and detail == self._detail:
            return
        self._state, self._detail = state, detail
        for listener in list(self._listeners):
            try:
                listener(state, detail)
            except Exception:
                log.exception("MQTT %s: state listener failed", self.name)

    # ----- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background (returns at once)."""
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        self._lost_event = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Publish the close message (when connected), disconnect, stop reconnecting."""
        self._stopping = True
        if self._connected and self.options.close is not None:
            try:
                await asyncio.wait_for(self._publish_spec(self.options.close), 2.0)
            except Exception as exc:
                log.warning("MQTT %s: close message not sent: %s", self.name, exc)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        client = self._client
        if client is not None and client._connection is not None:
            try:
                if self._connected:
                    await asyncio.wait_for(client.disconnect(), 2.0)
                else:
                    client._is_active = False
                    client._connection._transport.abort()
            except Exception:
                client._connection._transport.abort()
        self._client = None  # rebuilt from (possibly changed) options on the next start
        self._went_down("stopped")
        self._set_state("disconnected", "stopped")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until connected; False after ``timeout`` seconds."""
        if self._connected:
            return True
        if self._connected_event is None:
            return False
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        except TimeoutError:
            return False
        return self._connected

    def _make_client(self) -> Any:
        o = self.options
        will = None
        if o.will is not None:
            w = o.will
            props = to_wire_properties(w.properties) if self.v5 else {}
            will = gmqtt.Message(w.topic, w.payload, qos=w.qos, retain=w.retain, **props)
        kwargs = to_wire_properties(o.connect_properties) if self.v5 else {}
        return make_gmqtt_client(self, will, kwargs)

    async def _run(self) -> None:
        o = self.options
        delay = o.reconnect_min
        down_logged = False
        assert self._lost_event is not None and self._connected_event is not None
        while not self._stopping:
            self._set_state("connecting", "")
            if self._client is None:
                self._client = self._make_client()
            self._lost_event.clear()
            try:
                await connect_once(self._client, o, self._lost_event)
            except asyncio.CancelledError:
                self._abort_transport()
                raise
            except Exception as exc:
                self._abort_transport()
                detail = describe_error(exc, o.host, o.port)
                self._set_state("disconnected", detail)
                if not down_logged:
                    log.warning("MQTT %s: cannot connect: %s (retrying)", self.name, detail)
                    down_logged = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, o.reconnect_max)
                continue
            delay = o.reconnect_min
            self._on_connected()
            if down_logged:
                log.info("MQTT %s: connected again", self.name)
                down_logged = False
            else:
                log.info("MQTT %s: connected", self.name)
            if o.birth is not None:
                try:
                    await self._publish_spec(o.birth)
                except MqttError as exc:
                    log.warning("MQTT %s: birth message not sent: %s", self.name, exc)
            self._set_state("connected", "")
            await self._lost_event.wait()
            if self._stopping:
                break
            self._went_down("connection lost")
            self._set_state("disconnected", "connection lost")
            log.warning("MQTT %s: connection lost (reconnecting)", self.name)
            down_logged = True
            await asyncio.sleep(o.reconnect_min)

    def _abort_transport(self) -> None:
        conn = self._client._connection if self._client is not None else None
        if conn is not None and not conn.is_closing():
            conn._transport.abort()

    def _on_connected(self) -> None:
        handler = self._client._package_handler
        props = handler._connack_properties
        self.server_properties = from_wire_properties(props)
        limit = handler.id_generator._max
        self._window.limit = max(1, min(limit, 65535) - 2)
        self._sub_ids_ok = self.v5 and (props.get("sub_id_available") or [1])[0] != 0
        WriteBatcher.install(self._client._connection)
        self._connected = True
        self._window.open = True
        self._pausers.clear()
        assert self._connected_event is not None
        self._connected_event.set()
        for flt in self._filters.values():
            self._send_subscribe(flt)
        self._window.wake()

    def _lost(self) -> None:
        if self._lost_event is not None:
            self._lost_event.set()
        if self._connected:
            self._went_down("connection lost")

    def _went_down(self, why: str) -> None:
        """Mark down; fail the publishes waiting for an ack (the caller resends)."""
        self._connected = False
        self._window.open = False
        if self._connected_event is not None:
            self._connected_event.clear()
        self._by_mid.clear()
        for flt in self._filters.values():
            flt.acked.clear()
            flt.mid = None
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(MqttNotConnected(f"{why} before the broker acknowledged"))
        self._window.wake()

    def pause_reading(self, who: str) -> bool:
        """Stop reading from the broker until ``resume_reading(who)`` (a consumer is
        behind: TCP backpressure instead of an unbounded queue). False when down."""
        conn = self._client._connection if self._connected else None
        if conn is None or conn.is_closing():
            return False
        self._pausers.add(who)
        conn._transport.pause_reading()
        return True

    def resume_reading(self, who: str) -> None:
        self._pausers.discard(who)
        conn = self._client._connection if self._client is not None else None
        if not self._pausers and conn is not None and not conn.is_closing():
            conn._transport.resume_reading()

    # ----- publishing -----------------------------------------------------------------

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
        reason = validate_publish_topic(topic)
        if reason:
            raise MqttError(reason)
        if qos not in (0, 1, 2):
            raise MqttError(f"invalid QoS {qos!r} (0, 1 or 2)")
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        props = to_wire_properties(properties) if properties and self.v5 else {}
        if not self._connected:
            raise MqttNotConnected(f"not connected to broker {self.name}")
        if qos == 0:
            conn = self._client._connection
            if conn.is_closing():
                raise MqttNotConnected(f"not connected to broker {self.name}")
            if self.v5:
                conn.publish(gmqtt.Message(topic, data, qos=0, retain=retain, **props))
            else:  # the packet built here: no properties, no packet id
                conn._protocol.write_data(publish_packet_qos0(topic, data, retain))
            transport = conn._transport
            while transport.get_write_buffer_size() > _WRITE_BUFFER_LIMIT:
                if transport.is_closing():
                    raise MqttNotConnected(f"connection to broker {self.name} lost")
                await asyncio.sleep(0.001)
            return
        message = gmqtt.Message(topic, data, qos=qos, retain=retain, **props)
        if not await self._window.take():
            raise MqttNotConnected(f"not connected to broker {self.name}")
        try:
            if not self._connected or self._client._connection.is_closing():
                raise MqttNotConnected(f"not connected to broker {self.name}")
            mid, package = self._client._connection.publish(message)
            fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._pending[mid] = fut
            self._client._persistent_storage.push_message(mid, package)
            code = await fut
        finally:
            self._window.release()
        if code >= 0x80:
            raise MqttError(f"broker refused the message on {topic!r} (reason code {code:#x})")

    async def _publish_spec(self, spec: WillSpec) -> None:
        await self.publish(spec.topic, spec.payload, spec.qos, spec.retain, spec.properties)

    def _acked(self, mid: int) -> None:
        fut = self._pending.pop(mid, None)
        code = self._reasons.pop(mid, 0)
        if fut is not None and not fut.done():
            fut.set_result(code)

    def _session_cleared(self, mids: list[int]) -> None:
        ids = self._client._package_handler.id_generator if self._client else None
        for mid in mids:
            if ids is not None:
                ids.free_id(mid)
            fut = self._pending.pop(mid, None)
            if fut is not None and not fut.done():
                fut.set_exception(MqttNotConnected("the broker did not keep the session"))

    # ----- subscribing ----------------------------------------------------------------

    def subscribe(
        self,
        topic_filter: str,
        qos: int,
        callback: Callable[[MqttMessage], None],
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
    ) -> Subscription:
        """Add ``callback`` for ``topic_filter``; subscribes at the broker (now when
        connected, and again after every reconnect). Raises MqttError on a bad filter."""
        reason = validate_filter(topic_filter)
        if reason:
            raise MqttError(reason)
        if qos not in (0, 1, 2):
            raise MqttError(f"invalid QoS {qos!r} (0, 1 or 2)")
        sub = Subscription(
            topic_filter, qos, callback, no_local, retain_as_published, retain_handling
        )
        self._routes = {}
        flt = self._filters.get(topic_filter)
        if flt is None:
            flt = self._filters[topic_filter] = Filter(topic_filter, self._next_sub_id)
            self._next_sub_id += 1
            flt.subs.append(sub)
            self._send_subscribe(flt)
        else:
            before = flt.options()
            flt.subs.append(sub)
            if flt.options() != before:
                self._send_subscribe(flt)
        return sub

    def unsubscribe(self, sub: Subscription, send_unsubscribe: bool = True) -> None:
        """Remove ``sub``; the last one of a filter unsubscribes at the broker unless
        ``send_unsubscribe`` is False (the session keeps it, Node-RED's autoUnsubscribe)."""
        flt = self._filters.get(sub.topic)
        if flt is None or sub not in flt.subs:
            return
        flt.subs.remove(sub)
        self._routes = {}
        if flt.subs:
            return
        del self._filters[sub.topic]
        if send_unsubscribe and self._connected:
            try:
                self._client._connection.unsubscribe(sub.topic)
            except Exception as exc:
                log.debug("MQTT %s: unsubscribe %s failed: %s", self.name, sub.topic, exc)

    async def wait_subscribed(self, sub: Subscription, timeout: float | None = None) -> bool:
        """Wait until the broker acknowledged the subscription of ``sub``."""
        flt = self._filters.get(sub.topic)
        if flt is None:
            return False
        try:
            await asyncio.wait_for(flt.acked.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _send_subscribe(self, flt: Filter) -> None:
        if not self._connected:
            return
        qos, nl, rap, rh = flt.options()
        kwargs: dict[str, Any] = {}
        if self.v5:
            wire = gmqtt.Subscription(flt.filter, qos, nl, rap, rh)
            if self._sub_ids_ok:
                kwargs["subscription_identifier"] = flt.sub_id
        else:
            wire = gmqtt.Subscription(flt.filter, qos)
        flt.acked.clear()
        try:
            mid = self._client._connection.subscribe([wire], **kwargs)
        except Exception as exc:
            log.warning("MQTT %s: cannot subscribe to %s: %s", self.name, flt.filter, exc)
            return
        flt.mid = mid
        self._by_mid[mid] = flt

    def _on_subscribe(self, client: Any, mid: int, granted: Any, properties: Any) -> None:
        flt = self._by_mid.pop(mid, None)
        if flt is None:
            return
        code = granted[0] if granted else 0x80
        flt.granted = code
        if code >= 0x80:
            log.warning(
                "MQTT %s: the broker refused the subscription to %s (code %#x)",
                self.name,
                flt.filter,
                code,
            )
        flt.acked.set()

    def _on_message(
        self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]
    ) -> None:
        retain = bool(properties.get("retain"))
        props = from_wire_properties(properties) if self.v5 else {}
        ids = properties.get("subscription_identifier") if self._sub_ids_ok else None
        self.dispatch(topic, payload, qos, retain, props, ids)

    def dispatch(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        props: dict[str, Any],
        ids: list[int] | None = None,
    ) -> None:
        """Hand a received message to the callbacks of the filters it matches (by
        subscription identifier when the broker sends them)."""
        msg = MqttMessage(topic, payload, qos, retain, props)
        if ids:
            subs: tuple[Subscription, ...] = tuple(
                sub for flt in self._filters.values() if flt.sub_id in ids for sub in flt.subs
            )
        else:
            found = self._routes.get(topic)
            subs = self._route(topic) if found is None else found
        for sub in subs:
            try:
                sub.callback(msg)
            except Exception:
                log.exception("MQTT %s: message handler for %s failed", self.name, topic)

    def _route(self, topic: str) -> tuple[Subscription, ...]:
        """The subscriptions whose filter matches ``topic``, remembered until the
        subscriptions change (topic matching once per topic, not per message)."""
        subs = tuple(
            sub
            for flt in self._filters.values()
            if topic_matches(flt.filter, topic)
            for sub in flt.subs
        )
        if len(self._routes) >= 4096:
            self._routes = {}
        self._routes[topic] = subs
        return subs
