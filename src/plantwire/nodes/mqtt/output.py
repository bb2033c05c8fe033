"""mqtt out: publish messages to a broker; store-and-forward while it is unreachable."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import struct
from json.encoder import encode_basestring
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import js_number_to_string, to_js_string
from plantwire.expressions.fastjson import js_json_fast
from plantwire.nodes.common.outbox import OutboxConfig
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.runtime.spool import Forwarder, Rejected, Spool
from plantwire.spec import config_ref, node_type

from .broker import MqttBrokerNode, user_properties
from .client import MqttConnection, MqttError, MqttNotConnected
from .topics import validate_publish_topic

__all__ = ["MqttOutConfig", "MqttOutNode", "js_json", "payload_bytes"]

log = logging.getLogger("plantwire.mqtt")
_HEAD = struct.Struct("!I")


def js_json(value: Any) -> str:
    """``JSON.stringify(value)`` (numbers as JavaScript prints them, Buffers as objects)."""
    out = _js_json(value)
    return "null" if out is None else out


def _js_json(value: Any) -> str | None:
    if value is None:
        return "null"
    if value is MISSING or callable(value):
        return None
    if isinstance(value, str):
        return str(encode_basestring(value))
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number_to_string(value) if math.isfinite(value) else "null"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            text = _js_json(item)
            if text is not None:
                parts.append(f"{encode_basestring(str(key))}:{text}")
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_js_json(v) or "null" for v in value) + "]"
    if isinstance(value, bytes | bytearray):
        return '{"type":"Buffer","data":[' + ",".join(map(str, value)) + "]}"
    if isinstance(value, _dt.datetime):
        utc = value.astimezone(_dt.UTC) if value.tzinfo else value
        return '"' + utc.strftime("%Y-%m-%dT%H:%M:%S.") + f'{utc.microsecond // 1000:03d}Z"'
    return str(encode_basestring(str(value)))


def payload_bytes(payload: Any) -> bytes:
    """msg.payload as Node-RED publishes it: Buffer as is, objects as JSON, others as text."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if payload is None or payload is MISSING:
        return b""
    if isinstance(payload, bytearray):
        return bytes(payload)
    if isinstance(payload, dict | list):
        fast = js_json_fast(payload)  # orjson where it gives the same bytes
        return fast if fast is not None else js_json(payload).encode("utf-8")
    return to_js_string(payload).encode("utf-8")


def encode_item(topic: str, payload: bytes, qos: int, retain: bool, props: dict[str, Any]) -> bytes:
    """One publish as a spool item."""
    if "correlationData" in props:
        props = {**props, "correlationData": props["correlationData"].hex()}
    head = json.dumps([topic, qos, retain, props], separators=(",", ":")).encode()
    return _HEAD.pack(len(head)) + head + payload


def decode_item(item: bytes) -> tuple[str, bytes, int, bool, dict[str, Any]]:
    (size,) = _HEAD.unpack_from(item)
    topic, qos, retain, props = json.loads(item[4 : 4 + size])
    if "correlationData" in props:
        props["correlationData"] = bytes.fromhex(props["correlationData"])
    return topic, item[4 + size :], qos, retain, props


class MqttOutConfig(OutboxConfig):
    """The mqtt out node as Node-RED writes it in flows.json (plus spool settings)."""

    topic: str = Field("", description="Topic to publish to; empty: msg.topic.")
    qos: str = Field("", description="QoS 0, 1 or 2; empty: msg.qos (default 0).")
    retain: str | bool = Field("", description="true/false; empty: msg.retain.")
    respTopic: str = Field("", description="MQTT 5 response topic (overrides msg).")
    contentType: str = Field("", description="MQTT 5 content type (overrides msg).")
    userProps: str | dict[str, Any] = Field(
        "", description="MQTT 5 user properties, a JSON object (overrides msg)."
    )
    correl: str = Field("", description="MQTT 5 correlation data (overrides msg).")
    expiry: str | int = Field("", description="MQTT 5 message expiry interval in seconds.")
    broker: str = config_ref("mqtt-broker", "Id of the mqtt-broker config node.")

    @model_validator(mode="after")
    def _check(self) -> MqttOutConfig:
        if not self.broker:
            raise ValueError("broker: missing broker configuration")
        if self.topic and validate_publish_topic(self.topic):
            raise ValueError(f"topic: {validate_publish_topic(self.topic)}")
        if str(self.qos).strip() not in ("", "0", "1", "2"):
            raise ValueError(f"qos: '{self.qos}' is not 0, 1 or 2")
        return self


@node_type("mqtt out")
class MqttOutNode(Node):
    """Publishes ``msg.payload`` to the broker: the node's topic, QoS and retain when
    set, else ``msg.topic``, ``msg.qos``, ``msg.retain``; with MQTT 5 the node's response
    topic, content type, user properties, correlation data and expiry (else the msg's).
    Objects are sent as JSON, numbers and booleans as text, Buffers as they are.

    Nothing is lost while the broker is unreachable: messages are kept on disk (the
    spool, under the data folder) and sent in order when the connection is back. An
    invalid topic is reported to catch nodes. ``msg.action`` ``connect`` / ``disconnect``
    controls the connection."""

    config_model = MqttOutConfig
    category = "network"
    color = "#d8bfd8"
    icon = "bridge.svg"
    outputs = 0

    def __init__(self, flow: Any, config: MqttOutConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.topic = config.topic
        # as Node-RED: a QoS set on the node (even "0") wins over msg.qos; a retain set on
        # the node as text wins too ("true": retain, any other text: not), else msg.retain
        qos = str(config.qos).strip()
        self.qos: int | None = int(qos) if qos in ("0", "1", "2") else None
        retain = config.retain
        self.retain: bool | None = (
            True
            if retain in (True, "true")
            else False
            if isinstance(retain, str) and retain
            else None
        )
        self.broker: MqttBrokerNode | None = None
        self.conn: MqttConnection | None = None
        self.forwarder: Forwarder | None = None
        self.v5_props: dict[str, Any] = {}
        if config.respTopic:
            self.v5_props["responseTopic"] = config.respTopic
        if config.correl:
            self.v5_props["correlationData"] = config.correl.encode()
        if config.contentType:
            self.v5_props["contentType"] = config.contentType
        if str(config.expiry).strip().isdigit():
            self.v5_props["messageExpiryInterval"] = int(config.expiry)
        up = user_properties(config.userProps)
        if up:
            self.v5_props["userProperties"] = up

    async def start(self) -> None:
        broker = self.flow.get_node(self.cfg.broker)
        if not isinstance(broker, MqttBrokerNode):
            self.error("missing broker configuration")
            return
        self.broker = broker
        self.status("red", "ring", "disconnected")
        if self.cfg.spool:
            path = self.flow.runtime.settings.data_dir / "spool" / f"{self.id}.sqlite"
            path.parent.mkdir(parents=True, exist_ok=True)
            spool = Spool(
                path,
                max_messages=self.cfg.spoolMaxMessages,
                max_bytes=self.cfg.spoolMaxBytes,
                max_age=self.cfg.spoolMaxAge,
                name=f"mqtt out {self.name or self.id}",
            )
            forwarder = Forwarder(
                spool, self._send_item, name=self.name or self.id, on_reject=self._rejected
            )
            try:
                await forwarder.start()
                self.forwarder = forwarder
            except Exception as exc:
                self.error(f"store-and-forward disabled, cannot open {path}: {exc}")
        broker.add_state_listener(self._on_state)
        await broker.register(self)
        self.conn = broker.conn
        if self.conn is not None and self.conn.connected and self.forwarder is not None:
            self.forwarder.remote_up()

    def _on_state(self, state: str, detail: str) -> None:
        if self.forwarder is not None:
            if state == "connected":
                self.forwarder.remote_up()
            else:
                self.forwarder.remote_down()

    async def _send_item(self, item: bytes) -> None:
        conn = self.conn
        if conn is None:
            raise MqttNotConnected("no connection")
        topic, payload, qos, retain, props = decode_item(item)
        try:
            await conn.publish(topic, payload, qos, retain, props)
        except MqttNotConnected:
            raise
        except MqttError as exc:
            raise Rejected(str(exc)) from exc

    def _rejected(self, item: bytes, exc: BaseException) -> None:
        self.error(f"message from the spool refused by the broker, dropped: {exc}")

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        broker = self.broker
        if broker is None:
            raise ValueError("missing broker configuration")
        action = msg.get("action")
        if action:
            if action == "connect":
                await broker.connect_action(msg.get("broker"))
            elif action == "disconnect":
                await broker.disconnect_action()
            else:
                raise ValueError("Invalid action specified")
            return
        if "payload" not in msg:
            return
        qos = self.qos if self.qos is not None else _msg_qos(msg.get("qos"))
        retain = self.retain if self.retain is not None else msg.get("retain") in (True, "true")
        topic = self.topic or msg.get("topic")
        props: dict[str, Any] = {}
        if broker.v5:
            props = self._msg_props(msg)
            if not topic and props.get("responseTopic"):
                topic = props.pop("responseTopic")
        reason = validate_publish_topic(topic)
        if reason or not isinstance(topic, str):
            self.error(reason, msg)
            return
        payload = payload_bytes(msg["payload"])
        conn = self.conn = broker.conn
        fwd = self.forwarder
        if conn is not None and conn.connected and (fwd is None or fwd.pending == 0):
            try:
                await conn.publish(topic, payload, qos, retain, props)
                return
            except MqttNotConnected:
                if fwd is None:
                    raise
            except MqttError as exc:
                self.error(str(exc), msg)
                return
        if fwd is None:
            raise MqttNotConnected("not connected to the broker")
        await fwd.submit(encode_item(topic, payload, qos, retain, props))

    def _msg_props(self, msg: Msg) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for name in ("responseTopic", "contentType"):
            if isinstance(msg.get(name), str) and msg[name]:
                props[name] = msg[name]
        corr = msg.get("correlationData")
        if corr:
            props["correlationData"] = corr.encode() if isinstance(corr, str) else bytes(corr)
        exp = msg.get("messageExpiryInterval")
        if exp is not None and str(exp).strip().lstrip("-").isdigit() and int(exp) >= 0:
            props["messageExpiryInterval"] = int(exp)
        up = user_properties(msg.get("userProperties"))
        if up:
            props["userProperties"] = up
        if msg.get("payloadFormatIndicator") in (True, "true", False, "false"):
            props["payloadFormatIndicator"] = msg["payloadFormatIndicator"] in (True, "true")
        props.update(self.v5_props)  # node settings win over the message
        return props

    async def close(self, removed: bool) -> None:
        broker, self.broker = self.broker, None
        if broker is not None:
            broker.remove_state_listener(self._on_state)
            await broker.deregister(self)
        if self.forwarder is not None:
            await self.forwarder.stop()
            self.forwarder = None


def _msg_qos(value: Any) -> int:
    try:
        qos = int(value)
    except (TypeError, ValueError):
        return 0
    return qos if qos in (0, 1, 2) else 0
