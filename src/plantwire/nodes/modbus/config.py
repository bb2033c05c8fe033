"""modbus-client: the config node that owns one Modbus connection and its poll coordinator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import Field, field_validator, model_validator

from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseFloat, LooseInt, NodeConfig, node_type

from .client import ModbusConnection, ModbusSettings

__all__ = ["STATUS", "ModbusClientConfig", "ModbusClientNode"]

STATUS = {
    "connected": ("green", "dot", "connected"),
    "connecting": ("yellow", "ring", "connecting"),
    "reconnecting": ("red", "ring", "reconnecting"),
    "stopped": ("grey", "ring", "stopped"),
}

_PARITY = {"none": "N", "n": "N", "even": "E", "e": "E", "odd": "O", "o": "O"}
_PARITY.update({"mark": "M", "m": "M", "space": "S", "s": "S"})


class ModbusClientConfig(NodeConfig):
    """The modbus-client node as node-red-contrib-modbus writes it, plus Plantwire's
    request-packing settings."""

    clienttype: str = Field(
        "tcp",
        description='"tcp" (Modbus TCP, or RTU over TCP with tcpType), "simpleser" or '
        '"serial" (RTU/ASCII over a serial line).',
    )
    bufferCommands: LooseBool = Field(
        True, description="Queue commands (always on: requests share one queue)."
    )
    stateLogEnabled: LooseBool = Field(False, description="Log connection state changes.")
    queueLogEnabled: LooseBool = Field(False, description="Accepted for compatibility.")
    failureLogEnabled: LooseBool = Field(True, description="Accepted for compatibility.")
    tcpHost: str = Field("127.0.0.1", description="Host name or address of the device.")
    tcpPort: LooseInt = Field(502, description="TCP port of the device.")
    tcpType: str = Field(
        "DEFAULT",
        description='"DEFAULT": Modbus TCP framing; "TPC-RTU-BUFFERED" (or "RTU"): RTU '
        "frames over TCP, e.g. a serial gateway in transparent mode.",
    )
    serialPort: str = Field("/dev/ttyUSB", description="Serial port (/dev/ttyUSB0, COM4).")
    serialType: str = Field(
        "RTU-BUFFERD", description='Serial framing: "RTU-BUFFERD" or "RTU" (RTU), "ASCII".'
    )
    serialBaudrate: LooseInt = Field(9600, description="Baud rate.")
    serialDatabits: LooseInt = Field(8, description="Data bits (5..8).")
    serialStopbits: LooseFloat = Field(1, description="Stop bits (1 or 2).")
    serialParity: str = Field("none", description="Parity: none, even, odd, mark, space.")
    serialConnectionDelay: LooseInt = Field(
        100, description="Accepted for compatibility (ms after opening the port)."
    )
    serialAsciiResponseStartDelimiter: str = Field(
        "0x3A", description="Accepted for compatibility."
    )
    unit_id: LooseInt = Field(1, description="Unit id used by points without their own.")
    commandDelay: LooseInt = Field(1, description="Accepted for compatibility (ms).")
    clientTimeout: LooseInt = Field(
        1000, description="Milliseconds to wait for each answer before it counts as missing."
    )
    reconnectOnTimeout: LooseBool = Field(
        True, description="Accepted for compatibility (a lost connection always reconnects)."
    )
    reconnectTimeout: LooseInt = Field(
        2000, description="Milliseconds before the first reconnect; doubles up to 10 s."
    )
    parallelUnitIdsAllowed: LooseBool = Field(True, description="Accepted for compatibility.")
    showErrors: LooseBool = Field(False, description="Accepted for compatibility.")
    showWarnings: LooseBool = Field(True, description="Accepted for compatibility.")
    showLogs: LooseBool = Field(True, description="Accepted for compatibility.")
    retries: LooseInt = Field(
        1, description="Times a request is repeated when the device does not answer."
    )
    maxRegisters: LooseInt = Field(
        125, description="Most registers read in one request (125 is the protocol limit)."
    )
    maxBits: LooseInt = Field(
        2000, description="Most coils/discrete inputs read in one request (protocol: 2000)."
    )
    maxGap: LooseInt = Field(
        10,
        description="Largest run of unused registers read to join two points into one "
        "request (0: only adjacent points).",
    )

    @field_validator("clienttype", "tcpType", "serialType", "serialParity", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    @model_validator(mode="after")
    def _check(self) -> ModbusClientConfig:
        if self.clienttype not in ("tcp", "simpleser", "serial"):
            raise ValueError(f"clienttype: '{self.clienttype}' is not tcp, simpleser or serial")
        if self.clienttype == "tcp":
            if not 0 < self.tcpPort < 65536:
                raise ValueError(f"tcpPort: {self.tcpPort} is not a TCP port")
            if not self.tcpHost.strip():
                raise ValueError("tcpHost: a host is needed")
        elif not self.serialPort.strip():
            raise ValueError("serialPort: a serial port is needed")
        if (self.serialParity or "none").lower() not in _PARITY:
            raise ValueError(f"serialParity: '{self.serialParity}' is not none/even/odd")
        if not 0 <= self.unit_id <= 255:
            raise ValueError(f"unit_id: {self.unit_id} is not 0..255")
        if self.clientTimeout <= 0:
            raise ValueError("clientTimeout: must be more than 0 ms")
        if self.retries < 0:
            raise ValueError("retries: must not be negative")
        if not 1 <= self.maxRegisters <= 125:
            raise ValueError(f"maxRegisters: {self.maxRegisters} is not 1..125")
        if not 1 <= self.maxBits <= 2000:
            raise ValueError(f"maxBits: {self.maxBits} is not 1..2000")
        if self.maxGap < 0:
            raise ValueError("maxGap: must not be negative")
        return self

    def settings(self) -> ModbusSettings:
        """The connection settings this configuration describes."""
        serial = self.clienttype != "tcp"
        tcp_type = (self.tcpType or "DEFAULT").upper()
        if serial:
            framer = "ascii" if (self.serialType or "").upper() == "ASCII" else "rtu"
        else:
            framer = "rtu" if "RTU" in tcp_type else "socket"
        simple = self.clienttype == "simpleser"
        backoff = max(0.05, self.reconnectTimeout / 1000.0)
        return ModbusSettings(
            kind="serial" if serial else "tcp",
            host=self.tcpHost.strip(),
            port=self.tcpPort,
            framer=framer,
            serial_port=self.serialPort.strip(),
            baudrate=self.serialBaudrate,
            bytesize=8 if simple else self.serialDatabits,
            parity="N" if simple else _PARITY[(self.serialParity or "none").lower()],
            stopbits=1 if simple else int(self.serialStopbits),
            unit_id=self.unit_id,
            timeout=self.clientTimeout / 1000.0,
            retries=self.retries,
            max_registers=self.maxRegisters,
            max_bits=self.maxBits,
            max_gap=self.maxGap,
            backoff_min=backoff,
            backoff_max=max(backoff, 10.0),
        )


@node_type("modbus-client")
class ModbusClientNode(Node):
    """A connection to one Modbus device (or one serial bus / gateway with several
    units), shared by every modbus-read and modbus-write node that uses it.

    One poll coordinator per connection: every modbus-read node subscribes its points,
    and each cycle reads them all in as few requests as the device allows (contiguous
    points are packed up to ``maxRegisters``/``maxBits``, bridging gaps of up to
    ``maxGap`` unused registers). Writes go between the poll requests. The connection
    opens when the first node starts using it, closes after the last, and reconnects
    with growing delays (``reconnectTimeout`` up to 10 s) when it breaks.

    A unit that does not answer within ``clientTimeout`` only marks its own points bad
    and is skipped for a few seconds, so the other units on the bus keep updating.
    """

    config_model = ModbusClientConfig
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0

    def __init__(self, flow: Any, config: ModbusClientConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.settings = config.settings()
        self.connection = ModbusConnection(self.settings, name=self.name or "")
        self.users: dict[str, Node] = {}
        self._keepers: dict[str, Any] = {}

    @property
    def coordinator(self) -> Any:
        """The connection's PollCoordinator."""
        return self.connection.coordinator

    def label(self) -> str:
        return self.settings.label()

    async def register(
        self, node: Node, listener: Callable[[str, str], None], keep_open: bool = False
    ) -> None:
        """A node starts using the connection; the first one opens it. ``keep_open``
        (writers) keeps it connected even when no node polls."""
        self.users[node.id] = node
        self.coordinator.add_state_listener(listener)
        if keep_open and node.id not in self._keepers:
            # the coordinator connects only while it has subscribers: an empty one
            # keeps the connection up for writes
            self._keepers[node.id] = self.coordinator.subscribe([], 3600.0, lambda r: None)
        if len(self.users) == 1:
            await self.coordinator.start()

    async def deregister(self, node: Node, listener: Callable[[str, str], None]) -> None:
        """A node stops using the connection; after the last one it is closed."""
        self.users.pop(node.id, None)
        keeper = self._keepers.pop(node.id, None)
        if keeper is not None:
            self.coordinator.unsubscribe(keeper)
        self.coordinator.remove_state_listener(listener)
        if not self.users:
            # let the coordinator see the unsubscribe first: on Python 3.11 a cancel that
            # meets a just-finished asyncio.wait_for is swallowed and stop() would hang
            for _ in range(5):
                await asyncio.sleep(0)
            await self.coordinator.stop()

    async def close(self, removed: bool) -> None:
        await self.coordinator.stop()
        self.users.clear()
        self._keepers.clear()
