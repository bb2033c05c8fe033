"""s7-write: write msg.payload to an S7 address."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from plantwire.nodes.common.device import DeviceWriteConfig, DeviceWriteNode
from plantwire.spec import config_ref, node_type

from .address_codec import S7Address, parse_address
from .endpoint import S7EndpointNode

__all__ = ["S7WriteConfig", "S7WriteNode"]


class S7WriteConfig(DeviceWriteConfig):
    """The s7-write node as it appears in flows.json."""

    endpoint: str = config_ref("s7-endpoint", "Id of the s7-endpoint node (the PLC).")


@node_type("s7-write")
class S7WriteNode(DeviceWriteNode):
    """Writes ``msg.payload`` to an S7 address (same notation as s7-read: ``DB1,REAL4``,
    ``DB1,X2.1``, ``MW20``, ``Q0.0``, ``DB1,S10.20`` ...).

    The address comes from the node, else from ``msg.address``; with neither, a payload
    object ``{"DB1,INT0": 5, "DB1,X2.1": true}`` writes each pair in turn. Values are
    checked against the type before anything is sent (range of INT, string length ...);
    bits are written as single bits. After a successful write the message is passed on;
    a failure gives a red status and an error naming the address (for catch nodes)."""

    config_model = S7WriteConfig
    color = "#3FADB5"
    icon = "bridge.svg"
    endpoint_class = S7EndpointNode
    protocol = "s7"

    def parse_point(self, address: str) -> S7Address:
        return parse_address(address)

    def write_op(self, point: Any, value: Any) -> Callable[[], Awaitable[None]]:
        endpoint = self.endpoint
        assert isinstance(endpoint, S7EndpointNode)
        link = endpoint.link
        return lambda: link.write(point, value)
