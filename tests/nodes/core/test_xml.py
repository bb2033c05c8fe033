"""Tests of the xml node and its xml2js-compatible codec."""

from __future__ import annotations

from typing import Any

import pytest

from plantwire.nodes.core.parsers_xml_codec import XMLParseError, xml_build, xml_parse
from plantwire.testing import Case, run_case


def test_parse_defaults() -> None:
    assert xml_parse('<a x="1"><b>1</b><b>2</b>t<c/> </a>') == {
        "a": {"_": "t ", "$": {"x": "1"}, "b": ["1", "2"], "c": [""]}
    }
    assert xml_parse("  ") is None
    assert xml_parse("<a>  </a>") == {"a": "  "}


def test_parse_options() -> None:
    opts = {"explicitArray": False, "explicitRoot": False, "mergeAttrs": True}
    assert xml_parse('<a k="v"><b>1</b></a>', opts) == {"k": "v", "b": "1"}
    with pytest.raises(XMLParseError):
        xml_parse("<a><b></a>")


def test_build() -> None:
    assert xml_build({"a": {"$": {"id": 5}, "_": "x & y"}}, {"renderOpts": {"pretty": False}}) == (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><a id="5">x &amp; y</a>'
    )
    assert xml_build({"a": {"b": ["1", {"c": None}]}}, {"headless": True}) == (
        "<a>\n  <b>1</b>\n  <b>\n    <c/>\n  </b>\n</a>"
    )
    assert xml_build({"x": 1, "y": 2}, {"headless": True, "renderOpts": {"pretty": False}}) == (
        "<root><x>1</x><y>2</y></root>"
    )


async def test_flow_both_ways() -> None:
    node = {"id": "n1", "type": "xml", "property": "payload", "attr": "", "chr": "",
            "wires": [[]]}  # fmt: skip
    steps: list[dict[str, Any]] = [
        {"inject": "n1", "msg": {"payload": "<a>1</a>"}},
        {"inject": "n1", "msg": {"payload": {"a": "1"}, "options": {"headless": True}}},
    ]
    expect = [{"payload": {"a": "1"}}, {"payload": "<a>1</a>"}]
    result = await run_case(Case(name="t", flow=[node], steps=steps, expect={"n1": [expect]},
                                 settle_ms=50))  # fmt: skip
    assert result.passed, result.detail
