"""Modbus TCP server (pymodbus) showing the plant.

Word order for 32-bit values is big-endian: the register at the lower address holds the
high 16 bits (float32 "ABCD"). Unit / device id: any (the server answers every id).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from plantwire.sim.engine import Controls
from plantwire.sim.plant import Command, Snapshot

RegType = Literal["float32", "uint32", "uint16"]


@dataclass(frozen=True)
class Register:
    """One value in the register map."""

    address: int
    key: str
    type: RegType
    unit: str
    description: str

    @property
    def size(self) -> int:
        """Number of 16-bit registers it takes."""
        return 1 if self.type == "uint16" else 2


INPUT_REGISTERS: tuple[Register, ...] = (
    Register(0, "silo_level", "float32", "%", "Silo level"),
    Register(2, "line_speed", "float32", "bottles/min", "Actual line speed"),
    Register(4, "motor_temp", "float32", "°C", "Motor temperature"),
    Register(6, "vibration", "float32", "mm/s", "Motor vibration RMS"),
    Register(8, "power_kw", "float32", "kW", "Electrical power"),
    Register(10, "wear_pct", "float32", "%", "Bearing wear (100 % = failure)"),
    Register(12, "run_hours", "float32", "h", "Motor running hours"),
    Register(14, "bottle_count", "uint32", "bottles", "Bottles filled"),
    Register(16, "good_count", "uint32", "bottles", "Good bottles"),
    Register(18, "reject_count", "uint32", "bottles", "Rejected bottles"),
    Register(20, "energy_wh", "uint32", "Wh", "Energy meter (kWh x 1000)"),
    Register(22, "state", "uint16", "", "Machine state: 0 idle, 1 running, 2 fault"),
    Register(
        23, "fault_code", "uint16", "", "Fault: 0 none, 1 overtemp, 2 silo empty, 3 jam, 4 bearing"
    ),
    Register(24, "delivery_state", "uint16", "", "Delivery: 0 none, 1 ordered, 2 unloading"),
    Register(25, "sim_seconds", "uint32", "s", "Simulated seconds since the simulator started"),
)
"""Input registers (function code 4), read-only process values."""

HOLDING_REGISTERS: tuple[Register, ...] = (
    Register(0, "line_speed_sp", "float32", "bottles/min", "Line speed setpoint (0..600)"),
    Register(2, "max_motor_temp", "float32", "°C", "Motor temperature trip limit (40..150)"),
    Register(4, "delivery_amount", "float32", "%", "Silo % one delivery adds (1..100)"),
)
"""Holding registers (function codes 3, 6, 16), read/write setpoints."""

COILS: tuple[tuple[int, Command, str], ...] = (
    (0, Command.START, "Start the line (write 1)"),
    (1, Command.STOP, "Stop the line (write 1)"),
    (2, Command.RESET_FAULT, "Reset a fault whose cause is gone (write 1)"),
    (3, Command.ORDER_DELIVERY, "Order a silo delivery (write 1)"),
    (4, Command.REPAIR, "Repair the motor bearing: wear to 0 (write 1; machine stopped)"),
    (5, Command.RESET_COUNTERS, "Reset the bottle counters (write 1)"),
)
"""Coils (function codes 1, 5, 15): one-shot commands; they always read back 0."""

DISCRETE_INPUTS: tuple[tuple[int, str, str], ...] = (
    (0, "running", "Machine running"),
    (1, "faulted", "Machine in fault"),
    (2, "silo_low", "Silo level under 10 %"),
    (3, "delivery_active", "Delivery ordered or unloading"),
    (4, "maintenance_due", "Vibration above 2.8 mm/s"),
)
"""Discrete inputs (function code 2), status flags."""

_N_INPUT = 32
_N_HOLDING = 16
_N_BITS = 16


def encode(reg: Register, value: float) -> list[int]:
    """Registers for one value, high word first."""
    if reg.type == "float32":
        raw = struct.pack(">f", float(value))
    elif reg.type == "uint32":
        raw = struct.pack(">I", int(value) % (1 << 32))
    else:
        raw = struct.pack(">H", int(value) & 0xFFFF)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def decode_float(words: list[int]) -> float:
    """A float32 from two registers, high word first."""
    value: float = struct.unpack(">f", struct.pack(">HH", words[0], words[1]))[0]
    return value


def _bits_to_registers(bits: list[bool]) -> list[int]:
    return [
        sum(1 << i for i, bit in enumerate(bits[o : o + 16]) if bit)
        for o in range(0, len(bits), 16)
    ]


class ModbusAdapter:
    """pymodbus ``ModbusTcpServer`` whose register images are refreshed every tick."""

    name = "modbus"

    def __init__(self, controls: Controls, host: str, port: int) -> None:
        self.controls = controls
        self.host = host
        self.port = port
        self._ir = [0] * _N_INPUT
        self._hr = [0] * _N_HOLDING
        self._di = [False] * _N_BITS
        device = SimDevice(
            id=0,
            simdata=(
                [SimData(0, values=[False] * _N_BITS, datatype=DataType.BITS)],
                [SimData(0, values=[False] * _N_BITS, datatype=DataType.BITS)],
                [SimData(0, values=[0] * _N_HOLDING, datatype=DataType.REGISTERS)],
                [SimData(0, values=[0] * _N_INPUT, datatype=DataType.REGISTERS, readonly=True)],
            ),
            action=self._action,
        )
        self._server = ModbusTcpServer(device, address=(host, port))

    def endpoint(self) -> str:
        """Where Modbus clients connect."""
        return f"modbus tcp://{self.host}:{self.port} (any unit id)"

    async def start(self) -> None:
        """Listen on the configured port."""
        try:
            await self._server.serve_forever(background=True)
        except RuntimeError as exc:
            raise OSError(f"Modbus server cannot listen on {self.host}:{self.port}") from exc

    async def stop(self) -> None:
        """Close the listener and all connections."""
        await self._server.shutdown()  # type: ignore[no-untyped-call]

    async def publish(self, snap: Snapshot) -> None:
        """Refresh the register images from the snapshot."""
        for reg in INPUT_REGISTERS:
            words = encode(reg, getattr(snap, reg.key))
            self._ir[reg.address : reg.address + reg.size] = words
        for reg in HOLDING_REGISTERS:
            words = encode(reg, getattr(snap, reg.key))
            self._hr[reg.address : reg.address + reg.size] = words
        for address, key, _ in DISCRETE_INPUTS:
            self._di[address] = bool(getattr(snap, key))

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Called by pymodbus on every access: serve the images, take writes to the plant."""
        if function_code in (1, 5, 15):  # coils
            if values is not None:
                self._write_coils(address, [bool(v) for v in values])
            registers[:1] = [0]
        elif function_code == 2:
            registers[:1] = _bits_to_registers(self._di)
        elif function_code == 4:
            registers[: len(self._ir)] = self._ir
        else:  # holding registers
            if values is not None:
                self._write_holding(address, [int(v) for v in values])
            registers[: len(self._hr)] = self._hr
        return None

    def _write_coils(self, address: int, bits: list[bool]) -> None:
        for offset, bit in enumerate(bits):
            for coil, cmd, _ in COILS:
                if coil == address + offset and bit:
                    self.controls.command(cmd, "modbus")

    def _write_holding(self, address: int, words: list[int]) -> None:
        image = list(self._hr)
        image[address : address + len(words)] = words
        for reg in HOLDING_REGISTERS:
            if reg.address < address + len(words) and address < reg.address + reg.size:
                value = decode_float(image[reg.address : reg.address + 2])
                kept = self.controls.set_setpoint(reg.key, value, "modbus")
                image[reg.address : reg.address + 2] = encode(reg, kept)
        self._hr = image
