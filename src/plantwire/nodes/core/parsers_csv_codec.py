"""CSV conversion as Node-RED's csv node does it, in RFC 4180 mode and in legacy mode.

Pure functions: :func:`parse` (the RFC 4180 parser Node-RED 4 ships), :func:`quote_cell`,
:func:`js_to_number` (JavaScript's unary ``+`` on a string) and the legacy line
parser :func:`legacy_parse`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CSVParseError",
    "CSVResult",
    "js_to_number",
    "legacy_clean",
    "legacy_parse",
    "parse",
    "quote_cell",
]

_SKIP_NUMBER = re.compile(r"^ *(\+|-0\d|0\d)")
_JS_WS = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # noqa: E501
_DEC = re.compile(r"^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Infinity)$")


class CSVParseError(ValueError):
    """Malformed CSV in strict mode, with the cursor position where it was found."""

    def __init__(self, message: str, cursor: int) -> None:
        super().__init__(message)
        self.cursor = cursor


def _num(value: float) -> int | float:
    if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        return int(value)
    return value


def js_to_number(text: str) -> int | float | None:
    """JavaScript ``+text``; None where the result would be ``NaN``."""
    s = text.strip(_JS_WS)
    if s == "":
        return 0
    low = s[:2].lower()
    try:
        if low == "0x":
            return int(s[2:], 16)
        if low == "0b":
            return int(s[2:], 2)
        if low == "0o":
            return int(s[2:], 8)
    except ValueError:
        return None
    if not _DEC.match(s):
        return None
    return _num(float(s.replace("Infinity", "inf")))


def quote_cell(
    cell: str, quote: str = '"', separator: str = ",", quoteables: list[str] | None = None
) -> str:
    """Quote a cell when it holds a quoteable character; double any quote inside."""
    if quoteables is None:
        quoteables = [quote, separator, "\r", "\n"]
    double_up = quote in cell
    q = quote if any(c in cell for c in quoteables) else ""
    return q + (cell.replace('"', '""') if double_up else cell) + q


@dataclass
class CSVResult:
    """What :func:`parse` returns."""

    headers: list[Any]
    header: str
    data: list[Any] = field(default_factory=list)
    cursor: int = 0
    first_row_is_header: bool = False


def parse(
    text: str,
    *,
    cursor: int = 0,
    separator: str = ",",
    quote: str = '"',
    headers_only: bool = False,
    headers: list[Any] | None = None,
    data_has_header_row: bool = True,
    output_header: bool = True,
    parse_numeric: bool = False,
    include_null_values: bool = False,
    include_empty_strings: bool = True,
    output_style: str = "object",
    strict: bool = False,
) -> CSVResult:
    """Parse CSV text into rows (``output_style="array"``) or objects keyed by header."""
    heads: list[Any] = list(headers) if isinstance(headers, list) else []
    supplied = len(heads) > 0
    end = len(text)
    cells: list[str] = []
    row: list[Any] = []
    rows: list[list[Any]] = []
    new_cell, in_quote, closed = True, False, False

    def finish_cell() -> None:
        cell = "".join(cells)
        cells.clear()
        row.append(cell or (None if new_cell else ""))

    def finish_row() -> None:
        nonlocal row
        if cells:
            finish_cell()
        if row:
            rows.append(row)
            row = []

    while cursor < end:
        ch = text[cursor]
        if in_quote:
            if ch == quote and cursor + 1 < end and text[cursor + 1] == quote:
                cells.append(quote)
                cursor += 2
                new_cell = closed = False
            elif ch == quote:
                in_quote = False
                cursor += 1
                new_cell, closed = False, True
            else:
                cells.append(ch)
                new_cell = closed = False
                cursor += 1
        elif ch == separator:
            finish_cell()
            cursor += 1
            new_cell, closed = True, False
        elif ch == quote:
            if new_cell:
                in_quote = True
                cursor += 1
                new_cell = closed = False
            elif strict:
                raise CSVParseError("Quote found in the middle of an unquoted field", cursor)
            else:
                cursor += 1
                nxt = text[cursor] if cursor < end else ""
                if nxt and nxt not in ("\n", "\r", separator):
                    cells.append(ch)
                    if nxt == quote:
                        cursor += 1
        elif ch in ("\n", "\r"):
            finish_row()
            cursor += 2 if cursor + 1 < end and text[cursor + 1] == "\n" else 1
            new_cell, closed = True, False
            if headers_only:
                break
        elif closed:
            if strict:
                raise CSVParseError("Data found after closing quote", cursor)
            cursor -= 1
            closed = False
        else:
            cells.append(ch)
            new_cell = False
            cursor += 1
    if strict and in_quote:
        raise CSVParseError("Missing quote, unclosed cell", cursor)
    finish_row()

    first_is_header = False
    if rows and not supplied:
        if data_has_header_row:
            heads.extend(rows[0])
            first_is_header = True
        else:
            heads.extend(f"col{i + 1}" for i in range(len(rows[0])))
    header = ",".join(quote_cell(str(h), quote, ",") for h in heads if h)
    result = CSVResult(headers=heads, header=header, cursor=cursor)

    if output_style == "array" or headers_only:
        if not first_is_header and not headers_only and output_header and heads:
            rows.insert(0, heads)
            first_is_header = True
        if headers_only:
            return result
        result.first_row_is_header = first_is_header
        result.data = rows[1:] if first_is_header and not output_header else rows
        return result

    objects: list[dict[str, Any]] = []
    for r in rows[1 if first_is_header else 0 :]:
        obj: dict[str, Any] = {}
        empty = True
        for j, h in enumerate(heads):
            if not h:
                continue
            v = r[j] if j < len(r) else None
            if v is None and not include_null_values:
                continue
            if v == "" and not include_empty_strings:
                continue
            if parse_numeric and v and not _SKIP_NUMBER.match(v):
                n = js_to_number(v)
                if n is not None:
                    v = n
            obj[str(h)] = v
            empty = False
        if not empty:
            objects.append(obj)
    result.data = objects
    return result


# ----- legacy mode ---------------------------------------------------------------------

_LEGACY_NUM = re.compile(r"^[-]?(?!E)(?!0\d)\d*\.?\d*(E-?\+?)?\d+$", re.IGNORECASE)
_RE_SPECIAL = re.compile(r"[-\[\]{}()*+!<=:?./\\^$|#\s,]")


def _legacy_split_re(sep: str) -> re.Pattern[str]:
    escaped = _RE_SPECIAL.sub(lambda m: "\\" + m.group(0), sep)
    return re.compile(escaped + r'(?=(?:(?:[^"]*"){2})*[^"]*$)')


def legacy_clean(col: str, sep: str) -> tuple[list[str], bool]:
    """Split a column template (legacy mode): ``(names, good_template)``."""
    parts = _legacy_split_re(sep).split(col.strip())
    names = [p.replace('"', "").strip() for p in parts]
    good = not (len(names) == 1 and names[0] == "")
    return names, good


def _js_parse_float(text: str) -> int | float:
    m = re.match(r"^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)", text)
    return _num(float(m.group(0))) if m else math.nan


@dataclass
class LegacyState:
    """What the legacy parser carries: the column template and its validity."""

    template: list[str]
    good: bool
    sep: str
    skip: int = 0
    hdrin: bool = False
    parse_numeric: bool = True
    include_empty: bool = False
    include_null: bool = False
    bad_csv: bool = False


def legacy_parse(
    line: str, st: LegacyState, first: bool, linecount: int
) -> tuple[list[Any], dict[str, Any] | None]:
    """Parse CSV text the way Node-RED's legacy csv parser does.

    Returns the row objects and the object of the last, unterminated line (None when
    empty). ``st.template`` is updated when the first line holds the column names.
    """
    quo = '"'
    sep = st.sep
    tpl = st.template
    outside = True
    j = 0
    k: list[Any] = [""]
    obj: dict[str, Any] = {}
    rows: list[Any] = []
    tmp = ""

    def store(idx: int) -> None:
        v = k[idx]
        if v is not None and st.parse_numeric and _LEGACY_NUM.match(v.strip(_JS_WS)):
            v = k[idx] = _js_parse_float(v.strip(_JS_WS))
        name = tpl[idx]
        if st.include_null and v is None:
            obj[name] = v
        if st.include_empty and v == "":
            obj[name] = v
        if v is not None and v != "":
            obj[name] = v

    def name_ok(idx: int) -> bool:
        if not st.good:
            while len(tpl) <= idx:
                tpl.append("")
            tpl[idx] = f"col{idx + 1}"
        return idx < len(tpl) and bool(tpl[idx])

    n = len(line)
    for i in range(n):
        ch = line[i]
        if first and linecount < st.skip:
            if ch == "\n":
                linecount += 1
            continue
        if st.hdrin and first:
            if ch in ("\n", "\r") or n - i == 1:
                if n - i == 1:
                    tmp += ch
                tpl[:], st.good = legacy_clean(tmp, sep)
                first = False
            else:
                tmp += ch
            continue
        prev = line[i - 1] if i > 0 else ""
        if ch == quo:
            outside = not outside
            if prev == quo and not outside:
                k[j] += '"'
        elif ch == sep and outside:
            if name_ok(j):
                if prev == sep or "\n" in prev:
                    k[j] = None
                store(j)
            j += 1
            while len(k) <= j:
                k.append("")
            k[j] = None if n - 1 == i else ""
        elif ch in ("\n", "\r") and outside:
            if name_ok(j):
                if prev == sep:
                    k[j] = None
                store(j)
            if obj:
                rows.append(obj)
            j, k, obj, outside = 0, [""], {}, True
        else:
            k[j] = (k[j] if k[j] is not None else "null") + ch
    if not outside:
        st.bad_csv = True
    if name_ok(j):
        store(j)
    if obj:
        rows.append(obj)
    return rows, (obj or None)
