"""enip-write: write msg.payload to a Logix tag."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from plantwire.nodes.common.device import DeviceWriteConfig, DeviceWriteNode
from plantwire.spec import config_ref, node_type

from .endpoint import EnipEndpointNode
from .tag_codec import LogixTag, parse_tag

__all__ = ["EnipWriteConfig", "EnipWriteNode"]


class EnipWriteConfig(DeviceWriteConfig):
    """The enip-write node as it appears in flows.json."""

    endpoint: str = config_ref("enip-endpoint", "Id of the enip-endpoint node (the controller).")


@node_type("enip-write")
class EnipWriteNode(DeviceWriteNode):
    """Writes ``msg.payload`` to a Logix tag (``Speed``, ``Count[3]``, ``Motor.Speed``).

    The tag comes from the node, else from ``msg.address``; with neither, a payload
    object ``{"Speed": 1.5, "Count[0]": 3}`` writes each pair in turn. After a
    successful write the message is passed on; a failure gives a red status and an
    error naming the tag (for catch nodes)."""

    config_model = EnipWriteConfig
    color = "#87A980"
    icon = "bridge.svg"
    endpoint_class = EnipEndpointNode
    protocol = "enip"

    def parse_point(self, address: str) -> LogixTag:
        return parse_tag(address)

    def write_op(self, point: Any, value: Any) -> Callable[[], Awaitable[None]]:
        endpoint = self.endpoint
        assert isinstance(endpoint, EnipEndpointNode)
        link = endpoint.link
        return lambda: link.write(point, value)
