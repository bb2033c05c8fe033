"""Glue shared by the polled device nodes (s7 and enip): endpoint, read and write bases.

An endpoint (config node) owns one PollCoordinator; read nodes subscribe their points
and turn each cycle's results into value messages; write nodes run their writes through
``coordinator.call``. A point whose address is wrong, or that the device refuses, gives
a status and an error naming the point, and the other points keep updating.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, field_validator

from plantwire.nodes.common.poll import ConnectionLost, PointResult, PollCoordinator
from plantwire.nodes.common.values import bad, format_topic, value_msg
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseFloat, NodeConfig

__all__ = [
    "BadPoint",
    "DeviceEndpoint",
    "DeviceReadConfig",
    "DeviceReadNode",
    "DeviceWriteConfig",
    "DeviceWriteNode",
    "PointSpec",
    "parse_point_list",
]

STATE_STATUS = {
    "connected": ("green", "dot", "connected"),
    "connecting": ("yellow", "ring", "connecting"),
    "reconnecting": ("red", "ring", "reconnecting"),
    "stopped": ("grey", "ring", "stopped"),
}
MAX_PENDING = 1000
"""Messages a read node keeps while its wires are busy; older cycles are dropped beyond it."""


@dataclass(frozen=True)
class BadPoint:
    """Returned by a protocol's execute instead of a value for a point the device refused
    (the rest of the request is good)."""

    reason: str


CONNECTION_REASONS = ("not connected", "connection lost")


class PointSpec:
    """One configured point: its name, address text, unit, and parsed form or error."""

    __slots__ = ("address", "error", "name", "point", "unit")

    def __init__(self, name: str, address: str, unit: str = "") -> None:
        self.name = name or address
        self.address = address
        self.unit = unit
        self.point: Hashable | None = None
        self.error = ""


def parse_point_list(value: Any) -> list[dict[str, str]]:
    """Points as written in flows.json: a list of {name, address, unit} objects or of
    address strings, a JSON text of such a list, or lines of ``name=address``."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            value = [line for line in text.splitlines() if line.strip()]
    if not isinstance(value, list):
        raise ValueError("points: expected a list of {name, address} objects")
    points: list[dict[str, str]] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            name, sep, addr = item.partition("=")
            item = {"name": name.strip(), "address": addr.strip()} if sep else {"address": item}
        if not isinstance(item, dict):
            raise ValueError(f"points[{i}]: expected an object with an address")
        addr = str(item.get("address", item.get("addr", item.get("tag", ""))) or "").strip()
        if not addr:
            raise ValueError(f"points[{i}]: no address")
        points.append(
            {
                "name": str(item.get("name") or addr),
                "address": addr,
                "unit": str(item.get("unit") or ""),
            }
        )
    names = [p["name"] for p in points]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ValueError(f"points: the name '{dup}' is used twice")
    return points


class DeviceEndpoint(Node):
    """Base of a polled device's config node: one coordinator shared by every user."""

    category = "config"
    is_config = True
    inputs = 0
    outputs = 0
    coordinator: PollCoordinator[Any]

    def __init__(self, flow: Any, config: NodeConfig) -> None:
        super().__init__(flow, config)
        self.users: dict[str, Node] = {}

    @property
    def label(self) -> str:
        return self.name or self.id

    def make_coordinator(self, kind: str, link: Any, timeout: float) -> PollCoordinator[Any]:
        """The coordinator of a device reached through ``link`` (with ``connect``,
        ``close``, ``read`` and ``label``), planned by this endpoint's ``plan``; one
        request may take up to three times the device ``timeout`` (seconds)."""
        return PollCoordinator(
            f"{kind} {self.name or link.label}",
            connect=link.connect,
            disconnect=link.close,
            plan=self.plan,
            execute=link.read,
            request_timeout=timeout * 3,
        )

    def plan(self, points: list[Any]) -> list[Any]:
        """Pack ``points`` into device requests (each protocol overrides this)."""
        raise NotImplementedError

    async def register(self, node: Node) -> None:
        """A node starts using the device; the first one starts the coordinator."""
        self.users[node.id] = node
        await self.coordinator.start()

    async def unregister(self, node: Node, sub: Any = None) -> None:
        """A node stops (dropping its subscription); after the last one the connection is
        closed. The coordinator is stopped before the last subscription goes: an
        unsubscribe wakes its loop, and on Python 3.11 a wake-up racing the cancellation
        of ``asyncio.wait_for`` swallows the cancel and ``stop()`` would hang."""
        self.users.pop(node.id, None)
        if not self.users:
            await asyncio.sleep(0.01)  # let the loop take a pending wake-up first
            await self.coordinator.stop()
        if sub is not None:
            self.coordinator.unsubscribe(sub)

    async def close(self, removed: bool) -> None:
        self.users.clear()
        await self.coordinator.stop()


class DeviceReadConfig(NodeConfig):
    """Fields every polled read node has (the endpoint field is added per protocol)."""

    points: list[dict[str, str]] = Field(
        default_factory=list,
        description="The points to read: objects {name, address, unit}; a plain address "
        "string or a 'name=address' line is accepted too.",
    )
    interval: LooseFloat = Field(1000, description="Poll interval in milliseconds.")
    output: str = Field(
        "each",
        description="each: one message per point; group: one message whose payload holds "
        "every point by name.",
    )
    onChange: LooseBool = Field(
        False, description="Send a point (or the group) only when its value or quality changed."
    )
    topic: str = Field(
        "{point}",
        description="Topic template: {point}, {name} (node name), {device}, {address}, {unit}.",
    )

    @field_validator("points", mode="before")
    @classmethod
    def _points(cls, value: Any) -> Any:
        return parse_point_list(value)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < 10:
            raise ValueError(f"interval: {value} ms is too short (at least 10 ms)")
        return value

    @field_validator("output")
    @classmethod
    def _output(cls, value: str) -> str:
        if value not in ("each", "group"):
            raise ValueError(f"output: '{value}' is not 'each' or 'group'")
        return value


class DeviceReadNode(Node):
    """Base of a polled read node: subscribes its points, sends value messages."""

    category = "input"
    inputs = 0
    endpoint_class: ClassVar[type[DeviceEndpoint]] = DeviceEndpoint
    protocol: ClassVar[str] = "device"

    def __init__(self, flow: Any, config: DeviceReadConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.specs = [PointSpec(p["name"], p["address"], p.get("unit", "")) for p in config.points]
        self.endpoint: DeviceEndpoint | None = None
        self._sub: Any = None
        self._last: dict[str, tuple[Any, str]] = {}
        self._bad: dict[str, str] = {}
        self._state = "stopped"
        self._state_detail = ""
        self._outbox: deque[Msg] = deque()
        self._outbox_ready = asyncio.Event()

    # ----- what a protocol supplies -------------------------------------------------------

    def parse_point(self, address: str) -> Hashable:
        """Parse an address; raise ValueError naming it when it is wrong."""
        raise NotImplementedError

    def endpoint_id(self) -> str:
        return str(getattr(self.cfg, "endpoint", ""))

    # ----- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        endpoint = self.flow.get_node(self.endpoint_id())
        if not isinstance(endpoint, self.endpoint_class):
            self.status("red", "ring", "no endpoint")
            self.error(f"missing {self.protocol} endpoint configuration")
            return
        self.endpoint = endpoint
        for spec in self.specs:
            try:
                spec.point = self.parse_point(spec.address)
            except ValueError as exc:
                spec.error = str(exc)
        self.create_task(self._sender())
        for spec in self.specs:
            if spec.error:
                self._mark_bad({spec.name: spec.error}, connection=False)
        good = [s.point for s in self.specs if s.point is not None]
        endpoint.coordinator.add_state_listener(self._on_state)
        if good:
            self._sub = endpoint.coordinator.subscribe(
                good, self.cfg.interval / 1000.0, self._on_results
            )
        await endpoint.register(self)

    async def close(self, removed: bool) -> None:
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is None:
            return
        endpoint.coordinator.remove_state_listener(self._on_state)
        sub, self._sub = self._sub, None
        await endpoint.unregister(self, sub)

    # ----- status -------------------------------------------------------------------------

    def _on_state(self, state: str, detail: str) -> None:
        self._state, self._state_detail = state, detail
        self._show()

    def _show(self) -> None:
        fill, shape, text = STATE_STATUS.get(self._state, STATE_STATUS["stopped"])
        if self._state == "reconnecting" and self._state_detail:
            text = f"reconnecting: {self._state_detail}"[:120]
        elif self._bad and (self._state == "connected" or all(s.error for s in self.specs)):
            name, reason = next(iter(self._bad.items()))
            more = f" (+{len(self._bad) - 1} more)" if len(self._bad) > 1 else ""
            fill, shape, text = "red", "ring", f"{name}: {reason}{more}"[:120]
        self.status(fill, shape, text)

    # ----- results to messages ------------------------------------------------------------

    def _fields(self, spec: PointSpec | None) -> dict[str, Any]:
        endpoint = self.endpoint
        fields: dict[str, Any] = {"name": self.name, "device": endpoint.label if endpoint else ""}
        if spec is not None:
            fields.update(point=spec.name, address=spec.address, unit=spec.unit or None)
        return fields

    def _point_msg(self, spec: PointSpec, value: Any, reason: str) -> Msg:
        fields = self._fields(spec)
        return value_msg(
            None if reason else value,
            topic=format_topic(self.cfg.topic, fields),
            quality=bad(reason) if reason else None,
            point=spec.name,
            address=spec.address,
            unit=spec.unit or None,
        )

    def _on_results(self, results: dict[Any, PointResult]) -> None:
        values: dict[str, tuple[Any, str]] = {}
        for spec in self.specs:
            if spec.point is None:
                continue
            res = results.get(spec.point)
            if res is None:
                continue
            if isinstance(res.value, BadPoint):
                values[spec.name] = (None, res.value.reason)
            else:
                values[spec.name] = (res.value, res.error or "")
        newly_bad = {n: r for n, (_, r) in values.items() if r and self._bad.get(n) != r}
        for name, (_, reason) in values.items():
            if not reason:
                self._bad.pop(name, None)
        self._emit(values)
        if newly_bad:
            connection = all(r.startswith(CONNECTION_REASONS) for r in newly_bad.values())
            if connection:
                newly_bad = dict([next(iter(newly_bad.items()))])
                self._bad.update({n: r for n, (_, r) in values.items() if r})
            self._mark_bad(newly_bad, connection=connection, send=False)
        self._show()

    def _emit(self, values: dict[str, tuple[Any, str]]) -> None:
        by_name = {s.name: s for s in self.specs}
        if self.cfg.output == "group":
            if not values:
                return
            merged = {n: v for n, v in self._last.items()}
            merged.update(values)
            if self.cfg.onChange and merged == self._last:
                return
            self._last = merged
            reasons = {n: r for n, (_, r) in merged.items() if r}
            payload = {n: (None if r else v) for n, (v, r) in merged.items()}
            msg = value_msg(
                payload,
                topic=format_topic(self.cfg.topic, self._fields(None)),
                quality=bad("; ".join(f"{n}: {r}" for n, r in reasons.items()))
                if reasons
                else None,
                errors=reasons or None,
            )
            self._enqueue(msg)
            return
        for name, (value, reason) in values.items():
            if self.cfg.onChange and self._last.get(name) == (value, reason):
                continue
            if reason and self._last.get(name, (None, ""))[1] == reason:
                continue  # a bad point is announced once, not every cycle
            self._last[name] = (value, reason)
            self._enqueue(self._point_msg(by_name[name], value, reason))

    def _mark_bad(self, reasons: dict[str, str], connection: bool, send: bool = True) -> None:
        """Record bad points; one error per point (or one for a lost connection)."""
        self._bad.update(reasons)
        by_name = {s.name: s for s in self.specs}
        if connection:
            reason = next(iter(reasons.values()))
            device = self.endpoint.label if self.endpoint else self.protocol
            msg = value_msg(None, quality=bad(reason), device=device)
            self.error(f"{device}: {reason}", msg)
        else:
            for name, reason in reasons.items():
                spec = by_name[name]
                msg = self._point_msg(spec, None, reason)
                if send and self.cfg.output == "each":
                    self._last[name] = (None, reason)
                    self._enqueue(msg)
                label = name if name == spec.address else f"{name} ({spec.address})"
                plain = label == spec.address and spec.address in reason
                self.error(reason if plain else f"{label}: {reason}", msg)
        self._show()

    def _enqueue(self, msg: Msg) -> None:
        if len(self._outbox) >= MAX_PENDING:
            self._outbox.popleft()
        self._outbox.append(msg)
        self._outbox_ready.set()

    async def _sender(self) -> None:
        while True:
            while not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
            await self.send_async(self._outbox.popleft())


class DeviceWriteConfig(NodeConfig):
    """Fields every write node has (the endpoint field is added per protocol)."""

    address: str = Field(
        "",
        description="Address to write msg.payload to; empty: msg.address, or a payload "
        "object of {address: value} pairs.",
    )


class DeviceWriteNode(Node):
    """Base of a write node: msg.payload to an address through the endpoint."""

    category = "output"
    outputs = 1
    endpoint_class: ClassVar[type[DeviceEndpoint]] = DeviceEndpoint
    protocol: ClassVar[str] = "device"

    def __init__(self, flow: Any, config: DeviceWriteConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.endpoint: DeviceEndpoint | None = None
        self._sub: Any = None

    def parse_point(self, address: str) -> Any:
        raise NotImplementedError

    def write_op(self, point: Any, value: Any) -> Callable[[], Any]:
        """An awaitable factory that writes ``value`` to ``point`` on the link."""
        raise NotImplementedError

    async def start(self) -> None:
        endpoint = self.flow.get_node(str(getattr(self.cfg, "endpoint", "")))
        if not isinstance(endpoint, self.endpoint_class):
            self.status("red", "ring", "no endpoint")
            self.error(f"missing {self.protocol} endpoint configuration")
            return
        self.endpoint = endpoint
        endpoint.coordinator.add_state_listener(self._on_state)
        # an empty subscription keeps the connection open for a write-only endpoint
        self._sub = endpoint.coordinator.subscribe([], 5.0, lambda _results: None)
        await endpoint.register(self)

    def _on_state(self, state: str, detail: str) -> None:
        fill, shape, text = STATE_STATUS.get(state, STATE_STATUS["stopped"])
        if state == "reconnecting" and detail:
            text = f"reconnecting: {detail}"[:120]
        self.status(fill, shape, text)

    async def close(self, removed: bool) -> None:
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is None:
            return
        endpoint.coordinator.remove_state_listener(self._on_state)
        sub, self._sub = self._sub, None
        await endpoint.unregister(self, sub)

    def _write_targets(self, msg: Msg) -> list[tuple[str, Any]]:
        payload = msg.get("payload")
        if self.cfg.address:
            return [(self.cfg.address, payload)]
        address = msg.get("address")
        if isinstance(address, str) and address.strip():
            return [(address, payload)]
        if isinstance(payload, dict) and payload:
            return [(str(k), v) for k, v in payload.items()]
        raise ValueError(
            "no address: set one in the node, in msg.address, or send a payload object "
            "of {address: value}"
        )

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            self.error(f"missing {self.protocol} endpoint configuration", msg)
            return
        try:
            targets = self._write_targets(msg)
            ops = [(a, self.parse_point(a), v) for a, v in targets]
        except ValueError as exc:
            self.status("red", "ring", str(exc)[:120])
            self.error(str(exc), msg)
            return
        for address, point, value in ops:
            try:
                await endpoint.coordinator.call(self.write_op(point, value))
            except ConnectionLost as exc:
                self.status("red", "ring", "not connected")
                self.error(f"cannot write {address}: {exc}", msg)
                return
            except Exception as exc:
                text = str(exc) or type(exc).__name__
                if address not in text:
                    text = f"cannot write {address}: {text}"
                self.status("red", "ring", text[:120])
                self.error(text, msg)
                return
        last = targets[-1]
        self.status("green", "dot", f"wrote {last[0]}")
        send(msg)
