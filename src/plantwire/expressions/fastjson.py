"""A C fast path (orjson) for JavaScript-compatible JSON, used where it gives the same bytes.

``JSON.stringify`` and orjson agree on plain objects, arrays, strings, booleans, null,
integers and most floats; they differ on floats that are integral (``1`` against
``1.0``), on ``-0`` and on the exponent ranges (JavaScript writes plain digits from
1e-7 to 1e21). orjson also refuses what it cannot encode (bytes, dates, lone
surrogates, integers beyond 64 bits, non-string keys, deep nesting). So
:func:`js_json_fast` serialises with orjson and gives up (returns ``None``) when the
result may hold one of those floats or orjson refused the value; the caller then uses
its exact pure-Python serialiser. A false alarm (the same characters inside a string)
only costs the slow path, never a different result.

:func:`js_parse_fast` is the other direction for JSON text that Python's ``json.loads``
(with NaN and Infinity refused) parses: orjson gives the same value except for integers
beyond 64 bits, which it turns into floats; those inputs (20 digits in a row, or 19
after a minus) and
everything orjson refuses go to the caller's exact path.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

__all__ = ["NOT_FAST", "js_json_fast", "js_parse_fast"]

NOT_FAST: Final[Any] = object()
"""Returned by :func:`js_parse_fast` when the caller must parse with its exact path."""

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
# The checks below run on every message, so they use bytes.find (memchr speed) on the
# text with every digit turned into "0", not regular expressions (several µs each).
_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")
# orjson's float tokens JavaScript writes differently: integral ("1.0", "-0.0") or in
# exponent form ("1e+16", "1e-7"); integers never contain "." or "e". One translation
# folds "}" and "]" into "," and "+" into "-", so two searches find them all; each "e-"
# (also in text: "plantwire-1") is then checked for a digit before it.
_FOLD = bytes.maketrans(b"}]+", b",,-")
# an array-index-like key, which JavaScript objects list first
_INDEX_KEY = re.compile(rb'[{,]\s*"(?:0|[1-9][0-9]*)"\s*:')
_ESCAPE_HINT = b"\\u"
_LONG_INT = b"0" * 20  # orjson keeps -2**63 ... 2**64 - 1 exact, longer integers become floats
_LONG_NEG_INT = b"-" + b"0" * 19
_UNSAFE_INT = b"0" * 16  # from 2**53 on JSON.parse gives floats


def _has_index_key(text: bytes, zeroed: bytes) -> bool:
    """Whether JSON ``text`` may hold an object key like "0" or "12" (also escaped)."""
    if _ESCAPE_HINT in text:
        return True
    if b'"0' not in zeroed:  # no string starts with a digit
        return False
    return _INDEX_KEY.search(text) is not None


def js_json_fast(value: Any, *, js_key_order: bool = False) -> bytes | None:
    """``value`` as compact JSON in UTF-8, byte for byte what the JavaScript-compatible
    serialisers give, or ``None`` when this fast path cannot vouch for it.

    ``js_key_order``: also give up when an object has an array-index key (``"0"``,
    ``"12"``), which ``JSON.stringify`` lists first."""
    try:
        out = orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError included
        return None
    folded = out.translate(_FOLD)
    if b".0," in folded or out.endswith(b".0"):
        return None
    at = folded.find(b"e-")
    while at > 0:
        if 48 <= folded[at - 1] <= 57:  # a digit before: an exponent
            return None
        at = folded.find(b"e-", at + 2)
    if js_key_order and _has_index_key(out, out.translate(_DIGITS_TO_0)):
        return None
    return out


def js_parse_fast(data: bytes | str, *, safe_ints: bool = False, js_key_order: bool = False) -> Any:
    """The value ``json.loads(data)`` gives (NaN / Infinity refused), or :data:`NOT_FAST`
    when the caller must parse with its own path (invalid JSON, long integers...).

    ``safe_ints``: also give up on 16 digits in a row (integers from 2**53 on, which
    ``JSON.parse`` turns into floats); ``js_key_order``: also give up when an object
    may have an array-index-like key, which ``JSON.parse`` lists first."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    zeroed = raw.translate(_DIGITS_TO_0)
    if _LONG_INT in zeroed or _LONG_NEG_INT in zeroed:
        return NOT_FAST
    if safe_ints and _UNSAFE_INT in zeroed:
        return NOT_FAST
    if js_key_order and _has_index_key(raw, zeroed):
        return NOT_FAST
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return NOT_FAST
