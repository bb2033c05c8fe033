"""S7 server (python-snap7's pure-Python ``snap7.server.Server``) showing the plant.

DB1 holds process values (rewritten every tick), DB2 the setpoints (client writes reach
the plant), M bytes 0.. the one-shot command bits (the simulator clears a bit once it has
acted on it). All values are big-endian as in a real S7 CPU. Rack 0, slot 1 (any).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from snap7.datatypes import S7Area
from snap7.server import Server
from snap7.type import SrvArea

from plantwire.sim.engine import Controls
from plantwire.sim.plant import Command, Snapshot

S7Type = Literal["REAL", "DINT", "INT"]


@dataclass(frozen=True)
class S7Value:
    """One value in a data block."""

    offset: int
    key: str
    type: S7Type
    unit: str
    description: str

    @property
    def address(self) -> str:
        """Siemens notation inside its DB (DBD / DBW)."""
        return f"{'DBW' if self.type == 'INT' else 'DBD'}{self.offset}"


DB_PROCESS = 1
DB_SETPOINTS = 2
DB1: tuple[S7Value, ...] = (
    S7Value(0, "silo_level", "REAL", "%", "Silo level"),
    S7Value(4, "line_speed", "REAL", "bottles/min", "Actual line speed"),
    S7Value(8, "motor_temp", "REAL", "°C", "Motor temperature"),
    S7Value(12, "vibration", "REAL", "mm/s", "Motor vibration RMS"),
    S7Value(16, "power_kw", "REAL", "kW", "Electrical power"),
    S7Value(20, "wear_pct", "REAL", "%", "Bearing wear"),
    S7Value(24, "run_hours", "REAL", "h", "Motor running hours"),
    S7Value(28, "bottle_count", "DINT", "bottles", "Bottles filled (uint32 bits)"),
    S7Value(32, "good_count", "DINT", "bottles", "Good bottles (uint32 bits)"),
    S7Value(36, "reject_count", "DINT", "bottles", "Rejected bottles (uint32 bits)"),
    S7Value(40, "energy_wh", "DINT", "Wh", "Energy meter, kWh x 1000 (uint32 bits)"),
    S7Value(44, "state", "INT", "", "Machine state: 0 idle, 1 running, 2 fault"),
    S7Value(
        46, "fault_code", "INT", "", "Fault code (0 none, 1 overtemp, 2 silo, 3 jam, 4 bearing)"
    ),
    S7Value(48, "delivery_state", "INT", "", "Delivery: 0 none, 1 ordered, 2 unloading"),
)
"""DB1: process values."""
DB1_FLAGS_BYTE = 50
DB1_FLAGS: tuple[tuple[int, str, str], ...] = (
    (0, "running", "Machine running"),
    (1, "faulted", "Machine in fault"),
    (2, "silo_low", "Silo level under 10 %"),
    (3, "delivery_active", "Delivery ordered or unloading"),
    (4, "maintenance_due", "Vibration above 2.8 mm/s"),
)
"""DB1.DBX50.n status bits."""
DB1_SIZE = 52

DB2: tuple[S7Value, ...] = (
    S7Value(0, "line_speed_sp", "REAL", "bottles/min", "Line speed setpoint (0..600)"),
    S7Value(4, "max_motor_temp", "REAL", "°C", "Motor temperature trip limit (40..150)"),
    S7Value(8, "delivery_amount", "REAL", "%", "Silo % one delivery adds (1..100)"),
)
"""DB2: setpoints (read/write)."""
DB2_SIZE = 12

M_COMMANDS: tuple[tuple[int, Command, str], ...] = (
    (0, Command.START, "Start the line"),
    (1, Command.STOP, "Stop the line"),
    (2, Command.RESET_FAULT, "Reset a fault whose cause is gone"),
    (3, Command.ORDER_DELIVERY, "Order a silo delivery"),
    (4, Command.REPAIR, "Repair the motor bearing (machine stopped)"),
    (5, Command.RESET_COUNTERS, "Reset the bottle counters"),
)
"""M0.n command bits: set to 1, the simulator acts and clears the bit."""
M_SIZE = 16

_FORMATS = {"REAL": ">f", "DINT": ">I", "INT": ">H"}


def pack(value: S7Value, number: float) -> bytes:
    """Bytes of one value (DINT carries the uint32 bit pattern)."""
    if value.type == "REAL":
        return struct.pack(">f", float(number))
    mask = 0xFFFFFFFF if value.type == "DINT" else 0xFFFF
    return struct.pack(_FORMATS[value.type], int(number) & mask)


class S7Adapter:
    """snap7 server with DB1, DB2 and M registered; synchronised with the plant each tick."""

    name = "s7"

    def __init__(self, controls: Controls, host: str, port: int) -> None:
        self.controls = controls
        self.host = host
        self.port = port
        self._db1 = bytearray(DB1_SIZE)
        self._db2 = bytearray(DB2_SIZE)
        self._mk = bytearray(M_SIZE)
        self._db2_published = bytes(DB2_SIZE)
        self._server = Server(log=False)
        self._server.register_area(SrvArea.DB, DB_PROCESS, self._db1)
        self._server.register_area(SrvArea.DB, DB_SETPOINTS, self._db2)
        self._server.register_area(SrvArea.MK, 0, self._mk)

    def endpoint(self) -> str:
        """Where S7 clients connect."""
        return f"s7 iso-on-tcp://{self.host}:{self.port} (rack 0, slot 1)"

    async def start(self) -> None:
        """Listen (in the library's own threads)."""
        self._server.host = self.host
        try:
            self._server.start(tcp_port=self.port)
        except Exception as exc:
            raise OSError(f"S7 server cannot listen on {self.host}:{self.port}: {exc}") from exc

    async def stop(self) -> None:
        """Stop the server threads and close the port."""
        self._server.stop()

    async def publish(self, snap: Snapshot) -> None:
        """Take command bits and setpoint writes, then write the snapshot into the DBs."""
        with self._server.area_locks[(S7Area.MK, 0)]:
            mbyte = self._mk[0]
            if mbyte:
                self._mk[0] = 0
        for bit, cmd, _ in M_COMMANDS:
            if mbyte & (1 << bit):
                self.controls.command(cmd, "s7")
        with self._server.area_locks[(S7Area.DB, DB_SETPOINTS)]:
            current = bytes(self._db2)
            if current != self._db2_published:
                for value in DB2:
                    chunk = current[value.offset : value.offset + 4]
                    if chunk != self._db2_published[value.offset : value.offset + 4]:
                        number = struct.unpack(">f", chunk)[0]
                        self.controls.set_setpoint(value.key, number, "s7")
            for value in DB2:
                number = getattr(self.controls.plant, value.key)
                self._db2[value.offset : value.offset + 4] = pack(value, number)
            self._db2_published = bytes(self._db2)
        image = bytearray(DB1_SIZE)
        for value in DB1:
            raw = pack(value, getattr(snap, value.key))
            image[value.offset : value.offset + len(raw)] = raw
        image[DB1_FLAGS_BYTE] = sum(1 << bit for bit, key, _ in DB1_FLAGS if getattr(snap, key))
        with self._server.area_locks[(S7Area.DB, DB_PROCESS)]:
            self._db1[:] = image
