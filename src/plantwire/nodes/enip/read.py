"""enip-read: poll Logix tags and send value messages."""

from __future__ import annotations

from collections.abc import Hashable

from plantwire.nodes.common.device import DeviceReadConfig, DeviceReadNode
from plantwire.spec import config_ref, node_type

from .endpoint import EnipEndpointNode
from .tag_codec import parse_tag

__all__ = ["EnipReadConfig", "EnipReadNode"]


class EnipReadConfig(DeviceReadConfig):
    """The enip-read node as it appears in flows.json."""

    endpoint: str = config_ref("enip-endpoint", "Id of the enip-endpoint node (the controller).")


@node_type("enip-read")
class EnipReadNode(DeviceReadNode):
    """Reads Logix tags every interval and sends their values.

    Tags by name: ``Speed``, ``Count[3]`` (array element), ``Motor.Speed`` (UDT
    member), ``Program:Main.Step`` (program tag), ``Flags.5`` (bit). Points are given
    as {name, address: tag, unit}. Each message: ``payload`` (the value; an object of
    all points with output "group"), ``topic``, ``quality``, ``sourceTimestamp``,
    ``receiveTimestamp``, ``point``, ``address``, ``unit``. An unknown tag gives a red
    status and an error naming the tag (for catch nodes), a message with bad quality,
    and the other tags keep updating."""

    config_model = EnipReadConfig
    color = "#87A980"
    icon = "bridge.svg"
    endpoint_class = EnipEndpointNode
    protocol = "enip"

    def parse_point(self, address: str) -> Hashable:
        return parse_tag(address)
