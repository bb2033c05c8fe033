"""HTML selection and serialisation in the manner of cheerio (Node-RED's html node).

Documents are parsed with BeautifulSoup (``html.parser``), elements are selected with
CSS selectors (soupsieve), and serialised the way cheerio's dom-serializer does:
entities encoded (``& < > " '`` and every non-ASCII character as ``&#xHEX;``), void
elements as ``<br>`` in HTML mode, every empty element as ``<x/>`` in XML mode.
"""

from __future__ import annotations

import re
from typing import Any

from bs4 import BeautifulSoup
from bs4.element import (
    CData,
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    ProcessingInstruction,
    Tag,
)

__all__ = ["attributes", "inner_html", "parse_html", "select", "text_of", "to_xml_fragment"]

_VOID = frozenset(
    {
        "area", "base", "basefont", "br", "col", "command", "embed", "frame", "hr", "img",
        "input", "isindex", "keygen", "link", "meta", "param", "source", "track", "wbr",
    }
)  # fmt: skip
_RAW_TEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "plaintext"})
_ENCODE = re.compile("[&<>\"'\u0080-\U0010ffff]")
_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


def _encode(text: str) -> str:
    return _ENCODE.sub(lambda m: _NAMED.get(m.group(0)) or f"&#x{ord(m.group(0)):X};", text)


def parse_html(markup: str) -> BeautifulSoup:
    """Parse markup; attribute values stay plain strings (``class`` is not split)."""
    return BeautifulSoup(markup, "html.parser", multi_valued_attributes=None)


def select(soup: BeautifulSoup, selector: str) -> list[Tag]:
    """Elements matching a CSS selector, in document order; nothing for an empty selector."""
    if not selector:
        return []
    return list(soup.select(selector))


def attributes(tag: Tag) -> dict[str, Any]:
    """The element's attributes as a plain object."""
    return {str(k): (" ".join(v) if isinstance(v, list) else str(v)) for k, v in tag.attrs.items()}


def _serialise(node: Any, xml: bool, parent: str, out: list[str]) -> None:
    if isinstance(node, Comment):
        out.append(f"<!--{node}-->")
    elif isinstance(node, CData):
        out.append(f"<![CDATA[{node}]]>")
    elif isinstance(node, Doctype):
        out.append(f"<!DOCTYPE {node}>")
    elif isinstance(node, Declaration | ProcessingInstruction):
        out.append(f"<?{node}>" if isinstance(node, ProcessingInstruction) else f"<!{node}>")
    elif isinstance(node, NavigableString):
        text = str(node)
        out.append(text if not xml and parent in _RAW_TEXT else _encode(text))
    elif isinstance(node, Tag):
        tag = "<" + node.name
        for k, v in attributes(node).items():
            if v == "" and not xml:
                tag += " " + k
            else:
                tag += f' {k}="{_encode(v)}"'
        children = list(node.children)
        if xml and not children:
            out.append(tag + "/>")
            return
        if not xml and node.name in _VOID:
            out.append(tag + ">")
            return
        out.append(tag + ">")
        for child in children:
            _serialise(child, xml, node.name, out)
        out.append(f"</{node.name}>")


def inner_html(tag: Tag, xml: bool = False) -> str:
    """cheerio ``$(el).html()``: the serialised children of an element."""
    out: list[str] = []
    for child in tag.children:
        _serialise(child, xml, tag.name, out)
    return "".join(out)


def to_xml_fragment(markup: str) -> str:
    """cheerio ``load(markup, null, false).xml()``: reparse a fragment, write it as XML."""
    soup = parse_html(markup)
    out: list[str] = []
    for child in soup.children:
        _serialise(child, True, "", out)
    return "".join(out)


def text_of(tag: Tag) -> str:
    """cheerio ``$(el).text()``: all descendant text, comments excluded."""
    return "".join(
        str(s)
        for s in tag.descendants
        if isinstance(s, NavigableString) and not isinstance(s, Comment | Declaration)
    )
