"""The ``template`` node: renders a Mustache template, as Node-RED's does."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from plantwire.expressions.env import evaluate_env_property
from plantwire.expressions.paths import parse_context_key, set_msg_property
from plantwire.nodes.core.parsers_json_codec import js_parse
from plantwire.nodes.core.parsers_yaml_codec import yaml_load
from plantwire.nodes.core.template_codec import lookup_view, parse_template, render, token_names
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, node_type

__all__ = ["TemplateConfig", "TemplateNode"]

_CONTEXT_NAME = re.compile(r"^(flow|global)(\[(\w+)\])?\.(.+)", re.DOTALL)
_ENV_NAME = re.compile(r"^env\.(.+)", re.DOTALL)
_JSON_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f", "\b": "\\b"}
)


class TemplateConfig(NodeConfig):
    """Settings of a template node as Node-RED writes them."""

    field: str = Field("payload", description="Where to put the result (a property name).")
    fieldType: str = Field(
        "msg", description='Where "field" is: "msg", "flow" or "global" context.'
    )
    format: str = Field(
        "handlebars", description="Syntax highlighting in the editor only (no effect)."
    )
    syntax: str = Field(
        "mustache", description='"mustache": render with Mustache; "plain": use the text as is.'
    )
    template: str | None = Field(
        "This is the payload: {{payload}} !",
        description="The template; when empty, msg.template is used instead.",
    )
    output: str = Field(
        "str", description='Output as "str" (text), "json" (parsed JSON) or "yaml" (parsed YAML).'
    )


@node_type("template")
class TemplateNode(Node):
    """Sets a property from a Mustache template.

    The template reads message properties (``{{payload}}``, ``{{topic}}``), flow and
    global context (``{{flow.name}}``, ``{{global[store].name}}``) and environment
    variables (``{{env.NAME}}``); ``{{{x}}}`` leaves HTML unescaped. The result, as
    text or parsed JSON/YAML, goes to a message property or to context, and the
    message is sent on. An empty template takes ``msg.template``.
    """

    config_model = TemplateConfig
    category = "function"
    color = "rgb(243, 181, 103)"
    icon = "template.svg"

    def __init__(self, flow: Any, config: TemplateConfig) -> None:
        super().__init__(flow, config)
        self.field = config.field or "payload"
        self.template = config.template
        self.syntax = config.syntax or "mustache"
        self.field_type = config.fieldType or "msg"
        self.output_format = config.output or "str"

    def _resolve_tokens(self, names: set[str]) -> dict[str, Any]:
        """Values of the env, flow and global names the template refers to."""
        resolved: dict[str, Any] = {}
        for name in names:
            env = _ENV_NAME.match(name)
            if env:
                resolved[name] = evaluate_env_property(env.group(1), self)
                continue
            ctx = _CONTEXT_NAME.match(name)
            if ctx:
                ctx_all = self.context()
                target = ctx_all.flow if ctx.group(1) == "flow" else ctx_all.global_
                resolved[name] = target.get(ctx.group(4), ctx.group(3) or None)
        return resolved

    def _render(self, template: str, msg: Msg) -> str:
        tokens = parse_template(template)
        resolved = self._resolve_tokens(token_names(tokens))
        escape = self.output_format == "json"

        def lookup(stack: list[Any], name: str, top: bool) -> Any:
            value = lookup_view(stack, name)
            if value is not MISSING:
                if escape and top and isinstance(value, str):
                    value = value.translate(_JSON_ESCAPES)
                return value
            if _ENV_NAME.match(name) or _CONTEXT_NAME.match(name):
                return resolved.get(name, MISSING)
            return ""

        return render(tokens, msg, lookup)

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        """Render the template and put the result in place."""
        template: Any = self.template
        if "template" in msg and (template == "" or template is None):
            template = msg["template"]
        try:
            if self.syntax == "mustache":
                if not isinstance(template, str):
                    raise TypeError(
                        'Invalid template! Template should be a "string" but '
                        f'"{type(template).__name__}" was given as the first argument '
                        "for mustache#render(template, view, partials)"
                    )
                value: Any = self._render(template, msg)
            else:
                value = template
            if self.output_format == "json":
                value = js_parse(value)
            elif self.output_format == "yaml":
                value = yaml_load(value)
        except Exception as exc:
            done(str(exc))
            return
        if self.field_type == "msg":
            set_msg_property(msg, self.field, value)
        elif self.field_type in ("flow", "global"):
            store, key = parse_context_key(self.field)
            ctx = self.context()
            target = ctx.flow if self.field_type == "flow" else ctx.global_
            target.set(key, value, store)
        send(msg)
