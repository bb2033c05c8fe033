"""The ``json`` node: converts between a JSON string and an object, as Node-RED's does."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from plantwire.expressions.paths import get_msg_property, set_msg_property
from plantwire.nodes.core.parsers_json_codec import (
    SchemaValidator,
    ajv_errors_text,
    js_parse,
    js_stringify,
)
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, node_type

__all__ = ["JsonConfig", "JsonNode"]

_SCHEMA_ERROR = "JSON Schema error"
_SCHEMA_COMPILE_ERROR = "JSON Schema error: failed to compile schema"


class JsonConfig(NodeConfig):
    """Settings of a json node as Node-RED writes them."""

    property: str = Field("payload", description="Message property to convert.")
    action: Literal["", "str", "obj"] = Field(
        "",
        description=(
            'What to do: "" converts either way, "str" always to a JSON string, '
            '"obj" always to an object.'
        ),
    )
    pretty: LooseBool = Field(False, description="Format the JSON string with a four-space indent.")


@node_type("json")
class JsonNode(Node):
    """Converts between a JSON string and its JavaScript object.

    Input: ``msg.payload`` (or the configured property) as a JSON string, a Buffer
    or an object; ``msg.schema`` optionally holds a JSON Schema to validate against.
    Output: the message with the property converted. A failed validation reports an
    error (with ``msg.schemaError``) instead of sending.
    """

    config_model = JsonConfig
    category = "parser"
    color = "#DEBD5C"
    icon = "parser-json.svg"

    def __init__(self, flow: Any, config: JsonConfig) -> None:
        super().__init__(flow, config)
        self.indent = 4 if config.pretty else 0
        self.action = config.action or ""
        self.prop = config.property or "payload"
        self._schema_key: str | None = None
        self._validator: SchemaValidator | None = None

    def _compile(self, schema: Any) -> bool:
        key = js_stringify(schema)
        if key != self._schema_key or self._validator is None:
            try:
                self._validator = SchemaValidator(schema)
                self._schema_key = key
            except Exception:
                self._validator = None
                self._schema_key = None
                return False
        return True

    def _validated(self, msg: Msg, value: Any, send: SendFn, done: DoneFn) -> None:
        """Validate ``value`` against the compiled schema; send or report."""
        assert self._validator is not None
        errors = self._validator.errors(value)
        if errors:
            msg["schemaError"] = errors
            done(f"{_SCHEMA_ERROR}: {ajv_errors_text(errors)}")
            return
        msg.pop("schema", None)
        send(msg)

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        """Convert the property one way or the other."""
        validate = False
        schema = msg.get("schema")
        if schema:
            if not self._compile(schema):
                done(_SCHEMA_COMPILE_ERROR)
                return
            validate = True
        value = get_msg_property(msg, self.prop)
        if value is MISSING:
            send(msg)
            return
        if isinstance(value, str | bytes | bytearray):
            if self.action in ("", "obj"):
                try:
                    parsed = js_parse(value)
                except ValueError as exc:
                    done(str(exc))
                    return
                set_msg_property(msg, self.prop, parsed)
                if validate:
                    self._validated(msg, parsed, send, done)
                else:
                    send(msg)
            elif validate:
                try:
                    parsed = js_parse(value)
                except ValueError as exc:
                    done(str(exc))
                    return
                self._validated(msg, parsed, send, done)
            else:
                send(msg)
        elif value is None or isinstance(value, dict | list | bool | int | float):
            if self.action in ("", "str"):
                if validate:
                    assert self._validator is not None
                    if self._validator.errors(value):
                        self._validated(msg, value, send, done)
                        return
                try:
                    text = js_stringify(value, self.indent)
                except ValueError:
                    done("Failed to convert payload")
                    return
                set_msg_property(msg, self.prop, text)
                if validate:
                    msg.pop("schema", None)
                send(msg)
            elif validate:
                self._validated(msg, value, send, done)
            else:
                send(msg)
        else:
            self.warn("Ignored unsupported payload type")
