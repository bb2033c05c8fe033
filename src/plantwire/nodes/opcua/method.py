"""opcua-method: call a method on the server with typed input arguments."""

from __future__ import annotations

from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.ua_utils import data_type_to_variant_type
from asyncua.ua.uaerrors import UaStatusCodeError
from pydantic import Field, field_validator, model_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, SendFn
from plantwire.spec import NodeConfig, config_ref, node_type

from . import convert_codec as cc
from ._common import OpcUaUserNode

__all__ = ["OpcUaMethodConfig", "OpcUaMethodNode"]


class OpcUaMethodConfig(NodeConfig):
    """The opcua-method node as it appears in flows.json."""

    client: str = config_ref("opcua-client", "Id of the opcua-client config node.")
    objectId: str = Field("", description="The object that owns the method (node id or path).")
    methodId: str = Field(
        "", description="The method (node id, browse path, or browse name such as 2:Start)."
    )
    arguments: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Input arguments, each {dataType, value}; empty: msg.payload (a list, or "
        "one value) converted to the types the method declares.",
    )

    @field_validator("arguments", mode="before")
    @classmethod
    def _args(cls, value: Any) -> Any:
        return [] if value in ("", None) else value

    @model_validator(mode="after")
    def _check(self) -> OpcUaMethodConfig:
        if not self.client:
            raise ValueError("client: missing opcua-client configuration")
        for name in ("objectId", "methodId"):
            ref = getattr(self, name)
            if ref and not (name == "methodId" and ":" in ref and ref.split(":", 1)[0].isdigit()):
                try:
                    cc.check_node_ref(ref)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        for n, arg in enumerate(self.arguments, start=1):
            if arg.get("dataType"):
                try:
                    cc.variant_type(str(arg["dataType"]))
                except ValueError as exc:
                    raise ValueError(f"arguments[{n}]: {exc}") from None
        return self


@node_type("opcua-method")
class OpcUaMethodNode(OpcUaUserNode):
    """Calls an OPC UA method. The object and method come from the configuration, or
    ``msg.objectId`` / ``msg.methodId``; the input arguments from the configuration or
    ``msg.payload`` (a list, or a single value), converted to the data types the method
    declares in its InputArguments. The result goes out in ``msg.payload`` (one value,
    or a list when the method returns several). A bad argument or a call the server
    refuses reaches catch nodes with the method and the reason."""

    config_model = OpcUaMethodConfig
    category = "industrial"
    color = "#9fd3e6"
    icon = "bridge.svg"
    inputs = 1
    outputs = 1

    def __init__(self, flow: Any, config: OpcUaMethodConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.conn is None:
            raise ValueError("missing opcua-client configuration")
        object_ref = str(self.cfg.objectId or msg.get("objectId") or "")
        method_ref = str(self.cfg.methodId or msg.get("methodId") or "")
        if not object_ref or not method_ref:
            raise ValueError("set the object and the method to call (or msg.objectId/methodId)")
        if self.cfg.arguments:
            values = [a.get("value") for a in self.cfg.arguments]
            forced = [
                cc.variant_type(str(a["dataType"])) if a.get("dataType") else None
                for a in self.cfg.arguments
            ]
        else:
            payload = msg.get("payload")
            values = (
                payload if isinstance(payload, list) else ([] if payload is None else [payload])
            )
            forced = [None] * len(values)
        conn = self.conn
        label = f"method {method_ref} of {object_ref}"

        async def call(client: Client) -> ua.CallMethodResult:
            obj = await conn.resolve(client, object_ref)
            if cc.is_browse_path(method_ref) or method_ref.startswith(("ns=", "i=", "s=", "nsu=")):
                mid = await conn.resolve(client, method_ref)
            else:
                mid = (await client.get_node(obj).get_child(method_ref)).nodeid
            declared: list[ua.Argument] = []
            try:
                prop = await client.get_node(mid).get_child("0:InputArguments")
                declared = list(await prop.read_value() or [])
            except UaStatusCodeError:
                declared = []
            if declared and len(declared) != len(values):
                raise ValueError(f"{label} takes {len(declared)} arguments, got {len(values)}")
            variants = []
            for n, value in enumerate(values):
                vtype = forced[n]
                if vtype is None and n < len(declared):
                    vtype = await data_type_to_variant_type(client.get_node(declared[n].DataType))
                if vtype is None:
                    variants.append(ua.Variant(value))
                    continue
                is_array = n < len(declared) and declared[n].ValueRank >= 0
                try:
                    variants.append(ua.Variant(cc.coerce(value, vtype, array=is_array), vtype))
                except ValueError as exc:
                    raise ValueError(f"{label}, argument {n + 1}: {exc}") from None
            request = ua.CallMethodRequest()
            request.ObjectId, request.MethodId, request.InputArguments = obj, mid, variants
            result: ua.CallMethodResult = (await client.uaclient.call([request]))[0]
            return result

        try:
            result = await conn.call(call)
        except ValueError:
            raise
        except UaStatusCodeError as exc:
            raise RuntimeError(f"{label}: {cc.status_text(ua.StatusCode(exc.code))}") from None
        except Exception as exc:
            raise RuntimeError(f"{label}: {exc}") from None
        if not result.StatusCode.is_good():
            bad_args = [
                f"argument {n + 1}: {cc.status_text(s)}"
                for n, s in enumerate(result.InputArgumentResults or [])
                if not s.is_good()
            ]
            detail = f" ({'; '.join(bad_args)})" if bad_args else ""
            raise RuntimeError(
                f"{label}: the server refused the call: {cc.status_text(result.StatusCode)}{detail}"
            )
        outputs = [cc.to_plain(v.Value) for v in result.OutputArguments or []]
        msg["payload"] = None if not outputs else outputs[0] if len(outputs) == 1 else outputs
        msg["statusCode"] = result.StatusCode.name
        send(msg)
