"""The ``xml`` node: converts between an XML string and an object, as Node-RED's does."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from plantwire.expressions.paths import get_msg_property, set_msg_property
from plantwire.nodes.core.parsers_xml_codec import xml_build, xml_parse
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, node_type

__all__ = ["XmlConfig", "XmlNode"]


class XmlConfig(NodeConfig):
    """Settings of an xml node as Node-RED writes them."""

    property: str = Field("payload", description="Message property to convert.")
    attr: str = Field("", description='Property name for tag attributes when parsing (empty: "$").')
    chr: str = Field("", description='Property name for tag text when parsing (empty: "_").')


@node_type("xml")
class XmlNode(Node):
    """Converts between an XML string and its JavaScript object (xml2js form).

    Input: ``msg.payload`` (or the configured property) as an XML string, parsed into
    an object whose attributes sit under ``$`` and text under ``_``, or an object,
    written as XML text. ``msg.options`` passes xml2js parser/builder options.
    Output: the message with the property converted.
    """

    config_model = XmlConfig
    category = "parser"
    color = "#DEBD5C"
    icon = "parser-xml.svg"

    def __init__(self, flow: Any, config: XmlConfig) -> None:
        super().__init__(flow, config)
        self.attrkey = config.attr
        self.charkey = config.chr
        self.prop = config.property or "payload"

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        """Parse or build XML."""
        value = get_msg_property(msg, self.prop)
        if value is MISSING:
            send(msg)
            return
        given = msg.get("options")
        has_options = "options" in msg and isinstance(given, dict)
        if value is None or isinstance(value, dict | list | bytes | bytearray):
            if value is None:
                raise TypeError("Cannot convert undefined or null to object")
            options: Any = given if has_options else {"renderOpts": {"pretty": False}}
            options["async"] = False
            obj = list(value) if isinstance(value, bytes | bytearray) else value
            set_msg_property(msg, self.prop, xml_build(obj, options))
            send(msg)
        elif isinstance(value, str):
            options = given if has_options else {}
            options["async"] = True
            options["attrkey"] = self.attrkey or options.get("attrkey") or "$"
            options["charkey"] = self.charkey or options.get("charkey") or "_"
            try:
                result = xml_parse(value, options)
            except ValueError as exc:
                done(str(exc))
                return
            set_msg_property(msg, self.prop, result)
            send(msg)
        else:
            self.warn("This node only handles xml strings or js objects.")
