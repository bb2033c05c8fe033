"""Sparkplug B payloads, topics and STATE messages, without any I/O.

* :func:`encode_payload` / :func:`decode_payload`: :class:`Payload` <-> protobuf bytes
  (schema ``sparkplug_b.proto``; values as described in :mod:`.datatypes_codec`);
  a malformed payload raises :class:`SparkplugDecodeError` with the reason.
* :func:`parse_topic` / :func:`build_topic`: ``spBv1.0/<group>/<type>/<edge>[/<device>]``
  and ``spBv1.0/STATE/<host id>``.
* :func:`encode_state` / :func:`decode_state`: the Sparkplug 3.0 STATE payload
  ``{"online": true, "timestamp": <ms>}``.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from plantwire.nodes.sparkplug.datatypes_codec import (
    VALUE_FIELD,
    DataType,
    SparkplugValueError,
    from_wire,
    parse_datatype,
    to_wire,
)

__all__ = [
    "DEVICE_TYPES",
    "MESSAGE_TYPES",
    "NAMESPACE",
    "NODE_TYPES",
    "REBIRTH",
    "DataType",
    "Metric",
    "Payload",
    "SparkplugDecodeError",
    "SparkplugValueError",
    "Topic",
    "build_topic",
    "decode_payload",
    "decode_state",
    "encode_payload",
    "encode_state",
    "now_ms",
    "parse_datatype",
    "parse_topic",
    "state_topic",
]

pb: Any = importlib.import_module("plantwire.nodes.sparkplug.sparkplug_b_pb2")
"""The generated protobuf module (typed as Any: protobuf ships no type information)."""

NAMESPACE = "spBv1.0"
NODE_TYPES = ("NBIRTH", "NDEATH", "NDATA", "NCMD")
DEVICE_TYPES = ("DBIRTH", "DDEATH", "DDATA", "DCMD")
MESSAGE_TYPES = NODE_TYPES + DEVICE_TYPES + ("STATE",)
REBIRTH = "Node Control/Rebirth"
"""Name of the node control metric a host sets to true to ask for a rebirth."""


class SparkplugDecodeError(ValueError):
    """A received Sparkplug message could not be decoded (the text says why)."""


def now_ms() -> int:
    """Current time in milliseconds since the epoch (UTC), Sparkplug's timestamps."""
    return time.time_ns() // 1_000_000


@dataclass
class Metric:
    """One metric of a payload; ``value`` is a Python value (``None`` when is_null)."""

    name: str | None = None
    value: Any = None
    datatype: DataType = DataType.Unknown
    alias: int | None = None
    timestamp: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    properties: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class Payload:
    """A Sparkplug B payload."""

    timestamp: int | None = None
    metrics: list[Metric] = field(default_factory=list)
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None


# ----- properties ---------------------------------------------------------------------

_META_FIELDS = (
    "is_multi_part",
    "content_type",
    "size",
    "seq",
    "file_name",
    "file_type",
    "md5",
    "description",
)


def _guess_type(value: Any) -> DataType:
    if isinstance(value, bool):
        return DataType.Boolean
    if isinstance(value, int):
        return DataType.Int64 if value < 0 or value >= 1 << 32 else DataType.UInt32
    if isinstance(value, float):
        return DataType.Double
    if isinstance(value, dict):
        return DataType.PropertySet
    if isinstance(value, list):
        return DataType.PropertySetList
    return DataType.String


def _fill_property_set(ps: Any, props: dict[str, Any]) -> None:
    for key, value in props.items():
        ps.keys.append(str(key))
        pv = ps.values.add()
        dt = _guess_type(value)
        pv.type = int(dt)
        if value is None:
            pv.is_null = True
        elif dt is DataType.PropertySet:
            _fill_property_set(pv.propertyset_value, value)
        elif dt is DataType.PropertySetList:
            for item in value:
                _fill_property_set(pv.propertysets_value.propertyset.add(), dict(item))
        else:
            setattr(pv, VALUE_FIELD[dt], to_wire(dt, value))


def _read_property_set(ps: Any) -> dict[str, Any]:
    if len(ps.keys) != len(ps.values):
        raise SparkplugDecodeError("a PropertySet has a different number of keys and values")
    out: dict[str, Any] = {}
    for key, pv in zip(ps.keys, ps.values, strict=True):
        which = pv.WhichOneof("value")
        if pv.is_null or which is None:
            out[key] = None
        elif which == "propertyset_value":
            out[key] = _read_property_set(pv.propertyset_value)
        elif which == "propertysets_value":
            out[key] = [_read_property_set(p) for p in pv.propertysets_value.propertyset]
        elif which == "extension_value":
            out[key] = None
        else:
            out[key] = from_wire(_safe_type(pv.type), getattr(pv, which))
    return out


def _safe_type(code: int) -> DataType:
    try:
        return DataType(code)
    except ValueError:
        return DataType.Unknown


# ----- DataSet and Template -----------------------------------------------------------


def _fill_dataset(ds: Any, value: Any) -> None:
    if not isinstance(value, dict) or "columns" not in value:
        raise SparkplugValueError('a DataSet value needs {"columns", "types", "rows"}')
    columns = [str(c) for c in value["columns"]]
    types = [parse_datatype(t) for t in value.get("types", [])]
    if len(types) != len(columns):
        raise SparkplugValueError("a DataSet needs one type per column")
    ds.num_of_columns = len(columns)
    ds.columns.extend(columns)
    ds.types.extend(int(t) for t in types)
    for row in value.get("rows", []):
        if len(row) != len(columns):
            raise SparkplugValueError("every DataSet row needs one value per column")
        pr = ds.rows.add()
        for dt, cell in zip(types, row, strict=True):
            el = pr.elements.add()
            if cell is not None:
                setattr(el, VALUE_FIELD[dt], to_wire(dt, cell))


def _read_dataset(ds: Any) -> dict[str, Any]:
    types = [_safe_type(t) for t in ds.types]
    if len(types) != len(ds.columns):
        raise SparkplugDecodeError("a DataSet has a different number of columns and types")
    rows = []
    for row in ds.rows:
        cells = []
        for dt, el in zip(types, row.elements, strict=False):
            which = el.WhichOneof("value")
            ok = which is not None and which != "extension_value"
            cells.append(from_wire(dt, getattr(el, which)) if ok else None)
        rows.append(cells)
    return {"columns": list(ds.columns), "types": [t.name for t in types], "rows": rows}


def _fill_template(tp: Any, value: Any) -> None:
    if not isinstance(value, dict):
        raise SparkplugValueError("a Template value must be an object")
    if value.get("version") is not None:
        tp.version = str(value["version"])
    if value.get("templateRef") is not None:
        tp.template_ref = str(value["templateRef"])
    tp.is_definition = bool(value.get("isDefinition", False))
    for name, item in (value.get("metrics") or {}).items():
        m = item if isinstance(item, Metric) else Metric(name, item, _guess_type(item))
        m.name = m.name or name
        _fill_metric(tp.metrics.add(), m)
    for name, param in (value.get("parameters") or {}).items():
        pp = tp.parameters.add()
        pp.name = name
        dt = _guess_type(param)
        pp.type = int(dt)
        if param is not None:
            setattr(pp, VALUE_FIELD[dt], to_wire(dt, param))


def _read_template(tp: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pp in tp.parameters:
        which = pp.WhichOneof("value")
        ok = which is not None and which != "extension_value"
        params[pp.name] = from_wire(_safe_type(pp.type), getattr(pp, which)) if ok else None
    metrics = {m.name: m.value for m in (_read_metric(pm) for pm in tp.metrics)}
    return {
        "version": tp.version if tp.HasField("version") else None,
        "templateRef": tp.template_ref if tp.HasField("template_ref") else None,
        "isDefinition": tp.is_definition,
        "metrics": metrics,
        "parameters": params,
    }


# ----- metrics and payloads -----------------------------------------------------------


def _fill_metric(pm: Any, m: Metric) -> None:
    if m.name is not None:
        pm.name = m.name
    if m.alias is not None:
        pm.alias = m.alias
    if m.timestamp is not None:
        pm.timestamp = m.timestamp
    pm.datatype = int(m.datatype)
    if m.is_historical:
        pm.is_historical = True
    if m.is_transient:
        pm.is_transient = True
    if m.properties:
        _fill_property_set(pm.properties, m.properties)
    if m.metadata:
        for key in _META_FIELDS:
            if m.metadata.get(key) is not None:
                setattr(pm.metadata, key, m.metadata[key])
    if m.value is None or m.is_null:
        pm.is_null = True
        return
    dt = m.datatype
    where = f"metric {m.name or m.alias!r}"
    try:
        wire = to_wire(dt, m.value)
        if dt is DataType.DataSet:
            _fill_dataset(pm.dataset_value, wire)
        elif dt is DataType.Template:
            _fill_template(pm.template_value, wire)
        else:
            setattr(pm, VALUE_FIELD.get(dt, "bytes_value"), wire)
    except SparkplugValueError as exc:
        raise SparkplugValueError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:  # protobuf's own range / type checks
        raise SparkplugValueError(f"{where}: {dt.name} value {m.value!r}: {exc}") from None


def _read_metric(pm: Any) -> Metric:
    try:
        dt = DataType(pm.datatype)
    except ValueError:
        raise SparkplugDecodeError(f"metric has unknown data type code {pm.datatype}") from None
    m = Metric(
        name=pm.name if pm.HasField("name") else None,
        datatype=dt,
        alias=pm.alias if pm.HasField("alias") else None,
        timestamp=pm.timestamp if pm.HasField("timestamp") else None,
        is_historical=pm.is_historical,
        is_transient=pm.is_transient,
        is_null=pm.is_null,
    )
    if pm.HasField("properties"):
        m.properties = _read_property_set(pm.properties)
    if pm.HasField("metadata"):
        m.metadata = {k: getattr(pm.metadata, k) for k in _META_FIELDS if pm.metadata.HasField(k)}
    which = pm.WhichOneof("value")
    if pm.is_null or which is None or which == "extension_value":
        m.is_null = True
        return m
    if which == "dataset_value":
        m.value = _read_dataset(pm.dataset_value)
    elif which == "template_value":
        m.value = _read_template(pm.template_value)
    else:
        try:
            m.value = from_wire(dt, getattr(pm, which))
        except SparkplugValueError as exc:
            raise SparkplugDecodeError(f"metric {m.name or m.alias!r}: {exc}") from None
    return m


def encode_payload(payload: Payload) -> bytes:
    """Protobuf bytes of ``payload``; raises SparkplugValueError naming the bad metric."""
    msg = pb.Payload()
    if payload.timestamp is not None:
        msg.timestamp = payload.timestamp
    if payload.seq is not None:
        msg.seq = payload.seq
    if payload.uuid is not None:
        msg.uuid = payload.uuid
    if payload.body is not None:
        msg.body = payload.body
    for m in payload.metrics:
        _fill_metric(msg.metrics.add(), m)
    data: bytes = msg.SerializeToString()
    return data


def decode_payload(data: bytes) -> Payload:
    """The :class:`Payload` in ``data``; raises SparkplugDecodeError when it is malformed."""
    msg = pb.Payload()
    try:
        msg.ParseFromString(bytes(data))
    except Exception as exc:  # google.protobuf.message.DecodeError and friends
        raise SparkplugDecodeError(
            f"not a Sparkplug B payload ({len(data)} bytes, protobuf decoding failed: {exc})"
        ) from None
    out = Payload(
        timestamp=msg.timestamp if msg.HasField("timestamp") else None,
        seq=msg.seq if msg.HasField("seq") else None,
        uuid=msg.uuid if msg.HasField("uuid") else None,
        body=msg.body if msg.HasField("body") else None,
    )
    for pm in msg.metrics:
        out.metrics.append(_read_metric(pm))
    return out


# ----- topics and STATE ---------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """A parsed Sparkplug topic; ``host_id`` is set (and the rest empty) for STATE."""

    group: str
    message_type: str
    edge_node: str
    device: str | None = None
    host_id: str | None = None

    def __str__(self) -> str:
        if self.message_type == "STATE":
            return f"{NAMESPACE}/STATE/{self.host_id}"
        return build_topic(self.group, self.message_type, self.edge_node, self.device)


def _check_id(kind: str, value: str) -> None:
    if not value:
        raise ValueError(f"the {kind} is empty")
    for ch in "/+#":
        if ch in value:
            raise ValueError(f"the {kind} {value!r} contains {ch!r}, which Sparkplug forbids")


def build_topic(group: str, message_type: str, edge_node: str, device: str | None = None) -> str:
    """``spBv1.0/<group>/<message type>/<edge node>[/<device>]``."""
    if message_type not in NODE_TYPES + DEVICE_TYPES:
        raise ValueError(f"unknown Sparkplug message type {message_type!r}")
    _check_id("group id", group)
    _check_id("edge node id", edge_node)
    if message_type in DEVICE_TYPES:
        if device is None:
            raise ValueError(f"{message_type} needs a device id")
        _check_id("device id", device)
        return f"{NAMESPACE}/{group}/{message_type}/{edge_node}/{device}"
    return f"{NAMESPACE}/{group}/{message_type}/{edge_node}"


def state_topic(host_id: str) -> str:
    """``spBv1.0/STATE/<host id>``."""
    _check_id("host id", host_id)
    return f"{NAMESPACE}/STATE/{host_id}"


def parse_topic(topic: str) -> Topic:
    """Parse a Sparkplug B topic; raises ValueError saying what is wrong."""
    parts = topic.split("/")
    if parts[0] != NAMESPACE:
        raise ValueError(f"topic {topic!r} is not in the {NAMESPACE} namespace")
    if len(parts) == 3 and parts[1] == "STATE":
        return Topic("", "STATE", "", host_id=parts[2])
    if len(parts) < 4:
        raise ValueError(f"topic {topic!r} has too few levels for Sparkplug B")
    group, mtype, edge = parts[1], parts[2], parts[3]
    if mtype in NODE_TYPES:
        if len(parts) != 4:
            raise ValueError(f"topic {topic!r}: {mtype} has no device level")
        return Topic(group, mtype, edge)
    if mtype in DEVICE_TYPES:
        if len(parts) != 5:
            raise ValueError(f"topic {topic!r}: {mtype} needs exactly one device level")
        return Topic(group, mtype, edge, parts[4])
    raise ValueError(f"topic {topic!r}: unknown Sparkplug message type {mtype!r}")


def encode_state(online: bool, timestamp: int | None = None) -> bytes:
    """The 3.0 STATE payload, JSON ``{"online": bool, "timestamp": ms}``."""
    ts = now_ms() if timestamp is None else timestamp
    return json.dumps({"online": bool(online), "timestamp": ts}).encode()


def decode_state(data: bytes) -> tuple[bool, int | None]:
    """(online, timestamp) of a STATE payload; the 2.2 plain ``ONLINE``/``OFFLINE`` too."""
    text = bytes(data).decode("utf-8", errors="replace").strip()
    if text.upper() in ("ONLINE", "OFFLINE"):
        return text.upper() == "ONLINE", None
    try:
        obj = json.loads(text)
    except ValueError:
        raise SparkplugDecodeError(f"STATE payload is not JSON: {text[:60]!r}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("online"), bool):
        raise SparkplugDecodeError('STATE payload needs {"online": true|false, "timestamp": ms}')
    ts = obj.get("timestamp")
    return obj["online"], int(ts) if isinstance(ts, int | float) else None
