"""The Sparkplug edge node session, without I/O: what to publish, with which seq.

:class:`EdgeSession` keeps the metric definitions of the edge node and its devices,
their last values (for births and report by exception), the aliases, the message
sequence number (0..255, wrapping) and the birth/death sequence number ``bdSeq``. It
builds the payload bytes; the ``sparkplug-edge`` node publishes them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from plantwire.nodes.sparkplug.sparkplug_codec import (
    REBIRTH,
    DataType,
    Metric,
    Payload,
    SparkplugValueError,
    encode_payload,
    now_ms,
)

__all__ = ["BDSEQ", "EdgeSession", "MetricDef", "Unchanged", "pack_record", "unpack_record"]

BDSEQ = "bdSeq"


@dataclass
class MetricDef:
    """One configured metric: name, data type, optional alias and deadband."""

    name: str
    datatype: DataType
    alias: int | None = None
    deadband: float = 0.0
    value: Any = None
    has_value: bool = False
    timestamp: int | None = None


class Unchanged(Exception):
    """Report by exception: no metric of a message changed, nothing to publish."""


@dataclass
class _Device:
    metrics: dict[str, MetricDef] = field(default_factory=dict)
    online: bool = True


class EdgeSession:
    """Metric state and sequence numbers of one Sparkplug edge node."""

    def __init__(
        self,
        node_metrics: list[MetricDef],
        devices: dict[str, list[MetricDef]],
        *,
        use_aliases: bool = True,
        report_by_exception: bool = False,
    ) -> None:
        self.rbe = report_by_exception
        self.use_aliases = use_aliases
        self.seq = 0
        self.bd_seq = 0
        self._bd_next = 0
        self.node_metrics = {m.name: m for m in node_metrics}
        self.devices = {d: _Device({m.name: m for m in ms}) for d, ms in devices.items()}
        self._assign_aliases()

    def _assign_aliases(self) -> None:
        every = list(self.node_metrics.values())
        for dev in self.devices.values():
            every.extend(dev.metrics.values())
        used: set[int] = set()
        for m in every:
            if m.alias is not None:
                if m.alias in used:
                    raise ValueError(f"alias {m.alias} is used by two metrics")
                used.add(m.alias)
        if not self.use_aliases:
            return
        nxt = 1
        for m in every:
            if m.alias is None:
                while nxt in used:
                    nxt += 1
                m.alias = nxt
                used.add(nxt)

    # ----- sequence numbers -----------------------------------------------------------

    def next_seq(self) -> int:
        """The seq for the next message (0..255, wrapping to 0 after 255)."""
        seq = self.seq
        self.seq = (self.seq + 1) % 256
        return seq

    def new_connection(self) -> int:
        """Start a new MQTT session: bdSeq for its will and NBIRTH (0..255, wrapping)."""
        self.bd_seq = self._bd_next
        self._bd_next = (self._bd_next + 1) % 256
        return self.bd_seq

    # ----- payloads -------------------------------------------------------------------

    def ndeath(self) -> bytes:
        """NDEATH payload (the MQTT will): the bdSeq metric only, no seq."""
        return encode_payload(
            Payload(timestamp=now_ms(), metrics=[Metric(BDSEQ, self.bd_seq, DataType.UInt64)])
        )

    def _birth_metric(self, m: MetricDef, ts: int) -> Metric:
        return Metric(
            m.name,
            m.value if m.has_value else None,
            m.datatype,
            alias=m.alias,
            timestamp=m.timestamp or ts,
            is_null=not m.has_value or m.value is None,
        )

    def nbirth(self) -> bytes:
        """NBIRTH: seq restarts at 0; bdSeq, Node Control/Rebirth and every node metric."""
        self.seq = 0
        ts = now_ms()
        metrics = [
            Metric(BDSEQ, self.bd_seq, DataType.UInt64, timestamp=ts),
            Metric(REBIRTH, False, DataType.Boolean, timestamp=ts),
        ]
        metrics.extend(self._birth_metric(m, ts) for m in self.node_metrics.values())
        return encode_payload(Payload(timestamp=ts, seq=self.next_seq(), metrics=metrics))

    def dbirth(self, device: str) -> bytes:
        """DBIRTH of ``device`` with all its metrics (the device counts as online again)."""
        dev = self._device(device)
        dev.online = True
        ts = now_ms()
        metrics = [self._birth_metric(m, ts) for m in dev.metrics.values()]
        return encode_payload(Payload(timestamp=ts, seq=self.next_seq(), metrics=metrics))

    def ddeath(self, device: str) -> bytes:
        """DDEATH of ``device`` (it stays offline until its next DBIRTH)."""
        self._device(device).online = False
        return encode_payload(Payload(timestamp=now_ms(), seq=self.next_seq()))

    def _device(self, device: str) -> _Device:
        dev = self.devices.get(device)
        if dev is None:
            known = ", ".join(self.devices) or "none"
            raise ValueError(f"unknown device {device!r} (configured devices: {known})")
        return dev

    def device_online(self, device: str) -> bool:
        return self._device(device).online

    def defs(self, device: str | None) -> dict[str, MetricDef]:
        """The metric definitions of the edge node (``None``) or of a device."""
        return self.node_metrics if device is None else self._device(device).metrics

    def update(
        self, device: str | None, values: dict[str, Any], timestamp: int | None = None
    ) -> list[tuple[str, Any, int]]:
        """Apply new values; returns the (name, value, timestamp) to report.

        Checks every name and value first (nothing changes when one is wrong). With
        report by exception, values equal to the last one (or within the metric's
        deadband) are left out; raises :class:`Unchanged` when none is left.
        """
        defs = self.defs(device)
        ts = timestamp if timestamp is not None else now_ms()
        checked: list[tuple[MetricDef, Any]] = []
        for name, value in values.items():
            m = defs.get(name)
            if m is None:
                where = f"device {device!r}" if device else "the edge node"
                raise ValueError(f"{name!r} is not a configured metric of {where}")
            if value is not None:
                encode_payload(Payload(metrics=[Metric(name, value, m.datatype)]))  # check
            checked.append((m, value))
        out: list[tuple[str, Any, int]] = []
        for m, value in checked:
            if self.rbe and m.has_value and not _changed(m, value):
                continue
            m.value, m.has_value, m.timestamp = value, True, ts
            out.append((m.name, value, ts))
        if not out:
            raise Unchanged()
        return out

    def data(
        self,
        device: str | None,
        items: list[tuple[str, Any, int]],
        historical: bool = False,
    ) -> bytes:
        """NDATA/DDATA payload of ``items`` (name, value, timestamp), aliases only when used."""
        defs = self.defs(device)
        metrics: list[Metric] = []
        for name, value, ts in items:
            m = defs.get(name)
            if m is None:
                raise SparkplugValueError(f"{name!r} is no longer a configured metric")
            metrics.append(
                Metric(
                    None if m.alias is not None else m.name,
                    value,
                    m.datatype,
                    alias=m.alias,
                    timestamp=ts,
                    is_historical=historical,
                    is_null=value is None,
                )
            )
        return encode_payload(Payload(timestamp=now_ms(), seq=self.next_seq(), metrics=metrics))

    def resolve(self, device: str | None, metric: Metric) -> MetricDef | None:
        """The definition a command metric refers to, by name or alias."""
        defs = self.defs(device)
        if metric.name is not None:
            return defs.get(metric.name)
        for m in defs.values():
            if metric.alias is not None and m.alias == metric.alias:
                return m
        return None


def _changed(m: MetricDef, value: Any) -> bool:
    old = m.value
    if m.deadband > 0 and _is_number(old) and _is_number(value):
        return bool(abs(float(value) - float(old)) > m.deadband)
    return bool(value != old)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def pack_record(device: str | None, items: list[tuple[str, Any, int]]) -> bytes:
    """One data message as bytes for the store-and-forward spool."""
    return json.dumps({"d": device, "m": [[n, _plain(v), t] for n, v, t in items]}).encode()


def unpack_record(data: bytes) -> tuple[str | None, list[tuple[str, Any, int]]]:
    """The (device, items) of :func:`pack_record`."""
    obj = json.loads(data)
    return obj["d"], [(n, _unplain(v), int(t)) for n, v, t in obj["m"]]
