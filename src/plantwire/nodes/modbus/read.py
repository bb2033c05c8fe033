"""modbus-read: poll a group of points through the client's coordinator."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator

from plantwire.nodes.common.poll import PointResult
from plantwire.nodes.common.values import GOOD, bad, format_topic, uncertain, value_msg
from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, NodeConfig, config_ref, node_type

from ._points import PointListFields, load_points
from .config import STATUS, ModbusClientNode
from .points_codec import Point, PointError, as_strings, changed

__all__ = ["ModbusReadConfig", "ModbusReadNode", "client_of"]

_LEGACY_TABLES = {
    "Coil": "coil",
    "Input": "discrete",
    "HoldingRegister": "holding",
    "InputRegister": "input",
}
_RATE_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}
_LINK_DOWN = ("not connected", "connection lost")


class ModbusReadConfig(NodeConfig, PointListFields):
    """The modbus-read node: node-red-contrib-modbus's properties plus a point list."""

    server: str = config_ref("modbus-client", "Id of the modbus-client config node.")
    topic: str = Field(
        "",
        description="Topic template: {point}, {name} (node name), {unit}, {unitId}, "
        "{table}, {address}, {device}. Empty: the point name (one message per point), "
        "the node name (object mode).",
    )
    outputMode: str = Field(
        "point",
        description='"point": one message per point; "object": one message whose payload '
        "is an object of named values.",
    )
    reportByException: LooseBool = Field(
        True,
        description="Send only points whose value changed beyond their deadband (or whose "
        "quality changed); the first reading is always sent.",
    )
    rate: str = Field("1", description="Poll interval, in rateUnit.")
    rateUnit: str = Field("s", description='Unit of rate: "ms", "s", "m" or "h".')
    delayOnStart: LooseBool = Field(False, description="Wait startDelayTime before polling.")
    startDelayTime: str = Field("", description="Seconds to wait before the first poll.")
    unitid: str = Field("", description="Unit id of points without their own (empty: client's).")
    dataType: str = Field(
        "",
        description="node-red-contrib-modbus style reading without a point list: Coil, Input, "
        "HoldingRegister or InputRegister, with adr and quantity; the payload is the array "
        "of raw values.",
    )
    adr: str = Field("", description="Start address (0-based) of the contrib-style reading.")
    quantity: str = Field("", description="Number of registers/bits of that reading.")
    showStatusActivities: LooseBool = Field(False, description="Accepted for compatibility.")
    logIOActivities: LooseBool = Field(False, description="Accepted for compatibility.")
    showErrors: LooseBool = Field(False, description="Accepted for compatibility.")
    showWarnings: LooseBool = Field(True, description="Accepted for compatibility.")
    useIOFile: LooseBool = Field(False, description="Accepted for compatibility (not used).")
    ioFile: str = Field("", description="Accepted for compatibility (not used).")
    useIOForPayload: LooseBool = Field(False, description="Accepted for compatibility.")
    emptyMsgOnFail: LooseBool = Field(False, description="Accepted for compatibility.")

    @model_validator(mode="before")
    @classmethod
    def _strings(cls, data: Any) -> Any:
        return as_strings(data, ("rate", "rateUnit", "startDelayTime", "unitid", "adr", "quantity"))

    @model_validator(mode="after")
    def _check(self) -> ModbusReadConfig:
        if self.outputMode not in ("point", "object"):
            raise ValueError(f"outputMode: '{self.outputMode}' is not point or object")
        if self.rateUnit not in _RATE_UNITS:
            raise ValueError(f"rateUnit: '{self.rateUnit}' is not ms, s, m or h")
        try:
            ok = self.interval > 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"rate: '{self.rate}' is not a positive number")
        if self.unitid.strip() and not (self.unitid.strip().isdigit() and int(self.unitid) <= 255):
            raise ValueError(f"unitid: '{self.unitid}' is not 0..255")
        specs = self.inline_specs()
        if not specs and not self.pointsFile.strip():
            if self.dataType not in _LEGACY_TABLES:
                raise ValueError(
                    "points: none defined (give points, pointsCsv or pointsFile, or "
                    "dataType Coil/Input/HoldingRegister/InputRegister with adr and quantity)"
                )
            self.legacy_points()
        return self

    @property
    def interval(self) -> float:
        return float(self.rate or 1) * _RATE_UNITS[self.rateUnit]

    def legacy_points(self) -> list[Point]:
        """Points for a contrib-style reading (dataType, adr, quantity)."""
        table = _LEGACY_TABLES[self.dataType]
        try:
            adr, qty = int(self.adr), int(self.quantity or 1)
        except ValueError:
            raise ValueError(
                f"adr/quantity: '{self.adr}'/'{self.quantity}' are not numbers"
            ) from None
        limit = 2000 if table in ("coil", "discrete") else 125
        if not 0 <= adr <= 65535 or not 1 <= qty <= limit or adr + qty > 65536:
            raise ValueError(f"adr/quantity: {adr}/{qty} out of range (quantity 1..{limit})")
        dtype = "bool" if table in ("coil", "discrete") else "uint16"
        unit = int(self.unitid) if self.unitid.strip() else None
        return [Point(str(adr + i), table, adr + i, dtype, unit_id=unit) for i in range(qty)]


def client_of(node: Node, server_id: str) -> ModbusClientNode:
    """The modbus-client node ``server_id``; ValueError when it is missing."""
    client = node.flow.get_node(server_id) if server_id else None
    if not isinstance(client, ModbusClientNode):
        raise ValueError(f"no modbus-client configured (server '{server_id}')")
    return client


@node_type("modbus-read")
class ModbusReadNode(Node):
    """Reads a group of points from a Modbus device every interval.

    Points come from ``points``, ``pointsCsv`` and ``pointsFile`` (see
    docs/protocols/modbus.md). Every point's value is decoded (data type, byte and word
    order) and scaled (``raw * scale + offset``). Output mode "point" sends one value
    message per point (payload, topic, quality, sourceTimestamp, receiveTimestamp,
    point, unit); mode "object" sends one message whose payload is ``{name: value}``.
    With report by exception only points that changed beyond their deadband (or whose
    quality changed) are sent; the first reading always is.

    A point the device refuses (illegal data address, ...) is sent with bad quality
    and reported as an error naming the point, while the others keep updating. A lost
    connection shows "reconnecting" and reports one error until it is back.

    Without a point list, a node-red-contrib-modbus reading (dataType, adr, quantity)
    sends the array of raw values on output 1 every poll, and the raw bytes on output 2.
    """

    config_model = ModbusReadConfig
    category = "modbus"
    inputs = 0
    outputs = 1
    color = "#E9967A"
    icon = "modbus.png"

    def __init__(self, flow: Any, config: ModbusReadConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.legacy = not config.inline_specs() and not config.pointsFile.strip()
        self.outputs = 2 if self.legacy else 1
        self.points: list[Point] = config.legacy_points() if self.legacy else []
        self.client: ModbusClientNode | None = None
        self.sub: Any = None
        self.rbe = config.reportByException and not self.legacy
        self.object_mode = config.outputMode == "object"
        default_topic = "{name}" if self.object_mode else "{point}"
        self.template = config.topic if config.topic or self.legacy else default_topic
        self._pending: dict[Point, PointResult] = {}
        self._results_ready = asyncio.Event()
        self._sent: dict[Point, Any] = {}
        self._quality: dict[Point, str | None] = {}
        self._link_error = ""
        self._state = ("stopped", "")
        self._shown: tuple[str, str, str] | None = None
        self._bad: dict[Point, str] = {}

    # ----- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        try:
            self.client = client_of(self, self.cfg.server)
            if not self.legacy:
                self.points = load_points(self.cfg, self.flow.runtime.settings.data_dir)
        except ValueError as exc:
            self.status("red", "ring", str(exc)[:60])
            self.error(str(exc), {"payload": None})
            return
        unit = self.cfg.unitid.strip()
        if unit and not self.legacy:
            self.points = [
                p if p.unit_id is not None else _with_unit(p, int(unit)) for p in self.points
            ]
        await self.client.register(self, self._on_state)
        self.create_task(self._run())

    async def _run(self) -> None:
        if self.cfg.delayOnStart and self.cfg.startDelayTime.strip():
            await asyncio.sleep(float(self.cfg.startDelayTime))
        assert self.client is not None
        self.sub = self.client.coordinator.subscribe(
            self.points, self.cfg.interval, self._on_result
        )
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            results, self._pending = self._pending, {}
            if results:
                await self._process(results)

    async def close(self, removed: bool) -> None:
        if self.client is not None:
            if self.sub is not None:
                self.client.coordinator.unsubscribe(self.sub)
                self.sub = None
            await self.client.deregister(self, self._on_state)

    # ----- results --------------------------------------------------------------------

    def _on_result(self, results: dict[Point, PointResult]) -> None:
        # conflate: a slow flow gets the newest value of every point, memory stays bounded
        self._pending.update(results)
        self._results_ready.set()

    def _on_state(self, state: str, detail: str) -> None:
        self._state = (state, detail)
        if state == "connected":
            self._link_error = ""
        self._show_status()

    def _show_status(self) -> None:
        state, detail = self._state
        if state != "connected":
            fill, shape, text = STATUS.get(state, STATUS["reconnecting"])
            if detail and state == "reconnecting":
                text = f"{text}: {detail}"[:80]
        elif self._bad:
            p, reason = next(iter(self._bad.items()))
            fill, shape = "yellow", "ring"
            text = f"{len(self._bad)} of {len(self.points)} bad: {p.name}: {reason}"[:80]
        else:
            fill, shape, text = STATUS["connected"]
        if (fill, shape, text) != self._shown:
            self._shown = (fill, shape, text)
            self.status(fill, shape, text)

    def _fields(self, p: Point | None) -> dict[str, Any]:
        assert self.client is not None
        fields: dict[str, Any] = {
            "name": self.name or self.id,
            "device": self.client.name or self.client.label(),
        }
        if p is not None:
            unit = p.unit_id if p.unit_id is not None else self.client.settings.unit_id
            fields.update(point=p.name, unit=p.unit, unitId=unit, table=p.table, address=p.address)
        return fields

    async def _process(self, results: dict[Point, PointResult]) -> None:
        if self.legacy:
            await self._send_legacy(results)
            return
        link_down = ""
        good: list[tuple[Point, Any]] = []
        newly_bad: list[tuple[Point, str]] = []
        rbe = self.rbe
        sent, quality = self._sent, self._quality
        for p, r in results.items():
            value = r.value
            reason = r.error
            if reason is None and value.__class__ is PointError:
                reason = value.reason
            if reason is not None:
                if reason.startswith(_LINK_DOWN):
                    link_down = reason
                if quality.get(p, "") != reason:
                    quality[p] = reason
                    newly_bad.append((p, reason))
                    sent.pop(p, None)
                self._bad[p] = reason
                continue
            if quality.get(p, "") is not None:
                quality[p] = None
                self._bad.pop(p, None)
            elif rbe and p in sent and not changed(sent[p], value, p.deadband):
                continue
            sent[p] = value
            good.append((p, value))
        if link_down:
            self._bad.clear()
            if self._link_error != link_down:
                self._link_error = link_down
                self.error(link_down, {"payload": None})
        if self.object_mode:
            await self._send_object(good, newly_bad)
        else:
            await self._send_points(good, newly_bad, bool(link_down))
        self._show_status()

    async def _send_points(
        self, good: list[tuple[Point, Any]], newly_bad: list[tuple[Point, str]], link: bool
    ) -> None:
        template = self.template
        static = "{" not in template
        for p, value in good:
            topic = template if static else format_topic(template, self._fields(p))
            await self.send_async(value_msg(value, topic=topic, point=p.name, unit=p.unit or None))
        for p, reason in newly_bad:
            topic = template if static else format_topic(template, self._fields(p))
            msg = value_msg(None, topic=topic, quality=bad(reason), point=p.name)
            if not link:
                self.error(f"point {p.describe()}: {reason}", msg)
            await self.send_async(msg)

    async def _send_object(
        self, good: list[tuple[Point, Any]], newly_bad: list[tuple[Point, str]]
    ) -> None:
        if not good and not newly_bad and self.rbe:
            return
        topic = format_topic(self.template, self._fields(None))
        payload = {p.name: v for p, v in good}
        errors = {p.name: reason for p, reason in self._bad.items()}
        if not errors:
            q = GOOD
        else:
            text = "; ".join(f"{n}: {r}" for n, r in list(errors.items())[:5])
            q = bad(text) if len(errors) == len(self.points) else uncertain(text)
        msg = value_msg(payload, topic=topic, quality=q, errors=errors or None)
        for p, reason in newly_bad:
            if not reason.startswith(_LINK_DOWN):
                self.error(f"point {p.describe()}: {reason}", msg)
        await self.send_async(msg)

    async def _send_legacy(self, results: dict[Point, PointResult]) -> None:
        failed = [r.error for r in results.values() if r.error is not None]
        failed += [r.value.reason for r in results.values() if isinstance(r.value, PointError)]
        if failed:
            self._bad = {self.points[0]: failed[0]}
            if self._link_error != failed[0]:
                self._link_error = failed[0]
                self.error(f"{self.cfg.dataType} {self.cfg.adr}: {failed[0]}", {"payload": None})
            self._show_status()
            return
        self._bad, self._link_error = {}, ""
        values = [results[p].value for p in self.points if p in results]
        if self.points[0].is_bit:
            buffer = bytes(1 if v else 0 for v in values)
        else:
            buffer = b"".join(int(v).to_bytes(2, "big") for v in values)
        msg = {"payload": values, "topic": self.cfg.topic, "responseBuffer": {"data": values}}
        await self.send_async([msg, {"payload": buffer, "values": values}])
        self._show_status()


def _with_unit(p: Point, unit: int) -> Point:
    from dataclasses import replace

    return replace(p, unit_id=unit)
