"""One Modbus connection (pymodbus) and its poll coordinator.

:class:`ModbusConnection` wraps a pymodbus async client (TCP, RTU over TCP, RTU or
ASCII over a serial line) and a :class:`~plantwire.nodes.common.poll.PollCoordinator`.
It turns pymodbus's answers into values and its failures into sentences a plant
engineer understands:

* the connection is gone -> ``ConnectionLost`` (the coordinator reconnects);
* a unit does not answer -> only that request's points are bad, and the unit is
  skipped for a short, growing while so a dead unit on a shared RTU bus does not slow
  the others down;
* an exception response (illegal data address, ...) for a packed request -> the request
  is split so every good point keeps updating and only the bad ones carry the error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from plantwire.nodes.common.poll import ConnectionLost, PollCoordinator

from .plan_codec import ReadRequest, decode_response, plan
from .points_codec import Point, PointError

__all__ = [
    "EXCEPTION_TEXT",
    "ModbusConnection",
    "ModbusDeviceError",
    "ModbusSettings",
    "UnitTimeout",
]

log = logging.getLogger("plantwire.modbus")
# pymodbus logs every missing answer with hex dumps; the nodes report failures themselves
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

EXCEPTION_TEXT = {
    1: "illegal function (the device does not support this table or function)",
    2: "illegal data address (the device has no such register)",
    3: "illegal data value (the device refused the value or count)",
    4: "device failure",
    5: "acknowledge (the device is busy with a long command)",
    6: "device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class UnitTimeout(Exception):
    """A unit did not answer in time (the connection itself is fine)."""


class ModbusDeviceError(Exception):
    """The device answered with a Modbus exception code."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"exception {code}: {EXCEPTION_TEXT.get(code, 'unknown exception code')}")


@dataclass(frozen=True)
class ModbusSettings:
    """Everything needed to open one connection."""

    kind: str = "tcp"  # "tcp" or "serial"
    host: str = "127.0.0.1"
    port: int = 502
    framer: str = "socket"  # "socket", "rtu", "ascii"
    serial_port: str = ""
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    unit_id: int = 1
    timeout: float = 1.0
    retries: int = 1
    max_registers: int = 125
    max_bits: int = 2000
    max_gap: int = 10
    backoff_min: float = 2.0
    backoff_max: float = 10.0
    unit_backoff: float = 5.0

    def label(self) -> str:
        if self.kind == "serial":
            return f"{self.serial_port} {self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"
        rtu = " (RTU over TCP)" if self.framer == "rtu" else ""
        return f"{self.host}:{self.port}{rtu}"


class ModbusConnection:
    """A pymodbus client plus the coordinator that polls it (see the module docstring)."""

    def __init__(self, settings: ModbusSettings, name: str = "") -> None:
        self.settings = settings
        self.name = name or f"modbus {settings.label()}"
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._dead_units: dict[int, tuple[float, float]] = {}  # unit -> (until, backoff)
        self._split: dict[ReadRequest, list[ReadRequest]] = {}
        self.coordinator: PollCoordinator[Point] = PollCoordinator(
            self.name,
            connect=self._connect,
            disconnect=self._disconnect,
            plan=self.plan,
            execute=self.execute,
            backoff_min=settings.backoff_min,
            backoff_max=max(settings.backoff_min, settings.backoff_max),
            request_timeout=settings.timeout * (settings.retries + 1) + 5.0,
        )

    # ----- connection -----------------------------------------------------------------

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        s = self.settings
        framer = {"rtu": FramerType.RTU, "ascii": FramerType.ASCII}.get(s.framer, FramerType.SOCKET)
        if s.kind == "serial":
            return AsyncModbusSerialClient(
                s.serial_port,
                framer=FramerType.ASCII if s.framer == "ascii" else FramerType.RTU,
                baudrate=s.baudrate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
                timeout=s.timeout,
                retries=s.retries,
                reconnect_delay=0,
            )
        return AsyncModbusTcpClient(
            s.host,
            port=s.port,
            framer=framer,
            timeout=s.timeout,
            retries=s.retries,
            reconnect_delay=0,  # the coordinator reconnects, with backoff and one log line
        )

    async def _connect(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = self._make_client()
        self._split.clear()
        self._dead_units.clear()
        if not await self.client.connect():
            self.client.close()
            self.client = None
            raise ConnectionError(await self._why_not())

    async def _why_not(self) -> str:
        s = self.settings
        if s.kind == "serial":
            return f"cannot open serial port {s.serial_port}"
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(s.host, s.port), s.timeout)
            writer.close()
        except TimeoutError:
            return f"no answer from {s.host}:{s.port} within {s.timeout:g} s"
        except OSError as exc:
            text = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
            return f"cannot connect to {s.host}:{s.port}: {text}"
        return f"cannot connect to {s.host}:{s.port}"

    async def _disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    def plan(self, points: list[Point]) -> list[ReadRequest]:
        s = self.settings
        self._split.clear()
        return plan(
            points,
            default_unit=s.unit_id,
            max_registers=s.max_registers,
            max_bits=s.max_bits,
            max_gap=s.max_gap,
        )

    def _live_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        client = self.client
        if client is None or not client.connected:
            raise ConnectionLost(f"connection to {self.settings.label()} closed")
        return client

    # ----- reads ------------------------------------------------------------------------

    async def read_raw(self, unit: int, table: str, address: int, count: int) -> list[Any]:
        """Read ``count`` registers/bits; ModbusDeviceError on an exception response,
        UnitTimeout when the unit does not answer, ConnectionLost when the link is gone."""
        client = self._live_client()
        try:
            if table == "holding":
                rr = await client.read_holding_registers(address, count=count, device_id=unit)
            elif table == "input":
                rr = await client.read_input_registers(address, count=count, device_id=unit)
            elif table == "coil":
                rr = await client.read_coils(address, count=count, device_id=unit)
            else:
                rr = await client.read_discrete_inputs(address, count=count, device_id=unit)
        except ConnectionException as exc:
            raise ConnectionLost(f"connection to {self.settings.label()} lost: {exc}") from None
        except ModbusIOException:
            if not client.connected:
                raise ConnectionLost(f"connection to {self.settings.label()} lost") from None
            raise UnitTimeout(
                f"unit {unit} did not answer within {self.settings.timeout:g} s"
            ) from None
        except ModbusException as exc:
            raise RuntimeError(f"unit {unit}: {exc}") from None
        if rr.isError():
            raise ModbusDeviceError(int(getattr(rr, "exception_code", 0)))
        if table in ("coil", "discrete"):
            return list(rr.bits[:count])
        return list(rr.registers)

    async def _read(self, request: ReadRequest) -> dict[Point, object]:
        values = await self.read_raw(request.unit_id, request.table, request.address, request.count)
        return decode_response(request, values)

    async def execute(self, request: ReadRequest) -> dict[Point, object]:
        """Read one planned request (the coordinator's ``execute``)."""
        unit = request.unit_id
        dead = self._dead_units.get(unit)
        now = time.monotonic()
        if dead is not None and now < dead[0]:
            raise UnitTimeout(f"unit {unit} did not answer within {self.settings.timeout:g} s")
        split = self._split.get(request)
        try:
            if split is not None:
                return await self._read_split(split)
            out = await self._read(request)
        except UnitTimeout:
            backoff = min(dead[1] * 2, 60.0) if dead else self.settings.unit_backoff
            self._dead_units[unit] = (time.monotonic() + backoff, backoff)
            raise
        except ModbusDeviceError as exc:
            if len(request.points) == 1:
                return {request.points[0]: PointError(str(exc))}
            # find the points the device refuses; the rest keep updating
            parts = [self._single(p, request) for p in request.points]
            self._split[request] = parts
            return await self._read_split(parts)
        self._dead_units.pop(unit, None)
        return out

    @staticmethod
    def _single(point: Point, request: ReadRequest) -> ReadRequest:
        return ReadRequest(request.unit_id, request.table, point.address, point.count, (point,))

    async def _read_split(self, parts: Sequence[ReadRequest]) -> dict[Point, object]:
        out: dict[Point, object] = {}
        for part in parts:
            try:
                out.update(await self._read(part))
            except ModbusDeviceError as exc:
                for p in part.points:
                    out[p] = PointError(str(exc))
        return out

    # ----- writes ------------------------------------------------------------------------

    async def write(self, unit: int, table: str, address: int, values: list[Any]) -> None:
        """Write registers (holding) or bits (coil) between polls; raises with a reason."""

        async def op() -> None:
            client = self._live_client()
            try:
                if table == "coil":
                    if len(values) == 1:
                        rr = await client.write_coil(address, bool(values[0]), device_id=unit)
                    else:
                        bits = [bool(v) for v in values]
                        rr = await client.write_coils(address, bits, device_id=unit)
                elif table == "holding":
                    regs = [int(v) for v in values]
                    if len(regs) == 1:
                        rr = await client.write_register(address, regs[0], device_id=unit)
                    else:
                        rr = await client.write_registers(address, regs, device_id=unit)
                else:
                    raise ValueError(f"the {table} table is read-only")
            except ConnectionException as exc:
                raise ConnectionLost(f"connection to {self.settings.label()} lost: {exc}") from None
            except ModbusIOException:
                raise UnitTimeout(
                    f"unit {unit} did not answer within {self.settings.timeout:g} s"
                ) from None
            if rr.isError():
                raise ModbusDeviceError(int(getattr(rr, "exception_code", 0)))

        await self.coordinator.call(op)
