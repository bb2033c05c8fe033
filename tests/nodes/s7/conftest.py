"""A real snap7 server (python-snap7's own, in process or in a subprocess) for the s7 tests."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from snap7.datatypes import S7WordLen
from snap7.server import Server
from snap7.type import SrvArea

from tests.tcp_proxy import free_port


def db1_bytes() -> bytearray:
    """DB1 with one value of every type at known offsets (see test_s7_nodes)."""
    db = bytearray(100)
    struct.pack_into(">h", db, 0, -1234)  # DB1,INT0
    db[2] = 0b0000_0010  # DB1,X2.1 true, X2.0 false
    struct.pack_into(">f", db, 4, 3.14)  # DB1,REAL4
    struct.pack_into(">i", db, 8, -100000)  # DB1,DINT8
    struct.pack_into(">H", db, 12, 0xBEEF)  # DB1,WORD12
    struct.pack_into(">I", db, 14, 0xDEADBEEF)  # DB1,DWORD14
    db[18] = 0x7F  # DB1,BYTE18
    struct.pack_into(">d", db, 20, 2.718281828)  # DB1,LREAL20
    db[28:30] = b"AB"  # DB1,CHAR28.2
    db[30:32] = bytes([20, 5])  # DB1,S30.20 = "hello"
    db[32:37] = b"hello"
    struct.pack_into(">3f", db, 60, 1.5, -2.5, 100.0)  # DB1,REAL60.3
    return db


def mk_bytes() -> bytearray:
    mk = bytearray(64)
    mk[10] = 0b0000_0001  # M10.0
    struct.pack_into(">H", mk, 20, 500)  # MW20
    struct.pack_into(">I", mk, 24, 123456)  # MD24
    struct.pack_into(">f", mk, 28, 1.5)  # MR28
    return mk


class CountingServer(Server):
    """snap7's server, counting the S7 requests (PDUs) it answers.

    It also honours the bit number of a bit write: python-snap7 3.3's server drops it and
    writes the whole byte (a real PLC sets just the bit, which is what the client sends).
    """

    requests = 0
    _bit: int | None = None

    def _process_request(self, request_data: bytes, client_address: Any) -> Any:
        self.requests += 1
        return super()._process_request(request_data, client_address)

    def _parse_address_specification(self, addr_spec: bytes) -> Any:
        parsed = super()._parse_address_specification(addr_spec)
        is_bit = parsed.get("word_len") == S7WordLen.BIT
        self._bit = int.from_bytes(addr_spec[9:12], "big") % 8 if is_bit else None
        return parsed

    def _write_to_memory_area(self, area: Any, db: int, start: int, data: bytearray) -> bool:
        if self._bit is None:
            return bool(super()._write_to_memory_area(area, db, start, data))
        buf = self.memory_areas[(area, db)]
        mask = 1 << self._bit
        buf[start] = buf[start] | mask if data[0] & 1 else buf[start] & ~mask
        return True


class S7Plc:
    def __init__(self) -> None:
        self.port = free_port()
        self.server = CountingServer(log=False)
        self.db1 = db1_bytes()
        self.db2 = bytearray(600)
        self.mk = mk_bytes()
        self.pe = bytearray(16)
        self.pa = bytearray(16)
        self.pe[0] = 0b10  # I0.1
        struct.pack_into(">H", self.pe, 2, 42)  # IW2
        self.pa[0] = 0b1  # Q0.0
        struct.pack_into(">I", self.pa, 4, 7)  # QD4
        self.server.register_area(SrvArea.DB, 1, self.db1)
        self.server.register_area(SrvArea.DB, 2, self.db2)
        self.server.register_area(SrvArea.MK, 0, self.mk)
        self.server.register_area(SrvArea.PE, 0, self.pe)
        self.server.register_area(SrvArea.PA, 0, self.pa)
        self.server.start_to("127.0.0.1", self.port)


@pytest.fixture
def s7plc() -> Iterator[S7Plc]:
    plc = S7Plc()
    yield plc
    plc.server.stop()


SERVER_SCRIPT = """
import struct, sys, time
from snap7.server import Server
from snap7.datatypes import S7WordLen
from snap7.type import SrvArea
port, value = int(sys.argv[1]), float(sys.argv[2])
db = bytearray(16)
struct.pack_into(">f", db, 0, value)
server = Server(log=False)
server.register_area(SrvArea.DB, 1, db)
server.start_to("127.0.0.1", port)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


class PlcProcess:
    """A snap7 server in its own process, so a test can kill it like a PLC losing power."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.script = tmp_path / "s7server.py"
        self.script.write_text(SERVER_SCRIPT)
        self.proc: subprocess.Popen[str] | None = None

    def start(self, value: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(self.script), str(self.port), str(value)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def plc_process(tmp_path: Path) -> Iterator[PlcProcess]:
    plc = PlcProcess(tmp_path)
    yield plc
    plc.kill()


async def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or cond}")
