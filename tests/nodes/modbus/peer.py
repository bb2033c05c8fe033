"""A real pymodbus TCP server for the Modbus tests, with a datastore the test fills.

Every request is counted on the server side (``Device.reads`` / ``Device.writes``), so a
test can prove how its points were packed. Units not in ``devices`` never answer (a
dead unit on a bus). Run as a script it serves in a subprocess a test can kill::

    python -m tests.nodes.modbus.peer PORT [--rtu] [--units 1,2] [--size 1000] [--fill]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer

FC_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input"}
FC_TABLE.update({fc: "holding" for fc in (3, 6, 16, 22, 23)})


@dataclass
class Device:
    """One unit: four tables and the requests it served."""

    size: int = 200
    tables: dict[str, list[Any]] = field(default_factory=dict)
    reads: list[tuple[str, int, int]] = field(default_factory=list)
    writes: list[tuple[str, int, list[Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for t in ("coil", "discrete"):
            self.tables.setdefault(t, [False] * self.size)
        for t in ("holding", "input"):
            self.tables.setdefault(t, [0] * self.size)


class CountingStore(ModbusServerContext):
    """pymodbus's request-level datastore hook: counts and serves every request."""

    def __init__(self, devices: dict[int, Device]) -> None:
        self.old_simulator = True
        self.simdevices = []
        self._devices = {}
        self.devices = devices
        self.requests = 0

    def device_ids(self) -> list[int]:
        return list(self.devices)

    def _dev(self, unit: int) -> Device:
        if unit not in self.devices:
            raise NoSuchIdException(f"no unit {unit}")
        return self.devices[unit]

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        dev = self._dev(device_id)
        table = FC_TABLE[func_code]
        self.requests += 1
        dev.reads.append((table, address, count))
        data = dev.tables[table]
        if address + count > len(data):
            return ExcCodes.ILLEGAL_ADDRESS
        return list(data[address : address + count])

    async def async_setValues(
        self,
        device_id: int,
        func_code: int,
        address: int,
        values: Sequence[int] | Sequence[bool],
    ) -> ExcCodes | None:
        dev = self._dev(device_id)
        table = FC_TABLE[func_code]
        self.requests += 1
        data = dev.tables[table]
        if address + len(values) > len(data):
            return ExcCodes.ILLEGAL_ADDRESS
        dev.writes.append((table, address, list(values)))
        data[address : address + len(values)] = list(values)
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(
    devices: dict[int, Device], port: int, rtu: bool = False
) -> tuple[ModbusTcpServer, CountingStore]:
    """Start a server on 127.0.0.1:port; returns it (call ``shutdown()``) and the store."""
    store = CountingStore(devices)
    server = ModbusTcpServer(
        store,
        address=("127.0.0.1", port),
        framer=FramerType.RTU if rtu else FramerType.SOCKET,
        ignore_missing_devices=True,  # a missing unit stays silent, like on a real bus
    )
    await server.serve_forever(background=True)
    return server, store


async def stop(server: ModbusTcpServer) -> None:
    """Shut a server down (pymodbus's shutdown is untyped)."""
    await server.shutdown()  # type: ignore[no-untyped-call]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--rtu", action="store_true")
    ap.add_argument("--units", default="1")
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--fill", action="store_true", help="holding[i] = i, changing each second")
    args = ap.parse_args()

    async def run() -> None:
        devices = {int(u): Device(args.size) for u in args.units.split(",")}
        for d in devices.values():
            d.tables["holding"] = list(range(args.size))
        await serve(devices, args.port, args.rtu)
        print("ready", flush=True)
        tick = 0
        while True:
            await asyncio.sleep(1.0)
            if args.fill:
                tick += 1
                for d in devices.values():
                    d.tables["holding"][0] = tick
                    d.reads.clear()

    asyncio.run(run())


if __name__ == "__main__":
    main()
