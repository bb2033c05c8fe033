"""TypedInput values (``value`` + ``vtype``), evaluated like Node-RED's evaluateNodeProperty.

:func:`prepare_typed` parses and compiles once (deploy time, so bad numbers, JSON,
regular expressions and JSONata are refused early); :meth:`TypedValue.evaluate` then
produces the value for a node and message.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, clone_value

from .dates import iso_timestamp, moment_format, now_ms
from .env import evaluate_env_property, to_js_string
from .jsonata_expr import compile_jsonata
from .paths import get_msg_property, parse_context_key, resolve_path_string, validate_path
from .protocols import NodeLike

__all__ = [
    "TYPED_INPUT_TYPES",
    "TypedValue",
    "compile_js_regex",
    "evaluate_typed",
    "parse_js_json",
    "parse_js_number",
    "prepare_typed",
]

TYPED_INPUT_TYPES: tuple[str, ...] = (
    "msg",
    "flow",
    "global",
    "str",
    "num",
    "bool",
    "json",
    "bin",
    "re",
    "date",
    "env",
    "jsonata",
    "node",
    "cred",
)
"""The TypedInput types :func:`prepare_typed` understands."""

_JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_JS_SPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RADIX = re.compile(r"0(?:([xX])([0-9a-fA-F]+)|([oO])([0-7]+)|([bB])([01]+))")
_TRUE = re.compile(r"true", re.IGNORECASE)

Evaluator = Callable[[NodeLike | None, Any], Any]


def js_number(value: float) -> int | float:
    """Return ``value`` as an int when it is integral (JavaScript has one number type)."""
    if math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def parse_js_number(value: Any) -> int | float | None:
    """JavaScript ``Number(value)``; returns None where JavaScript gives NaN.

    Accepts surrounding white space, ``0x``/``0o``/``0b`` literals, exponents and
    ``Infinity``; the empty string is 0.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else js_number(value)
    if value is None:
        return 0
    if not isinstance(value, str):
        return None
    text = value.strip(_JS_SPACE)
    if text == "":
        return 0
    if _DECIMAL.fullmatch(text):
        return js_number(float(text))
    if text in ("Infinity", "+Infinity"):
        return math.inf
    if text == "-Infinity":
        return -math.inf
    match = _RADIX.fullmatch(text)
    if match:
        base = {"x": 16, "o": 8, "b": 2}[
            (match.group(1) or match.group(3) or match.group(5)).lower()
        ]
        return int(match.group(2) or match.group(4) or match.group(6), base)
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"unexpected token {name}")


def _json_float(text: str) -> int | float:
    return js_number(float(text))


def parse_js_json(text: str) -> Any:
    """``JSON.parse``: strict JSON (no NaN/Infinity); integral numbers become ints."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_json_float)


_ASCII_CLASS = {"d": "0-9", "w": "A-Za-z0-9_"}


def _js_classes(pattern: str, multiline: bool) -> str:
    """Give ``\\d``/``\\w`` JavaScript's ASCII meaning and ``$`` its end-of-input one."""
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _ASCII_CLASS:
                rep = _ASCII_CLASS[nxt]
                out.append(rep if in_class else f"[{rep}]")
            elif nxt.lower() in _ASCII_CLASS and not in_class:
                out.append(f"[^{_ASCII_CLASS[nxt.lower()]}]")
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        elif ch == "$" and not in_class and not multiline:
            out.append("\\Z")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def compile_js_regex(pattern: str, flags: str = "") -> re.Pattern[str]:
    """Compile a JavaScript regular expression (``i``, ``m``, ``s`` flags honoured).

    Named groups ``(?<name>...)`` and ``\\k<name>`` are translated to Python syntax.
    Raises ExpressionError if the pattern is invalid.
    """
    translated = re.sub(r"\(\?<(?![=!])", "(?P<", pattern)
    translated = re.sub(r"\\k<(\w+)>", r"(?P=\1)", translated)
    translated = _js_classes(translated, multiline="m" in flags)
    re_flags = 0
    if "i" in flags:
        re_flags |= re.IGNORECASE
    if "m" in flags:
        re_flags |= re.MULTILINE
    if "s" in flags:
        re_flags |= re.DOTALL
    try:
        return re.compile(translated, re_flags)
    except re.error as err:
        raise ExpressionError(f"invalid regular expression '{pattern}': {err}") from None


def _bytes_from(data: Any, value: Any) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, list):
        out = bytearray()
        for item in data:
            number = parse_js_number(item) if isinstance(item, str | int | float) else None
            if number is None or isinstance(number, float):
                number = 0 if number is None or not math.isfinite(number) else int(number)
            out.append(number & 0xFF)
        return bytes(out)
    raise ExpressionError(f"invalid bin value '{value}': not a string or array")


class TypedValue:
    """A prepared TypedInput value: ``evaluate(node, msg)`` gives its current value."""

    __slots__ = ("_eval", "type", "value")

    def __init__(self, value: Any, vtype: str, evaluator: Evaluator) -> None:
        self.value = value
        self.type = vtype
        self._eval = evaluator

    def __repr__(self) -> str:
        return f"TypedValue({self.value!r}, {self.type!r})"

    def evaluate(self, node: NodeLike | None, msg: Any = None) -> Any:
        """Return the value for ``node`` and ``msg`` (either may be None)."""
        return self._eval(node, msg)


def _const(result: Any) -> Evaluator:
    return lambda node, msg: result


def _cloned(result: Any) -> Evaluator:
    if isinstance(result, dict | list):
        return lambda node, msg: clone_value(result)
    return _const(result)


def _msg_evaluator(value: Any) -> Evaluator:
    text = to_js_string(value)
    validate_path(text[4:] if text.startswith("msg.") else text)

    def evaluate(node: NodeLike | None, msg: Any) -> Any:
        if msg is None or msg is MISSING:  # Node-RED: no message -> the raw value
            return value
        return get_msg_property(msg, text)

    return evaluate


def _context_evaluator(value: Any, scope: str) -> Evaluator:
    store, key = parse_context_key(to_js_string(value))
    has_ref = "[msg" in key

    def evaluate(node: NodeLike | None, msg: Any) -> Any:
        if node is None:
            return value
        resolved = resolve_path_string(key, msg if msg is not None else {}) if has_ref else key
        context = node.context()
        view = context.flow if scope == "flow" else context.global_
        return view.get(resolved, store)

    return evaluate


def _date_evaluator(value: Any) -> Evaluator:
    fmt = "" if value is None else to_js_string(value)
    if not fmt:
        return lambda node, msg: now_ms()
    if fmt == "iso":
        return lambda node, msg: iso_timestamp()
    if fmt == "object":
        return lambda node, msg: _dt.datetime.now(_dt.UTC)
    return lambda node, msg: moment_format(_dt.datetime.now().astimezone(), fmt)


def _json_value(value: Any, vtype: str) -> Any:
    if isinstance(value, dict | list) and vtype == "json":
        return value
    try:
        return parse_js_json(to_js_string(value))
    except (ValueError, RecursionError) as err:
        raise ExpressionError(f"invalid {vtype} value '{value}': {err}") from None


def prepare_typed(value: Any, vtype: str) -> TypedValue:
    """Parse/compile a TypedInput value once; raises ExpressionError if it is invalid.

    ``vtype`` is one of :data:`TYPED_INPUT_TYPES`.
    """
    evaluator: Evaluator
    if vtype == "str":
        evaluator = _const(to_js_string(value))
    elif vtype == "num":
        number = parse_js_number(value)
        if number is None:
            raise ExpressionError(f"invalid number '{value}'")
        evaluator = _const(number)
    elif vtype == "bool":
        evaluator = _const(bool(_TRUE.fullmatch(to_js_string(value))))
    elif vtype == "json":
        evaluator = _cloned(_json_value(value, vtype))
    elif vtype == "bin":
        evaluator = _const(_bytes_from(_json_value(value, vtype), value))
    elif vtype == "re":
        evaluator = _const(compile_js_regex(to_js_string(value)))
    elif vtype == "date":
        evaluator = _date_evaluator(value)
    elif vtype == "msg":
        evaluator = _msg_evaluator(value)
    elif vtype in ("flow", "global"):
        evaluator = _context_evaluator(value, vtype)
    elif vtype == "jsonata":
        expr = compile_jsonata(to_js_string(value))
        evaluator = lambda node, msg: expr.evaluate(msg, node)  # noqa: E731
    elif vtype == "env":
        text = to_js_string(value)
        evaluator = lambda node, msg: evaluate_env_property(text, node)  # noqa: E731
    elif vtype in ("node", "cred"):
        evaluator = _const(value)
    else:
        raise ExpressionError(f"unknown typed input type '{vtype}' (value '{value}')")
    return TypedValue(value, vtype, evaluator)


@lru_cache(maxsize=4096, typed=True)
def _prepare_cached(value: Any, vtype: str) -> TypedValue:
    return prepare_typed(value, vtype)


def evaluate_typed(value: Any, vtype: str, node: NodeLike | None, msg: Any = None) -> Any:
    """Prepare (cached) and evaluate a TypedInput value in one call."""
    try:
        prepared = _prepare_cached(value, vtype)
    except TypeError:  # unhashable value (a dict or list): prepare it afresh
        prepared = prepare_typed(value, vtype)
    return prepared.evaluate(node, msg)
