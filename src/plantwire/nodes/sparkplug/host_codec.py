"""What a Sparkplug host application knows about edge nodes, without I/O.

:class:`HostTracker` follows births and deaths per edge node and device, keeps the
alias -> name maps of the births, checks each edge node's message sequence and turns
every received message into node messages:

* metric messages ``{topic: "<group>/<edge>[/<device>]/<metric>", payload: value,
  sparkplug: {group, edge, device, metric, alias, datatype, timestamp, seq, historical,
  messageType}}``;
* lifecycle events ``{topic: "<group>/<edge>[/<device>]", payload: {event, group, edge,
  device, ...}}`` with event ``birth``, ``death``, ``seq-gap`` or ``unknown`` (data from
  an edge node or device whose birth was not seen).

``HostResult.rebirth`` says the host should ask the edge node for a rebirth.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from plantwire.nodes.sparkplug.datatypes_codec import from_wire
from plantwire.nodes.sparkplug.edge_codec import BDSEQ
from plantwire.nodes.sparkplug.sparkplug_codec import DataType, Metric, Payload, Topic

__all__ = ["HostResult", "HostTracker"]

REBIRTH_INTERVAL = 5.0
"""Seconds between two rebirth requests to the same edge node."""


@dataclass
class _Scope:
    """An edge node or a device: online flag and its metric catalogue from the birth."""

    online: bool = False
    aliases: dict[int, tuple[str, DataType]] = field(default_factory=dict)
    types: dict[str, DataType] = field(default_factory=dict)

    def learn(self, metrics: list[Metric]) -> None:
        self.aliases.clear()
        self.types.clear()
        for m in metrics:
            if m.name is None:
                continue
            self.types[m.name] = m.datatype
            if m.alias is not None:
                self.aliases[m.alias] = (m.name, m.datatype)


@dataclass
class _Edge(_Scope):
    bd_seq: int | None = None
    seq: int | None = None
    devices: dict[str, _Scope] = field(default_factory=dict)
    rebirth_at: float = float("-inf")


@dataclass
class HostResult:
    """What one received message produced."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rebirth: bool = False


class HostTracker:
    """Births, deaths, aliases and sequence numbers of every edge node seen."""

    def __init__(self, rebirth_interval: float = REBIRTH_INTERVAL) -> None:
        self.edges: dict[tuple[str, str], _Edge] = {}
        self.rebirth_interval = rebirth_interval

    def edge(self, group: str, edge: str) -> _Edge | None:
        return self.edges.get((group, edge))

    def handle(self, topic: Topic, payload: Payload, now: float | None = None) -> HostResult:
        """Process one decoded NBIRTH/NDEATH/NDATA/DBIRTH/DDEATH/DDATA message."""
        clock = time.monotonic() if now is None else now
        res = HostResult()
        key = (topic.group, topic.edge_node)
        mtype = topic.message_type
        if mtype == "NBIRTH":
            self._nbirth(topic, payload, res)
            return res
        st = self.edges.get(key)
        if mtype == "NDEATH":
            self._ndeath(topic, payload, st, res)
            return res
        if st is None or not st.online:
            res.events.append(self._event(topic, "unknown", reason="no NBIRTH seen"))
            st = self.edges.setdefault(key, _Edge())
            self._want_rebirth(st, clock, res)
        else:
            self._check_seq(topic, payload, st, clock, res)
        dev = topic.device
        if mtype == "DBIRTH" and dev is not None:
            scope = st.devices.setdefault(dev, _Scope())
            scope.learn(payload.metrics)
            scope.online = True
            res.events.append(self._event(topic, "birth", **self._catalogue(payload)))
        elif mtype == "DDEATH" and dev is not None:
            st.devices.setdefault(dev, _Scope()).online = False
            res.events.append(self._event(topic, "death", timestamp=payload.timestamp))
            return res
        elif mtype == "DDATA" and dev is not None:
            scope_d = st.devices.get(dev)
            if (scope_d is None or not scope_d.online) and st.online:
                res.events.append(self._event(topic, "unknown", reason="no DBIRTH seen"))
                self._want_rebirth(st, clock, res)
        if mtype in ("NDATA", "DBIRTH", "DDATA"):
            target = st.devices.get(dev) if dev is not None else st
            self._emit(topic, payload, target, st, res)
        return res

    # ----- message types --------------------------------------------------------------

    def _nbirth(self, topic: Topic, payload: Payload, res: HostResult) -> None:
        key = (topic.group, topic.edge_node)
        old = self.edges.get(key)
        st = _Edge(online=True, seq=payload.seq)
        if old is not None:  # devices must be born again after an NBIRTH
            st.devices = {d: _Scope(False, s.aliases, s.types) for d, s in old.devices.items()}
        for m in payload.metrics:
            if m.name == BDSEQ and isinstance(m.value, int):
                st.bd_seq = m.value
        st.learn(payload.metrics)
        self.edges[key] = st
        res.events.append(self._event(topic, "birth", bdSeq=st.bd_seq, **self._catalogue(payload)))
        self._emit(topic, payload, st, st, res)

    def _ndeath(self, topic: Topic, payload: Payload, st: _Edge | None, res: HostResult) -> None:
        bd = next((m.value for m in payload.metrics if m.name == BDSEQ), None)
        if st is None or not st.online:
            return
        if bd is not None and st.bd_seq is not None and bd != st.bd_seq:
            return  # the death of an older session: the current one is alive
        st.online = False
        gone = [d for d, s in st.devices.items() if s.online]
        for scope in st.devices.values():
            scope.online = False
        res.events.append(
            self._event(topic, "death", bdSeq=bd, timestamp=payload.timestamp, devices=gone)
        )

    def _check_seq(
        self, topic: Topic, payload: Payload, st: _Edge, clock: float, res: HostResult
    ) -> None:
        seq = payload.seq
        if seq is None or st.seq is None:
            st.seq = seq
            return
        expected = (st.seq + 1) % 256
        st.seq = seq
        if seq != expected:
            res.events.append(
                self._event(topic, "seq-gap", expected=expected, received=seq, device=None)
            )
            self._want_rebirth(st, clock, res)

    def _want_rebirth(self, st: _Edge, clock: float, res: HostResult) -> None:
        if clock - st.rebirth_at >= self.rebirth_interval:
            st.rebirth_at = clock
            res.rebirth = True

    # ----- output ---------------------------------------------------------------------

    def _emit(
        self,
        topic: Topic,
        payload: Payload,
        scope: _Scope | None,
        st: _Edge,
        res: HostResult,
    ) -> None:
        base = f"{topic.group}/{topic.edge_node}"
        if topic.device is not None:
            base += f"/{topic.device}"
        for m in payload.metrics:
            name = m.name
            dt = m.datatype
            if name is None and m.alias is not None:
                found = (scope.aliases.get(m.alias) if scope else None) or st.aliases.get(m.alias)
                if found is None:
                    continue  # an alias the birth did not declare
                name, known = found
                dt = dt or known
            if name is None or (name == BDSEQ and topic.message_type == "NBIRTH"):
                continue
            value = None if m.is_null else m.value
            if m.datatype == DataType.Unknown:  # the writer left the type to the birth
                if scope is not None:
                    dt = scope.types.get(name, dt)
                if dt != DataType.Unknown and value is not None:
                    with contextlib.suppress(ValueError, TypeError):
                        value = from_wire(dt, value)
            res.metrics.append(
                {
                    "topic": f"{base}/{name}",
                    "payload": value,
                    "sparkplug": {
                        "group": topic.group,
                        "edge": topic.edge_node,
                        "device": topic.device,
                        "metric": name,
                        "alias": m.alias,
                        "datatype": dt.name,
                        "timestamp": m.timestamp or payload.timestamp,
                        "seq": payload.seq,
                        "historical": m.is_historical,
                        "messageType": topic.message_type,
                    },
                }
            )

    @staticmethod
    def _catalogue(payload: Payload) -> dict[str, Any]:
        return {
            "timestamp": payload.timestamp,
            "seq": payload.seq,
            "metrics": [
                {"name": m.name, "alias": m.alias, "datatype": m.datatype.name}
                for m in payload.metrics
                if m.name is not None
            ],
        }

    @staticmethod
    def _event(topic: Topic, event: str, **extra: Any) -> dict[str, Any]:
        path = f"{topic.group}/{topic.edge_node}"
        device = extra.pop("device", topic.device)
        if device is not None:
            path += f"/{device}"
        body: dict[str, Any] = {
            "event": event,
            "group": topic.group,
            "edge": topic.edge_node,
            "device": device,
            "messageType": topic.message_type,
        }
        body.update(extra)
        return {"topic": path, "payload": body}

    def scope_types(self, group: str, edge: str, device: str | None) -> dict[str, DataType]:
        """Metric name -> data type from the last birth (for sending commands)."""
        st = self.edges.get((group, edge))
        if st is None:
            return {}
        if device is None:
            return st.types
        scope = st.devices.get(device)
        return scope.types if scope is not None else {}
