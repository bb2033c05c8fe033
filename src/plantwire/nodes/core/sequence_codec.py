"""JavaScript semantics the delay, trigger and sequence nodes share.

Pure helpers: JavaScript ``parseFloat``/``parseInt``, truthiness, ``>`` and ``===``,
the key order of ``Object.keys``, UTF-16 string lengths and slices, Node.js timer
delays, Node-RED's random ids, the ``nodeMessageBufferMaxLength`` limit, and a
repeating timer (``setInterval``) built on a node's ``call_later``.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import Callable
from typing import Any, Protocol

from plantwire.expressions import js_typeof, parse_js_number, to_js_string
from plantwire.runtime.message import MISSING

__all__ = [
    "DEFAULT_MAX_KEPT_MSGS",
    "Repeater",
    "TimerOwner",
    "generate_id",
    "js_delay_seconds",
    "js_greater",
    "js_keys",
    "js_len",
    "js_number",
    "js_strict_equal",
    "js_substring",
    "js_truthy",
    "js_typeof",
    "max_kept_msgs",
    "parse_float_js",
    "parse_int_js",
    "to_byte",
    "to_bytes",
    "too_many",
    "unescape_separator",
]

DEFAULT_MAX_KEPT_MSGS = 100_000
"""Bound on messages a sequence node keeps when the runtime sets no limit of its own.

Node-RED keeps them without bound (``nodeMessageBufferMaxLength`` 0); Plantwire keeps
a generous bound so one runaway sequence cannot exhaust memory.
"""

_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_INT_PREFIX = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|\d+)")
_JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_JS_SPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_MAX_TIMER_MS = 2**31 - 1


def parse_float_js(value: Any) -> float | None:
    """JavaScript ``parseFloat(value)``; None where JavaScript gives NaN."""
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    match = _FLOAT_PREFIX.match(to_js_string(value).lstrip(_JS_SPACE))
    if match is None:
        return None
    text = match.group(0)
    if text.endswith("Infinity"):
        return -math.inf if text.startswith("-") else math.inf
    return float(text)


def parse_int_js(value: Any) -> int | None:
    """JavaScript ``parseInt(value)`` (radix 10, or 16 for ``0x``); None for NaN."""
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    match = _INT_PREFIX.match(to_js_string(value).lstrip(_JS_SPACE))
    if match is None:
        return None
    sign, digits = match.groups()
    number = int(digits, 16) if digits[:2].lower() == "0x" else int(digits)
    return -number if sign == "-" else number


def js_number(value: Any) -> float:
    """JavaScript ``Number(value)`` as a float (NaN where JavaScript gives NaN)."""
    if isinstance(value, list):
        value = to_js_string(value)
    elif isinstance(value, dict) or value is MISSING:
        return math.nan
    elif isinstance(value, bytes | bytearray):
        value = to_js_string(value)
    number = parse_js_number(value)
    return math.nan if number is None else float(number)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness (``"false"`` is true, ``0``, ``""``, null are false)."""
    if value is None or value is MISSING or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def js_delay_seconds(ms: Any) -> float:
    """A ``setTimeout`` delay in seconds; Node.js runs NaN or < 1 ms delays after 1 ms.

    Delays beyond Node.js's 32-bit limit are kept as given (Node.js would fire them
    after 1 ms, which no flow relies on).
    """
    try:
        value = float(ms)
    except (TypeError, ValueError):
        return 0.001
    if math.isnan(value) or value < 1:
        return 0.001
    return value / 1000.0


def generate_id() -> str:
    """A random id like Node-RED's ``RED.util.generateId()`` (16 hex digits)."""
    return os.urandom(8).hex()


def _is_array_index(key: str) -> bool:
    return key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1


def js_keys(obj: dict[Any, Any]) -> list[Any]:
    """Keys in JavaScript's ``Object.keys`` order: array indices first, ascending."""
    keys = list(obj)
    if not any(isinstance(k, str) and k[:1].isdigit() for k in keys):
        return keys
    indices = sorted((k for k in keys if isinstance(k, str) and _is_array_index(k)), key=int)
    rest = [k for k in keys if not (isinstance(k, str) and _is_array_index(k))]
    return indices + rest


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


def js_len(text: str) -> int:
    """``text.length`` in JavaScript: UTF-16 code units."""
    if _ASTRAL.search(text) is None:
        return len(text)
    return len(_utf16(text)) // 2


def js_substring(text: str, start: int, end: int) -> str:
    """``text.substring(start, end)`` counted in UTF-16 code units."""
    if _ASTRAL.search(text) is None:
        return text[start:end]
    units = _utf16(text)
    return units[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


def _primitive(value: Any) -> Any:
    if isinstance(value, list | tuple | bytes | bytearray | dict):
        return to_js_string(value)
    return value


def _to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if value is MISSING:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    number = parse_js_number(value)
    return math.nan if number is None else float(number)


def js_greater(left: Any, right: Any) -> bool:
    """JavaScript ``left > right`` (strings by UTF-16 code units, else as numbers)."""
    a = _primitive(left)
    b = _primitive(right)
    if isinstance(a, str) and isinstance(b, str):
        if _ASTRAL.search(a) or _ASTRAL.search(b):
            return a.encode("utf-16-be", "surrogatepass") > b.encode("utf-16-be", "surrogatepass")
        return a > b
    return _to_number(a) > _to_number(b)


def js_strict_equal(left: Any, right: Any) -> bool:
    """JavaScript ``left === right`` (objects and arrays by identity)."""
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return left is right
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if type(left) is not type(right):
        return False
    if isinstance(left, bytes | bytearray):
        return left is right
    return bool(left == right)


def unescape_separator(text: str) -> str:
    """Node-RED's handling of ``\\n \\r \\t \\e \\f \\0`` typed in a separator field."""
    text = text.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t")
    return text.replace("\\e", "e").replace("\\f", "\f").replace("\\0", "\0")


def max_kept_msgs(runtime: Any) -> int:
    """The ``nodeMessageBufferMaxLength`` limit of ``runtime`` (0 or less: no limit).

    Read from the runtime's settings (``node_message_buffer_max_length`` or
    ``nodeMessageBufferMaxLength``); :data:`DEFAULT_MAX_KEPT_MSGS` when unset.
    """
    settings = getattr(runtime, "settings", None)
    for name in ("node_message_buffer_max_length", "nodeMessageBufferMaxLength"):
        value = getattr(settings, name, None)
        if value is None and isinstance(getattr(settings, "extra", None), dict):
            value = settings.extra.get(name)  # type: ignore[union-attr]
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return DEFAULT_MAX_KEPT_MSGS
    return DEFAULT_MAX_KEPT_MSGS


def too_many(text: str, limit: int) -> str:
    """Node-RED's "too many pending messages" text, naming the limit that was exceeded."""
    return f"{text} (nodeMessageBufferMaxLength {limit})"


class TimerOwner(Protocol):
    """What :class:`Repeater` needs of a node."""

    def call_later(self, delay: float, callback: Callable[[], Any]) -> asyncio.TimerHandle: ...

    def cancel_timer(self, handle: asyncio.TimerHandle | None) -> None: ...


class Repeater:
    """``setInterval``: call ``callback`` every ``ms`` milliseconds until stopped."""

    __slots__ = ("_callback", "_handle", "_next", "_owner", "_period")

    def __init__(self, owner: TimerOwner, ms: Any, callback: Callable[[], Any]) -> None:
        self._owner = owner
        self._period = js_delay_seconds(ms)
        self._callback = callback
        self._next = asyncio.get_running_loop().time() + self._period
        self._handle: asyncio.TimerHandle | None = owner.call_later(self._period, self._fire)

    @property
    def active(self) -> bool:
        """True until :meth:`stop` is called."""
        return self._handle is not None

    def _fire(self) -> None:
        if self._handle is None:
            return
        now = asyncio.get_running_loop().time()
        self._next = max(self._next + self._period, now)
        self._handle = self._owner.call_later(self._next - now, self._fire)
        self._callback()

    def stop(self) -> None:
        """``clearInterval``."""
        self._owner.cancel_timer(self._handle)
        self._handle = None


def to_byte(value: Any) -> int:
    """One element of ``Buffer.from(array)``: the number modulo 256 (NaN: 0)."""
    number = js_number(value)
    if math.isnan(number) or math.isinf(number):
        return 0
    return int(number) & 0xFF


def to_bytes(value: Any) -> bytes:
    """``Buffer.from(value)`` for a buffer, string (UTF-8) or array of numbers."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return bytes(to_byte(v) for v in value)
    raise TypeError(f"Cannot join {js_typeof(value)} to buffer")
