"""modbus-write: write values to coils and holding registers, by point name or address."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, config_ref, node_type

from ._points import PointListFields, load_points
from .client import ModbusDeviceError
from .config import STATUS, ModbusClientNode
from .points_codec import Point, as_strings, encode_value, make_point
from .read import ModbusReadNode, client_of

__all__ = ["ModbusWriteConfig", "ModbusWriteNode"]

_LEGACY = {
    "Coil": "coil",
    "HoldingRegister": "holding",
    "MCoils": "coil",
    "MHoldingRegisters": "holding",
}


class ModbusWriteConfig(NodeConfig, PointListFields):
    """The modbus-write node: node-red-contrib-modbus's properties plus points."""

    server: str = config_ref("modbus-client", "Id of the modbus-client config node.")
    pointsFrom: str = Field(
        "", description="Id of a modbus-read node whose points can be written by name too."
    )
    unitid: str = Field("", description="Unit id (empty: the point's or the client's).")
    dataType: str = Field(
        "",
        description="Fixed target without a point name: Coil or HoldingRegister (one value), "
        "MCoils or MHoldingRegisters (msg.payload is an array of raw values).",
    )
    adr: str = Field("", description="Address (0-based) of the fixed target.")
    quantity: str = Field("1", description="Number of coils/registers (MCoils/MHoldingRegisters).")
    valueType: str = Field(
        "",
        description="Data type of the fixed target (default uint16 / bool); with "
        "byteOrder, wordOrder, scale, offset, length like a point.",
    )
    byteOrder: str = Field("big", description="Byte order of the fixed target.")
    wordOrder: str = Field("big", description="Word order of the fixed target.")
    scale: str = Field("1", description="Scale of the fixed target (raw = (value-offset)/scale).")
    offset: str = Field("0", description="Offset of the fixed target.")
    length: str = Field("", description="String length (characters) of the fixed target.")
    showStatusActivities: LooseBool = Field(False, description="Accepted for compatibility.")
    showErrors: LooseBool = Field(False, description="Accepted for compatibility.")
    showWarnings: LooseBool = Field(True, description="Accepted for compatibility.")
    emptyMsgOnFail: LooseBool = Field(False, description="Accepted for compatibility.")
    keepMsgProperties: LooseBool = Field(True, description="Accepted for compatibility.")

    @model_validator(mode="before")
    @classmethod
    def _strings(cls, data: Any) -> Any:
        return as_strings(data, ("unitid", "adr", "quantity", "scale", "offset", "length"))

    @model_validator(mode="after")
    def _check(self) -> ModbusWriteConfig:
        for p in load_points_inline(self):
            if not p.writable:
                raise ValueError(f"point '{p.name}': table: {p.table} is read-only")
        if self.dataType and self.dataType not in _LEGACY:
            raise ValueError(
                f"dataType: '{self.dataType}' is not Coil, HoldingRegister, MCoils or "
                "MHoldingRegisters"
            )
        if self.dataType and str(self.adr).strip():
            self.fixed_point()
        return self

    def fixed_point(self) -> Point:
        """The point of the fixed target (dataType + adr)."""
        table = _LEGACY[self.dataType]
        spec = {
            "name": f"{table} {self.adr}",
            "table": table,
            "address": self.adr,
            "type": self.valueType or ("bool" if table == "coil" else "uint16"),
            "byteOrder": self.byteOrder,
            "wordOrder": self.wordOrder,
            "scale": self.scale,
            "offset": self.offset,
            "length": self.length,
            "unitId": self.unitid,
        }
        return make_point(spec)


def load_points_inline(cfg: ModbusWriteConfig) -> list[Point]:
    from .points_codec import make_points

    return make_points(cfg.inline_specs())


@node_type("modbus-write")
class ModbusWriteNode(Node):
    """Writes msg.payload to a coil or holding register(s).

    The target is, in this order: the point named by msg.topic (from this node's points
    or those of the modbus-read node in ``pointsFrom``); every named point of an object
    payload ``{name: value}``; an address in the message (msg.table, msg.address,
    msg.type, msg.unitId, msg.byteOrder, msg.wordOrder, msg.scale, msg.offset,
    msg.length); or the fixed target of the node (dataType, adr). The value is encoded
    with the point's data type, byte and word order, scale and offset applied inversely
    (raw = (value - offset) / scale). Writes share the connection with the polls. The
    message is passed on after a successful write; a failed write reaches catch nodes
    with the point's name and the reason.
    """

    config_model = ModbusWriteConfig
    category = "modbus"
    inputs = 1
    outputs = 1
    color = "#E9967A"
    icon = "modbus.png"
    align = "right"

    def __init__(self, flow: Any, config: ModbusWriteConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.client: ModbusClientNode | None = None
        self.by_name: dict[str, Point] = {}
        self.fixed = config.fixed_point() if config.dataType and config.adr.strip() else None
        self.multi = config.dataType in ("MCoils", "MHoldingRegisters")

    async def start(self) -> None:
        try:
            self.client = client_of(self, self.cfg.server)
            points = load_points(self.cfg, self.flow.runtime.settings.data_dir)
        except ValueError as exc:
            self.status("red", "ring", str(exc)[:60])
            self.error(str(exc), {"payload": None})
            return
        self.by_name = {p.name: p for p in points}
        await self.client.register(self, self._on_state, keep_open=True)

    def _on_state(self, state: str, detail: str) -> None:
        self.status(*STATUS.get(state, STATUS["reconnecting"]))

    def _named(self, name: str) -> Point | None:
        if name in self.by_name:
            return self.by_name[name]
        if self.cfg.pointsFrom:
            reader = self.flow.get_node(self.cfg.pointsFrom)
            if isinstance(reader, ModbusReadNode):
                for p in reader.points:
                    if p.name == name:
                        return p
        return None

    def _write_targets(self, msg: Msg) -> list[tuple[Point, Any]]:
        payload = msg.get("payload")
        topic = msg.get("topic")
        if isinstance(topic, str) and topic:
            p = self._named(topic)
            if p is not None:
                return [(p, payload)]
        if "address" in msg:
            spec: dict[str, Any] = {
                k: msg[k]
                for k in ("table", "address", "type", "byteOrder", "wordOrder", "scale")
                if k in msg
            }
            for k in ("offset", "length", "unitId"):
                if k in msg:
                    spec[k] = msg[k]
            spec.setdefault("table", "holding")
            spec["name"] = f"{spec['table']} {spec['address']}"
            return [(make_point(spec), payload)]
        if isinstance(payload, dict) and (self.by_name or self.cfg.pointsFrom):
            out = []
            for name, value in payload.items():
                p = self._named(str(name))
                if p is None:
                    raise ValueError(f"no point named '{name}' to write")
                out.append((p, value))
            return out
        if self.fixed is not None:
            return [(self.fixed, payload)]
        raise ValueError(
            f"no point named '{topic}' and no address (msg.address) to write to"
            if topic
            else "no point to write: set msg.topic to a point name or msg.address"
        )

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.client is None:
            raise ValueError("no modbus-client configured")
        targets = self._write_targets(msg)
        for p, value in targets:
            if not p.writable:
                raise ValueError(f"point {p.describe()}: the {p.table} table is read-only")
            try:
                if self.multi and p is self.fixed and isinstance(value, list):
                    raw: list[Any] = [bool(v) if p.is_bit else int(v) for v in value]
                else:
                    raw = list(encode_value(p, value))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"point {p.describe()}: cannot write {value!r}: {exc}") from None
            unit = p.unit_id if p.unit_id is not None else self.client.settings.unit_id
            try:
                await self.client.connection.write(unit, p.table, p.address, raw)
            except ModbusDeviceError as exc:
                raise ValueError(
                    f"point {p.describe()}: the device refused the write: {exc}"
                ) from None
            except Exception as exc:
                text = str(exc) or type(exc).__name__
                raise ValueError(f"point {p.describe()}: write failed: {text}") from None
        send(msg)

    async def close(self, removed: bool) -> None:
        if self.client is not None:
            await self.client.deregister(self, self._on_state)
