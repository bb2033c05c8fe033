"""The ``html`` node: extracts elements from an HTML document with a CSS selector."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from plantwire.expressions.env import to_js_string
from plantwire.expressions.paths import get_msg_property, set_msg_property
from plantwire.nodes.core.parsers_html_codec import (
    attributes,
    inner_html,
    parse_html,
    select,
    text_of,
    to_xml_fragment,
)
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, node_type

__all__ = ["HtmlConfig", "HtmlNode"]


class HtmlConfig(NodeConfig):
    """Settings of an html node as Node-RED writes them."""

    property: str = Field("payload", description="Message property holding the HTML.")
    outproperty: str = Field("payload", description="Message property to put the result in.")
    tag: str = Field("", description="CSS selector; when empty, msg.select is used.")
    ret: str = Field(
        "html",
        description='What to return per element: "html" (inner HTML), "text", "attr" '
        '(attributes) or "compl" (attributes plus the inner HTML under "chr").',
    )
    as_: str = Field(
        "single",
        alias="as",
        description='"single": one message with an array; "multi": one message per element.',
    )
    chr: str = Field("_", description='Property name for the HTML content with "compl".')


@node_type("html")
class HtmlNode(Node):
    """Extracts elements from an HTML document using a CSS selector.

    Input: ``msg.payload`` (or the configured property) holding HTML; ``msg.select``
    gives the selector when none is configured. Output: the inner HTML, text or
    attributes of each matching element, as one array or as a message per element
    (with ``msg.parts``).
    """

    config_model = HtmlConfig
    category = "parser"
    color = "#DEBD5C"
    icon = "parser-html.svg"

    def __init__(self, flow: Any, config: HtmlConfig) -> None:
        super().__init__(flow, config)
        self.prop = config.property or "payload"
        self.outprop = config.outproperty or self.prop or "payload"
        self.tag = config.tag
        self.ret = config.ret or "html"
        self.as_ = config.as_ or "single"
        self.chr = config.chr or "_"

    def _extract(self, el: Any) -> Any:
        if self.ret == "html":
            return to_xml_fragment(inner_html(el).strip())
        if self.ret == "text":
            return text_of(el)
        if self.ret == "attr":
            return attributes(el)
        if self.ret == "compl":
            return {self.chr: inner_html(el).strip(), **attributes(el)}
        return None

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        """Select the elements and send what was asked for."""
        value = get_msg_property(msg, self.prop)
        if value is MISSING:
            send(msg)
            return
        selector = self.tag
        if "select" in msg:
            selector = self.tag or msg["select"]
        try:
            if isinstance(value, bytes | bytearray):
                value = bytes(value).decode("utf-8", errors="replace")
            elements = select(parse_html(to_js_string(value)), to_js_string(selector or ""))
            results = [self._extract(el) for el in elements]
        except Exception as exc:
            done(str(exc))
            return
        if self.as_ == "multi":
            for index, item in enumerate(results):
                if not item:
                    continue
                new = clone_msg(msg)
                set_msg_property(new, self.outprop, item)
                new["parts"] = {
                    "id": msg.get("_msgid"),
                    "index": index,
                    "count": len(results),
                    "type": "string",
                    "ch": "",
                }
                send(new)
        elif self.as_ == "single":
            set_msg_property(msg, self.outprop, [r for r in results if r is not None])
            send(msg)
