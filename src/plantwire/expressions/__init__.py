"""Node-RED expressions: property paths, TypedInput values, JSONata and env vars."""

from __future__ import annotations

from .env import (
    evaluate_env_property,
    js_number_to_string,
    js_typeof,
    substitute_env,
    to_js_string,
)
from .jsonata_expr import JsonataExpression, compile_jsonata
from .paths import (
    delete_msg_property,
    delete_property,
    get_msg_property,
    get_property,
    normalise_path,
    parse_context_key,
    path_to_string,
    resolve_path_string,
    set_msg_property,
    set_property,
    validate_path,
)
from .protocols import ContextView, NodeContext, NodeLike
from .typed import (
    TYPED_INPUT_TYPES,
    TypedValue,
    compile_js_regex,
    evaluate_typed,
    parse_js_json,
    parse_js_number,
    prepare_typed,
)

__all__ = [
    "TYPED_INPUT_TYPES",
    "ContextView",
    "JsonataExpression",
    "NodeContext",
    "NodeLike",
    "TypedValue",
    "compile_js_regex",
    "compile_jsonata",
    "delete_msg_property",
    "delete_property",
    "evaluate_env_property",
    "evaluate_typed",
    "get_msg_property",
    "get_property",
    "js_number_to_string",
    "js_typeof",
    "normalise_path",
    "parse_context_key",
    "parse_js_json",
    "parse_js_number",
    "path_to_string",
    "prepare_typed",
    "resolve_path_string",
    "set_msg_property",
    "set_property",
    "substitute_env",
    "to_js_string",
    "validate_path",
]
