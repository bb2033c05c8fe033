"""Sparkplug B data types and the conversion of their values to and from Python.

Python values per data type (what nodes send and receive in ``msg.payload``):

========================= ===================================================
Int8 .. Int64, UInt8 ..   ``int`` (range checked; numeric strings, integral floats
UInt64                    and booleans are accepted when encoding)
Float, Double             ``float``
Boolean                   ``bool`` (``"true"``/``"false"`` accepted)
String, Text, UUID        ``str``
DateTime                  ``int``: milliseconds since the epoch, UTC (a ``datetime``
                          or an ISO 8601 string is accepted when encoding)
Bytes, File               ``bytes`` (a ``str`` is encoded as UTF-8, a list of ints
                          as bytes)
<Type>Array               ``list`` of the element values
DataSet                   ``{"columns": [...], "types": [type names], "rows": [[...]]}``
Template                  ``{"version", "templateRef", "isDefinition", "metrics":
                          {name: value}, "parameters": {name: value}}``
========================= ===================================================

Signed integers travel as their two's complement of the type's width in the unsigned
protobuf field (Int8 -1 is 255), as the specification and common implementations do;
when decoding, the 32/64-bit two's complement some implementations write is accepted too.
"""

from __future__ import annotations

import enum
import struct
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ARRAY_FORMATS",
    "VALUE_FIELD",
    "DataType",
    "SparkplugValueError",
    "from_wire",
    "parse_datatype",
    "to_wire",
]


class SparkplugValueError(ValueError):
    """A value does not fit its Sparkplug data type, or a data type is unknown."""


class DataType(enum.IntEnum):
    """Sparkplug B data type codes (specification 3.0, section 6.4.16)."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19
    PropertySet = 20
    PropertySetList = 21
    Int8Array = 22
    Int16Array = 23
    Int32Array = 24
    Int64Array = 25
    UInt8Array = 26
    UInt16Array = 27
    UInt32Array = 28
    UInt64Array = 29
    FloatArray = 30
    DoubleArray = 31
    BooleanArray = 32
    StringArray = 33
    DateTimeArray = 34


_BY_NAME = {t.name.lower(): t for t in DataType}

_INT_BITS: dict[DataType, tuple[int, bool]] = {
    DataType.Int8: (8, True),
    DataType.Int16: (16, True),
    DataType.Int32: (32, True),
    DataType.Int64: (64, True),
    DataType.UInt8: (8, False),
    DataType.UInt16: (16, False),
    DataType.UInt32: (32, False),
    DataType.UInt64: (64, False),
}

VALUE_FIELD: dict[DataType, str] = {
    DataType.Int8: "int_value",
    DataType.Int16: "int_value",
    DataType.Int32: "int_value",
    DataType.UInt8: "int_value",
    DataType.UInt16: "int_value",
    DataType.UInt32: "int_value",
    DataType.Int64: "long_value",
    DataType.UInt64: "long_value",
    DataType.DateTime: "long_value",
    DataType.Float: "float_value",
    DataType.Double: "double_value",
    DataType.Boolean: "boolean_value",
    DataType.String: "string_value",
    DataType.Text: "string_value",
    DataType.UUID: "string_value",
    DataType.Bytes: "bytes_value",
    DataType.File: "bytes_value",
    DataType.DataSet: "dataset_value",
    DataType.Template: "template_value",
}
"""The protobuf ``value`` oneof member each scalar type travels in (arrays: bytes_value)."""

ARRAY_FORMATS: dict[DataType, str] = {
    DataType.Int8Array: "b",
    DataType.Int16Array: "h",
    DataType.Int32Array: "i",
    DataType.Int64Array: "q",
    DataType.UInt8Array: "B",
    DataType.UInt16Array: "H",
    DataType.UInt32Array: "I",
    DataType.UInt64Array: "Q",
    DataType.FloatArray: "f",
    DataType.DoubleArray: "d",
    DataType.DateTimeArray: "Q",
}
"""struct format letters of the little-endian packed numeric array types."""


def parse_datatype(value: Any) -> DataType:
    """A data type from its code (``3``, ``"3"``) or name (``"Int32"``, ``"int32"``)."""
    if isinstance(value, DataType):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return DataType(value)
        except ValueError:
            raise SparkplugValueError(f"unknown Sparkplug data type code {value}") from None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_datatype(int(text))
        found = _BY_NAME.get(text.lower())
        if found is not None:
            return found
    raise SparkplugValueError(
        f"unknown Sparkplug data type {value!r} (use a name such as Int32, Double, Boolean, String)"
    )


def _to_int(value: Any, dt: DataType) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SparkplugValueError(f"{value} is not a valid {dt.name} value")
        return round(value)
    if isinstance(value, str):
        try:
            return round(float(value.strip()))
        except ValueError:
            pass
    raise SparkplugValueError(f"{value!r} is not a number, {dt.name} needs an integer")


def _to_ms(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        try:
            return _to_ms(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            raise SparkplugValueError(f"{value!r} is not a date/time") from None
    return _to_int(value, DataType.DateTime)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "on", "yes"):
            return True
        if low in ("false", "0", "off", "no", ""):
            return False
        raise SparkplugValueError(f"{value!r} is not a Boolean value")
    return bool(value)


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        try:
            return bytes(value)
        except (TypeError, ValueError):
            pass
    raise SparkplugValueError(f"{type(value).__name__} value cannot be sent as bytes")


def _to_float(value: Any, dt: DataType) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SparkplugValueError(f"{value!r} is not a number, {dt.name} needs one") from None


def _encode_array(dt: DataType, value: Any) -> bytes:
    if not isinstance(value, list | tuple):
        raise SparkplugValueError(f"{dt.name} needs a list, not {type(value).__name__}")
    if dt is DataType.BooleanArray:
        flags = [_to_bool(v) for v in value]
        packed = bytearray((len(flags) + 7) // 8)
        for i, flag in enumerate(flags):
            if flag:
                packed[i // 8] |= 0x80 >> (i % 8)
        return struct.pack("<I", len(flags)) + bytes(packed)
    if dt is DataType.StringArray:
        return b"".join(str(v).encode("utf-8") + b"\0" for v in value)
    fmt = ARRAY_FORMATS[dt]
    if dt is DataType.DateTimeArray:
        items: list[Any] = [_to_ms(v) for v in value]
    elif fmt in "fd":
        items = [_to_float(v, dt) for v in value]
    else:
        items = [_to_int(v, dt) for v in value]
    try:
        return struct.pack(f"<{len(items)}{fmt}", *items)
    except struct.error as exc:
        raise SparkplugValueError(f"a value does not fit {dt.name}: {exc}") from None


def _decode_array(dt: DataType, data: bytes) -> list[Any]:
    if dt is DataType.BooleanArray:
        if len(data) < 4:
            raise SparkplugValueError("BooleanArray value is shorter than its 4-byte count")
        (count,) = struct.unpack_from("<I", data)
        bits = data[4:]
        if len(bits) * 8 < count:
            raise SparkplugValueError("BooleanArray value is shorter than its count")
        return [bool(bits[i // 8] & (0x80 >> (i % 8))) for i in range(count)]
    if dt is DataType.StringArray:
        parts = data.split(b"\0")
        if parts and parts[-1] == b"":
            parts.pop()
        return [p.decode("utf-8", errors="replace") for p in parts]
    fmt = ARRAY_FORMATS[dt]
    size = struct.calcsize(fmt)
    if len(data) % size:
        raise SparkplugValueError(f"{dt.name} value length {len(data)} is not a multiple of {size}")
    return list(struct.unpack(f"<{len(data) // size}{fmt}", data))


def to_wire(dt: DataType, value: Any) -> Any:
    """The value as it goes into the protobuf field of ``dt`` (see :data:`VALUE_FIELD`);
    DataSet and Template values are returned unchanged (the payload codec builds them)."""
    bits = _INT_BITS.get(dt)
    if bits is not None:
        width, signed = bits
        number = _to_int(value, dt)
        low, high = (
            (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        )
        if not low <= number <= high:
            raise SparkplugValueError(f"{number} is out of range for {dt.name} ({low}..{high})")
        return number + (1 << width) if number < 0 else number
    if dt in (DataType.Float, DataType.Double):
        return _to_float(value, dt)
    if dt is DataType.Boolean:
        return _to_bool(value)
    if dt in (DataType.String, DataType.Text, DataType.UUID):
        return value if isinstance(value, str) else str(value)
    if dt is DataType.DateTime:
        ms = _to_ms(value)
        if ms < 0:
            raise SparkplugValueError("DateTime values before 1970 cannot be sent")
        return ms
    if dt in (DataType.Bytes, DataType.File):
        return _to_bytes(value)
    if dt in ARRAY_FORMATS or dt in (DataType.BooleanArray, DataType.StringArray):
        return _encode_array(dt, value)
    if dt in (DataType.DataSet, DataType.Template):
        return value
    raise SparkplugValueError(f"values of type {dt.name} cannot be sent")


def from_wire(dt: DataType, raw: Any) -> Any:
    """The Python value of a protobuf field value of type ``dt`` (scalars and arrays)."""
    bits = _INT_BITS.get(dt)
    if bits is not None:
        width, signed = bits
        number = int(raw)
        if signed:
            for w in (width, 32, 64):  # own width first, then 32/64-bit two's complement
                if (1 << (w - 1)) <= number < (1 << w):
                    return number - (1 << w)
        return number
    if dt in (DataType.Float, DataType.Double):
        return float(raw)
    if dt is DataType.Boolean:
        return bool(raw)
    if dt is DataType.DateTime:
        return int(raw)
    if dt in (DataType.Bytes, DataType.File):
        return bytes(raw)
    if dt in ARRAY_FORMATS or dt in (DataType.BooleanArray, DataType.StringArray):
        if not isinstance(raw, bytes):
            raise SparkplugValueError(f"{dt.name} value must travel as bytes")
        return _decode_array(dt, raw)
    return raw
