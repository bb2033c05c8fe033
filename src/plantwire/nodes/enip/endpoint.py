"""enip-endpoint: the config node that owns one EtherNet/IP connection to a Logix controller."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from plantwire.nodes.common.device import DeviceEndpoint
from plantwire.spec import LooseBool, LooseFloat, LooseInt, NodeConfig, node_type

from .client import EnipLink, EnipSettings
from .tag_codec import LogixTag, TagReadRequest, plan_tag_reads

__all__ = ["EnipEndpointConfig", "EnipEndpointNode"]


class EnipEndpointConfig(NodeConfig):
    """The enip-endpoint node as it appears in flows.json."""

    host: str = Field("", description="Host name or IP address of the controller (or its ENBT).")
    port: LooseInt = Field(44818, description="EtherNet/IP TCP port.")
    slot: LooseInt = Field(
        0, description="Backplane slot of the ControlLogix CPU (0 for CompactLogix)."
    )
    micro800: LooseBool = Field(
        False, description="The controller is a Micro800 (no routing, no multi-read)."
    )
    timeout: LooseFloat = Field(
        5000, description="Milliseconds to wait for an answer before the connection counts as lost."
    )
    maxTagsPerRequest: LooseInt = Field(
        20, description="Tags read together in one multi-service request."
    )

    @model_validator(mode="after")
    def _check(self) -> EnipEndpointConfig:
        if not self.host.strip():
            raise ValueError("host: the controller's address is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port: {self.port} is not a TCP port")
        if not 0 <= self.slot <= 31:
            raise ValueError(f"slot: {self.slot} is not 0..31")
        if self.timeout <= 0:
            raise ValueError("timeout: must be positive")
        if not 1 <= self.maxTagsPerRequest <= 200:
            raise ValueError(f"maxTagsPerRequest: {self.maxTagsPerRequest} is not 1..200")
        return self


@node_type("enip-endpoint")
class EnipEndpointNode(DeviceEndpoint):
    """An Allen-Bradley Logix controller (ControlLogix, CompactLogix, Micro800) over
    EtherNet/IP, shared by every enip-read and enip-write node that uses it.

    One connection per endpoint: the read nodes' tags are polled together in
    multi-service requests (maxTagsPerRequest tags each, split further when the answer
    would not fit the connection); writes go out between polls. A lost connection is
    retried with backoff; every node using the endpoint shows the state."""

    config_model = EnipEndpointConfig
    color = "#87A980"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: EnipEndpointConfig) -> None:
        super().__init__(flow, config)
        self.link = EnipLink(
            EnipSettings(
                host=config.host.strip(),
                port=config.port,
                slot=config.slot,
                micro800=config.micro800,
                timeout=config.timeout / 1000.0,
            )
        )
        self.max_tags = 1 if config.micro800 else config.maxTagsPerRequest
        self.coordinator = self.make_coordinator(
            "enip-endpoint", self.link, config.timeout / 1000.0
        )

    @property
    def label(self) -> str:
        return self.name or f"controller {self.link.label}"

    def plan(self, tags: list[LogixTag]) -> list[TagReadRequest]:
        return plan_tag_reads(tags, self.max_tags)
