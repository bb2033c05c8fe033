"""opcua-subscribe: monitored items; one message per data change the server reports."""

from __future__ import annotations

from typing import Any

from asyncua import ua
from pydantic import Field, field_validator, model_validator

from plantwire.spec import LooseFloat, LooseInt, NodeConfig, config_ref, node_type

from ._common import Item, ItemErrors, OpcUaUserNode, dv_message, parse_items
from .client import MonitorItem, MonitorSpec
from .endpoint import status_for

__all__ = ["OpcUaSubscribeConfig", "OpcUaSubscribeNode"]

DEADBANDS = ("none", "absolute", "percent")


class OpcUaSubscribeConfig(NodeConfig):
    """The opcua-subscribe node as it appears in flows.json."""

    client: str = config_ref("opcua-client", "Id of the opcua-client config node.")
    nodeIds: list[str | dict[str, Any]] = Field(
        default_factory=list,
        description="Variables to monitor: node ids or browse paths; an entry may be "
        "{nodeId, name, samplingInterval, deadbandType, deadband}.",
    )
    publishingInterval: LooseFloat = Field(
        1000, description="Publishing interval of the subscription in milliseconds."
    )
    samplingInterval: LooseFloat = Field(
        500, description="How often the server samples each item, in milliseconds."
    )
    deadbandType: str = Field(
        "none",
        description="Data change filter: none, absolute (report when the value moves more "
        "than the deadband) or percent (of the variable's EURange).",
    )
    deadband: LooseFloat = Field(0.0, description="Deadband value (absolute units or percent).")
    queueSize: LooseInt = Field(
        10, description="Changes the server keeps per item between publishes."
    )
    topic: str = Field(
        "{point}", description="Topic of each message; {point}, {nodeId}, {name}, {device}."
    )

    @field_validator("nodeIds", mode="before")
    @classmethod
    def _text_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if line.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> OpcUaSubscribeConfig:
        if not self.client:
            raise ValueError("client: missing opcua-client configuration")
        try:
            parse_items(self.nodeIds)
        except ValueError as exc:
            raise ValueError(f"nodeIds: {exc}") from None
        if self.deadbandType not in DEADBANDS:
            raise ValueError(
                f"deadbandType: '{self.deadbandType}' is not none, absolute or percent"
            )
        for entry in self.nodeIds:
            if isinstance(entry, dict) and entry.get("deadbandType", "none") not in DEADBANDS:
                raise ValueError(f"nodeIds: deadbandType of {entry.get('nodeId')} is not valid")
        if self.deadband < 0 or (self.deadbandType == "percent" and self.deadband > 100):
            raise ValueError("deadband: must be 0 or more (percent: at most 100)")
        if self.publishingInterval <= 0 or self.samplingInterval < 0:
            raise ValueError("publishingInterval/samplingInterval: must be positive")
        return self


@node_type("opcua-subscribe")
class OpcUaSubscribeNode(OpcUaUserNode):
    """Subscribes to OPC UA variables and sends one value message per data change the
    server reports (``payload``, ``topic``, ``quality``, ``sourceTimestamp`` from the
    server, ``nodeId``, ``point``). A deadband (absolute, or percent of the variable's
    EURange when the server supports it) suppresses small changes at the server. The
    monitored items are created again after every reconnect. A node id the server
    rejects gives a status and an error naming it; the other items keep working."""

    config_model = OpcUaSubscribeConfig
    category = "industrial"
    color = "#9fd3e6"
    icon = "bridge.svg"
    inputs = 0
    outputs = 1

    def __init__(self, flow: Any, config: OpcUaSubscribeConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.items = parse_items(config.nodeIds)
        self.monitor_items: list[MonitorItem] = []
        self.by_ref: dict[str, Item] = {}
        for entry, item in zip(config.nodeIds, self.items, strict=True):
            extra = entry if isinstance(entry, dict) else {}
            self.monitor_items.append(
                MonitorItem(
                    item.ref,
                    float(extra.get("samplingInterval", config.samplingInterval)),
                    str(extra.get("deadbandType", config.deadbandType)),
                    float(extra.get("deadband", config.deadband)),
                    max(1, int(config.queueSize)),
                )
            )
            self.by_ref[item.ref] = item
        self.spec: MonitorSpec | None = None
        self.errors = ItemErrors(self)

    async def start(self) -> None:
        if not await self.attach() or self.client_node is None or self.conn is None:
            return
        self.client_node.add_state_listener(self._on_state)
        self.spec = MonitorSpec(
            self.monitor_items, float(self.cfg.publishingInterval), self._on_change, self._on_error
        )
        self.conn.add_monitor(self.spec)

    def _on_state(self, state: str, detail: str) -> None:
        if state == "connected":
            self.errors.current.clear()
        self.status(*status_for(state, detail))

    def _on_change(self, mitem: MonitorItem, dv: ua.DataValue) -> None:
        item = self.by_ref[mitem.ref]
        endpoint = self.client_node.cfg.endpoint if self.client_node else ""
        msg = dv_message(dv, item, self.cfg.topic, self.name, endpoint)
        if msg["quality"]["status"] == "bad":
            self.errors.update(item, msg["quality"]["reason"], msg)
            self.errors.show(len(self.items), "subscribed")
        elif item.ref in self.errors.current:
            self.errors.update(item, None)
            self.errors.show(len(self.items), "subscribed")
        self.send(msg)

    def _on_error(self, mitem: MonitorItem, reason: str) -> None:
        item = self.by_ref[mitem.ref]
        endpoint = self.client_node.cfg.endpoint if self.client_node else ""
        msg = dv_message(None, item, self.cfg.topic, self.name, endpoint, reason)
        self.errors.update(item, reason, msg)
        self.errors.show(len(self.items), "subscribed")

    async def close(self, removed: bool) -> None:
        if self.client_node is not None:
            self.client_node.remove_state_listener(self._on_state)
        if self.conn is not None and self.spec is not None:
            await self.conn.remove_monitor(self.spec)
        await self.detach()
