"""opcua-browse: the address space below a start node, as a tree (for tag pickers)."""

from __future__ import annotations

from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIdNames
from asyncua.ua.uaerrors import UaStatusCodeError
from pydantic import Field, model_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, SendFn
from plantwire.spec import LooseInt, NodeConfig, config_ref, node_type

from . import convert_codec as cc
from ._common import OpcUaUserNode

__all__ = ["OpcUaBrowseConfig", "OpcUaBrowseNode", "browse_tree"]


class OpcUaBrowseConfig(NodeConfig):
    """The opcua-browse node as it appears in flows.json."""

    client: str = config_ref("opcua-client", "Id of the opcua-client config node.")
    startNode: str = Field(
        "i=85", description="Where to start (node id or path); i=85 is the Objects folder."
    )
    depth: LooseInt = Field(3, description="How many levels below the start node to browse.")
    maxNodes: LooseInt = Field(
        2000, description="Stop after this many nodes (large servers have huge address spaces)."
    )

    @model_validator(mode="after")
    def _check(self) -> OpcUaBrowseConfig:
        if not self.client:
            raise ValueError("client: missing opcua-client configuration")
        if self.startNode:
            try:
                cc.check_node_ref(self.startNode)
            except ValueError as exc:
                raise ValueError(f"startNode: {exc}") from None
        if self.depth < 0 or self.maxNodes < 1:
            raise ValueError("depth/maxNodes: depth must be 0 or more, maxNodes at least 1")
        return self


async def _type_name(client: Client, dtype: ua.NodeId, cache: dict[ua.NodeId, str]) -> str:
    if dtype not in cache:
        ident = dtype.Identifier
        if dtype.NamespaceIndex == 0 and isinstance(ident, int) and ident in ObjectIdNames:
            cache[dtype] = ObjectIdNames[ident]
        else:
            try:
                cache[dtype] = (await client.get_node(dtype).read_browse_name()).Name
            except Exception:
                cache[dtype] = dtype.to_string()
    return cache[dtype]


async def browse_tree(
    client: Client, start: ua.NodeId, depth: int, max_nodes: int
) -> tuple[dict[str, Any], bool]:
    """``({nodeId, browseName, displayName, nodeClass, dataType?, children}, truncated)``."""
    types: dict[ua.NodeId, str] = {}
    count = 0
    truncated = False
    root = client.get_node(start)
    attrs = await root.read_attributes(
        [AttributeIds.BrowseName, AttributeIds.DisplayName, AttributeIds.NodeClass]
    )
    tree: dict[str, Any] = {
        "nodeId": start.to_string(),
        "browseName": cc.to_plain(attrs[0].Value.Value if attrs[0].Value else None),
        "displayName": cc.to_plain(attrs[1].Value.Value if attrs[1].Value else None),
        "nodeClass": ua.NodeClass(attrs[2].Value.Value).name if attrs[2].Value else None,
        "children": [],
    }

    async def walk(entry: dict[str, Any], nid: ua.NodeId, level: int) -> None:
        nonlocal count, truncated
        if level >= depth:
            return
        refs = await client.get_node(nid).get_children_descriptions()
        variables = [r.NodeId for r in refs if r.NodeClass == ua.NodeClass.Variable]
        dtypes: dict[ua.NodeId, ua.NodeId] = {}
        if variables:
            values = await client.uaclient.read_attributes(variables, AttributeIds.DataType)
            for v, dv in zip(variables, values, strict=True):
                if dv.Value is not None and isinstance(dv.Value.Value, ua.NodeId):
                    dtypes[v] = dv.Value.Value
        for ref in refs:
            if count >= max_nodes:
                truncated = True
                return
            count += 1
            child: dict[str, Any] = {
                "nodeId": ref.NodeId.to_string(),
                "browseName": ref.BrowseName.to_string(),
                "displayName": ref.DisplayName.Text,
                "nodeClass": ref.NodeClass.name,
                "children": [],
            }
            if ref.NodeId in dtypes:
                child["dataType"] = await _type_name(client, dtypes[ref.NodeId], types)
            entry["children"].append(child)
            if ref.NodeClass in (ua.NodeClass.Object, ua.NodeClass.View, ua.NodeClass.Variable):
                await walk(child, ref.NodeId, level + 1)

    await walk(tree, start, 0)
    return tree, truncated


@node_type("opcua-browse")
class OpcUaBrowseNode(OpcUaUserNode):
    """Browses the server's address space from a start node (configured, or
    ``msg.topic`` / ``msg.nodeId``) down to a depth (``msg.depth`` overrides) and sends
    the tree in ``msg.payload``: each node has ``nodeId``, ``browseName``,
    ``displayName``, ``nodeClass``, ``dataType`` (variables) and ``children``.
    ``msg.truncated`` is true when ``maxNodes`` stopped the walk."""

    config_model = OpcUaBrowseConfig
    category = "industrial"
    color = "#9fd3e6"
    icon = "bridge.svg"
    inputs = 1
    outputs = 1

    def __init__(self, flow: Any, config: OpcUaBrowseConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.conn is None:
            raise ValueError("missing opcua-client configuration")
        ref = cc.check_node_ref(
            str(msg.get("nodeId") or msg.get("topic") or self.cfg.startNode or "i=85")
        )
        depth = int(msg.get("depth", self.cfg.depth))
        conn, max_nodes = self.conn, self.cfg.maxNodes

        async def run(client: Client) -> tuple[dict[str, Any], bool]:
            return await browse_tree(client, await conn.resolve(client, ref), depth, max_nodes)

        try:
            tree, truncated = await conn.call(run)
        except UaStatusCodeError as exc:
            raise RuntimeError(f"browse {ref}: {cc.status_text(ua.StatusCode(exc.code))}") from None
        except Exception as exc:
            raise RuntimeError(f"browse {ref}: {exc}") from None
        msg["payload"] = tree
        msg["truncated"] = truncated
        send(msg)
