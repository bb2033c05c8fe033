"""uns-model: the config node describing one Unified Namespace (enterprise, site, areas)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plantwire.nodes.mqtt.broker import MqttBrokerNode
from plantwire.nodes.mqtt.client import MqttMessage, Subscription
from plantwire.nodes.uns.model import (
    UnsNamespace,
    check_level,
    check_prefix,
    expand_allowed,
    parse_paths,
)
from plantwire.nodes.uns.tree import UnsTree, tree_for
from plantwire.runtime.node import Node
from plantwire.spec import ConfigNodeConfig, LooseBool, LooseInt, config_ref, node_type

__all__ = ["AreaSpec", "LineSpec", "UnsModelConfig", "UnsModelNode", "find_broker"]


def _name_of(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("name")
    return value


class LineSpec(BaseModel):
    """A line of an area and the cells in it."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="Line name (one topic level).")
    cells: list[str] = Field(default_factory=list, description="Cell names of the line.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_level("line", value)

    @field_validator("cells", mode="before")
    @classmethod
    def _cells(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return [check_level("cell", _name_of(v)) for v in value]
        return value


class AreaSpec(BaseModel):
    """An area of the site and the lines in it."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="Area name (one topic level).")
    lines: list[LineSpec] = Field(default_factory=list, description="Lines of the area.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_level("area", value)

    @field_validator("lines", mode="before")
    @classmethod
    def _lines(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


class UnsModelConfig(ConfigNodeConfig):
    broker: str = config_ref(
        "mqtt-broker",
        "Id of the mqtt-broker config node whose connection publishes the values.",
        default=...,
    )
    enterprise: str = Field(description="Enterprise name: the first ISA-95 level of every topic.")
    site: str = Field(description="Site name: the second ISA-95 level.")
    prefix: str = Field(
        "",
        description='Topic levels before the enterprise, e.g. "uns" or "v1/uns"; empty for none.',
    )
    areas: list[AreaSpec] = Field(
        default_factory=list,
        description='Areas, their lines and cells: [{"name": "packaging", "lines": '
        '[{"name": "line1", "cells": ["filler", "capper"]}]}]. Empty: any names.',
    )
    paths: str = Field(
        "",
        description="The same as a compact list, one area[/line[/cell]] per line or comma, "
        'e.g. "packaging/line1/filler, packaging/line2, utilities". Adds to areas.',
    )
    strict: LooseBool = Field(
        True,
        description="When areas or paths list anything, refuse values for paths not listed.",
    )
    qos: LooseInt = Field(1, description="QoS of the published values (0, 1 or 2).")
    retain: LooseBool = Field(
        True, description="Publish retained, so a new subscriber gets the latest values at once."
    )
    browse: LooseBool = Field(
        False,
        description="Subscribe to <root>/# (root: the prefix, else the enterprise) and keep "
        "what every publisher has in the namespace in the UNS tree.",
    )

    @field_validator("enterprise")
    @classmethod
    def _enterprise(cls, value: str) -> str:
        return check_level("enterprise", value)

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        return check_level("site", value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        check_prefix(value)
        return value

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str) -> str:
        if not value:
            raise ValueError("choose the mqtt-broker config node to publish through")
        return value

    @field_validator("areas", mode="before")
    @classmethod
    def _areas(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"areas is not valid JSON: {exc}") from None
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: str) -> str:
        parse_paths(value)
        return value

    @field_validator("qos")
    @classmethod
    def _qos(cls, value: int) -> int:
        if value not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, not {value}")
        return value

    @model_validator(mode="after")
    def _listed_paths(self) -> UnsModelConfig:
        self.namespace()  # raises on a problem not caught per field
        return self

    def listed_paths(self) -> list[tuple[str, ...]]:
        """Every area[/line[/cell]] the model lists (areas first, then paths)."""
        out: list[tuple[str, ...]] = []
        for area in self.areas:
            out.append((area.name,))
            for line in area.lines:
                out.append((area.name, line.name))
                out.extend((area.name, line.name, cell) for cell in line.cells)
        out.extend(parse_paths(self.paths))
        return out

    def namespace(self) -> UnsNamespace:
        """The :class:`UnsNamespace` this config describes."""
        return UnsNamespace(
            enterprise=self.enterprise,
            site=self.site,
            prefix=check_prefix(self.prefix),
            allowed=expand_allowed(self.listed_paths()),
            strict=self.strict,
            qos=self.qos,
            retain=self.retain,
        )


def find_broker(node: Node, broker_id: str) -> MqttBrokerNode:
    """The mqtt-broker config node ``broker_id`` as ``node`` sees it.

    Raises ``LookupError`` with a readable reason when it is missing, disabled or not
    an mqtt-broker. Users then ``await broker.register(node)`` (the first user starts
    the shared connection), publish through ``broker.conn`` and
    ``await broker.deregister(node)`` when they close.
    """
    broker = node.flow.get_node(broker_id)
    if broker is None:
        raise LookupError(f"mqtt-broker config node {broker_id!r} is missing or disabled")
    if not isinstance(broker, MqttBrokerNode):
        raise LookupError(f"config node {broker_id!r} is a {broker.type}, not an mqtt-broker")
    return broker


@node_type("uns-model")
class UnsModelNode(Node):
    """The Unified Namespace model: enterprise, site, the areas/lines/cells of the
    plant, the topic prefix and how values are published (QoS, retained).

    Every ``uns`` node references one model; the model references the
    ``mqtt-broker`` config node whose shared connection publishes. Names are checked
    at deploy: a level name may not be empty or contain ``/``, ``+``, ``#`` or NUL,
    and the error names the level. With ``browse`` on, the model subscribes to
    ``<root>/#`` and the runtime's UNS tree also shows what other publishers have
    in the namespace (their retained topics included).
    """

    config_model = UnsModelConfig
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: UnsModelConfig) -> None:
        super().__init__(flow, config)
        self.namespace = config.namespace()
        self.broker_id = config.broker
        self.browse = config.browse
        self._subscription: Subscription | None = None
        self._broker: MqttBrokerNode | None = None

    @property
    def tree(self) -> UnsTree:
        """The UNS tree of this runtime."""
        return tree_for(self.flow.runtime)

    def broker(self) -> MqttBrokerNode:
        """The mqtt-broker config node (LookupError with a readable reason)."""
        return find_broker(self, self.broker_id)

    async def start(self) -> None:
        if not self.browse:
            return
        try:
            broker = self.broker()
        except LookupError as exc:
            self.error(f"cannot browse the namespace: {exc}")
            return
        tree = self.tree

        def on_message(message: MqttMessage) -> None:
            tree.record_message(message.topic, message.payload)

        await broker.register(self)
        self._broker = broker
        self._subscription = broker.subscribe(
            self.namespace.browse_filter, self.namespace.qos, on_message
        )

    async def close(self, removed: bool) -> None:
        broker, self._broker = self._broker, None
        if broker is None:
            return
        if self._subscription is not None:
            try:
                broker.unsubscribe(self._subscription, True)
            except Exception as exc:
                self.warn(f"could not unsubscribe from {self.namespace.browse_filter}: {exc}")
            self._subscription = None
        await broker.deregister(self)
