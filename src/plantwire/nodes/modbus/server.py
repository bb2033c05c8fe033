"""modbus-server: serve flow values to Modbus clients (a pymodbus TCP server in-process)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer

from plantwire.nodes.common.values import value_msg
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseInt, NodeConfig, node_type

from ._points import PointListFields, load_points
from ._store import FlowDatastore
from .points_codec import Point, decode_bits, decode_registers, encode_value, make_point, table_name

__all__ = ["ModbusServerConfig", "ModbusServerNode"]


class ModbusServerConfig(NodeConfig, PointListFields):
    """The modbus-server node: node-red-contrib-modbus's properties plus a point map."""

    hostname: str = Field("0.0.0.0", description="Address to listen on (0.0.0.0: all).")
    serverPort: LooseInt = Field(10502, description="TCP port to listen on.")
    framer: str = Field("socket", description='"socket" (Modbus TCP) or "rtu" (RTU over TCP).')
    responseDelay: LooseInt = Field(100, description="Accepted for compatibility.")
    delayUnit: str = Field("ms", description="Accepted for compatibility.")
    coilsBufferSize: LooseInt = Field(10000, description="Number of coils.")
    holdingBufferSize: LooseInt = Field(10000, description="Number of holding registers.")
    inputBufferSize: LooseInt = Field(10000, description="Number of input registers.")
    discreteBufferSize: LooseInt = Field(10000, description="Number of discrete inputs.")
    logEnabled: LooseBool = Field(False, description="Accepted for compatibility.")
    showErrors: LooseBool = Field(False, description="Accepted for compatibility.")

    @model_validator(mode="after")
    def _check(self) -> ModbusServerConfig:
        if not 0 < self.serverPort < 65536:
            raise ValueError(f"serverPort: {self.serverPort} is not a TCP port")
        if self.framer not in ("socket", "rtu"):
            raise ValueError(f"framer: '{self.framer}' is not socket or rtu")
        for name in ("coils", "holding", "input", "discrete"):
            size = getattr(self, f"{name}BufferSize")
            if not 1 <= size <= 65536:
                raise ValueError(f"{name}BufferSize: {size} is not 1..65536")
        self.inline_specs()
        return self


@node_type("modbus-server")
class ModbusServerNode(Node):
    """A Modbus TCP server serving values from the flow to other Modbus clients.

    Input: ``msg.topic`` naming a point of the point map and ``msg.payload`` its value
    (encoded with the point's type, byte/word order, scale and offset); or
    ``msg.payload = {name: value, ...}``; or an address: ``msg.payload =
    {"register": "holding", "address": 0, "value": 42}`` (node-red-contrib-modbus; value
    a raw number or an array), or ``msg.table`` + ``msg.address`` (+ ``msg.type``...)
    with the value in msg.payload.

    Output: one message per write from a client: for each point of the map the write
    touched, a value message (topic = point name, payload = decoded value); for writes
    outside the map ``{topic: "holding/10", payload: [raw values], table, address,
    unitId}``. All unit ids share one datastore.
    """

    config_model = ModbusServerConfig
    category = "modbus"
    inputs = 1
    outputs = 1
    color = "#E9967A"
    icon = "modbus.png"

    def __init__(self, flow: Any, config: ModbusServerConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        sizes = {
            "coil": config.coilsBufferSize,
            "discrete": config.discreteBufferSize,
            "holding": config.holdingBufferSize,
            "input": config.inputBufferSize,
        }
        self.store = FlowDatastore(sizes, self._on_client_write)
        self.points: dict[str, Point] = {}
        self.server: ModbusTcpServer | None = None

    async def start(self) -> None:
        try:
            points = load_points(self.cfg, self.flow.runtime.settings.data_dir)
        except ValueError as exc:
            self.status("red", "ring", str(exc)[:60])
            self.error(str(exc), {"payload": None})
            return
        self.points = {p.name: p for p in points}
        framer = FramerType.RTU if self.cfg.framer == "rtu" else FramerType.SOCKET
        address = (self.cfg.hostname or "0.0.0.0", self.cfg.serverPort)
        self.server = ModbusTcpServer(self.store, address=address, framer=framer)
        try:
            await self.server.serve_forever(background=True)
        except Exception as exc:
            self.server = None
            text = f"cannot listen on {address[0]}:{address[1]}: {exc}"
            self.status("red", "ring", text[:60])
            self.error(text, {"payload": None})
            return
        self.status("green", "dot", f"listening on {address[1]}")

    async def close(self, removed: bool) -> None:
        if self.server is not None:
            await self.server.shutdown()  # type: ignore[no-untyped-call]
            self.server = None

    # ----- flow -> datastore ------------------------------------------------------------

    def put(self, point: Point, value: Any) -> None:
        """Store ``value`` at ``point`` (encoded); ValueError naming the point."""
        try:
            raw = encode_value(point, value)
            self.store.set(point.table, point.address, raw)
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"point {point.describe()}: cannot store {value!r}: {exc}") from None

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        payload = msg.get("payload")
        topic = msg.get("topic")
        if isinstance(topic, str) and topic in self.points:
            self.put(self.points[topic], payload)
            return
        if isinstance(payload, dict) and ("register" in payload or "table" in payload):
            table = table_name(payload.get("register", payload.get("table")))
            value = payload.get("value")
            values = value if isinstance(value, list) else [value]
            try:
                self.store.set(table, int(payload.get("address", 0)), values)
            except (ValueError, TypeError, IndexError) as exc:
                raise ValueError(f"{table} {payload.get('address')}: {exc}") from None
            return
        if "address" in msg:
            spec: dict[str, Any] = {
                k: msg[k] for k in ("table", "address", "type", "byteOrder") if k in msg
            }
            for k in ("wordOrder", "scale", "offset", "length"):
                if k in msg:
                    spec[k] = msg[k]
            spec.setdefault("table", "holding")
            spec["name"] = f"{spec['table']} {spec['address']}"
            point = make_point(spec)
            if isinstance(payload, list):
                self.store.set(point.table, point.address, payload)
            else:
                self.put(point, payload)
            return
        if isinstance(payload, dict) and self.points:
            for name, value in payload.items():
                if name not in self.points:
                    raise ValueError(f"no point named '{name}' in the server's point map")
                self.put(self.points[name], value)
            return
        raise ValueError(
            f"no point named '{topic}' and no address (msg.address) to store the value at"
        )

    # ----- clients -> flow --------------------------------------------------------------

    def _on_client_write(self, unit: int, table: str, address: int, values: list[Any]) -> None:
        end = address + len(values)
        hit = False
        for p in self.points.values():
            if p.table == table and p.address < end and p.address + p.count > address:
                hit = True
                regs = self.store.get(table, p.address, p.count)
                value = decode_bits(p, regs) if p.is_bit else decode_registers(p, regs)
                self.send(
                    value_msg(value, topic=p.name, point=p.name, unit=p.unit or None, unitId=unit)
                )
        if not hit:
            self.send(
                {
                    "topic": f"{table}/{address}",
                    "payload": values,
                    "table": table,
                    "address": address,
                    "unitId": unit,
                }
            )
