"""mqtt in: subscribe to topics on a broker and send each message received."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions.fastjson import NOT_FAST, js_parse_fast
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseInt, NodeConfig, config_ref, node_type

from .broker import MqttBrokerNode
from .client import MqttError, MqttMessage, Subscription
from .topics import validate_filter

__all__ = ["MqttInConfig", "MqttInNode", "convert_payload"]

DATATYPES = ("auto-detect", "auto", "utf8", "buffer", "json", "base64")
ACTIONS = ("connect", "disconnect", "subscribe", "unsubscribe", "getSubscriptions")
_MEDIA = {
    **dict.fromkeys(("text/css", "text/html", "text/plain", "application/xml"), "string"),
    "application/json": "json",
    **dict.fromkeys(
        (
            "application/octet-stream",
            "application/pdf",
            "application/x-gtar",
            "application/x-gzip",
            "application/x-tar",
            "application/zip",
            "audio/aac",
            "audio/ac3",
            "audio/basic",
            "audio/mp4",
            "audio/ogg",
            "image/bmp",
            "image/gif",
            "image/jpeg",
            "image/tiff",
            "image/png",
        ),
        "buffer",
    ),
}
_BATCH = 64
_PAUSE_AT, _RESUME_AT = 2000, 200


class _JsonError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # built once, not per message


def _js_parse(text: str) -> Any:
    return _DECODER.decode(text)


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def convert_payload(datatype: str, data: bytes, props: dict[str, Any]) -> Any:
    """msg.payload from the bytes received, as Node-RED's mqtt in does; _JsonError with
    Node-RED's text when JSON was required and the payload is not JSON."""
    if datatype == "buffer":
        return data
    if datatype == "base64":
        return base64.b64encode(data).decode("ascii")
    if datatype == "utf8":
        return data.decode("utf-8", errors="replace")
    v5_utf8 = props.get("payloadFormatIndicator") is True
    if datatype == "json" or (datatype == "auto-detect" and not v5_utf8 and not props):
        # orjson when it gives what the exact path below gives (else NOT_FAST)
        value = js_parse_fast(data)
        if value is not NOT_FAST:
            return value
    if datatype == "json":
        text = data.decode("utf-8", errors="replace") if v5_utf8 else _utf8(data)
        if text is None:
            raise _JsonError("Invalid JSON string")
        try:
            return _js_parse(text)
        except ValueError:
            raise _JsonError("Failed to parse JSON string") from None
    content_type = props.get("contentType")
    if v5_utf8 or content_type:
        kind = _MEDIA.get(str(content_type).lower())
        if kind == "string":
            return data.decode("utf-8", errors="replace")
        if kind == "buffer":
            return data
        if kind == "json":
            text = data.decode("utf-8", errors="replace")
            try:
                parsed = _js_parse(text)
            except ValueError:
                raise _JsonError("Failed to parse JSON string") from None
            return parsed if datatype == "auto-detect" else text
    text = data.decode("utf-8", errors="replace") if v5_utf8 else _utf8(data)
    if text is None:
        return data
    if datatype == "auto-detect":
        try:
            return _js_parse(text)
        except ValueError:
            return text
    return text


class MqttInConfig(NodeConfig):
    """The mqtt in node as Node-RED writes it in flows.json."""

    topic: str = Field("", description="Topic filter to subscribe to (+ and # wildcards).")
    qos: str = Field("2", description="QoS of the subscription (0, 1 or 2).")
    datatype: str = Field(
        "auto-detect",
        description="Output: auto-detect (parsed JSON object, string or buffer), auto "
        "(string or buffer), utf8, buffer, json or base64.",
    )
    broker: str = config_ref("mqtt-broker", "Id of the mqtt-broker config node.")
    nl: LooseBool = Field(False, description="MQTT 5 no local: skip own publications.")
    rap: LooseBool = Field(True, description="MQTT 5 retain as published.")
    rh: LooseInt = Field(0, description="MQTT 5 retain handling (0 send, 1 if new, 2 never).")
    inputs: LooseInt = Field(
        0, description="1 = dynamic subscription: topics come from msg.action messages."
    )

    @model_validator(mode="after")
    def _check(self) -> MqttInConfig:
        if not self.broker:
            raise ValueError("broker: missing broker configuration")
        if self.datatype not in DATATYPES:
            raise ValueError(f"datatype: '{self.datatype}' is not one of {', '.join(DATATYPES)}")
        if self.inputs != 1:
            reason = validate_filter(self.topic)
            if reason:
                raise ValueError(f"topic: {reason}")
        return self


@node_type("mqtt in")
class MqttInNode(Node):
    """Subscribes to a topic on an MQTT broker and sends a message for each one received:
    ``msg.topic``, ``msg.payload`` (converted as the Output setting says), ``msg.qos``,
    ``msg.retain`` and, with MQTT 5, ``msg.responseTopic``, ``msg.correlationData``,
    ``msg.contentType``, ``msg.userProperties``, ``msg.messageExpiryInterval``.

    With dynamic subscription (one input) it subscribes to nothing at start; a message
    with ``msg.action`` ``subscribe`` / ``unsubscribe`` and ``msg.topic`` (a topic, a list,
    or objects with topic, qos, rh, rap, nl, datatype; ``true`` unsubscribes from all),
    ``getSubscriptions``, ``connect`` (``msg.broker`` may change the connection) or
    ``disconnect`` controls it. A payload that is not JSON when JSON was asked for is
    reported to catch nodes; the connection stays up."""

    config_model = MqttInConfig
    category = "network"
    color = "#d8bfd8"
    icon = "bridge.svg"
    inputs = 0
    outputs = 1

    def __init__(self, flow: Any, config: MqttInConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.dynamic = config.inputs == 1
        qos = int(config.qos) if str(config.qos).strip() in ("0", "1", "2") else 2
        self.qos = qos
        self.datatype = config.datatype
        self.broker: MqttBrokerNode | None = None
        self.subscription: Subscription | None = None
        self.dynamic_subs: dict[str, dict[str, Any]] = {}
        self._dyn_handles: dict[str, Subscription] = {}
        self._inbox: deque[tuple[str, MqttMessage]] = deque()
        self._inbox_wake = asyncio.Event()
        self._paused = False
        self._direct = 0  # messages the receive callback may still send itself
        self._local = False

    async def start(self) -> None:
        broker = self.flow.get_node(self.cfg.broker)
        if not isinstance(broker, MqttBrokerNode):
            self.error("missing broker configuration")
            return
        self.broker = broker
        self._local = str(broker.cfg.broker) in ("localhost", "127.0.0.1")
        self.status("red", "ring", "disconnected")
        self.create_task(self._pump())
        await broker.register(self)
        if not self.dynamic:
            self.subscription = self._subscribe(self.cfg.topic, self._options(), self.datatype)

    def _options(self, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        """Subscribe options from the node settings, or from a dynamic subscription."""
        if spec is None:
            qos, rh, rap, nl = self.qos, self.cfg.rh, self.cfg.rap, self.cfg.nl
        else:
            qos, rh = _int(spec.get("qos"), 0, 2, 2), _int(spec.get("rh"), 0, 2, 0)
            rap, nl = _flag(spec.get("rap"), True), _flag(spec.get("nl"), False)
        opts: dict[str, Any] = {"qos": qos}
        if self.broker is not None and self.broker.v5:
            opts["retain_handling"] = rh if rh in (0, 1, 2) else 0
            opts["retain_as_published"] = bool(rap)
            opts["no_local"] = bool(nl)
        return opts

    def _subscribe(self, topic: str, opts: dict[str, Any], datatype: str) -> Subscription:
        assert self.broker is not None
        qos = opts.pop("qos")

        def on_message(message: MqttMessage) -> None:
            self._receive(datatype, message)

        return self.broker.subscribe(topic, qos, on_message, **opts)

    # ----- receiving ------------------------------------------------------------------

    def _receive(self, datatype: str, message: MqttMessage) -> None:
        if self._direct and not self._inbox:
            # nothing waiting: send now instead of waking the pump for each message; the
            # pump checks for room downstream after every _BATCH of them (backpressure)
            self._direct -= 1
            msg = self._to_msg(datatype, message)
            if msg is not None:
                self.send(msg)
            if not self._direct:
                self._inbox_wake.set()
            return
        self._inbox.append((datatype, message))
        self._inbox_wake.set()
        if len(self._inbox) >= _PAUSE_AT and not self._paused and self.broker is not None:
            conn = self.broker.conn
            if conn is not None:
                self._paused = conn.pause_reading(self.id)

    async def _pump(self) -> None:
        inbox = self._inbox
        runtime = self.flow.runtime
        while True:
            if not inbox:
                if not self._direct:
                    await runtime.wait_for_room(self)
                    if inbox:
                        continue
                    self._direct = _BATCH
                self._inbox_wake.clear()
                await self._inbox_wake.wait()
                continue
            self._direct = 0
            n = 0
            while inbox and n < _BATCH:
                datatype, message = inbox.popleft()
                msg = self._to_msg(datatype, message)
                n += 1
                if msg is not None:
                    if inbox and n < _BATCH:
                        self.send(msg)
                    else:
                        await self.send_async(msg)
            if self._paused and len(inbox) <= _RESUME_AT and self.broker is not None:
                self._paused = False
                if self.broker.conn is not None:
                    self.broker.conn.resume_reading(self.id)
            if n:
                await asyncio.sleep(0)

    def _to_msg(self, datatype: str, message: MqttMessage) -> Msg | None:
        props = message.properties
        msg: Msg = {
            "topic": message.topic,
            "payload": None,
            "qos": message.qos,
            "retain": message.retain,
        }
        if props:
            for name in ("responseTopic", "contentType", "reasonString"):
                if isinstance(props.get(name), str) and props[name]:
                    msg[name] = props[name]
            if props.get("correlationData"):
                msg["correlationData"] = bytes(props["correlationData"])
            if isinstance(props.get("messageExpiryInterval"), int):
                msg["messageExpiryInterval"] = props["messageExpiryInterval"]
            if "payloadFormatIndicator" in props:
                msg["payloadFormatIndicator"] = bool(props["payloadFormatIndicator"])
            user = props.get("userProperties")
            if isinstance(user, dict) and user:
                msg["userProperties"] = dict(user)
        try:
            msg["payload"] = convert_payload(datatype, message.payload, props)
        except _JsonError as exc:
            self.error(
                str(exc),
                {
                    "payload": message.payload,
                    "topic": message.topic,
                    "qos": message.qos,
                    "retain": message.retain,
                },
            )
            return None
        if self._local:
            msg["_topic"] = message.topic
        return msg

    # ----- dynamic subscriptions (msg.action) -----------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.broker is None:
            raise ValueError("missing broker configuration")
        action = msg.get("action")
        if action not in ACTIONS:
            raise ValueError("Invalid action specified")
        if action == "connect":
            await self.broker.connect_action(msg.get("broker"))
        elif action == "disconnect":
            await self.broker.disconnect_action()
        elif action == "getSubscriptions":
            msg["topic"] = "subscriptions"
            msg["payload"] = list(self.dynamic_subs.values())
            send(msg)
        else:
            self._change_subscriptions(action, msg)

    def _change_subscriptions(self, action: str, msg: Msg) -> None:
        topic = msg.get("topic")
        if action == "unsubscribe" and topic is True:
            items: list[Any] = list(self.dynamic_subs.values())
        elif isinstance(topic, list):
            items = topic
        elif isinstance(topic, str | dict):
            items = [topic]
        else:
            raise ValueError("msg.topic is missing or invalid")
        specs: list[dict[str, Any]] = []
        for item in items:
            spec = {"topic": item} if isinstance(item, str) else item
            if not isinstance(spec, dict) or not spec.get("topic"):
                raise ValueError("Invalid topic specified")
            reason = validate_filter(spec["topic"])
            if reason:
                raise ValueError(reason)
            specs.append(dict(spec))
        assert self.broker is not None
        for spec in specs:
            name = spec["topic"]
            old = self._dyn_handles.pop(name, None)
            if old is not None:
                self.broker.unsubscribe(old, removed=True)
            self.dynamic_subs.pop(name, None)
            if action == "subscribe":
                opts = self._options(spec)
                spec["qos"] = opts["qos"]
                if self.broker.v5:
                    spec["rh"] = opts["retain_handling"]
                    spec["rap"] = opts["retain_as_published"]
                datatype = spec.get("datatype") or self.datatype
                try:
                    self._dyn_handles[name] = self._subscribe(name, opts, datatype)
                except MqttError as exc:
                    raise ValueError(str(exc)) from None
                self.dynamic_subs[name] = spec
        msg["subscriptions"] = list(self.dynamic_subs.values())

    async def close(self, removed: bool) -> None:
        broker, self.broker = self.broker, None
        if broker is None:
            return
        if self._paused and broker.conn is not None:
            broker.conn.resume_reading(self.id)
        if self.subscription is not None:
            broker.unsubscribe(self.subscription, removed)
        for handle in self._dyn_handles.values():
            broker.unsubscribe(handle, removed)
        self._dyn_handles.clear()
        self.dynamic_subs.clear()
        await broker.deregister(self)


def _int(value: Any, low: int, high: int, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if low <= number <= high else default


def _flag(value: Any, default: bool) -> bool:
    if value in (True, "true"):
        return True
    if value in (False, "false"):
        return False
    return default
