"""One python-snap7 client per s7-endpoint, driven from asyncio.

python-snap7 3.x is pure Python and synchronous: every call runs in a worker thread
(``asyncio.to_thread``), one at a time (the PollCoordinator's lock serialises reads and
writes; this class also holds a thread lock so a close never interleaves with a call).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from snap7.client import Client
from snap7.error import S7ConnectionError, S7Error, S7ProtocolError, S7TimeoutError
from snap7.type import Area, WordLen

from plantwire.nodes.common.device import BadPoint
from plantwire.nodes.common.poll import ConnectionLost

from .address_codec import S7Address, S7Block, S7ReadRequest, decode, encode

__all__ = ["S7Link", "S7Settings", "explain"]

log = logging.getLogger("plantwire.s7")

_AREA = {"DB": Area.DB, "M": Area.MK, "I": Area.PE, "Q": Area.PA}
CONNECTION_TYPES = {"PG": 1, "OP": 2, "S7 basic": 3}

_ITEM_CODES = {
    "0a": "{area} does not exist in the PLC",
    "05": "bytes {start}..{end} are outside {area} (address out of range)",
    "03": "access to {area} was refused by the PLC",
    "06": "{area} does not allow this data type",
    "07": "the data type does not match {area}",
    "01": "hardware fault reading {area}",
}


@dataclass(frozen=True)
class S7Settings:
    host: str
    port: int = 102
    rack: int = 0
    slot: int = 1
    connection_type: int = 1
    timeout: float = 5.0


def explain(block: S7Block | None, exc: BaseException) -> str:
    """A library error as a plant engineer reads it (which area, which bytes, why)."""
    text = str(exc) or type(exc).__name__
    m = re.search(r"\(0x([0-9a-fA-F]{2})\)", text)
    if block is not None and m and m.group(1).lower() in _ITEM_CODES:
        area = f"DB{block.db}" if block.area == "DB" else f"area {block.area}"
        return _ITEM_CODES[m.group(1).lower()].format(
            area=area, start=block.start, end=block.start + block.size - 1
        )
    return text


class S7Link:
    """A snap7 Client and the blocking calls the s7 nodes need, made awaitable."""

    def __init__(self, settings: S7Settings) -> None:
        self.settings = settings
        self.client: Client | None = None
        self.pdu_size = 480
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        s = self.settings
        return f"{s.host}:{s.port} rack {s.rack} slot {s.slot}"

    # ----- connection ---------------------------------------------------------------------

    def _connect(self) -> None:
        with self._lock:
            self._connect_locked()

    def _connect_locked(self) -> None:
        self._close_locked()
        client = Client()
        client.set_connection_type(self.settings.connection_type)
        try:
            client.connect(
                self.settings.host, self.settings.rack, self.settings.slot, self.settings.port
            )
        except S7Error as exc:
            raise ConnectionError(f"cannot connect to PLC {self.label}: {exc}") from None
        if client.connection is not None:
            client.connection.timeout = self.settings.timeout
            sock = getattr(client.connection, "socket", None)
            if sock is not None:
                sock.settimeout(self.settings.timeout)
        self.client = client
        self.pdu_size = client.pdu_length or 240

    def _close_locked(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.disconnect()
            except Exception as exc:  # closing a dead socket
                log.debug("S7 %s: disconnect: %s", self.label, exc)

    def _close(self) -> None:
        with self._lock:
            self._close_locked()

    async def connect(self) -> None:
        await asyncio.to_thread(self._connect)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _need(self) -> Client:
        if self.client is None or not self.client.get_connected():
            raise ConnectionLost(f"PLC {self.label} is not connected")
        return self.client

    @staticmethod
    def _lost(exc: BaseException) -> bool:
        return isinstance(exc, (S7ConnectionError, S7TimeoutError, OSError, TimeoutError))

    # ----- reads --------------------------------------------------------------------------

    def _read_block(self, client: Client, block: S7Block) -> bytearray:
        return client.read_area(_AREA[block.area], block.db, block.start, block.size)

    def _values(self, block: S7Block, data: bytes | bytearray, out: dict[S7Address, Any]) -> None:
        for p in block.points:
            chunk = data[p.start - block.start : p.start - block.start + p.size]
            try:
                out[p] = decode(p, chunk)
            except ValueError as exc:
                out[p] = BadPoint(str(exc))

    def _read(self, request: S7ReadRequest) -> dict[S7Address, Any]:
        with self._lock:
            client = self._need()
            out: dict[S7Address, Any] = {}
            try:
                if len(request.blocks) == 1:
                    block = request.blocks[0]
                    try:
                        self._values(block, self._read_block(client, block), out)
                    except S7ProtocolError as exc:
                        for p in block.points:
                            out[p] = BadPoint(explain(block, exc))
                    return out
                items = [
                    {"area": _AREA[b.area], "db_number": b.db, "start": b.start, "size": b.size}
                    for b in request.blocks
                ]
                client.multi_read_max_gap = 0
                try:
                    _, datas = client.read_multi_vars(items)
                except S7ProtocolError:
                    # one item failed: read the blocks one by one to tell which
                    for block in request.blocks:
                        try:
                            self._values(block, self._read_block(client, block), out)
                        except S7ProtocolError as exc:
                            for p in block.points:
                                out[p] = BadPoint(explain(block, exc))
                    return out
                for block, data in zip(request.blocks, datas, strict=True):
                    self._values(block, data, out)
                return out
            except Exception as exc:
                if self._lost(exc) or not client.get_connected():
                    raise ConnectionLost(f"PLC {self.label}: {exc}") from None
                raise

    async def read(self, request: S7ReadRequest) -> dict[S7Address, Any]:
        """Values (or BadPoint) for the request's points; ConnectionLost when the link died."""
        return await asyncio.to_thread(self._read, request)

    # ----- writes -------------------------------------------------------------------------

    def _write(self, addr: S7Address, value: Any) -> None:
        data = encode(addr, value)  # S7AddressError before touching the wire
        with self._lock:
            if self.client is None or not self.client.get_connected():
                try:
                    self._connect_locked()  # a write-only endpoint connects on demand
                except ConnectionError as exc:
                    raise ConnectionLost(str(exc)) from None
            client = self._need()
            try:
                if addr.dtype == "BOOL":
                    client.write_area(
                        _AREA[addr.area],
                        addr.db,
                        addr.start * 8 + addr.bit,
                        bytearray(data),
                        WordLen.Bit,
                    )
                else:
                    client.write_area(_AREA[addr.area], addr.db, addr.start, bytearray(data))
            except S7ProtocolError as exc:
                block = S7Block(addr.area, addr.db, addr.start, addr.size, (addr,))
                raise ValueError(f"cannot write {addr}: {explain(block, exc)}") from None
            except Exception as exc:
                if self._lost(exc):
                    self._close_locked()
                    raise ConnectionLost(f"PLC {self.label}: {exc}") from None
                raise

    async def write(self, addr: S7Address, value: Any) -> None:
        """Write one value; ValueError (address, value or PLC refusal) or ConnectionLost."""
        await asyncio.to_thread(self._write, addr, value)
