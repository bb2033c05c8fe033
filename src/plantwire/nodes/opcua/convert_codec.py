"""OPC UA values without I/O: node id syntax, value conversion both ways, quality.

* :func:`check_node_ref` tells at deploy time whether a node reference is well formed
  (``ns=2;s=Line1.Speed``, ``ns=2;i=1001``, ``i=2258``, ``nsu=<uri>;s=...`` or a browse
  path ``/Objects/2:Plant/2:Line1/2:Speed``);
* :func:`to_plain` turns what asyncua returns into JSON-friendly message values;
* :func:`coerce` turns a message value into the Python value of a variable's
  builtin data type (``"12.5"`` -> ``12.5`` for a Double), with an error that names
  the expected type;
* :func:`quality_of` maps a StatusCode onto the value message's quality.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from asyncua.ua.uaerrors import UaError

from plantwire.nodes.common.values import GOOD, bad, iso_time, uncertain

__all__ = [
    "TYPE_NAMES",
    "check_node_ref",
    "coerce",
    "is_browse_path",
    "parse_node_id",
    "quality_of",
    "status_text",
    "to_plain",
    "variant_type",
]

TYPE_NAMES: dict[str, ua.VariantType] = {
    vt.name.lower(): vt
    for vt in ua.VariantType
    if vt not in (ua.VariantType.Null, ua.VariantType.Variant, ua.VariantType.DataValue)
}
TYPE_NAMES.update({"bool": ua.VariantType.Boolean, "float32": ua.VariantType.Float})
TYPE_NAMES.update({"float64": ua.VariantType.Double, "int": ua.VariantType.Int32})

_INT_RANGES: dict[ua.VariantType, tuple[int, int]] = {
    ua.VariantType.SByte: (-(2**7), 2**7 - 1),
    ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-(2**15), 2**15 - 1),
    ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-(2**31), 2**31 - 1),
    ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-(2**63), 2**63 - 1),
    ua.VariantType.UInt64: (0, 2**64 - 1),
}


def variant_type(name: str) -> ua.VariantType:
    """The builtin type called ``name`` (case-insensitive: Double, int32, Boolean, String)."""
    try:
        return TYPE_NAMES[name.strip().lower()]
    except KeyError:
        raise ValueError(
            f"'{name}' is not an OPC UA data type (use Boolean, SByte, Byte, Int16, UInt16, "
            "Int32, UInt32, Int64, UInt64, Float, Double, String, DateTime, ByteString)"
        ) from None


def is_browse_path(ref: str) -> bool:
    """True for ``/Objects/2:Plant/...`` style references (resolved on the server)."""
    return ref.strip().startswith("/")


def parse_node_id(ref: str) -> ua.NodeId:
    """A NodeId from its string form; ValueError naming the reference when malformed."""
    text = ref.strip()
    try:
        return ua.NodeId.from_string(text)
    except Exception:
        raise ValueError(
            f"'{ref}' is not an OPC UA node id (expected e.g. ns=2;s=Line1.Speed, ns=2;i=1001 "
            "or a browse path /Objects/2:Plant/2:Speed)"
        ) from None


def browse_path_parts(ref: str) -> list[str]:
    """``/Objects/2:Plant/2:Speed`` -> ``["0:Objects", "2:Plant", "2:Speed"]``."""
    parts = [p for p in ref.strip().split("/") if p]
    if not parts:
        raise ValueError(f"'{ref}' is an empty browse path")
    out = []
    for part in parts:
        if ":" in part and part.split(":", 1)[0].isdigit():
            out.append(part)
        else:
            out.append(f"0:{part}")
    return out


def check_node_ref(ref: Any) -> str:
    """Deploy-time check of one node reference; returns it stripped or raises ValueError."""
    if not isinstance(ref, str) or not ref.strip():
        raise ValueError("an empty node id")
    text = ref.strip()
    if is_browse_path(text):
        browse_path_parts(text)
        return text
    parse_node_id(text)
    return text


def to_plain(value: Any) -> Any:
    """A value as asyncua returns it -> a JSON-friendly message value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value, enum.IntEnum) else value.name
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, ua.QualifiedName):
        return value.to_string()
    if isinstance(value, ua.NodeId):
        return value.to_string()
    if isinstance(value, ua.StatusCode):
        return value.name
    if isinstance(value, ua.Variant):
        return to_plain(value.Value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def _to_int(value: Any, vtype: ua.VariantType) -> int:
    if isinstance(value, bool):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{value!r} is not a whole number")
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 0) if text.lower().startswith(("0x", "0b", "0o")) else int(text)
        except ValueError:
            as_float = float(text)
            if as_float != int(as_float):
                raise ValueError(f"{value!r} is not a whole number") from None
            number = int(as_float)
    else:
        raise ValueError(f"{value!r} is not a number")
    low, high = _INT_RANGES[vtype]
    if not low <= number <= high:
        raise ValueError(f"{number} is outside the range of {vtype.name} ({low}..{high})")
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "on", "yes"):
            return True
        if low in ("false", "0", "off", "no", ""):
            return False
    raise ValueError(f"{value!r} is not a boolean")


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000.0, UTC)  # JavaScript milliseconds
    if isinstance(value, str):
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    raise ValueError(f"{value!r} is not a date/time")


def _coerce_one(value: Any, vtype: ua.VariantType) -> Any:
    if vtype in _INT_RANGES:
        return _to_int(value, vtype)
    if vtype == ua.VariantType.Boolean:
        return _to_bool(value)
    if vtype in (ua.VariantType.Float, ua.VariantType.Double):
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
        raise ValueError(f"{value!r} is not a number")
    if vtype == ua.VariantType.String:
        return value if isinstance(value, str) else str(to_plain(value))
    if vtype == ua.VariantType.DateTime:
        return _to_datetime(value)
    if vtype == ua.VariantType.ByteString:
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        if isinstance(value, list):
            return bytes(value)
        if isinstance(value, str):
            return base64.b64decode(value) if value else b""
        raise ValueError(f"{value!r} is not a byte string")
    if vtype == ua.VariantType.LocalizedText:
        return value if isinstance(value, ua.LocalizedText) else ua.LocalizedText(str(value))
    if vtype == ua.VariantType.NodeId:
        return value if isinstance(value, ua.NodeId) else parse_node_id(str(value))
    if vtype == ua.VariantType.Guid:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    if vtype == ua.VariantType.QualifiedName:
        return value if isinstance(value, ua.QualifiedName) else ua.QualifiedName.from_string(value)
    return value


def coerce(value: Any, vtype: ua.VariantType, *, array: bool = False) -> Any:
    """``value`` converted to the Python value of OPC UA type ``vtype`` (a list for
    arrays); ValueError saying what was expected."""
    try:
        if array or (isinstance(value, list) and vtype != ua.VariantType.ByteString):
            if not isinstance(value, list):
                raise ValueError(f"{value!r} is not an array")
            return [_coerce_one(v, vtype) for v in value]
        return _coerce_one(value, vtype)
    except ValueError as exc:
        raise ValueError(f"cannot convert to {vtype.name}: {exc}") from None
    except (TypeError, OverflowError, UaError) as exc:
        raise ValueError(f"cannot convert {value!r} to {vtype.name}: {exc}") from None


def status_text(status: ua.StatusCode) -> str:
    """``BadNodeIdUnknown (The node id refers to a node that does not exist ...)``."""
    try:
        name, doc = ua.status_codes.get_name_and_doc(status.value)
    except Exception:
        name, doc = f"0x{status.value:08X}", ""
    return f"{name} ({doc.rstrip('.')})" if doc else name


def quality_of(status: ua.StatusCode | None) -> dict[str, Any]:
    """A StatusCode as the value message's quality (good / uncertain / bad + reason)."""
    if status is None or status.is_good():
        return GOOD
    if status.is_uncertain():
        return uncertain(status_text(status))
    return bad(status_text(status))
