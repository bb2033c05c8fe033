"""opcua-write: write msg.payload to a variable, converted to the variable's data type."""

from __future__ import annotations

from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.uaerrors import UaStatusCodeError
from pydantic import Field, model_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, SendFn
from plantwire.spec import NodeConfig, config_ref, node_type

from . import convert_codec as cc
from ._common import OpcUaUserNode
from .endpoint import status_for

__all__ = ["OpcUaWriteConfig", "OpcUaWriteNode"]


class OpcUaWriteConfig(NodeConfig):
    """The opcua-write node as it appears in flows.json."""

    client: str = config_ref("opcua-client", "Id of the opcua-client config node.")
    nodeId: str = Field(
        "", description="Variable to write (node id or browse path); empty: msg.topic / msg.nodeId."
    )
    dataType: str = Field(
        "",
        description="Data type to write (Double, Int32, Boolean, String, ...); empty: the "
        "variable's own DataType, read from the server.",
    )

    @model_validator(mode="after")
    def _check(self) -> OpcUaWriteConfig:
        if not self.client:
            raise ValueError("client: missing opcua-client configuration")
        if self.nodeId:
            try:
                cc.check_node_ref(self.nodeId)
            except ValueError as exc:
                raise ValueError(f"nodeId: {exc}") from None
        if self.dataType:
            try:
                cc.variant_type(self.dataType)
            except ValueError as exc:
                raise ValueError(f"dataType: {exc}") from None
        return self


@node_type("opcua-write")
class OpcUaWriteNode(OpcUaUserNode):
    """Writes ``msg.payload`` to an OPC UA variable (the configured node id, else
    ``msg.nodeId`` or ``msg.topic``). The value is converted to the variable's data type
    (``"12.5"`` to a Double, ``1`` to a Boolean true, an ISO text to a DateTime, a list to
    an array); a value that does not fit, or a write the server refuses (read-only
    variable, unknown node id), reaches catch nodes with the node id and the reason. On
    success the message is passed on with ``msg.statusCode = "Good"``."""

    config_model = OpcUaWriteConfig
    category = "industrial"
    color = "#9fd3e6"
    icon = "bridge.svg"
    inputs = 1
    outputs = 1

    def __init__(self, flow: Any, config: OpcUaWriteConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.forced = cc.variant_type(config.dataType) if config.dataType else None

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.conn is None:
            raise ValueError("missing opcua-client configuration")
        ref = self.cfg.nodeId or str(msg.get("nodeId") or msg.get("topic") or "")
        if not ref:
            raise ValueError("no node id to write: configure one or set msg.topic")
        ref = cc.check_node_ref(ref)
        conn, value, forced = self.conn, msg.get("payload"), self.forced

        async def write(client: Client) -> ua.StatusCode:
            try:
                nid, vtype, is_array = await conn.variable_type(client, ref)
            except UaStatusCodeError as exc:
                return ua.StatusCode(exc.code)
            if forced is not None:
                vtype = forced
            try:
                converted = cc.coerce(value, vtype, array=is_array)
            except ValueError as exc:
                raise ValueError(f"OPC UA node {ref}: {exc}") from None
            dv = ua.DataValue(ua.Variant(converted, vtype))
            params = ua.WriteParameters()
            wv = ua.WriteValue()
            wv.NodeId, wv.AttributeId, wv.Value = nid, AttributeIds.Value, dv
            params.NodesToWrite = [wv]
            result: ua.StatusCode = (await client.uaclient.write(params))[0]
            return result

        try:
            status = await conn.call(write)
        except ValueError:
            raise
        except Exception as exc:
            raise RuntimeError(f"OPC UA node {ref}: write failed: {exc}") from None
        if not status.is_good():
            self.status("yellow", "ring", f"write refused: {ref}")
            raise RuntimeError(
                f"OPC UA node {ref}: the server refused the write: {cc.status_text(status)}"
            )
        if self.client_node is not None and self.last_status.get("fill") != "green":
            self.status(*status_for("connected", ""))
        msg["statusCode"] = status.name
        msg["nodeId"] = ref
        send(msg)
