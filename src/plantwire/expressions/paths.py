"""Message property expressions: ``payload.a``, ``a["b c"][0]``, ``a[msg.key]``.

The grammar and the get/set/delete semantics follow Node-RED's
``normalisePropertyExpression``, ``getObjectProperty`` and ``setObjectProperty``:

* ``a.b`` and ``a["b"]`` / ``a['b']`` name object keys; ``a[0]`` indexes an array;
  a dotted all-digit segment followed by more (``a.0.b``) is a number too;
* ``a[msg.b]`` is a cross-reference: the value of ``msg.b`` (looked up on the same
  root object) becomes the key;
* reading never raises for absent data: it returns MISSING (JavaScript ``undefined``);
* writing creates missing parents (a dict, or a list when the next key is a number)
  and silently does nothing when a parent is a primitive such as a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING

from .env import to_js_string

__all__ = [
    "PathRef",
    "delete_msg_property",
    "delete_property",
    "get_msg_property",
    "get_property",
    "normalise_path",
    "parse_context_key",
    "parse_path",
    "path_to_string",
    "resolve_path_string",
    "set_msg_property",
    "set_property",
    "validate_path",
]

_DIGITS = re.compile(r"\d+")
_IDENT_START = re.compile(r"[A-Za-z0-9$_]")
_CONTEXT_KEY = re.compile(r"#:\((\S+?)\)::(.*)")
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_plain_cache: dict[str, bool] = {}


def is_plain_key(expr: str) -> bool:
    """Whether ``expr`` is one plain key (``payload``): the hot path needs no parsing."""
    found = _plain_cache.get(expr)
    if found is None:
        found = _PLAIN_KEY.fullmatch(expr) is not None
        if len(_plain_cache) < 10000:
            _plain_cache[expr] = found
    return found


_INDEX = re.compile(r"0|[1-9]\d*")


@dataclass(frozen=True, slots=True)
class PathRef:
    """A cross-reference part (``a[msg.b]``): its value is looked up on the root."""

    parts: tuple[str | int | PathRef, ...]
    text: str


PathPart = str | int | PathRef


def _fail(expr: str, why: str) -> ExpressionError:
    return ExpressionError(f"invalid property expression '{expr}': {why}")


def _scan_reference(expr: str, open_at: int) -> int:
    """Return the index of the ``]`` that closes the ``[`` at ``open_at``."""
    depth = 1
    quote: str | None = None
    for j in range(open_at + 1, len(expr)):
        ch = expr[j]
        if ch in "\"'":
            if quote is None:
                quote = ch
            elif ch == quote:
                quote = None
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return j
    raise _fail(expr, f"unmatched '[' at position {open_at}")


def _number_or_text(text: str) -> str | int:
    return int(text) if _DIGITS.fullmatch(text) else text


@lru_cache(maxsize=4096)
def parse_path(expr: str) -> tuple[PathPart, ...]:
    """Parse ``expr`` into its parts; cross-references stay unresolved (PathRef).

    Raises ExpressionError when the expression is not valid.
    """
    if not isinstance(expr, str):
        raise ExpressionError(f"invalid property expression {expr!r}: not a string")
    length = len(expr)
    if length == 0:
        raise _fail(expr, "zero-length")
    parts: list[PathPart] = []
    start = 0
    in_string = False
    in_box = False
    quote = ""
    i = 0
    while i < length:
        c = expr[i]
        if in_string:
            if c == quote:
                if i == start:
                    raise _fail(expr, f"zero-length string at position {start}")
                parts.append(expr[start:i])
                nxt = expr[i + 1] if i + 1 < length else ""
                if in_box and nxt != "]":
                    raise _fail(expr, f"unexpected array expression at position {start}")
                if not in_box and nxt and nxt not in "[.":
                    raise _fail(expr, f"unexpected {nxt} at position {i + 1}")
                start = i + 1
                in_string = False
        elif c in "\"'":
            if i != start:
                raise _fail(expr, f"unexpected {c} at position {i}")
            in_string = True
            quote = c
            start = i + 1
        elif c == ".":
            if i == 0:
                raise _fail(expr, "unexpected . at position 0")
            if start != i:
                parts.append(_number_or_text(expr[start:i]))
            if i == length - 1:
                raise _fail(expr, "unterminated expression")
            if not _IDENT_START.match(expr[i + 1]):
                raise _fail(expr, f"unexpected {expr[i + 1]} at position {i + 1}")
            start = i + 1
        elif c == "[":
            if i == 0:
                raise _fail(expr, "unexpected [ at position 0")
            if start != i:
                parts.append(expr[start:i])
            if i == length - 1:
                raise _fail(expr, "unterminated expression")
            rest = expr[i + 1 : i + 5]
            if rest.startswith(("msg.", "msg[")):
                end = _scan_reference(expr, i)
                inner = expr[i + 1 : end]
                target = inner[4:] if inner.startswith("msg.") else inner
                try:
                    parts.append(PathRef(parse_path(target), inner))
                except ExpressionError as err:
                    raise _fail(expr, f"invalid reference at position {i + 1} ({err})") from None
                i = end + 1
                start = i
                continue
            if expr[i + 1] not in "\"'0123456789":
                raise _fail(expr, f"unexpected {expr[i + 1]} at position {i + 1}")
            start = i + 1
            in_box = True
        elif c == "]":
            if not in_box:
                raise _fail(expr, f"unexpected ] at position {i}")
            if start != i:
                text = expr[start:i]
                if not _DIGITS.fullmatch(text):
                    raise _fail(expr, f"unexpected array expression at position {start}")
                parts.append(int(text))
            start = i + 1
            in_box = False
        elif c == " ":
            raise _fail(expr, f"unexpected ' ' at position {i}")
        i += 1
    if in_box or in_string:
        raise _fail(expr, "unterminated expression")
    if start < length:
        parts.append(expr[start:])  # a trailing segment stays a string, as in Node-RED
    return tuple(parts)


def validate_path(expr: str) -> None:
    """Raise ExpressionError if ``expr`` is not a valid property expression."""
    parse_path(expr)


def _ref_key(root: Any, ref: PathRef, expr: str) -> str | int:
    value = _walk(root, _resolve(root, ref.parts, expr))
    if value is MISSING:
        raise ExpressionError(
            f"invalid property expression '{expr}': reference {ref.text} is undefined"
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return to_js_string(value)


def _resolve(root: Any, parts: tuple[PathPart, ...], expr: str) -> list[str | int]:
    if not any(isinstance(p, PathRef) for p in parts):
        return list(parts)  # type: ignore[arg-type]
    return [_ref_key(root, p, expr) if isinstance(p, PathRef) else p for p in parts]


def normalise_path(expr: str, msg: Any = MISSING) -> list[str | int]:
    """Return the parts of ``expr`` (``a["b"][0]`` -> ``["a", "b", 0]``).

    Cross-references (``a[msg.b]``) are resolved against ``msg``; without a ``msg``
    such an expression raises ExpressionError (use :func:`validate_path` to check it).
    Parsing is cached.
    """
    parts = parse_path(expr)
    if msg is MISSING and any(isinstance(p, PathRef) for p in parts):
        raise ExpressionError(
            f"property expression '{expr}' has a msg cross-reference and needs a message"
        )
    return _resolve(msg, parts, expr)


def path_to_string(parts: list[str | int]) -> str:
    """Render parts canonically: ``["a", "b", 0]`` -> ``a["b"][0]`` (as Node-RED does)."""
    if not parts:
        return ""
    out = str(parts[0])
    for p in parts[1:]:
        if isinstance(p, str):
            out += f"['{p}']" if '"' in p else f'["{p}"]'
        else:
            out += f"[{p}]"
    return out


def resolve_path_string(expr: str, msg: Any) -> str:
    """Resolve ``msg`` cross-references inside ``expr`` and return the canonical text."""
    return path_to_string(normalise_path(expr, msg))


# ----- reading ----------------------------------------------------------------------


def _as_index(key: str | int) -> int | None:
    if isinstance(key, int):
        return key
    if _INDEX.fullmatch(key):
        return int(key)
    return None


def _step(obj: Any, key: str | int) -> Any:
    cls = obj.__class__
    if cls is dict or isinstance(obj, dict):
        value = obj.get(key if isinstance(key, str) else str(key), MISSING)
        if value is MISSING and isinstance(key, int):
            value = obj.get(key, MISSING)
        return value
    if isinstance(obj, list | tuple | str | bytes | bytearray):
        if key == "length":
            return len(obj)
        index = _as_index(key)
        if index is None or index >= len(obj):
            return MISSING
        return obj[index]
    return MISSING


def _walk(obj: Any, keys: list[str | int]) -> Any:
    for key in keys:
        obj = _step(obj, key)
        if obj is MISSING:
            return MISSING
    return obj


def get_property(obj: Any, expr: str) -> Any:
    """Return the value at ``expr`` inside ``obj``, or MISSING when any step is absent."""
    if obj.__class__ is dict and is_plain_key(expr):
        return obj.get(expr, MISSING)
    return _walk(obj, _resolve(obj, parse_path(expr), expr))


def get_msg_property(msg: Any, expr: str) -> Any:
    """Like :func:`get_property`; a leading ``msg.`` is stripped first."""
    if expr.startswith("msg."):
        expr = expr[4:]
    return get_property(msg, expr)


# ----- writing ----------------------------------------------------------------------


def _container(next_key: str | int) -> Any:
    return {} if isinstance(next_key, str) else []


def _list_put(seq: list[Any], index: int, value: Any) -> None:
    if index < len(seq):
        seq[index] = value
    else:
        seq.extend([None] * (index - len(seq)))  # JavaScript leaves holes (null in JSON)
        seq.append(value)


def set_property(obj: Any, expr: str, value: Any, create_missing: bool = True) -> None:
    """Set the value at ``expr`` inside ``obj`` (Node-RED setObjectProperty).

    Missing parents are created when ``create_missing`` (a dict, or a list when the
    next key is a number). If a parent exists but is not a dict or list (a string,
    number, null ...) nothing is changed. Setting MISSING deletes the property
    (an array element is removed, shifting the rest).
    """
    if obj.__class__ is dict and is_plain_key(expr):
        if value is MISSING:
            obj.pop(expr, None)
        else:
            obj[expr] = value
        return
    keys = _resolve(obj, parse_path(expr), expr)
    last = len(keys) - 1
    for i in range(last):
        key = keys[i]
        nxt = keys[i + 1]
        if isinstance(obj, dict):
            skey = key if isinstance(key, str) else str(key)
            if skey in obj and obj[skey] is not MISSING:
                obj = obj[skey]
                if not isinstance(obj, dict | list):
                    return  # cannot create a property beneath a primitive
            elif create_missing:
                obj[skey] = _container(nxt)
                obj = obj[skey]
            else:
                return
        elif isinstance(obj, list):
            index = _as_index(key)
            if index is None:
                return  # named properties on arrays are not representable
            if index < len(obj) and obj[index] is not MISSING:
                obj = obj[index]
                if not isinstance(obj, dict | list):
                    return
            elif create_missing:
                _list_put(obj, index, _container(nxt))
                obj = obj[index]
            else:
                return
        else:
            return
    key = keys[last]
    if value is MISSING:
        if isinstance(obj, dict):
            obj.pop(key if isinstance(key, str) else str(key), None)
        elif isinstance(obj, list):
            index = _as_index(key)
            if index is not None and index < len(obj):
                if isinstance(key, int):
                    del obj[index]
                else:
                    obj[index] = None  # ``delete arr["0"]`` leaves a hole
        return
    if isinstance(obj, dict):
        obj[key if isinstance(key, str) else str(key)] = value
    elif isinstance(obj, list):
        index = _as_index(key)
        if index is not None:
            _list_put(obj, index, value)


def delete_property(obj: Any, expr: str) -> None:
    """Delete the property at ``expr`` inside ``obj``; absent parents are not created."""
    set_property(obj, expr, MISSING, create_missing=False)


def set_msg_property(msg: Any, expr: str, value: Any, create_missing: bool = True) -> None:
    """Like :func:`set_property`; a leading ``msg.`` is stripped first."""
    if expr.startswith("msg."):
        expr = expr[4:]
    set_property(msg, expr, value, create_missing)


def delete_msg_property(msg: Any, expr: str) -> None:
    """Like :func:`delete_property`; a leading ``msg.`` is stripped first."""
    if expr.startswith("msg."):
        expr = expr[4:]
    delete_property(msg, expr)


def parse_context_key(key: str) -> tuple[str | None, str]:
    """Split a TypedInput context key: ``#:(file)::foo.bar`` -> ``("file", "foo.bar")``.

    A key without a store prefix gives ``(None, key)``.
    """
    match = _CONTEXT_KEY.fullmatch(key)
    if match:
        return match.group(1), match.group(2)
    return None, key
