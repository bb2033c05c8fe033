"""Tests of the template node and its mustache.js-compatible renderer."""

from __future__ import annotations

from typing import Any

import pytest

from plantwire.nodes.core.template_codec import MustacheError, parse_template, render


def test_render_mustache_js_semantics() -> None:
    view = {"a": [{"b": 1}, {"b": "<"}], "s": "abc", "x": True, "n": 0, "f": 1e21}
    assert render("{{#a}}[{{b}}]{{/a}}", view) == "[1][&lt;]"
    assert render("{{^n}}zero{{/n}}{{^a}}no{{/a}}", view) == "zero"
    assert render("{{a.length}} {{s.length}} {{a.1.b}} {{{a.1.b}}} {{f}}", view) == (
        "2 3 &lt; < 1e+21"
    )
    assert render("a\n  {{#x}}\n  y\n  {{/x}}\nz", view) == "a\n  y\nz"
    assert render("{{=<% %>=}}<% s %>{{s}}", view) == "abc{{s}}"
    assert render("{{! note }}{{> part}}/{{nothing}}/", view) == "//"


def test_malformed_templates() -> None:
    with pytest.raises(MustacheError):
        parse_template("{{#a}}x")
    with pytest.raises(MustacheError):
        parse_template("{{a")


async def _run(
    nodes: list[dict[str, Any]], msgs: list[dict[str, Any]], expect: dict[str, Any]
) -> None:
    from plantwire.testing import Case, run_case

    steps: list[dict[str, Any]] = [{"inject": nodes[0]["id"], "msg": m} for m in msgs]
    result = await run_case(Case(name="t", flow=nodes, steps=steps, expect=expect, settle_ms=50))
    assert result.passed, result.detail


def _tpl(**cfg: Any) -> dict[str, Any]:
    return {"id": "n1", "type": "template", "field": "payload", "fieldType": "msg",
            "format": "handlebars", "syntax": "mustache", "output": "str", "wires": [[]],
            **cfg}  # fmt: skip


async def test_output_json_escapes_strings() -> None:
    await _run(
        [_tpl(template='{"v": "{{payload}}"}', output="json")],
        [{"payload": "a\nb\\c"}],
        {"n1": [[{"payload": {"v": "a\nb\\c"}}]]},
    )


async def test_plain_and_msg_template() -> None:
    await _run(
        [_tpl(template="", syntax="plain")],
        [{"template": "{{x}}", "payload": 1}],
        {"n1": [[{"payload": "{{x}}"}]]},
    )
    await _run(
        [_tpl(template="", field="out")],
        [{"template": "t={{topic}}", "topic": "q"}],
        {"n1": [[{"out": "t=q"}]]},
    )
