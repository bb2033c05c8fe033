"""The datastore of the modbus-server node: four plain tables behind pymodbus's server."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext

__all__ = ["FC_TABLE", "FlowDatastore"]

FC_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input"}
FC_TABLE.update({fc: "holding" for fc in (3, 6, 16, 22, 23)})

WriteListener = Callable[[int, str, int, list[Any]], None]


class FlowDatastore(ModbusServerContext):
    """Coils, discrete inputs, holding and input registers shared by every unit id.

    pymodbus calls :meth:`async_getValues` / :meth:`async_setValues` for each request
    (its "old simulator" path, which hands the datastore the whole request); an
    address outside a table answers *illegal data address*. Writes by clients are
    reported to ``on_write(unit, table, address, values)``.
    """

    def __init__(self, sizes: dict[str, int], on_write: WriteListener | None = None) -> None:
        # deliberately not calling ModbusServerContext.__init__ (it wants device objects)
        self.old_simulator = True
        self.simdevices = []
        self._devices = {}
        self.tables: dict[str, list[Any]] = {
            "coil": [False] * sizes.get("coil", 10000),
            "discrete": [False] * sizes.get("discrete", 10000),
            "holding": [0] * sizes.get("holding", 10000),
            "input": [0] * sizes.get("input", 10000),
        }
        self.on_write = on_write

    def device_ids(self) -> list[int]:
        return [0]

    def set(self, table: str, address: int, values: Sequence[Any]) -> None:
        """Put values into a table (from the flow); IndexError when out of range."""
        data = self.tables[table]
        if address < 0 or address + len(values) > len(data):
            raise IndexError(
                f"{table} {address}..{address + len(values) - 1} is outside 0..{len(data) - 1}"
            )
        if table in ("coil", "discrete"):
            data[address : address + len(values)] = [bool(v) for v in values]
        else:
            regs = [int(v) for v in values]
            if any(not 0 <= r <= 0xFFFF for r in regs):
                raise ValueError("register values must be 0..65535")
            data[address : address + len(values)] = regs

    def get(self, table: str, address: int, count: int) -> list[Any]:
        return self.tables[table][address : address + count]

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        table = FC_TABLE.get(func_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        data = self.tables[table]
        if address < 0 or count < 0 or address + count > len(data):
            return ExcCodes.ILLEGAL_ADDRESS
        return data[address : address + count]

    async def async_setValues(
        self,
        device_id: int,
        func_code: int,
        address: int,
        values: Sequence[int] | Sequence[bool],
    ) -> ExcCodes | None:
        table = FC_TABLE.get(func_code)
        if table not in ("coil", "holding"):
            return ExcCodes.ILLEGAL_FUNCTION
        data = self.tables[table]
        if address < 0 or address + len(values) > len(data):
            return ExcCodes.ILLEGAL_ADDRESS
        data[address : address + len(values)] = list(values)
        if self.on_write is not None:
            self.on_write(device_id, table, address, list(values))
        return None
