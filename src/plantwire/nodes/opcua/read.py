"""opcua-read: read variables, polled at an interval and/or when a message arrives."""

from __future__ import annotations

from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.uaerrors import UaStatusCodeError
from pydantic import Field, field_validator, model_validator

from plantwire.nodes.common.poll import PointResult, PollSubscription
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, SendFn
from plantwire.spec import LooseFloat, NodeConfig, config_ref, node_type

from . import convert_codec as cc
from ._common import Item, ItemErrors, OpcUaUserNode, dv_message, parse_items
from .client import Point

__all__ = ["OpcUaReadConfig", "OpcUaReadNode"]


class OpcUaReadConfig(NodeConfig):
    """The opcua-read node as it appears in flows.json."""

    client: str = config_ref("opcua-client", "Id of the opcua-client config node.")
    nodeIds: list[str | dict[str, Any]] = Field(
        default_factory=list,
        description="Variables to read: node ids (ns=2;s=Line1.Speed, ns=2;i=1001) or browse "
        "paths (/Objects/2:Plant/2:Speed); an entry may be {nodeId, name}.",
    )
    interval: LooseFloat = Field(
        1.0, description="Poll every so many seconds; 0 reads only when a message arrives."
    )
    topic: str = Field(
        "{point}",
        description="Topic of each value message; {point} (name or node id), {nodeId}, "
        "{name} (this node's name) and {device} (the endpoint) are filled in.",
    )
    output: str = Field(
        "each",
        description="each: one message per variable; object: one message whose payload "
        "maps each name to its value.",
    )

    @field_validator("nodeIds", mode="before")
    @classmethod
    def _text_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if line.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> OpcUaReadConfig:
        if not self.client:
            raise ValueError("client: missing opcua-client configuration")
        try:
            parse_items(self.nodeIds)
        except ValueError as exc:
            raise ValueError(f"nodeIds: {exc}") from None
        if self.interval < 0:
            raise ValueError("interval: must be 0 (read on input only) or more")
        if self.output not in ("each", "object"):
            raise ValueError(f"output: '{self.output}' is not each or object")
        return self


@node_type("opcua-read")
class OpcUaReadNode(OpcUaUserNode):
    """Reads OPC UA variables. With an interval the values are polled (together with
    every other read node of the same client, in as few requests as possible); a message
    arriving reads them at once (``msg.topic`` or ``msg.nodeId`` may name other node ids,
    a string or a list).

    Each value message has ``payload`` (the value), ``topic``, ``quality`` (good /
    uncertain / bad with the server's status code as reason), ``sourceTimestamp`` (the
    server's source timestamp), ``receiveTimestamp``, ``nodeId``, ``point`` and
    ``dataType``. A node id the server does not know gives a bad-quality message, a
    status and an error naming that node id; the other variables keep being read."""

    config_model = OpcUaReadConfig
    category = "industrial"
    color = "#9fd3e6"
    icon = "bridge.svg"
    inputs = 1
    outputs = 1

    def __init__(self, flow: Any, config: OpcUaReadConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.items = parse_items(config.nodeIds)
        self.by_ref = {i.ref: i for i in self.items}
        self.sub: PollSubscription[Point] | None = None
        self.errors = ItemErrors(self)

    async def start(self) -> None:
        if not await self.attach() or self.conn is None:
            return
        if self.items and self.cfg.interval > 0:
            points = [Point(i.ref) for i in self.items]
            self.sub = self.conn.coordinator.subscribe(points, self.cfg.interval, self._on_poll)

    @property
    def endpoint(self) -> str:
        return self.client_node.cfg.endpoint if self.client_node else ""

    def _connected(self) -> bool:
        return self.conn is not None and self.conn.coordinator.state == "connected"

    def _messages(self, items: list[Item], values: dict[str, Any]) -> list[dict[str, Any]]:
        """Value messages for ``items`` from ``{ref: DataValue | error text}``."""
        msgs = []
        for item in items:
            got = values.get(item.ref)
            if isinstance(got, ua.DataValue):
                m = dv_message(got, item, self.cfg.topic, self.name, self.endpoint)
            else:
                m = dv_message(None, item, self.cfg.topic, self.name, self.endpoint, str(got))
            msgs.append(m)
        return msgs

    def _report(self, items: list[Item], msgs: list[dict[str, Any]]) -> None:
        if not self._connected():
            return  # the client node reports the connection once
        for item, m in zip(items, msgs, strict=True):
            quality = m["quality"]
            self.errors.update(
                item, quality.get("reason") if quality["status"] == "bad" else None, m
            )
        self.errors.show(len(items), "connected")

    def _group(self, msgs: list[dict[str, Any]]) -> dict[str, Any]:
        worst = next((m["quality"] for m in msgs if m["quality"]["status"] == "bad"), None)
        worst = worst or next(
            (m["quality"] for m in msgs if m["quality"]["status"] != "good"), None
        )
        first = msgs[0] if msgs else {}
        return {
            "payload": {m["point"]: m["payload"] for m in msgs},
            "topic": self.cfg.topic.replace("{point}", self.name or "values")
            if "{point}" in self.cfg.topic
            else self.cfg.topic,
            "quality": worst or {"status": "good"},
            "sourceTimestamp": max((m["sourceTimestamp"] for m in msgs), default=None),
            "receiveTimestamp": first.get("receiveTimestamp"),
            "qualities": {m["point"]: m["quality"] for m in msgs},
        }

    def _emit(self, msgs: list[dict[str, Any]]) -> None:
        if self.cfg.output == "object":
            self.send(self._group(msgs))
        else:
            for m in msgs:
                self.send(m)

    def _on_poll(self, results: dict[Point, PointResult]) -> None:
        values = {p.ref: (r.value if r.ok else r.error) for p, r in results.items()}
        msgs = self._messages(self.items, values)
        self._report(self.items, msgs)
        self._emit(msgs)

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        items = self.items
        wanted = msg.get("nodeId") or (msg.get("topic") if not items else None)
        if wanted:
            items = parse_items(wanted if isinstance(wanted, list) else [wanted])
        if not items:
            raise ValueError("no node id to read: configure some or set msg.topic")
        if self.conn is None:
            raise ValueError("missing opcua-client configuration")
        conn = self.conn

        async def read(client: Client) -> dict[str, Any]:
            out: dict[str, Any] = {}
            nids = []
            for item in items:
                try:
                    nids.append((item, await conn.resolve(client, item.ref)))
                except UaStatusCodeError as exc:
                    out[item.ref] = cc.status_text(ua.StatusCode(exc.code))
            params = ua.ReadParameters()
            params.TimestampsToReturn = ua.TimestampsToReturn.Both
            for _, nid in nids:
                rv = ua.ReadValueId()
                rv.NodeId, rv.AttributeId = nid, AttributeIds.Value
                params.NodesToRead.append(rv)
            if nids:
                for (item, _), dv in zip(nids, await client.uaclient.read(params), strict=True):
                    out[item.ref] = dv
            return out

        try:
            values = await conn.call(read)
        except Exception as exc:
            raise RuntimeError(f"cannot read {', '.join(i.ref for i in items)}: {exc}") from None
        msgs = self._messages(items, values)
        for item, m in zip(items, msgs, strict=True):
            if m["quality"]["status"] == "bad":
                self.errors.update(item, m["quality"]["reason"], {**msg, **m})
            else:
                self.errors.update(item, None)
        for m in msgs:
            for key, value in msg.items():
                if key not in m and key != "_msgid":
                    m[key] = value
        if self.cfg.output == "object":
            send(self._group(msgs))
        else:
            for m in msgs:
                send(m)

    async def close(self, removed: bool) -> None:
        if self.conn is not None and self.sub is not None:
            self.conn.coordinator.unsubscribe(self.sub)
        await self.detach()
