"""The ``yaml`` node: converts between a YAML string and an object, as Node-RED's does."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from plantwire.expressions.paths import get_msg_property, set_msg_property
from plantwire.nodes.core.parsers_yaml_codec import yaml_dump, yaml_load
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, node_type

__all__ = ["YamlConfig", "YamlNode"]


class YamlConfig(NodeConfig):
    """Settings of a yaml node as Node-RED writes them."""

    property: str = Field("payload", description="Message property to convert.")


@node_type("yaml")
class YamlNode(Node):
    """Converts between a YAML string and its JavaScript object.

    Input: ``msg.payload`` (or the configured property) as a YAML string, which is
    parsed (YAML 1.2 core schema, timestamps become dates), or an object or array,
    which is written as YAML text. Output: the message with the property converted.
    """

    config_model = YamlConfig
    category = "parser"
    color = "#DEBD5C"
    icon = "parser-yaml.svg"

    def __init__(self, flow: Any, config: YamlConfig) -> None:
        super().__init__(flow, config)
        self.prop = config.property or "payload"

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        """Parse or dump the property."""
        value = get_msg_property(msg, self.prop)
        if value is MISSING:
            send(msg)
            return
        if isinstance(value, str):
            try:
                parsed = yaml_load(value)
            except Exception as exc:
                done(str(exc))
                return
            set_msg_property(msg, self.prop, parsed)
            send(msg)
        elif isinstance(value, bytes | bytearray):
            self.warn("Ignored non-object payload")
        elif value is None or isinstance(value, dict | list):
            try:
                text = yaml_dump(value)
            except Exception:
                done("Failed to convert payload")
                return
            set_msg_property(msg, self.prop, text)
            send(msg)
        else:
            self.warn("Ignored unsupported payload type")
