"""s7-read: poll S7 addresses and send value messages."""

from __future__ import annotations

from collections.abc import Hashable

from plantwire.nodes.common.device import DeviceReadConfig, DeviceReadNode
from plantwire.spec import config_ref, node_type

from .address_codec import parse_address
from .endpoint import S7EndpointNode

__all__ = ["S7ReadConfig", "S7ReadNode"]


class S7ReadConfig(DeviceReadConfig):
    """The s7-read node as it appears in flows.json."""

    endpoint: str = config_ref("s7-endpoint", "Id of the s7-endpoint node (the PLC).")


@node_type("s7-read")
class S7ReadNode(DeviceReadNode):
    """Reads S7 addresses every interval and sends their values.

    Addresses in the common notation: ``DB1,REAL4``, ``DB1,INT0``, ``DB1,X2.1`` (bit),
    ``DB1,S10.20`` (STRING[20]), ``DB1,CHAR8.4``, ``DB1,REAL20.5`` (array of 5),
    ``M10.0``, ``MW20``, ``MD24``, ``MR28``, ``I0.1``, ``IW2``, ``Q0.0``, ``QD4``. Types:
    BOOL (X), BYTE (B), CHAR (C), WORD (W), DWORD (DW/D), INT (I), DINT (DI), REAL (R),
    LREAL (LR), STRING (S).

    Each message: ``payload`` (the value; an object of all points with output
    "group"), ``topic``, ``quality`` ({status: good} or {status: bad, reason}),
    ``sourceTimestamp``, ``receiveTimestamp``, ``point``, ``address``, ``unit``. A wrong
    address, or one the PLC does not have, gives a red status and an error naming the
    point (for catch nodes), a message with bad quality, and the other points keep
    updating."""

    config_model = S7ReadConfig
    color = "#3FADB5"
    icon = "bridge.svg"
    endpoint_class = S7EndpointNode
    protocol = "s7"

    def parse_point(self, address: str) -> Hashable:
        return parse_address(address)
