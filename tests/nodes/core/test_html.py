"""Tests of the html node and its cheerio-like serialisation."""

from __future__ import annotations

from typing import Any

from plantwire.nodes.core.parsers_html_codec import (
    attributes,
    inner_html,
    parse_html,
    select,
    text_of,
    to_xml_fragment,
)
from plantwire.testing import Case, run_case

DOC = '<div class="a b"><p>Hi <b>é</b><br></p><p id="x">2</p></div>'


def test_select_and_serialise() -> None:
    soup = parse_html(DOC)
    (div,) = select(soup, "div")
    assert inner_html(div).startswith("<p>Hi <b>&#xE9;</b><br></p>")
    assert to_xml_fragment(inner_html(div)) == '<p>Hi <b>&#xE9;</b><br/></p><p id="x">2</p>'
    assert [text_of(p) for p in select(soup, "p")] == ["Hi é", "2"]
    assert attributes(div) == {"class": "a b"}
    assert select(soup, "") == []


async def _run(cfg: dict[str, Any], msgs: list[dict[str, Any]], expect: list[Any]) -> None:
    node = {"id": "n1", "type": "html", "property": "payload", "outproperty": "payload",
            "tag": "p", "ret": "text", "as": "single", "chr": "_", "wires": [[]],
            **cfg}  # fmt: skip
    steps: list[dict[str, Any]] = [{"inject": "n1", "msg": m} for m in msgs]
    case = Case(name="t", flow=[node], steps=steps, expect={"n1": [expect]}, settle_ms=50)
    result = await run_case(case)
    assert result.passed, result.detail


async def test_single_and_multi() -> None:
    await _run({}, [{"payload": DOC}], [{"payload": ["Hi é", "2"]}])
    await _run(
        {"as": "multi", "ret": "attr", "tag": "", "outproperty": "out"},
        [{"payload": DOC, "select": "p#x"}],
        [{"out": {"id": "x"}, "parts": {"index": 0, "count": 1, "type": "string", "ch": ""}}],
    )
    await _run({"ret": "compl", "tag": "b"}, [{"payload": DOC}], [{"payload": [{"_": "&#xE9;"}]}])
