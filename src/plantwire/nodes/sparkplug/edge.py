"""sparkplug-edge: a Sparkplug B edge node (with devices) on its own MQTT session."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plantwire.nodes.mqtt.client import MqttMessage, MqttNotConnected, MqttOptions, WillSpec
from plantwire.nodes.sparkplug._connection import SparkplugSession, broker_options
from plantwire.nodes.sparkplug.edge_codec import (
    EdgeSession,
    MetricDef,
    Unchanged,
    pack_record,
    unpack_record,
)
from plantwire.nodes.sparkplug.sparkplug_codec import (
    REBIRTH,
    SparkplugDecodeError,
    SparkplugValueError,
    build_topic,
    decode_payload,
    decode_state,
    parse_datatype,
    parse_topic,
    state_topic,
)
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.runtime.spool import Forwarder, Rejected, Spool
from plantwire.spec import LooseBool, LooseInt, NodeConfig, OptFloat, OptInt, config_ref, node_type

__all__ = ["SparkplugEdgeNode"]

_LIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("sparkplug_live", default=False)
"""True while a message is submitted from the node's input (a direct send is live data;
a send by the forwarder's replay task is stored data, flagged historical)."""


class MetricConfig(BaseModel):
    """One metric of the edge node or of a device."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    name: str = Field(description="Metric name, e.g. Temperature or Motor/Speed.")
    datatype: str = Field("Double", description="Sparkplug data type name, e.g. Int32, Double.")
    alias: OptInt = Field(None, description="Fixed alias; empty: assigned automatically.")
    deadband: OptFloat = Field(
        None, description="Report by exception: changes up to this size are not reported."
    )

    @field_validator("datatype")
    @classmethod
    def _dt(cls, value: str) -> str:
        return parse_datatype(value).name


class DeviceConfig(BaseModel):
    """A device behind the edge node with its metrics."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    name: str = Field(description="Device id (the last topic level of DBIRTH/DDATA).")
    metrics: list[MetricConfig] = Field(default_factory=list, description="Its metrics.")


class SparkplugEdgeConfig(NodeConfig):
    broker: str = config_ref("mqtt-broker", "Id of the mqtt-broker config node to connect to.")
    groupId: str = Field("", description="Sparkplug group id.")
    edgeNodeId: str = Field("", description="Sparkplug edge node id.")
    metrics: list[MetricConfig] = Field(
        default_factory=list, description="Metrics of the edge node itself."
    )
    devices: list[DeviceConfig] = Field(
        default_factory=list, description="Devices of the edge node, each with its metrics."
    )
    rbe: LooseBool = Field(
        False, description="Report by exception: send only metrics whose value changed."
    )
    useAliases: LooseBool = Field(
        True, description="Use metric aliases in data messages (names only in births)."
    )
    primaryHostId: str = Field(
        "",
        description="Host id of the primary host application: births and data wait for "
        "its STATE online; data arriving while it is offline is stored and sent later, "
        "flagged historical.",
    )
    storeMax: LooseInt = Field(
        100000, description="Most data messages kept while the broker or host is away."
    )

    @model_validator(mode="after")
    def _check(self) -> SparkplugEdgeConfig:
        for label, value in (("groupId", self.groupId), ("edgeNodeId", self.edgeNodeId)):
            if not value:
                raise ValueError(f"{label} is required")
            if any(ch in value for ch in "/+#"):
                raise ValueError(f"{label} {value!r} must not contain / + or #")
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise ValueError("two devices have the same name")
        for scope in [self.metrics, *(d.metrics for d in self.devices)]:
            seen = [m.name for m in scope]
            if len(set(seen)) != len(seen):
                raise ValueError("a metric name is used twice in one device or the edge node")
        return self


def _defs(metrics: list[MetricConfig]) -> list[MetricDef]:
    return [
        MetricDef(m.name, parse_datatype(m.datatype), m.alias, float(m.deadband or 0))
        for m in metrics
    ]


@node_type("sparkplug-edge")
class SparkplugEdgeNode(Node):
    """A Sparkplug B edge node: publishes births, data and deaths for itself and its devices.

    Input: ``msg.payload = {metric: value, ...}`` reports metrics of the edge node;
    with ``msg.device = "<device>"`` of that device (NDATA / DDATA). ``msg.timestamp``
    (ms) sets the metric timestamps. ``msg.command``: ``"rebirth"`` republishes all
    births; ``"death"`` with ``msg.device`` publishes DDEATH (the device is dead until
    its next data or ``"birth"`` command, which publishes DBIRTH).

    Output: one message per metric of a received NCMD/DCMD: ``msg.topic =
    "<group>/<edge>[/<device>]/<metric>"``, ``msg.payload`` = the value, ``msg.metric``,
    ``msg.device`` and ``msg.sparkplug`` (datatype, messageType, timestamp). A
    ``Node Control/Rebirth`` command is handled by the node itself.

    The NDEATH is the connection's will; the node publishes NBIRTH and a DBIRTH per
    device after each connect. With a primary host id it waits for the host's STATE
    online, and stores data while the host is offline (sent flagged historical when it
    is back).
    """

    config_model = SparkplugEdgeConfig
    category = "network"
    inputs = 1
    outputs = 1
    color = "#d8bfd8"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: SparkplugEdgeConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.group = config.groupId
        self.edge_id = config.edgeNodeId
        self.primary = config.primaryHostId
        self.sp = EdgeSession(
            _defs(config.metrics),
            {d.name: _defs(d.metrics) for d in config.devices},
            use_aliases=config.useAliases,
            report_by_exception=config.rbe,
        )
        self.session: SparkplugSession | None = None
        self.forwarder: Forwarder | None = None
        self.host_online = not self.primary
        self._host_ts = -1
        self.ready = False
        self._lock = asyncio.Lock()

    # ----- lifecycle ------------------------------------------------------------------

    def _options(self) -> MqttOptions:
        opts = broker_options(self, self.cfg.broker, f"spb-{self.group}-{self.edge_id}")
        self.sp.new_connection()
        death = WillSpec(self._topic("NDEATH"), self.sp.ndeath(), qos=1, retain=False)
        opts.will = death
        opts.close = death  # a deliberate disconnect announces the death too
        return opts

    def _topic(self, mtype: str, device: str | None = None) -> str:
        return build_topic(self.group, mtype, self.edge_id, device)

    async def start(self) -> None:
        data_dir = self.flow.runtime.settings.data_dir
        spool = Spool(
            data_dir / "spool" / f"sparkplug-{self.id}.sqlite",
            max_messages=self.cfg.storeMax,
            name=self.id,
        )
        self.forwarder = Forwarder(spool, self._send_record, name=f"sparkplug {self.id}")
        await self.forwarder.start()
        self.session = SparkplugSession(self, self._options, self._up, self._down)
        self.session.subscribe(self._topic("NCMD"), 1, self._on_command)
        self.session.subscribe(f"spBv1.0/{self.group}/DCMD/{self.edge_id}/+", 1, self._on_command)
        if self.primary:
            self.session.subscribe(state_topic(self.primary), 1, self._on_state)
        try:
            await self.session.start()
        except ValueError as exc:
            self.status("red", "ring", str(exc))
            self.error(str(exc))

    async def close(self, removed: bool) -> None:
        self.ready = False
        if self.session is not None:
            await self.session.stop()
        if self.forwarder is not None:
            await self.forwarder.stop()

    # ----- session events -------------------------------------------------------------

    async def _up(self) -> None:
        if self.host_online:
            await self._births()
        else:
            self.status("yellow", "ring", f"waiting for primary host {self.primary}")

    def _down(self) -> None:
        self.ready = False
        if self.forwarder is not None:
            self.forwarder.remote_down()

    async def _births(self) -> None:
        """NBIRTH then a DBIRTH per live device; then data may flow (stored first)."""
        if self.session is None:
            return
        async with self._lock:
            try:
                await self.session.publish(self._topic("NBIRTH"), self.sp.nbirth())
                for device in self.sp.devices:
                    if self.sp.device_online(device):
                        await self.session.publish(
                            self._topic("DBIRTH", device), self.sp.dbirth(device)
                        )
            except MqttNotConnected:
                return  # the session is being renewed; births follow on the next one
            self.ready = True
        self.status("green", "dot", "online")
        if self.forwarder is not None:
            self.forwarder.remote_up()

    def _on_state(self, m: MqttMessage) -> None:
        try:
            online, ts = decode_state(m.payload)
        except SparkplugDecodeError as exc:
            self.warn(f"STATE of primary host {self.primary}: {exc}")
            return
        stamp = ts if ts is not None else self._host_ts
        if stamp < self._host_ts:
            return  # an older session's message
        self._host_ts = stamp
        if online and not self.host_online:
            self.host_online = True
            if self.session is not None and self.session.connected:
                self.create_task(self._births())
        elif not online and self.host_online:
            self.host_online = False
            self._down()
            self.status("yellow", "ring", f"primary host {self.primary} offline: storing")

    def _on_command(self, m: MqttMessage) -> None:
        try:
            topic = parse_topic(m.topic)
            payload = decode_payload(m.payload)
        except (ValueError, SparkplugDecodeError) as exc:
            self.error(f"Sparkplug command on {m.topic} ignored: {exc}", {"topic": m.topic})
            return
        device = topic.device
        out: list[Msg] = []
        for metric in payload.metrics:
            if device is None and metric.name == REBIRTH:
                if metric.value:
                    self.create_task(self._births())
                continue
            try:
                known = self.sp.resolve(device, metric)
            except ValueError:
                known = None
            name = metric.name or (known.name if known else None)
            if name is None:
                self.warn(f"{topic.message_type}: unknown metric alias {metric.alias}")
                continue
            path = f"{self.group}/{self.edge_id}" + (f"/{device}" if device else "")
            dt = metric.datatype if metric.datatype or known is None else known.datatype
            out.append(
                {
                    "topic": f"{path}/{name}",
                    "payload": metric.value,
                    "metric": name,
                    "device": device,
                    "sparkplug": {
                        "messageType": topic.message_type,
                        "datatype": dt.name,
                        "timestamp": metric.timestamp or payload.timestamp,
                    },
                }
            )
        if out:
            self.create_task(self._emit(out))

    async def _emit(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await self.send_async(msg)

    # ----- input ----------------------------------------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        device = msg.get("device")
        if device is not None and not isinstance(device, str):
            raise ValueError("msg.device must be a device name (a string)")
        command = msg.get("command")
        if isinstance(command, str) and command:
            await self._command(command.lower(), device)
            return
        values = msg.get("payload")
        if not isinstance(values, dict):
            raise ValueError(
                "msg.payload must be an object of metric values, e.g. "
                '{"Temperature": 21.5}; got ' + type(values).__name__
            )
        ts = msg.get("timestamp")
        stamp = int(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None
        try:
            items = self.sp.update(device, values, stamp)
        except Unchanged:
            return
        except SparkplugValueError as exc:
            raise ValueError(str(exc)) from None
        if device is not None and not self.sp.device_online(device) and self.ready:
            await self._device_birth(device)
        assert self.forwarder is not None
        token = _LIVE.set(True)
        try:
            await self.forwarder.submit(pack_record(device, items))
        finally:
            _LIVE.reset(token)

    async def _command(self, command: str, device: str | None) -> None:
        if command == "rebirth":
            await self._births()
        elif command in ("death", "ddeath", "dead"):
            if device is None:
                raise ValueError('msg.command "death" needs msg.device')
            self.sp.device_online(device)  # checks the name
            async with self._lock:
                payload = self.sp.ddeath(device)
                if self.ready and self.session is not None:
                    await self.session.publish(self._topic("DDEATH", device), payload)
        elif command in ("birth", "dbirth"):
            if device is None:
                raise ValueError('msg.command "birth" needs msg.device')
            self.sp.device_online(device)
            await self._device_birth(device)
        else:
            raise ValueError(f'unknown msg.command {command!r} (use "rebirth", "birth", "death")')

    async def _device_birth(self, device: str) -> None:
        async with self._lock:
            payload = self.sp.dbirth(device)
            if self.ready and self.session is not None:
                await self.session.publish(self._topic("DBIRTH", device), payload)

    async def _send_record(self, item: bytes) -> None:
        """Forwarder send: one stored or live data message as NDATA/DDATA."""
        if not self.ready or self.session is None:
            raise MqttNotConnected("Sparkplug session not ready")
        try:
            device, items = unpack_record(item)
        except (ValueError, KeyError, TypeError) as exc:
            raise Rejected(f"unreadable stored record: {exc}") from None
        async with self._lock:
            try:
                payload = self.sp.data(device, items, historical=not _LIVE.get())
            except (ValueError, SparkplugValueError) as exc:
                raise Rejected(str(exc)) from None
            mtype = "DDATA" if device is not None else "NDATA"
            await self.session.publish(self._topic(mtype, device), payload)
