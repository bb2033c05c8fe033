"""Environment variable look-ups and JavaScript ``String(value)`` conversion."""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from decimal import Decimal
from typing import Any

from plantwire.runtime.message import MISSING

from .protocols import NodeLike

__all__ = [
    "evaluate_env_property",
    "js_number_to_string",
    "js_typeof",
    "substitute_env",
    "to_js_string",
]

_WHOLE_REF = re.compile(r"\$\{[^}]+\}")
_ANY_REF = re.compile(r"\$\{\S+\}")
_SUB_REF = re.compile(r"\$\{([^}]+)\}")


def js_number_to_string(value: float | int) -> str:
    """Format a number the way JavaScript's ``Number.prototype.toString()`` does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) < 10**21:
            return str(value)
        value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest round-trip digits, the same ones JavaScript prints
    parsed = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(str(d) for d in parsed.digits).lstrip("0")
    exponent = int(parsed.exponent)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    n = len(digits) + exponent  # decimal point position relative to the first digit
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        e_text = f"e+{e}" if e >= 0 else f"e{e}"
        out = (digits[0] + ("." + digits[1:] if k > 1 else "")) + e_text
    return sign + out


def _js_date_string(value: _dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.astimezone()
    offset = value.utcoffset() or _dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    tzname = value.tzname() or ""
    return value.strftime("%a %b %d %Y %H:%M:%S") + (
        f" GMT{sign}{minutes // 60:02d}{minutes % 60:02d} ({tzname})"
    )


def to_js_string(value: Any) -> str:
    """Convert ``value`` to text exactly as JavaScript's ``String(value)`` would.

    ``None`` is ``"null"``, MISSING is ``"undefined"``, lists join their elements
    with ``,`` (null/undefined elements become empty), dicts are ``[object Object]``,
    bytes are decoded as UTF-8 (as ``Buffer.toString()`` does).
    """
    if isinstance(value, str):
        return value
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_to_string(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return ",".join("" if v is None or v is MISSING else to_js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    if isinstance(value, _dt.datetime):
        return _js_date_string(value)
    return str(value)


def _lookup(node: NodeLike | None, name: str) -> Any:
    if node is None:  # Node-RED falls back to the process environment
        return os.environ.get(name, MISSING)
    return node.get_env(name)


def substitute_env(text: str, node: NodeLike | None) -> str:
    """Replace every ``${NAME}`` in ``text`` with the node's env var NAME as a string.

    An unset variable becomes the empty string.
    """

    def repl(match: re.Match[str]) -> str:
        value = _lookup(node, match.group(1))
        return "" if value is MISSING else to_js_string(value)

    return _SUB_REF.sub(repl, text)


def evaluate_env_property(value: str, node: NodeLike | None) -> Any:
    """Evaluate an ``env`` typed input the way Node-RED's evaluateEnvProperty does.

    ``${NAME}`` alone or a bare ``NAME`` returns the variable's value unchanged
    (any type); text containing ``${...}`` references is substituted and returns a
    string. An unset variable gives ``""``.
    """
    if _WHOLE_REF.fullmatch(value):
        result = _lookup(node, value[2:-1])
    elif not _ANY_REF.search(value):
        result = _lookup(node, value)
    else:
        return substitute_env(value, node)
    return "" if result is MISSING else result


def js_typeof(value: Any) -> str:
    """JavaScript ``typeof value`` for message values (null, lists, bytes are objects)."""
    if value is MISSING:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"
