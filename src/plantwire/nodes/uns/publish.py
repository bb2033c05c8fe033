"""uns: publishes each incoming value, retained, at its ISA-95 place in the namespace."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator

from plantwire.expressions import get_msg_property, validate_path
from plantwire.nodes.mqtt.broker import MqttBrokerNode
from plantwire.nodes.mqtt.client import MqttConnection, MqttError, MqttNotConnected
from plantwire.nodes.uns.config import UnsModelNode
from plantwire.nodes.uns.model import (
    UnsEncodeError,
    UnsPathError,
    check_level,
    encode_payload,
    make_payload,
)
from plantwire.nodes.uns.tree import tree_for
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, config_ref, node_type

__all__ = ["UnsConfig", "UnsNode"]

FIRST_CONNECT_WAIT = 10.0
"""Seconds a value waits for the broker connection right after deploy."""


def _level(level: str) -> Any:
    def check(value: str) -> str:
        return check_level(level, value) if value != "" else value

    return field_validator(level)(check)


class UnsConfig(NodeConfig):
    model: str = config_ref(
        "uns-model", "Id of the uns-model config node (enterprise, site, broker).", default=...
    )
    area: str = Field("", description="Area name; empty: taken from msg.area.")
    line: str = Field("", description="Line name; empty: taken from msg.line (may stay empty).")
    cell: str = Field("", description="Cell name; empty: taken from msg.cell (may stay empty).")
    point: str = Field(
        "", description="Point (data item) name; empty: taken from the pointProperty of msg."
    )
    pointProperty: str = Field(
        "topic", description="msg property holding the point name when point is empty."
    )
    property: str = Field("payload", description="msg property holding the value to publish.")
    unit: str = Field(
        "", description="Unit of every value of this node (units per point take precedence)."
    )
    units: dict[str, str] = Field(
        default_factory=dict,
        description='Unit per point: [{"point": "temperature", "unit": "degC"}] or '
        '{"temperature": "degC"}. Without one, unit, then msg.unit, is used.',
    )
    source: str = Field(
        "", description='Written as "source" in each value; empty: msg.source when it is set.'
    )

    _area = _level("area")
    _line = _level("line")
    _cell = _level("cell")
    _point = _level("point")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not value:
            raise ValueError("choose the uns-model config node")
        return value

    @field_validator("pointProperty", "property")
    @classmethod
    def _path(cls, value: str) -> str:
        if value.startswith("msg."):
            value = value[4:]
        if not value:
            raise ValueError("name a msg property")
        try:
            validate_path(value)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("units", mode="before")
    @classmethod
    def _units(cls, value: Any) -> Any:
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"units is not valid JSON: {exc}") from None
        if isinstance(value, list):
            out: dict[str, Any] = {}
            for item in value:
                if not isinstance(item, dict) or "point" not in item:
                    raise ValueError('each entry of units needs "point" and "unit"')
                out[str(item["point"])] = item.get("unit", "")
            value = out
        if isinstance(value, dict):
            for point in value:
                check_level("point", point, where="units")
        return value


def _text(value: Any) -> str | None:
    if value is None or value is MISSING or value == "":
        return None
    return value if isinstance(value, str) else str(value)


@node_type("uns")
class UnsNode(Node):
    """Publishes each value, retained, at its place in the Unified Namespace.

    Topic: ``[prefix/]enterprise/site/area[/line[/cell]]/point`` from the uns-model
    and this node. What is set on the node wins; what it leaves empty comes from the
    message: area, line, cell from ``msg.area``, ``msg.line``, ``msg.cell``; the point
    from ``msg.topic`` (or the property named in pointProperty). Line and cell may
    stay empty for values of an area or a line.

    Payload (JSON, published with the model's QoS, retained by default)::

        {"value": 21.5, "timestamp": "2024-05-01T12:00:00.123Z",
         "quality": "good", "unit": "degC", "source": "plc1"}

    value: msg.payload (or the configured property); timestamp: msg.timestamp (ISO
    8601 or milliseconds since 1970) else now, always written as UTC with ms;
    quality: msg.quality (good/bad/uncertain, default good); unit: units[point],
    else unit, else msg.unit; source: the node's source, else msg.source, omitted
    when neither is set.

    Output: after the broker accepted it, the message with ``topic`` set to the UNS
    topic, ``payload`` to the published object, ``qos`` and ``retain``.

    Errors (to catch nodes, nothing published): a bad or missing level name (the
    message names the level), a value with no JSON form, a bad timestamp or
    quality, the broker not connected or refusing the message.
    """

    config_model = UnsConfig
    category = "network"
    inputs = 1
    outputs = 1
    color = "#d8bfd8"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: UnsConfig) -> None:
        super().__init__(flow, config)
        self.model_id = config.model
        self.area = config.area
        self.line = config.line
        self.cell = config.cell
        self.point = config.point
        self.point_property = config.pointProperty
        self.property = config.property
        self.unit = config.unit
        self.units = dict(config.units)
        self.source = config.source
        self._conn: MqttConnection | None = None
        self._broker: MqttBrokerNode | None = None
        self._ever_connected = False

    # ----- model and connection -----------------------------------------------------

    def model(self) -> UnsModelNode:
        """The uns-model config node (LookupError when it is missing)."""
        node = self.flow.get_node(self.model_id)
        if not isinstance(node, UnsModelNode):
            raise LookupError(f"uns-model config node {self.model_id!r} is missing or disabled")
        return node

    async def _connection(self) -> MqttConnection:
        """Register with the model's mqtt-broker (once) and return its shared connection."""
        if self._broker is None:
            broker = self.model().broker()
            await broker.register(self)
            self._broker = broker
        conn = self._broker.conn
        if conn is None:  # register() makes it; a broker node without one is a bug there
            raise LookupError(f"mqtt-broker {self._broker.id!r} has no connection")
        if conn is not self._conn:
            if self._conn is not None:
                self._conn.remove_state_listener(self._on_state)
            conn.add_state_listener(self._on_state)
            self._conn = conn
            self._ever_connected = self._ever_connected or conn.connected
        return conn

    def _on_state(self, state: str, detail: str) -> None:
        if state == "connected":
            self._ever_connected = True

    async def start(self) -> None:
        try:
            await self._connection()
        except LookupError as exc:  # e.g. the model is disabled; each value reports it
            self.status("red", "ring", "no broker")
            self.warn(str(exc))

    async def close(self, removed: bool) -> None:
        if self._conn is not None:
            self._conn.remove_state_listener(self._on_state)
            self._conn = None
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.deregister(self)

    # ----- mapping ------------------------------------------------------------------

    def build(self, msg: Msg) -> tuple[str, dict[str, Any]]:
        """The topic and payload object for ``msg`` (UnsPathError / ValueError on a problem)."""
        namespace = self.model().namespace
        where: dict[str, str] = {}

        def pick(level: str, configured: str) -> Any:
            if configured:
                return configured
            where[level] = f"msg.{level}"
            return msg.get(level, MISSING)

        area = pick("area", self.area)
        line = pick("line", self.line)
        cell = pick("cell", self.cell)
        if self.point:
            point: Any = self.point
        else:
            where["point"] = f"msg.{self.point_property}"
            point = get_msg_property(msg, self.point_property)
        levels = namespace.levels(area, line, cell, point, where)
        topic = "/".join((namespace.site_topic, *levels))
        value = get_msg_property(msg, self.property)
        if value is MISSING:
            raise ValueError(f"msg.{self.property} is missing: there is no value to publish")
        unit = self.units.get(levels[-1]) or self.unit or _text(msg.get("unit"))
        source = self.source or _text(msg.get("source"))
        payload = make_payload(
            value,
            timestamp=msg.get("timestamp"),
            quality=msg.get("quality"),
            unit=unit,
            source=source,
        )
        return topic, payload

    # ----- publishing ---------------------------------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        try:
            topic, payload = self.build(msg)
            data = encode_payload(payload)
        except (UnsPathError, UnsEncodeError, ValueError) as exc:
            done(f"{exc}")
            return
        except LookupError as exc:
            done(str(exc))
            return
        try:
            conn = await self._connection()
        except LookupError as exc:
            done(f"{exc}; value for {topic} not published")
            return
        if not conn.connected and not self._ever_connected:
            await conn.wait_connected(FIRST_CONNECT_WAIT)
        namespace = self.model().namespace
        try:
            await conn.publish(topic, data, qos=namespace.qos, retain=namespace.retain)
        except MqttNotConnected:
            done(f"not connected to the MQTT broker: value for {topic} not published")
            return
        except MqttError as exc:
            done(f"the broker did not accept {topic}: {exc}")
            return
        tree_for(self.flow.runtime).record(topic, payload, node=self.id, raw=data)
        msg["topic"] = topic
        msg["payload"] = payload
        msg["qos"] = namespace.qos
        msg["retain"] = namespace.retain
        send(msg)
