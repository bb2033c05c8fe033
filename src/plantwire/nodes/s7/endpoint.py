"""s7-endpoint: the config node that owns one connection to a Siemens S7 PLC."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from plantwire.nodes.common.device import DeviceEndpoint
from plantwire.spec import LooseFloat, LooseInt, NodeConfig, choices, node_type

from .address_codec import S7Address, S7ReadRequest, plan_reads
from .client import CONNECTION_TYPES, S7Link, S7Settings

__all__ = ["S7EndpointConfig", "S7EndpointNode"]


class S7EndpointConfig(NodeConfig):
    """The s7-endpoint node as it appears in flows.json."""

    host: str = Field("", description="Host name or IP address of the PLC (or its CP).")
    port: LooseInt = Field(102, description="ISO-on-TCP port of the PLC.")
    rack: LooseInt = Field(0, description="Rack of the CPU (0 for S7-1200/1500 and most 300s).")
    slot: LooseInt = Field(
        1, description="Slot of the CPU: 2 for S7-300, 1 for S7-1200/1500 (0 for some)."
    )
    connectionType: str = Field(
        "PG",
        description="Connection resource the PLC grants: PG, OP or S7 basic.",
        json_schema_extra=choices("PG", "OP", "S7 basic"),
    )
    timeout: LooseFloat = Field(
        5000, description="Milliseconds to wait for an answer before the connection counts as lost."
    )
    maxGap: LooseInt = Field(
        16,
        description="Points of one area/DB closer than this many bytes are read as one range.",
    )

    @model_validator(mode="after")
    def _check(self) -> S7EndpointConfig:
        if not self.host.strip():
            raise ValueError("host: the PLC's address is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port: {self.port} is not a TCP port")
        if not 0 <= self.rack <= 7:
            raise ValueError(f"rack: {self.rack} is not 0..7")
        if not 0 <= self.slot <= 31:
            raise ValueError(f"slot: {self.slot} is not 0..31")
        if self.connectionType not in CONNECTION_TYPES:
            raise ValueError(
                f"connectionType: '{self.connectionType}' is not one of PG, OP, S7 basic"
            )
        if self.timeout <= 0:
            raise ValueError("timeout: must be positive")
        if self.maxGap < 0:
            raise ValueError("maxGap: must not be negative")
        return self


@node_type("s7-endpoint")
class S7EndpointNode(DeviceEndpoint):
    """A Siemens S7 PLC (S7-300/400/1200/1500, LOGO!, or anything speaking S7 over
    ISO-on-TCP), shared by every s7-read and s7-write node that uses it.

    One connection per endpoint: the read nodes' points are polled together, packed
    into as few requests as the negotiated PDU allows (neighbouring addresses of one
    DB or area become one range; ranges share multi-item requests); writes go out
    between polls. A lost connection is retried with backoff; every node using the
    endpoint shows the state. On S7-1200/1500 allow PUT/GET access and switch off
    "optimized block access" for the DBs you read."""

    config_model = S7EndpointConfig
    color = "#3FADB5"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: S7EndpointConfig) -> None:
        super().__init__(flow, config)
        self.link = S7Link(
            S7Settings(
                host=config.host.strip(),
                port=config.port,
                rack=config.rack,
                slot=config.slot,
                connection_type=CONNECTION_TYPES[config.connectionType],
                timeout=config.timeout / 1000.0,
            )
        )
        self.max_gap = config.maxGap
        self.coordinator = self.make_coordinator("s7-endpoint", self.link, config.timeout / 1000.0)

    @property
    def label(self) -> str:
        return self.name or f"PLC {self.link.label}"

    def plan(self, points: list[S7Address]) -> list[S7ReadRequest]:
        """The read plan for ``points`` at the PLC's negotiated PDU size."""
        return plan_reads(points, self.link.pdu_size, self.max_gap)
