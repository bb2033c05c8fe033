"""JavaScript-compatible JSON: ``JSON.parse`` and ``JSON.stringify`` as Node.js does them.

Python's :mod:`json` differs from JavaScript in small but visible ways: number
formatting (``1e-7`` vs ``1e-07``, ``1`` vs ``1.0``), the order of integer-like keys,
acceptance of ``NaN``, escaping of lone surrogates and how Buffers and dates
serialise. These helpers reproduce JavaScript's results.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any

from plantwire.expressions.env import js_number_to_string
from plantwire.expressions.fastjson import NOT_FAST, js_json_fast, js_parse_fast
from plantwire.runtime.message import MISSING

__all__ = [
    "JSParseError",
    "js_date_iso",
    "js_number_str",
    "js_parse",
    "js_quote",
    "js_stringify",
    "js_value_str",
    "order_js_keys",
]

_MAX_SAFE = 2**53
_INDEX_KEY = re.compile(r"^(?:0|[1-9][0-9]*)$")


class JSParseError(ValueError):
    """A string is not valid JSON; the message reads like V8's."""


js_number_str = js_number_to_string
"""JavaScript's ``String(number)`` (one implementation, in plantwire.expressions)."""


def js_date_iso(value: _dt.datetime | _dt.date) -> str:
    """``Date.prototype.toISOString``: UTC with milliseconds and a ``Z``."""
    if not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC)
    if value.tzinfo is not None:
        value = value.astimezone(_dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def js_value_str(value: Any) -> str:
    """JavaScript's ``String(value)`` for JSON-like values (arrays join with commas)."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_str(value)
    if isinstance(value, list | tuple):
        return ",".join("" if v is None or v is MISSING else js_value_str(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, _dt.datetime | _dt.date):
        return js_date_iso(value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group(0)
    rep = _ESCAPES.get(ch)
    if rep is not None:
        return rep
    return f"\\u{ord(ch):04x}"


def js_quote(text: str) -> str:
    """Quote a string as ``JSON.stringify`` does (non-ASCII kept, lone surrogates escaped)."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def order_js_keys(obj: dict[str, Any]) -> dict[str, Any]:
    """Reorder keys as a JavaScript object holds them: array-index keys first, ascending."""
    index_keys = [k for k in obj if _INDEX_KEY.match(k) and int(k) < 2**32 - 1]
    if not index_keys:
        return obj
    index_keys.sort(key=int)
    out = {k: obj[k] for k in index_keys}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


def _to_json_value(value: Any) -> Any:
    """Apply JavaScript ``toJSON`` conversions (Buffer, Date)."""
    if isinstance(value, bytes | bytearray):
        return {"type": "Buffer", "data": list(value)}
    if isinstance(value, _dt.datetime | _dt.date):
        return js_date_iso(value)
    return value


def _stringify(value: Any, indent: str, cur: str, seen: set[int]) -> str | None:
    value = _to_json_value(value)
    if value is None:
        return "null"
    if value is MISSING or callable(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "null"
        return js_number_str(value)
    if isinstance(value, str):
        return js_quote(value)
    if isinstance(value, list | tuple | dict):
        if id(value) in seen:
            raise ValueError("Converting circular structure to JSON")
        seen.add(id(value))
        inner = cur + indent
        sep = ",\n" + inner if indent else ","
        try:
            if isinstance(value, dict):
                parts = []
                for k, v in order_js_keys(value).items():
                    s = _stringify(v, indent, inner, seen)
                    if s is not None:
                        colon = ": " if indent else ":"
                        parts.append(js_quote(str(k)) + colon + s)
                open_, close = "{", "}"
            else:
                parts = [
                    s if (s := _stringify(v, indent, inner, seen)) is not None else "null"
                    for v in value
                ]
                open_, close = "[", "]"
        finally:
            seen.discard(id(value))
        if not parts:
            return open_ + close
        if indent:
            return open_ + "\n" + inner + sep.join(parts) + "\n" + cur + close
        return open_ + sep.join(parts) + close
    if isinstance(value, set | frozenset):
        return "{}"
    return js_quote(str(value))


def js_stringify(value: Any, indent: int = 0) -> Any:
    """``JSON.stringify(value, null, indent)``; returns MISSING where JavaScript gives undefined.

    Raises :class:`ValueError` for circular structures, as JavaScript throws.
    """
    if indent <= 0:
        fast = js_json_fast(value, js_key_order=True)  # orjson where it gives the same text
        if fast is not None:
            return fast.decode("utf-8")
    try:
        out = _stringify(value, " " * min(max(indent, 0), 10), "", set())
    except RecursionError:
        raise ValueError("Converting circular structure to JSON") from None
    return MISSING if out is None else out


def _parse_int(text: str) -> int | float:
    n = int(text)
    return n if abs(n) < _MAX_SAFE else float(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _snippet(text: str) -> str:
    return text if len(text) <= 30 else text[:10] + "..." + text[-10:]


_DECODER_ARGS: dict[str, Any] = {
    "parse_int": _parse_int,
    "parse_constant": _reject_constant,
    "object_pairs_hook": lambda pairs: order_js_keys(dict(pairs)),
}
_DECODER = json.JSONDecoder(**_DECODER_ARGS)  # built once, not per call


def js_parse(text: str | bytes | bytearray) -> Any:
    """``JSON.parse``: strict JSON, integer-like keys first, large integers as floats."""
    # orjson when it gives what the exact path below gives (valid JSON, no index-like
    # keys to reorder, no integers from 2**53 on); else NOT_FAST
    value = js_parse_fast(
        bytes(text) if isinstance(text, bytearray) else text, safe_ints=True, js_key_order=True
    )
    if value is not NOT_FAST:
        return value
    return _js_parse_slow(text)


def _js_parse_slow(text: str | bytes | bytearray) -> Any:
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    try:
        return _DECODER.decode(text)  # a BOM fails at position 0, as in json.loads
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip(" \t\r\n")):
            raise JSParseError("Unexpected end of JSON input") from None
        ch = text[exc.pos]
        if exc.msg.startswith("Extra data"):
            raise JSParseError(
                f"Unexpected non-whitespace character after JSON at position {exc.pos}"
            ) from None
        raise JSParseError(
            f"Unexpected token '{ch}', \"{_snippet(text)}\" is not valid JSON"
        ) from None
    except ValueError as exc:
        raise JSParseError(
            f"Unexpected token '{str(exc)[:1]}', \"{_snippet(text)}\" is not valid JSON"
        ) from None


# ----- JSON Schema validation with errors shaped like ajv's -----------------------------

_AJV_ORDER = [
    "$ref", "type", "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum",
    "multipleOf", "maxLength", "minLength", "pattern", "maxProperties", "minProperties",
    "required", "dependentRequired", "maxItems", "minItems", "uniqueItems", "const", "enum",
    "additionalItems", "items", "prefixItems", "contains", "dependencies", "propertyNames",
    "additionalProperties", "properties", "patternProperties", "not", "anyOf", "oneOf",
    "allOf", "if", "then", "else", "format",
]  # fmt: skip


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _limit(n: Any) -> str:
    return js_value_str(n)


def _ajv_error(err: Any, missing: str | None) -> dict[str, Any]:
    kw = str(err.validator)
    val = err.validator_value
    params: dict[str, Any] = {}
    instance_path = _pointer(err.absolute_path)
    schema_path = "#" + _pointer(err.absolute_schema_path)
    messages: dict[str, str] = {
        "maximum": f"must be <= {_limit(val)}",
        "minimum": f"must be >= {_limit(val)}",
        "exclusiveMaximum": f"must be < {_limit(val)}",
        "exclusiveMinimum": f"must be > {_limit(val)}",
        "multipleOf": f"must be multiple of {_limit(val)}",
        "maxLength": f"must NOT have more than {_limit(val)} characters",
        "minLength": f"must NOT have fewer than {_limit(val)} characters",
        "maxItems": f"must NOT have more than {_limit(val)} items",
        "minItems": f"must NOT have fewer than {_limit(val)} items",
        "maxProperties": f"must NOT have more than {_limit(val)} properties",
        "minProperties": f"must NOT have fewer than {_limit(val)} properties",
        "pattern": f'must match pattern "{val}"',
        "format": f'must match format "{val}"',
        "enum": "must be equal to one of the allowed values",
        "const": "must be equal to constant",
        "additionalProperties": "must NOT have additional properties",
        "uniqueItems": "must NOT have duplicate items",
        "anyOf": "must match a schema in anyOf",
        "oneOf": "must match exactly one schema in oneOf",
        "not": "must NOT be valid",
        "contains": "must contain at least 1 valid item(s)",
        "propertyNames": "property name must be valid",
    }
    if kw == "type":
        types = val if isinstance(val, list) else [val]
        message = "must be " + ",".join(str(t) for t in types)
        params = {"type": ",".join(str(t) for t in types)}
    elif kw == "required":
        message = f"must have required property '{missing}'"
        params = {"missingProperty": missing}
    else:
        message = messages.get(kw, err.message)
        if kw in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"):
            comp = {"maximum": "<=", "minimum": ">=", "exclusiveMaximum": "<"}.get(kw, ">")
            params = {"comparison": comp, "limit": val}
        elif kw.startswith(("max", "min")) or kw == "multipleOf":
            params = {"limit": val}
        elif kw == "pattern":
            params = {"pattern": val}
        elif kw == "format":
            params = {"format": val}
        elif kw == "enum":
            params = {"allowedValues": val}
        elif kw == "const":
            params = {"allowedValue": val}
        elif kw == "additionalProperties":
            params = {"additionalProperty": missing}
    return {
        "instancePath": instance_path,
        "schemaPath": schema_path,
        "keyword": kw,
        "params": params,
        "message": message,
    }


class SchemaValidator:
    """A compiled JSON Schema (draft-07 unless ``$schema`` says otherwise)."""

    def __init__(self, schema: Any) -> None:
        import jsonschema

        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        cls.check_schema(schema)
        self._validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def errors(self, instance: Any) -> list[dict[str, Any]]:
        """ajv-shaped error objects; empty when ``instance`` is valid."""
        out: list[tuple[int, int, dict[str, Any]]] = []
        for seq, error in enumerate(self._validator.iter_errors(instance)):
            err: Any = error
            top = str(err.absolute_schema_path[0]) if err.absolute_schema_path else ""
            rank = _AJV_ORDER.index(top) if top in _AJV_ORDER else len(_AJV_ORDER)
            if err.validator == "required" and isinstance(err.instance, dict):
                absent = [p for p in err.validator_value if p not in err.instance]
                prop = re.match(r"^'(.*)' is a required property$", err.message)
                name = prop.group(1) if prop else (absent[0] if absent else "")
                out.append((rank, seq, _ajv_error(err, name)))
            elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
                props = err.schema.get("properties", {})
                pats = err.schema.get("patternProperties", {})
                for key in err.instance:
                    if key not in props and not any(re.search(p, key) for p in pats):
                        out.append((rank, seq, _ajv_error(err, key)))
            else:
                out.append((rank, seq, _ajv_error(err, None)))
        out.sort(key=lambda t: (t[0], t[1]))
        return [e for _, _, e in out]


def ajv_errors_text(errors: list[dict[str, Any]]) -> str:
    """``ajv.errorsText(errors)``: ``data/a must be number, data must have ...``."""
    if not errors:
        return "No errors"
    return ", ".join(f"data{e['instancePath']} {e['message']}" for e in errors)
