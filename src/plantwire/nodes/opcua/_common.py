"""Glue shared by the OPC UA user nodes: finding the client, items, value messages."""

from __future__ import annotations

import json
from typing import Any

from asyncua import ua

from plantwire.nodes.common.values import bad, format_topic, value_msg
from plantwire.runtime.node import Node

from . import convert_codec as cc
from .client import OpcUaConnection
from .endpoint import OpcUaClientNode

__all__ = ["Item", "ItemErrors", "OpcUaUserNode", "dv_message", "find_client", "parse_items"]


class Item:
    """A configured node reference with the name used in topics and group payloads."""

    __slots__ = ("name", "ref")

    def __init__(self, ref: str, name: str = "") -> None:
        self.ref = ref
        self.name = name or ref


def parse_items(value: Any) -> list[Item]:
    """Node ids from the editor: a list of strings / {nodeId, name} objects, or text with
    one node id per line (``name = node id`` allowed). ValueError names a bad one."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            value = [line for line in text.splitlines() if line.strip()]
    if not isinstance(value, list):
        raise ValueError("expected a list of node ids")
    items = []
    for entry in value:
        if isinstance(entry, dict):
            ref, name = (
                str(entry.get("nodeId") or entry.get("id") or ""),
                str(entry.get("name") or ""),
            )
        else:
            ref, name = str(entry), ""
            head, sep, tail = ref.partition(" = ")
            if sep:
                name, ref = head.strip(), tail.strip()
        try:
            items.append(Item(cc.check_node_ref(ref), name))
        except ValueError as exc:
            raise ValueError(f"node id '{ref}': {exc}") from None
    return items


def find_client(node: Node, client_id: str) -> OpcUaClientNode | None:
    """The opcua-client config node, or None after reporting it missing."""
    client = node.flow.get_node(client_id) if client_id else None
    if not isinstance(client, OpcUaClientNode):
        node.status("red", "ring", "no OPC UA client")
        node.error("missing opcua-client configuration")
        return None
    return client


def dv_message(
    dv: ua.DataValue | None, item: Item, topic: str, node_name: str, endpoint: str, error: str = ""
) -> dict[str, Any]:
    """A value message from one DataValue (or a read error)."""
    fields = {"point": item.name, "nodeId": item.ref, "name": node_name, "device": endpoint}
    if dv is None:
        return value_msg(
            None,
            topic=format_topic(topic or "{point}", fields),
            quality=bad(error or "no value"),
            point=item.name,
            nodeId=item.ref,
        )
    value = dv.Value.Value if dv.Value is not None else None
    status = dv.StatusCode
    return value_msg(
        cc.to_plain(value) if status is None or not status.is_bad() else None,
        topic=format_topic(topic or "{point}", fields),
        quality=cc.quality_of(status),
        source_time=dv.SourceTimestamp or dv.ServerTimestamp,
        point=item.name,
        nodeId=item.ref,
        dataType=dv.Value.VariantType.name if dv.Value is not None and value is not None else None,
    )


class ItemErrors:
    """Reports an item's error once (until it recovers), with the message that shows it."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.current: dict[str, str] = {}

    def update(self, item: Item, reason: str | None, msg: dict[str, Any] | None = None) -> None:
        if reason is None:
            self.current.pop(item.ref, None)
            return
        if self.current.get(item.ref) == reason:
            return
        self.current[item.ref] = reason
        self.node.error(f"OPC UA node {item.ref}: {reason}", msg)

    def show(self, total: int, ok_text: str = "ok") -> None:
        """Status: green when all items are fine, yellow naming the first bad one."""
        if not self.current:
            self.node.status("green", "dot", ok_text)
            return
        ref = next(iter(self.current))
        self.node.status("yellow", "ring", f"{len(self.current)} of {total} bad: {ref}")


class OpcUaUserNode(Node):
    """Base of the nodes that use an ``opcua-client``: registered with it while running."""

    def __init__(self, flow: Any, config: Any) -> None:
        super().__init__(flow, config)
        self.client_node: OpcUaClientNode | None = None
        self.conn: OpcUaConnection | None = None

    async def attach(self) -> bool:
        """Register with the client config node; False when it is missing (reported)."""
        self.client_node = find_client(self, str(getattr(self.config, "client", "") or ""))
        if self.client_node is None:
            return False
        self.conn = await self.client_node.register(self)
        return True

    async def detach(self) -> None:
        if self.client_node is not None:
            await self.client_node.deregister(self)

    async def start(self) -> None:
        await self.attach()

    async def close(self, removed: bool) -> None:
        await self.detach()
