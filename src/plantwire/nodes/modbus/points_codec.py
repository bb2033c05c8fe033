"""Modbus point definitions: validation, CSV import, value coding, deadband. No I/O.

A *point* is one named value in a device: a table (coil, discrete input, holding or
input register), a 0-based address, a data type, the byte and word order the device
uses, and a linear scale (``value = raw * scale + offset``). :func:`make_point` turns
the dict a flow holds (or a CSV row) into a frozen, hashable :class:`Point`, refusing
a bad definition with the point's name and the field.
"""

from __future__ import annotations

import csv
import io
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CSV_COLUMNS",
    "DATA_TYPES",
    "TABLES",
    "Point",
    "PointError",
    "as_strings",
    "changed",
    "decode_bits",
    "decode_registers",
    "encode_value",
    "make_point",
    "make_points",
    "parse_points_csv",
    "table_name",
]

TABLES = ("coil", "discrete", "holding", "input")
"""The four Modbus tables: coils (FC1/5/15), discrete inputs (FC2), holding registers
(FC3/6/16), input registers (FC4)."""

_TABLE_ALIASES = {
    "coil": "coil",
    "coils": "coil",
    "co": "coil",
    "c": "coil",
    "discrete": "discrete",
    "discrete input": "discrete",
    "discrete inputs": "discrete",
    "discreteinput": "discrete",
    "di": "discrete",
    "input status": "discrete",
    "holding": "holding",
    "holding register": "holding",
    "holding registers": "holding",
    "holdingregister": "holding",
    "hr": "holding",
    "h": "holding",
    "input": "input",
    "input register": "input",
    "input registers": "input",
    "inputregister": "input",
    "ir": "input",
}

# registers per value; string is computed from its length
DATA_TYPES: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
    "bool": 1,
    "string": 0,
}
_STRUCT = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}
_TYPE_ALIASES = {
    "int": "int16",
    "uint": "uint16",
    "word": "uint16",
    "dint": "int32",
    "udint": "uint32",
    "dword": "uint32",
    "lint": "int64",
    "float": "float32",
    "real": "float32",
    "double": "float64",
    "lreal": "float64",
    "boolean": "bool",
    "bit": "bool",
    "str": "string",
}
_RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}

CSV_COLUMNS = (
    "name",
    "table",
    "address",
    "type",
    "byteOrder",
    "wordOrder",
    "scale",
    "offset",
    "unit",
    "deadband",
    "length",
    "unitId",
)
"""CSV columns in their default order (without a header row); ``length`` (string
characters) and ``unitId`` are optional extras."""


def table_name(value: Any) -> str:
    """The canonical table name for ``value`` (``coil``, ``discrete``, ``holding``,
    ``input``); ValueError when it is none of them."""
    key = str(value or "").strip().lower().replace("_", " ").replace("-", " ")
    if key in _TABLE_ALIASES:
        return _TABLE_ALIASES[key]
    raise ValueError(f"'{value}' is not a Modbus table (coil, discrete, holding or input)")


class PointError:
    """Stands in for a value the device refused (e.g. illegal data address)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"PointError({self.reason!r})"


@dataclass(frozen=True, slots=True, eq=False)
class Point:
    """One named value in a Modbus device (hashable: the poll coordinator's key).

    Points compare and hash by identity: a poll cycle looks every point up several
    times, and identity hashing is what keeps 100,000 points/s affordable. Compare
    definitions with :meth:`key`.
    """

    name: str
    table: str
    address: int
    type: str = "uint16"
    byte_order: str = "big"
    word_order: str = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    deadband: float = 0.0
    length: int = 0
    unit_id: int | None = None

    is_bit: bool = field(init=False, repr=False)
    count: int = field(init=False, repr=False)
    """How many registers (or bits) the point occupies."""

    def __post_init__(self) -> None:
        bit = self.table in ("coil", "discrete")
        object.__setattr__(self, "is_bit", bit)
        if bit:
            count = 1
        elif self.type == "string":
            count = (self.length + 1) // 2
        else:
            count = DATA_TYPES.get(self.type, 1)
        object.__setattr__(self, "count", count)

    def key(self) -> tuple[Any, ...]:
        """The definition as a tuple (for comparing two points)."""
        return (
            self.name, self.table, self.address, self.type, self.byte_order,
            self.word_order, self.scale, self.offset, self.unit, self.deadband,
            self.length, self.unit_id,
        )  # fmt: skip

    @property
    def writable(self) -> bool:
        return self.table in ("coil", "holding")

    def describe(self) -> str:
        """``'level' (holding 100, float32)`` for messages a plant engineer reads."""
        return f"'{self.name}' ({self.table} {self.address}, {self.type})"


def _num(value: Any, field: str, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise ValueError(f"{field}: {value!r} is not a number")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: {value!r} is not a number") from None
    if not math.isfinite(out):
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return out


def _int(value: Any, field: str, low: int, high: int, default: int | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number = _num(value, field, 0.0)
    if number != int(number):
        raise ValueError(f"{field}: {value!r} is not a whole number")
    out = int(number)
    if not low <= out <= high:
        raise ValueError(f"{field}: {out} is out of range {low}..{high}")
    return out


def _order(value: Any, field: str) -> str:
    text = str(value or "big").strip().lower()
    if text in ("big", "be", "msb", "high", "abcd"):
        return "big"
    if text in ("little", "le", "lsb", "low", "swap", "swapped"):
        return "little"
    raise ValueError(f"{field}: {value!r} is not 'big' or 'little'")


def make_point(spec: dict[str, Any], default_name: str = "") -> Point:
    """Validate one point definition; ValueError naming the point and the field."""
    name = str(spec.get("name") or default_name or "").strip()
    label = f"point '{name}'" if name else "a point without a name"
    try:
        if not name:
            raise ValueError("name: every point needs a name")
        table = table_name(spec.get("table", ""))
        address = _int(spec.get("address"), "address", 0, 65535, None)
        if address is None:
            raise ValueError("address: missing (0..65535, 0-based)")
        raw_type = str(spec.get("type") or spec.get("dataType") or "").strip().lower()
        dtype = _TYPE_ALIASES.get(raw_type, raw_type) or (
            "bool" if table in ("coil", "discrete") else "uint16"
        )
        if dtype not in DATA_TYPES:
            raise ValueError(f"type: '{raw_type}' is not one of {', '.join(DATA_TYPES)}")
        if table in ("coil", "discrete") and dtype != "bool":
            raise ValueError(f"type: a {table} holds one bit; use type bool, not {dtype}")
        length = _int(spec.get("length"), "length", 0, 250, 0) or 0
        if dtype == "string" and length < 1:
            raise ValueError("length: a string needs its length in characters (1..250)")
        unit_id = _int(spec.get("unitId", spec.get("unitid")), "unitId", 0, 255, None)
        point = Point(
            name=name,
            table=table,
            address=address,
            type=dtype,
            byte_order=_order(spec.get("byteOrder"), "byteOrder"),
            word_order=_order(spec.get("wordOrder"), "wordOrder"),
            scale=_num(spec.get("scale"), "scale", 1.0),
            offset=_num(spec.get("offset"), "offset", 0.0),
            unit=str(spec.get("unit") or ""),
            deadband=_num(spec.get("deadband"), "deadband", 0.0),
            length=length if dtype == "string" else 0,
            unit_id=unit_id,
        )
        if point.scale == 0:
            raise ValueError("scale: must not be 0")
        if point.deadband < 0:
            raise ValueError("deadband: must not be negative")
        if address + point.count > 65536:
            raise ValueError(f"address: {address} + {point.count} registers passes 65535")
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None
    return point


def make_points(specs: list[dict[str, Any]]) -> list[Point]:
    """Validate a point list; names must be unique."""
    points: list[Point] = []
    seen: set[str] = set()
    for spec in specs:
        point = make_point(spec)
        if point.name in seen:
            raise ValueError(f"point '{point.name}': name: used twice")
        seen.add(point.name)
        points.append(point)
    return points


def parse_points_csv(text: str, source: str = "pointsCsv") -> list[dict[str, Any]]:
    """Read point definitions from CSV text (see docs/protocols/modbus.md).

    A first row of column names (or starting with ``name``) is a header giving the
    columns in any order;
    without one the columns are :data:`CSV_COLUMNS` in order. Empty lines and lines
    starting with ``#`` are skipped. Each row is validated; an error names the line.
    """
    rows = list(csv.reader(io.StringIO(text)))
    columns = list(CSV_COLUMNS)
    specs: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    header_done = False
    for lineno, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if not header_done:
            header_done = True
            known = {c.lower(): c for c in CSV_COLUMNS}
            if cells[0].lower() == "name" or all(c.lower() in known for c in cells if c):
                columns = []
                for cell in cells:
                    if cell.lower() not in known:
                        raise ValueError(f"{source} line {lineno}: unknown column '{cell}'")
                    columns.append(known[cell.lower()])
                continue
        if len(cells) > len(columns):
            raise ValueError(
                f"{source} line {lineno}: {len(cells)} cells, but only {len(columns)} columns"
            )
        spec = {col: cell for col, cell in zip(columns, cells, strict=False) if cell != ""}
        try:
            point = make_point(spec)
        except ValueError as exc:
            raise ValueError(f"{source} line {lineno}: {exc}") from None
        if point.name in seen:
            raise ValueError(
                f"{source} line {lineno}: point '{point.name}' is already defined "
                f"on line {seen[point.name]}"
            )
        seen[point.name] = lineno
        specs.append(spec)
    return specs


# ----- value coding ---------------------------------------------------------------------


def _to_bytes(point: Point, regs: list[int]) -> bytes:
    if point.word_order == "little":
        regs = regs[::-1]
    order: Literal["big", "little"] = "big" if point.byte_order == "big" else "little"
    return b"".join(r.to_bytes(2, order) for r in regs)


def _from_bytes(point: Point, data: bytes) -> list[int]:
    order: Literal["big", "little"] = "big" if point.byte_order == "big" else "little"
    regs = [int.from_bytes(data[i : i + 2], order) for i in range(0, len(data), 2)]
    if point.word_order == "little":
        regs.reverse()
    return regs


def decode_registers(point: Point, regs: list[int]) -> Any:
    """The engineering value of ``point`` from its registers (scale and offset applied)."""
    dtype = point.type
    if dtype == "string":
        order: Literal["big", "little"] = "big" if point.byte_order == "big" else "little"
        data = b"".join(r.to_bytes(2, order) for r in regs)[: point.length]
        return data.split(b"\x00", 1)[0].decode("latin-1")
    if dtype == "bool":
        return regs[0] != 0
    if dtype == "uint16" and point.byte_order == "big":
        raw: Any = regs[0]
    elif dtype == "int16" and point.byte_order == "big":
        raw = regs[0] - 65536 if regs[0] > 32767 else regs[0]
    else:
        raw = struct.unpack(">" + _STRUCT[dtype], _to_bytes(point, regs))[0]
    if point.scale != 1.0 or point.offset != 0.0:
        return raw * point.scale + point.offset
    return raw


def decode_bits(point: Point, bits: list[Any]) -> bool:
    return bool(bits[0])


def encode_value(point: Point, value: Any) -> list[int] | list[bool]:
    """Registers (or bits) to write ``value`` to ``point``: scale and offset applied
    inversely, byte and word order as configured. ValueError saying why not."""
    if point.is_bit or point.type == "bool":
        flag = _as_bool(value)
        return [flag] if point.is_bit else [1 if flag else 0]
    if point.type == "string":
        data = str(value).encode("latin-1", errors="replace")
        if len(data) > point.length:
            raise ValueError(f"'{value}' is longer than {point.length} characters")
        data = data.ljust(point.count * 2, b"\x00")
        order: Literal["big", "little"] = "big" if point.byte_order == "big" else "little"
        return [int.from_bytes(data[i : i + 2], order) for i in range(0, len(data), 2)]
    if isinstance(value, bool):
        value = int(value)
    exact = isinstance(value, int) and point.scale == 1.0 and point.offset == 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    raw: Any = value if exact else (number - point.offset) / point.scale
    if point.type.startswith("float"):
        packed = struct.pack(">" + _STRUCT[point.type], raw)
    else:
        if not math.isfinite(raw):
            raise ValueError(f"{value!r} is not a finite number")
        whole = raw if exact else round(raw)
        low, high = _RANGES[point.type]
        if not low <= whole <= high:
            raise ValueError(
                f"{value} gives raw value {whole}, outside {point.type} range {low}..{high}"
            )
        packed = struct.pack(">" + _STRUCT[point.type], whole)
    return _from_bytes(point, packed)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "on", "yes"):
            return True
        if low in ("false", "0", "off", "no", ""):
            return False
        raise ValueError(f"'{value}' is not true/false")
    if isinstance(value, bool | int | float):
        return bool(value)
    raise ValueError(f"{value!r} is not true/false")


def changed(old: Any, new: Any, deadband: float) -> bool:
    """True when ``new`` differs from ``old`` by more than ``deadband`` (numbers), or at
    all (anything else)."""
    if deadband > 0 and isinstance(new, int | float) and isinstance(old, int | float):
        if isinstance(new, bool) or isinstance(old, bool):
            return bool(new != old)
        return abs(new - old) > deadband
    return bool(new != old)


def as_strings(data: Any, keys: tuple[str, ...]) -> Any:
    """node-red-contrib-modbus writes these fields as numbers or strings: make them strings
    (a null means "not set" and is dropped). For a config model's before-validator."""
    if isinstance(data, dict):
        for key in keys:
            if data.get(key) is None:
                data.pop(key, None)
            else:
                data[key] = str(data[key])
    return data
