"""sparkplug-host: a Sparkplug B host application (consumer of edge node data)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator

from plantwire.nodes.mqtt.client import MqttMessage, MqttOptions, WillSpec
from plantwire.nodes.sparkplug._connection import SparkplugSession, broker_options
from plantwire.nodes.sparkplug.host_codec import HostTracker
from plantwire.nodes.sparkplug.sparkplug_codec import (
    NAMESPACE,
    REBIRTH,
    DataType,
    Metric,
    Payload,
    SparkplugDecodeError,
    build_topic,
    decode_payload,
    decode_state,
    encode_payload,
    encode_state,
    now_ms,
    parse_datatype,
    parse_topic,
    state_topic,
)
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, config_ref, node_type

__all__ = ["SparkplugHostNode"]


class SparkplugHostConfig(NodeConfig):
    broker: str = config_ref("mqtt-broker", "Id of the mqtt-broker config node to connect to.")
    groupId: str = Field("", description="Only this Sparkplug group; empty: every group.")
    hostId: str = Field(
        "",
        description="Host application id: when set, the node publishes its STATE "
        "(spBv1.0/STATE/<id>, online retained, offline as its will).",
    )
    rebirth: LooseBool = Field(
        True,
        description="Ask an edge node for a rebirth (NCMD Node Control/Rebirth) on a "
        "sequence gap or data from an edge node whose birth was not seen.",
    )

    @model_validator(mode="after")
    def _check(self) -> SparkplugHostConfig:
        for label, value in (("groupId", self.groupId), ("hostId", self.hostId)):
            if any(ch in value for ch in "/+#"):
                raise ValueError(f"{label} {value!r} must not contain / + or #")
        return self


@node_type("sparkplug-host")
class SparkplugHostNode(Node):
    """A Sparkplug B host application: receives births, data and deaths of edge nodes.

    Output 1, one message per metric (births and data): ``msg.topic =
    "<group>/<edge>[/<device>]/<metric>"``, ``msg.payload`` = the value (null when the
    metric is null), ``msg.sparkplug = {group, edge, device, metric, alias, datatype,
    timestamp, seq, historical, messageType}``. Aliases are resolved to names from the
    births.

    Output 2, lifecycle events: ``msg.topic = "<group>/<edge>[/<device>]"``,
    ``msg.payload = {event, group, edge, device, messageType, ...}`` with event
    ``birth`` (with bdSeq, timestamp, seq and the metric list), ``death``, ``seq-gap``
    (expected, received), ``unknown`` (data without a birth), ``rebirth-request`` and
    ``state`` (another host's STATE: online, timestamp).

    Input sends commands: ``msg.topic = "<group>/<edge>[/<device>]"`` and
    ``msg.payload = {metric: value}`` publish an NCMD/DCMD (data types from the birth,
    or ``msg.datatypes = {metric: "Int32"}``); ``msg.command = "rebirth"`` asks the
    edge node in msg.topic for a rebirth.

    A payload that is not Sparkplug B is reported to catch nodes with the reason; the
    connection stays up.
    """

    config_model = SparkplugHostConfig
    category = "network"
    inputs = 1
    outputs = 2
    color = "#d8bfd8"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: SparkplugHostConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.tracker = HostTracker()
        self.session: SparkplugSession | None = None
        self._out: asyncio.Queue[tuple[int, Msg]] = asyncio.Queue()
        self._state_ts = 0

    def _options(self) -> MqttOptions:
        cid = f"spb-host-{self.cfg.hostId or self.id}"
        opts = broker_options(self, self.cfg.broker, cid)
        if self.cfg.hostId:
            self._state_ts = now_ms()
            topic = state_topic(self.cfg.hostId)
            opts.will = WillSpec(topic, encode_state(False, self._state_ts), 1, True)
            opts.close = opts.will
            opts.birth = WillSpec(topic, encode_state(True, self._state_ts), 1, True)
        return opts

    async def start(self) -> None:
        self.session = SparkplugSession(self, self._options, self._up, lambda: None)
        group = self.cfg.groupId
        self.session.subscribe(f"{NAMESPACE}/{group}/#" if group else f"{NAMESPACE}/#", 1, self._rx)
        if group:
            self.session.subscribe(f"{NAMESPACE}/STATE/+", 1, self._rx)
        self.create_task(self._pump())
        try:
            await self.session.start()
        except ValueError as exc:
            self.status("red", "ring", str(exc))
            self.error(str(exc))

    async def close(self, removed: bool) -> None:
        if self.session is not None:
            await self.session.stop()

    async def _up(self) -> None:
        self.status("green", "dot", "online" if self.cfg.hostId else "connected")

    async def _pump(self) -> None:
        while True:
            port, msg = await self._out.get()
            await self.send_async([msg, None] if port == 0 else [None, msg])

    # ----- receiving ------------------------------------------------------------------

    def _rx(self, m: MqttMessage) -> None:
        raw: Msg = {"topic": m.topic, "payload": m.payload}
        try:
            topic = parse_topic(m.topic)
        except ValueError as exc:
            self.error(f"not a Sparkplug B topic: {exc}", raw)
            return
        if topic.message_type == "STATE":
            if topic.host_id != self.cfg.hostId:
                self._state(topic.host_id or "", m.payload, raw)
            return
        if topic.message_type in ("NCMD", "DCMD"):
            return  # commands to edge nodes (ours or another host's)
        try:
            payload = decode_payload(m.payload)
        except SparkplugDecodeError as exc:
            self.error(f"Sparkplug {topic.message_type} on {m.topic} is malformed: {exc}", raw)
            return
        res = self.tracker.handle(topic, payload)
        for metric_msg in res.metrics:
            self._out.put_nowait((0, metric_msg))
        for event in res.events:
            self._out.put_nowait((1, event))
        if res.rebirth and self.cfg.rebirth:
            self.create_task(self._request_rebirth(topic.group, topic.edge_node))

    def _state(self, host: str, data: bytes, raw: Msg) -> None:
        try:
            online, ts = decode_state(data)
        except SparkplugDecodeError as exc:
            self.error(f"STATE of host {host}: {exc}", raw)
            return
        body = {"event": "state", "host": host, "online": online, "timestamp": ts}
        self._out.put_nowait((1, {"topic": f"STATE/{host}", "payload": body}))

    async def _request_rebirth(self, group: str, edge: str) -> None:
        if self.session is None:
            return
        payload = Payload(timestamp=now_ms(), metrics=[Metric(REBIRTH, True, DataType.Boolean)])
        try:
            await self.session.publish(build_topic(group, "NCMD", edge), encode_payload(payload))
        except Exception as exc:
            self.warn(f"rebirth request to {group}/{edge} not sent: {exc}")
            return
        event = {"event": "rebirth-request", "group": group, "edge": edge, "device": None}
        self._out.put_nowait((1, {"topic": f"{group}/{edge}", "payload": event}))

    # ----- commands -------------------------------------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        target = msg.get("topic")
        parts = target.split("/") if isinstance(target, str) else []
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError('msg.topic must be "<group>/<edge node>" or "<group>/<edge>/<device>"')
        group, edge = parts[0], parts[1]
        device = parts[2] if len(parts) == 3 else None
        if msg.get("command") == "rebirth":
            await self._request_rebirth(group, edge)
            return
        values = msg.get("payload")
        if not isinstance(values, dict) or not values:
            raise ValueError("msg.payload must be an object of metric values to write")
        given = msg.get("datatypes") if isinstance(msg.get("datatypes"), dict) else {}
        known = self.tracker.scope_types(group, edge, device)
        metrics: list[Metric] = []
        for name, value in values.items():
            dt_raw = given.get(name) if given else None
            if dt_raw is not None:
                dt = parse_datatype(dt_raw)
            elif name in known:
                dt = known[name]
            else:
                raise ValueError(
                    f"data type of {name!r} unknown: no birth of {target} declares it "
                    "(give msg.datatypes)"
                )
            metrics.append(Metric(name, value, dt))
        data = encode_payload(Payload(timestamp=now_ms(), metrics=metrics))
        mtype = "DCMD" if device else "NCMD"
        if self.session is None:
            raise ValueError("not connected")
        await self.session.publish(build_topic(group, mtype, edge, device), data)
