"""YAML as js-yaml 4 reads and writes it (the library Node-RED's yaml node uses).

PyYAML implements YAML 1.1 (``yes`` is true, ``010`` is octal); js-yaml's default
schema is YAML 1.2's core schema plus timestamps, merge keys and binary. The loader
here resolves scalars the js-yaml way and builds JavaScript-like values (string keys,
integer-like keys first, dates as UTC datetimes). The dumper is a port of js-yaml's
``dump`` style choices: two-space indent, indented block sequences, single quotes for
ambiguous strings, ``|``/``>`` block scalars, and an 80-column fold width.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import re
from typing import Any

import yaml

from plantwire.expressions.env import to_js_string
from plantwire.nodes.core.parsers_json_codec import js_date_iso, js_number_str, order_js_keys
from plantwire.runtime.message import MISSING

__all__ = ["YAMLDumpError", "resolves_implicitly", "yaml_dump", "yaml_load"]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(
    r"^[-+]?(?:0b[01_]*[01][01_]*|0x[0-9a-fA-F_]*[0-9a-fA-F][0-9a-fA-F_]*"
    r"|0o[0-7_]*[0-7][0-7_]*|0|[0-9][0-9_]*)$"
)
_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_TIMESTAMP = re.compile(
    r"^([0-9]{4})-([0-9][0-9]?)-([0-9][0-9]?)(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9][0-9]?)(?::([0-9]{2}))?))?$"
)
_MERGE = re.compile(r"^<<$")
_T = "tag:yaml.org,2002:"


class YAMLDumpError(ValueError):
    """A value cannot be written as YAML (js-yaml's "unacceptable kind of an object")."""


def _int_ok(s: str) -> bool:
    return bool(_INT.match(s)) and not s.endswith("_")


def _float_ok(s: str) -> bool:
    return bool(_FLOAT.match(s)) and not s.endswith("_")


def resolves_implicitly(s: str) -> bool:
    """True when js-yaml would read the plain scalar ``s`` as something other than a string."""
    return bool(
        _NULL.match(s) or _BOOL.match(s) or _int_ok(s) or _float_ok(s)
        or _DATE.match(s) or _TIMESTAMP.match(s) or _MERGE.match(s)
    )  # fmt: skip


class _Loader(yaml.SafeLoader):
    """SafeLoader with js-yaml's default schema."""

    yaml_implicit_resolvers: dict[Any, Any] = {}
    yaml_constructors = dict(yaml.SafeLoader.yaml_constructors)


for _tag, _re, _first in (
    ("null", _NULL, None),
    ("null", _NULL, [""]),
    ("bool", _BOOL, None),
    ("int", _INT, None),
    ("float", _FLOAT, None),
    ("timestamp", _DATE, None),
    ("timestamp", _TIMESTAMP, None),
    ("merge", _MERGE, None),
):
    _Loader.add_implicit_resolver(_T + _tag, _re, _first)


def _num(v: float) -> int | float:
    if (
        math.isfinite(v)
        and v == int(v)
        and abs(v) < 2**53
        and not (v == 0 and math.copysign(1, v) < 0)
    ):
        return int(v)
    return v


def _c_int(loader: _Loader, node: yaml.ScalarNode) -> Any:
    s = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    base = {"0b": 2, "0x": 16, "0o": 8}.get(s[:2].lower(), 10)
    value = int(s[2:] if base != 10 else s, base) * sign
    return value if abs(value) < 2**53 else float(value)


def _c_float(loader: _Loader, node: yaml.ScalarNode) -> Any:
    s = str(loader.construct_scalar(node)).replace("_", "").lower()
    sign = -1.0 if s.startswith("-") else 1.0
    if s.lstrip("+-") == ".inf":
        return sign * math.inf
    if s == ".nan":
        return math.nan
    return _num(float(s))


def _c_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    s = str(loader.construct_scalar(node))
    m = _DATE.match(s)
    if m:
        return _dt.datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=_dt.UTC)
    m = _TIMESTAMP.match(s)
    if m is None:
        raise yaml.constructor.ConstructorError(None, None, "unknown date format", node.start_mark)
    ms = int((m[7] or "0")[:3].ljust(3, "0"))
    when = _dt.datetime(
        int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), ms * 1000,
        tzinfo=_dt.UTC,
    )  # fmt: skip
    if m[9]:
        delta = _dt.timedelta(hours=int(m[10]), minutes=int(m[11] or 0))
        when = when - delta if m[9] == "+" else when + delta
    return when


def _key_text(key: Any) -> str:
    if isinstance(key, _dt.datetime):
        return to_js_string(key)
    if isinstance(key, list | dict):
        return to_js_string(key)
    return to_js_string(key)


def _c_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = _key_text(loader.construct_object(key_node, deep=True))
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, "duplicated mapping key", key_node.start_mark
            )
        seen.add(key)
        out[key] = loader.construct_object(value_node, deep=True)
    return order_js_keys(out)


_Loader.add_constructor(_T + "int", _c_int)
_Loader.add_constructor(_T + "float", _c_float)
_Loader.add_constructor(_T + "timestamp", _c_timestamp)
_Loader.add_constructor(_T + "map", _c_map)


def yaml_load(text: str) -> Any:
    """js-yaml ``load``: one document; an empty document gives MISSING (undefined)."""
    loader = _Loader(text)
    try:
        if not loader.check_node():
            return MISSING
        node = loader.get_node()
        if loader.check_node():
            raise yaml.YAMLError("expected a single document in the stream, but found more")
        return loader.construct_document(node) if node is not None else MISSING
    finally:
        loader.dispose()


# ----- dumping ------------------------------------------------------------------------

_DEPRECATED_BOOLS = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"}
_DEPRECATED_BOOLS |= {"n", "N", "no", "No", "NO", "off", "Off", "OFF"}
_BASE60 = re.compile(r"^[-+]?[0-9_]+(?::[0-9_]+)+(?:\.[0-9_]*)?$")
_ESC = {0: "\\0", 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
_ESC |= {0x1B: "\\e", 0x22: '\\"', 0x5C: "\\\\", 0x85: "\\N", 0xA0: "\\_"}
_ESC |= {0x2028: "\\L", 0x2029: "\\P"}
_INDENT = 2
_WIDTH = 80


def _printable(c: int) -> bool:
    return (
        0x20 <= c <= 0x7E
        or (0xA1 <= c <= 0xD7FF and c not in (0x2028, 0x2029))
        or (0xE000 <= c <= 0xFFFD and c != 0xFEFF)
        or 0x10000 <= c <= 0x10FFFF
    )


def _ns_or_white(c: int) -> bool:
    return _printable(c) and c not in (0xFEFF, 0x0D, 0x0A)


def _plain_safe(c: int, prev: int | None, inblock: bool) -> bool:
    ns_w = _ns_or_white(c)
    ns = ns_w and c not in (0x20, 0x09)
    base = ns_w if inblock else ns_w and chr(c) not in ",[]{}"
    p_ns = prev is not None and _ns_or_white(prev) and prev not in (0x20, 0x09)
    return (
        (base and c != 0x23 and not (prev == 0x3A and not ns))
        or (p_ns and c == 0x23)
        or (prev == 0x3A and ns)
    )


def _plain_first(c: int) -> bool:
    return _printable(c) and c not in (0xFEFF, 0x20, 0x09) and chr(c) not in "-?:,[]{}#&*!|=>'\"%@`"


def _choose_style(s: str, single_line: bool, width: int, inblock: bool) -> str:
    plain = _plain_first(ord(s[0])) and ord(s[-1]) not in (0x20, 0x09, 0x3A)
    has_break = foldable = False
    prev_break = -1
    prev: int | None = None
    for i, ch in enumerate(s):
        c = ord(ch)
        if c == 0x0A and not single_line:
            has_break = True
            foldable = foldable or (i - prev_break - 1 > width and s[prev_break + 1] != " ")
            prev_break = i
        elif not _printable(c):
            return "double"
        plain = plain and _plain_safe(c, prev, inblock)
        prev = c
    if not single_line:
        n = len(s)
        foldable = foldable or (
            n - prev_break - 1 > width and s[prev_break + 1 : prev_break + 2] != " "
        )
    if not has_break and not foldable:
        return "plain" if plain and not resolves_implicitly(s) else "single"
    return "folded" if foldable else "literal"


def _indent_string(s: str, spaces: int) -> str:
    ind = " " * spaces
    return "".join(ind + line if line and line != "\n" else line for line in s.splitlines(True))


def _block_header(s: str) -> str:
    indicator = str(_INDENT) if re.match(r"^\n* ", s) else ""
    clip = s.endswith("\n")
    keep = clip and (s[-2:-1] == "\n" or s == "\n")
    return indicator + ("+" if keep else "" if clip else "-") + "\n"


def _drop_end_newline(s: str) -> str:
    return s[:-1] if s.endswith("\n") else s


def _fold_line(line: str, width: int) -> str:
    if line == "" or line[0] == " ":
        return line
    start = curr = 0
    result = ""
    for m in re.finditer(r" [^ ]", line):
        nxt = m.start()
        if nxt - start > width:
            end = curr if curr > start else nxt
            result += "\n" + line[start:end]
            start = end + 1
        curr = nxt
    result += "\n"
    if len(line) - start > width and curr > start:
        result += line[start:curr] + "\n" + line[curr + 1 :]
    else:
        result += line[start:]
    return result[1:]


def _fold_string(s: str, width: int) -> str:
    first = s.find("\n")
    first = first if first != -1 else len(s)
    result = _fold_line(s[:first], width)
    prev_more = s[:1] in ("\n", " ")
    for m in re.finditer(r"(\n+)([^\n]*)", s[first:]):
        prefix, line = m.group(1), m.group(2)
        more = line[:1] == " "
        sep = "\n" if not prev_more and not more and line != "" else ""
        result += prefix + sep + _fold_line(line, width)
        prev_more = more
    return result


def _escape(s: str) -> str:
    out = []
    for ch in s:
        c = ord(ch)
        esc = _ESC.get(c)
        if esc is None and _printable(c):
            out.append(ch)
        elif esc is not None:
            out.append(esc)
        elif c <= 0xFF:
            out.append(f"\\x{c:02X}")
        elif c <= 0xFFFF:
            out.append(f"\\u{c:04X}")
        else:
            out.append(f"\\U{c:08X}")
    return "".join(out)


def _scalar(s: str, level: int, iskey: bool, inblock: bool) -> str:
    if s == "":
        return "''"
    if s in _DEPRECATED_BOOLS or _BASE60.match(s):
        return "'" + s + "'"
    indent = _INDENT * max(1, level)
    width = max(min(_WIDTH, 40), _WIDTH - indent)
    style = _choose_style(s, iskey, width, inblock)
    if style == "plain":
        return s
    if style == "single":
        return "'" + s.replace("'", "''") + "'"
    if style == "literal":
        return "|" + _block_header(s) + _drop_end_newline(_indent_string(s, indent))
    if style == "folded":
        folded = _indent_string(_fold_string(s, width), indent)
        return ">" + _block_header(s) + _drop_end_newline(folded)
    return '"' + _escape(s) + '"'


def _number(value: float | int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        if value == 0 and math.copysign(1, value) < 0:
            return "-0.0"
    text = js_number_str(value)
    if isinstance(value, float) and value != int(value) and re.match(r"^[-+]?[0-9]+e", text):
        text = text.replace("e", ".e")
    return text


def _next_line(level: int) -> str:
    return "\n" + " " * (_INDENT * level)


def _write(value: Any, level: int, block: bool, compact: bool, iskey: bool = False) -> str | None:
    if value is MISSING:
        return None
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, _dt.datetime | _dt.date):
        return js_date_iso(value)
    if isinstance(value, str):
        return _scalar(value, level, iskey, block)
    if isinstance(value, bytes | bytearray):
        return "!!binary " + _scalar(base64.b64encode(bytes(value)).decode(), level, iskey, block)
    if isinstance(value, dict):
        if not value:
            return "{}"
        out = ""
        for key, item in value.items():
            buf = "" if compact and out == "" else _next_line(level)
            k = _write(str(key), level + 1, True, True, True)
            if k is None:
                continue
            explicit = len(k) > 1024
            buf += ("?" if k.startswith("\n") else "? ") + k if explicit else k
            if explicit:
                buf += _next_line(level)
            v = _write(item, level + 1, True, explicit)
            if v is None:
                continue
            out += buf + (":" if v.startswith("\n") else ": ") + v
        return out or "{}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        out = ""
        for item in value:
            v = _write(None if item is MISSING else item, level + 1, True, True)
            if v is None:
                continue
            if not compact or out != "":
                out += _next_line(level)
            out += ("-" if v.startswith("\n") else "- ") + v
        return out or "[]"
    raise YAMLDumpError(f"unacceptable kind of an object to dump {type(value).__name__}")


def yaml_dump(value: Any) -> str:
    """js-yaml ``dump`` with default options."""
    out = _write(value, 0, True, True)
    return "" if out is None else out + "\n"
