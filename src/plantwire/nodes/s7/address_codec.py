"""S7 addresses in the common (nodeS7) notation, their values and the read plan. No I/O.

Addresses::

    DB1,REAL4     DB1,R4        a REAL at byte 4 of DB1
    DB1,INT0      DB1,I0        an INT at byte 0
    DB1,X2.1                    bit 1 of byte 2
    DB1,S10.20                  a STRING[20] at byte 10 (2 header bytes + 20 characters)
    DB1,CHAR8.4   DB1,C8.4      4 characters at byte 8, as one text
    DB1,REAL20.5                an array of 5 REALs from byte 20
    M10.0   MB4   MW20   MD24   MR28   MI30                       markers
    I0.1    IB0   IW2    ID4    Q0.0   QW2   QD4 (E/A as German aliases of I/Q)

Data types (long name / short code): BOOL (X), BYTE (B), CHAR (C), WORD (W), DWORD (DW,
and D after an area letter), INT (I), DINT (DI), REAL (R), LREAL (LR), STRING (S).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AREAS",
    "S7Address",
    "S7AddressError",
    "S7Block",
    "S7ReadRequest",
    "decode",
    "encode",
    "parse_address",
    "plan_reads",
]

AREAS = ("DB", "M", "I", "Q")
"""Memory areas: data blocks, markers (Merker), inputs, outputs."""

_TYPE_CODES: dict[str, str] = {
    "X": "BOOL",
    "BOOL": "BOOL",
    "B": "BYTE",
    "BYTE": "BYTE",
    "C": "CHAR",
    "CHAR": "CHAR",
    "W": "WORD",
    "WORD": "WORD",
    "DW": "DWORD",
    "DWORD": "DWORD",
    "D": "DWORD",
    "I": "INT",
    "INT": "INT",
    "DI": "DINT",
    "DINT": "DINT",
    "R": "REAL",
    "REAL": "REAL",
    "LR": "LREAL",
    "LREAL": "LREAL",
    "S": "STRING",
    "STRING": "STRING",
}

_SIZES = {"BOOL": 1, "BYTE": 1, "CHAR": 1, "WORD": 2, "INT": 2}
_SIZES.update({"DWORD": 4, "DINT": 4, "REAL": 4, "LREAL": 8})
_FORMATS = {"BYTE": ">B", "WORD": ">H", "DWORD": ">I", "INT": ">h", "DINT": ">i"}
_FORMATS.update({"REAL": ">f", "LREAL": ">d"})
_RANGES = {"BYTE": (0, 0xFF), "WORD": (0, 0xFFFF), "DWORD": (0, 0xFFFFFFFF)}
_RANGES.update({"INT": (-0x8000, 0x7FFF), "DINT": (-0x80000000, 0x7FFFFFFF)})

_DB_RE = re.compile(r"^DB(\d+),([A-Z]+)(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_AREA_RE = re.compile(r"^([MIQEA])([A-Z]*)(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_AREA_ALIAS = {"E": "I", "A": "Q"}
TYPE_LIST = "BOOL (X), BYTE (B), CHAR (C), WORD (W), DWORD (DW), INT (I), DINT (DI), "
TYPE_LIST += "REAL (R), LREAL (LR), STRING (S)"


class S7AddressError(ValueError):
    """An address that cannot be parsed, or a value that does not fit its address."""


@dataclass(frozen=True)
class S7Address:
    """One parsed address. Equal addresses read the same bytes (the text is not compared)."""

    area: str
    db: int
    start: int
    dtype: str
    bit: int = 0
    count: int = 1
    """Array length (numbers), characters (CHAR) or maximum length (STRING)."""
    text: str = field(default="", compare=False)

    @property
    def size(self) -> int:
        """Bytes the address covers in the PLC."""
        if self.dtype == "STRING":
            return self.count + 2
        return _SIZES[self.dtype] * self.count

    @property
    def area_label(self) -> str:
        return f"DB{self.db}" if self.area == "DB" else self.area

    def __str__(self) -> str:
        return self.text or f"{self.area_label},{self.dtype}{self.start}"


def parse_address(text: Any) -> S7Address:
    """Parse an address; S7AddressError names the address and what is wrong with it."""
    raw = str(text if text is not None else "").strip()
    if not raw:
        raise S7AddressError("empty S7 address")
    s = raw.upper().replace(" ", "").lstrip("%")
    m = _DB_RE.match(s)
    if m:
        area, db, code = "DB", int(m.group(1)), m.group(2)
        if db == 0:
            raise S7AddressError(f"address '{raw}': data block numbers start at 1 (DB1)")
        offset, first, second = m.group(3), m.group(4), m.group(5)
    else:
        m = _AREA_RE.match(s)
        if not m:
            hint = "DB<n>,<type><byte>[.<bit|length>] or M/I/Q<type><byte>"
            if s.startswith("DB") and "," not in s:
                hint = "a comma between block and type, e.g. DB1,INT0"
            raise S7AddressError(f"address '{raw}': not an S7 address (expected {hint})")
        area, db = _AREA_ALIAS.get(m.group(1), m.group(1)), 0
        code, offset, first, second = m.group(2), m.group(3), m.group(4), m.group(5)
        if not code:
            if first is None or second is not None:
                raise S7AddressError(
                    f"address '{raw}': a bare area address is a bit and needs one '.<bit>' "
                    f"(e.g. {area}{offset}.0); for other types add a type letter "
                    f"(e.g. {area}W{offset})"
                )
            code = "X"
    dtype = _TYPE_CODES.get(code)
    if dtype is None:
        raise S7AddressError(f"address '{raw}': unknown data type '{code}' (use {TYPE_LIST})")
    start = int(offset)
    bit, count = 0, 1
    if dtype == "BOOL":
        if first is None:
            raise S7AddressError(f"address '{raw}': a BOOL needs a bit number (e.g. X{start}.0)")
        if second is not None:
            raise S7AddressError(f"address '{raw}': bit arrays are not supported")
        bit = int(first)
        if bit > 7:
            raise S7AddressError(f"address '{raw}': bit {bit} is not 0..7")
    elif dtype == "STRING":
        if first is None or second is not None:
            raise S7AddressError(
                f"address '{raw}': a STRING needs its maximum length (e.g. S{start}.20)"
            )
        count = int(first)
        if not 1 <= count <= 254:
            raise S7AddressError(f"address '{raw}': string length {count} is not 1..254")
    else:
        if second is not None:
            raise S7AddressError(f"address '{raw}': only one '.<count>' is allowed after {code}")
        if first is not None:
            count = int(first)
            if count < 1:
                raise S7AddressError(f"address '{raw}': the count must be at least 1")
    if start > 65535:
        raise S7AddressError(f"address '{raw}': byte offset {start} is out of range")
    return S7Address(area, db, start, dtype, bit, count, raw)


# ----- values ---------------------------------------------------------------------------


def _round_real(value: float) -> float:
    """A REAL as the PLC shows it: 7 significant digits, not float32 noise (3.14, not
    3.140000104904175)."""
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.7g}")


def decode(addr: S7Address, data: bytes | bytearray) -> Any:
    """The value of ``addr`` from its ``addr.size`` bytes."""
    if len(data) < addr.size:
        raise S7AddressError(f"address '{addr}': the PLC sent {len(data)} of {addr.size} bytes")
    if addr.dtype == "BOOL":
        return bool(data[0] >> addr.bit & 1)
    if addr.dtype == "STRING":
        length = min(data[1], data[0] or addr.count, addr.count)
        return bytes(data[2 : 2 + length]).decode("latin-1")
    if addr.dtype == "CHAR":
        return bytes(data[: addr.count]).decode("latin-1")
    fmt, width = _FORMATS[addr.dtype], _SIZES[addr.dtype]
    values: list[Any] = []
    for i in range(addr.count):
        (v,) = struct.unpack_from(fmt, data, i * width)
        values.append(_round_real(v) if addr.dtype == "REAL" else v)
    return values[0] if addr.count == 1 else values


def _number(addr: S7Address, value: Any) -> float | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            value = float(value) if addr.dtype in ("REAL", "LREAL") else int(value, 0)
        except ValueError:
            raise S7AddressError(f"address '{addr}': '{value}' is not a number") from None
    if not isinstance(value, (int, float)):
        raise S7AddressError(
            f"address '{addr}': cannot write a {type(value).__name__} to a {addr.dtype}"
        )
    if addr.dtype in ("REAL", "LREAL"):
        return float(value)
    if isinstance(value, float) and not value.is_integer():
        raise S7AddressError(f"address '{addr}': {value} is not a whole number ({addr.dtype})")
    number = int(value)
    low, high = _RANGES[addr.dtype]
    if not low <= number <= high:
        raise S7AddressError(f"address '{addr}': {number} is out of range for {addr.dtype}")
    return number


def encode(addr: S7Address, value: Any) -> bytes:
    """The bytes to write for ``value`` (a BOOL gives one byte: 0 or 1, written as a bit)."""
    if addr.dtype == "BOOL":
        if isinstance(value, str):
            low = value.strip().lower()
            if low not in ("true", "false", "1", "0", "on", "off"):
                raise S7AddressError(f"address '{addr}': '{value}' is not true or false")
            return b"\x01" if low in ("true", "1", "on") else b"\x00"
        if not isinstance(value, (bool, int, float)):
            raise S7AddressError(f"address '{addr}': cannot write a {type(value).__name__}")
        return b"\x01" if value else b"\x00"
    if addr.dtype in ("STRING", "CHAR"):
        text = value if isinstance(value, str) else str(value)
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            raise S7AddressError(f"address '{addr}': text has characters S7 cannot hold") from None
        if len(raw) > addr.count:
            raise S7AddressError(
                f"address '{addr}': {len(raw)} characters do not fit in {addr.count}"
            )
        if addr.dtype == "CHAR":
            return raw.ljust(addr.count, b"\x00")
        return bytes([addr.count, len(raw)]) + raw.ljust(addr.count, b"\x00")
    values = value if isinstance(value, (list, tuple)) else [value]
    if len(values) != addr.count:
        raise S7AddressError(f"address '{addr}': expected {addr.count} values, got {len(values)}")
    fmt = _FORMATS[addr.dtype]
    try:
        return b"".join(struct.pack(fmt, _number(addr, v)) for v in values)
    except struct.error as exc:
        raise S7AddressError(f"address '{addr}': {exc}") from None


# ----- the read plan --------------------------------------------------------------------


@dataclass(frozen=True)
class S7Block:
    """A contiguous range of one area/DB read as one item, and the addresses it serves."""

    area: str
    db: int
    start: int
    size: int
    points: tuple[S7Address, ...]


@dataclass(frozen=True)
class S7ReadRequest:
    """One request on the wire: a single range read, or a multi-item read."""

    blocks: tuple[S7Block, ...]

    @property
    def points(self) -> tuple[S7Address, ...]:
        return tuple(p for b in self.blocks for p in b.points)


MAX_ITEMS = 20
"""Items per multi-read request (the S7 limit the library enforces)."""


def plan_reads(
    points: list[S7Address], pdu_size: int = 480, max_gap: int = 16
) -> list[S7ReadRequest]:
    """Pack points into as few requests as fit the negotiated PDU.

    Points of one area/DB closer than ``max_gap`` bytes share a range; each range holds
    at most what one answer can carry (PDU - 18 bytes); ranges are packed into multi-read
    requests of up to 20 items whose request and answer fit in the PDU. A point larger
    than one answer gets a request of its own (the library splits it).
    """
    max_block = max(pdu_size - 18, 1)
    groups: dict[tuple[str, int], list[S7Address]] = {}
    for p in points:
        groups.setdefault((p.area, p.db), []).append(p)
    blocks: list[S7Block] = []
    for (area, db), members in sorted(
        groups.items(), key=lambda kv: (AREAS.index(kv[0][0]), kv[0][1])
    ):
        members.sort(key=lambda a: (a.start, a.size))
        current: list[S7Address] = []
        lo = hi = 0
        for p in members:
            end = p.start + p.size
            if current and p.start <= hi + max_gap and max(hi, end) - lo <= max_block:
                current.append(p)
                hi = max(hi, end)
                continue
            if current:
                blocks.append(S7Block(area, db, lo, hi - lo, tuple(current)))
            current, lo, hi = [p], p.start, end
        if current:
            blocks.append(S7Block(area, db, lo, hi - lo, tuple(current)))
    requests: list[S7ReadRequest] = []
    packet: list[S7Block] = []
    req_used = reply_used = 14
    for block in blocks:
        if block.size > max_block:
            requests.append(S7ReadRequest((block,)))
            continue
        reply_cost = 4 + block.size + (block.size & 1)
        if packet and (
            len(packet) >= MAX_ITEMS
            or req_used + 12 > pdu_size
            or reply_used + reply_cost > pdu_size
        ):
            requests.append(S7ReadRequest(tuple(packet)))
            packet, req_used, reply_used = [], 14, 14
        packet.append(block)
        req_used += 12
        reply_used += reply_cost
    if packet:
        requests.append(S7ReadRequest(tuple(packet)))
    return requests
