"""The opcua-server's address space: variables from the configuration, folders from paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from asyncua import ua
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from . import convert_codec as cc

__all__ = ["ServerVariable", "build_address_space", "eu_information"]

UNECE = "http://www.opcfoundation.org/UA/units/un/cefact"
_UNIT_CODES = {
    "°C": "CEL", "degC": "CEL", "°F": "FAH", "K": "KEL", "%": "P1", "bar": "BAR",
    "mbar": "MBR", "Pa": "PAL", "kPa": "KPA", "V": "VLT", "A": "AMP", "W": "WTT",
    "kW": "KWT", "kWh": "KWH", "Hz": "HTZ", "s": "SEC", "ms": "C26", "min": "MIN",
    "h": "HUR", "m": "MTR", "mm": "MMT", "kg": "KGM", "g": "GRM", "t": "TNE",
    "l": "LTR", "m3": "MTQ", "m3/h": "MQH", "l/min": "L2", "rpm": "RPM", "m/s": "MTS",
}  # fmt: skip


def _nid(ident: Any, ns: int = 0) -> ua.NodeId:
    """A NodeId (asyncua's constructor is typed with its own int/str aliases)."""
    return ua.NodeId(cast(Any, ident), cast(Any, ns))


def eu_information(unit: str) -> ua.EUInformation:
    """EUInformation for a unit symbol; the UNECE code when it is a common one."""
    code = _UNIT_CODES.get(unit)
    unit_id = -1
    if code:
        unit_id = 0
        for ch in code:
            unit_id = (unit_id << 8) | ord(ch)
    return ua.EUInformation(
        NamespaceUri=UNECE,
        UnitId=unit_id,
        DisplayName=ua.LocalizedText(unit),
        Description=ua.LocalizedText(unit),
    )


@dataclass
class ServerVariable:
    """One configured variable of the server."""

    path: str
    vtype: ua.VariantType
    value: Any = None
    unit: str = ""
    writable: bool = False
    description: str = ""
    low: float | None = None
    high: float | None = None
    array: bool = False

    @classmethod
    def from_config(cls, spec: Any) -> ServerVariable:
        """From the editor's ``{path, dataType, unit, value, writable, ...}``; ValueError."""
        if not isinstance(spec, dict):
            raise ValueError("a variable is an object with path and dataType")
        path = str(spec.get("path") or "").strip().strip("/")
        if not path or any(not part.strip() for part in path.split("/")):
            raise ValueError(f"path '{spec.get('path')}' is empty or has an empty folder")
        vtype = cc.variant_type(str(spec.get("dataType") or "Double"))
        array = str(spec.get("array", "")).lower() in ("true", "1")
        value = spec.get("value")
        if value in (None, ""):
            value = [] if array else _default(vtype)
        try:
            value = cc.coerce(value, vtype, array=array)
        except ValueError as exc:
            raise ValueError(f"{path}: initial value: {exc}") from None
        low, high = spec.get("min"), spec.get("max")
        return cls(
            path=path,
            vtype=vtype,
            value=value,
            unit=str(spec.get("unit") or ""),
            writable=str(spec.get("writable", False)).lower() in ("true", "1"),
            description=str(spec.get("description") or ""),
            low=float(low) if low not in (None, "") else None,
            high=float(high) if high not in (None, "") else None,
            array=array,
        )


def _default(vtype: ua.VariantType) -> Any:
    if vtype == ua.VariantType.Boolean:
        return False
    if vtype == ua.VariantType.String:
        return ""
    if vtype == ua.VariantType.ByteString:
        return b""
    if vtype == ua.VariantType.DateTime:
        return "1970-01-01T00:00:00Z"
    return 0


async def build_address_space(
    server: Server, idx: int, variables: list[ServerVariable]
) -> dict[str, tuple[ua.NodeId, ua.VariantType, bool]]:
    """Folders and variables under Objects; ``{path: (NodeId, type, is array)}``.
    Node ids are ``ns=<idx>;s=<path>``."""
    folders: dict[str, Any] = {"": server.nodes.objects}
    out: dict[str, tuple[ua.NodeId, ua.VariantType, bool]] = {}
    for var in variables:
        parts = var.path.split("/")
        parent_path = ""
        for part in parts[:-1]:
            path = f"{parent_path}/{part}" if parent_path else part
            if path not in folders:
                folders[path] = await folders[parent_path].add_folder(
                    _nid(path, idx), ua.QualifiedName(part, idx)
                )
            parent_path = path
        nid = _nid(var.path, idx)
        node = await folders[parent_path].add_variable(
            nid, ua.QualifiedName(parts[-1], idx), ua.Variant(var.value, var.vtype), var.vtype
        )
        if var.array:
            await node.write_value_rank(1)
        if var.writable:
            await node.set_writable(True)
        if var.description:
            await node.write_attribute(
                AttributeIds.Description,
                ua.DataValue(ua.Variant(ua.LocalizedText(var.description))),
            )
        if var.unit:
            await node.add_property(
                idx, "EngineeringUnits", eu_information(var.unit),
                datatype=_nid(ObjectIds.EUInformation),
            )  # fmt: skip
        if var.low is not None and var.high is not None:
            await node.add_property(
                idx, "EURange", ua.Range(Low=var.low, High=var.high),
                datatype=_nid(ObjectIds.Range),
            )  # fmt: skip
        out[var.path] = (nid, var.vtype, var.array)
    return out
