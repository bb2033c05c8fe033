"""Pure helpers of the spreadsheet nodes: formats, cell values, headers, rows (no I/O)."""

from __future__ import annotations

import codecs
import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from plantwire.expressions import js_number_to_string

__all__ = [
    "FORMATS",
    "cell_to_json",
    "check_csv_settings",
    "check_format",
    "csv_cell",
    "detect_format",
    "file_separator",
    "header_keys",
    "iso_time",
    "parse_number",
    "resolve_path",
    "row_values",
    "rows_from_values",
    "separator",
    "xlsx_cell",
]

FORMATS = ("csv", "xlsx")
_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
_INT = re.compile(r"[+-]?(0|[1-9]\d*)")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def resolve_path(name: str, data_dir: Path | str) -> Path:
    """``name`` with ``~`` expanded; a relative name lies under the runtime's data folder."""
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = Path(data_dir) / path
    return path


def detect_format(path: Path | str, fmt: str = "") -> str:
    """``csv`` or ``xlsx``: ``fmt`` when given, else from the file extension."""
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"format: '{fmt}' is not one of csv, xlsx")
        return fmt
    ext = Path(path).suffix.lower()
    found = _EXTENSIONS.get(ext)
    if found is None:
        raise ValueError(
            f"cannot tell the format of '{path}' from its extension '{ext}': "
            "set the node's format to csv or xlsx"
        )
    return found


def separator(text: str) -> str:
    """The one-character CSV separator for a field value (``\\t`` and ``tab`` are a tab)."""
    if text in ("\\t", "tab", "TAB"):
        return "\t"
    if len(text) != 1:
        raise ValueError(f"must be one character, not {text!r}")
    return text


def check_format(fmt: str) -> None:
    """ValueError naming the field when ``fmt`` is not csv, xlsx or empty."""
    if fmt not in ("", "csv", "xlsx"):
        raise ValueError(f"format: '{fmt}' is not one of csv, xlsx (or empty)")


def check_csv_settings(sep: str, quote: str, encoding: str, default_encoding: str) -> None:
    """ValueError naming the field when the CSV separator, quote character or text encoding
    (empty: ``default_encoding``) of a node's settings is not usable."""
    try:
        separator(sep)
    except ValueError as exc:
        raise ValueError(f"separator: {exc}") from None
    if len(quote) > 1:
        raise ValueError(f"quote: must be one character or empty, not {quote!r}")
    try:
        codecs.lookup(encoding or default_encoding)
    except LookupError:
        raise ValueError(f"encoding: unknown encoding '{encoding}'") from None


def file_separator(path: Path | str, sep: str) -> str:
    """The separator for ``path``: a ``.tsv`` file left at the default ``,`` uses tabs."""
    if sep == "," and Path(path).suffix.lower() == ".tsv":
        return "\t"
    return sep


def parse_number(text: str) -> Any:
    """An int or float for numeric text, else the text unchanged.

    Integers with a leading zero (article numbers such as ``007``) stay text, as do
    values that would lose digits as a float.
    """
    s = text.strip()
    if not s or len(s) > 40:
        return text
    if _INT.fullmatch(s):
        return int(s)
    if _FLOAT.fullmatch(s):
        digits = s.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            return text
        value = float(s)
        if math.isinf(value):
            return text
        return value
    return text


def cell_to_json(value: Any, number_format: str = "General") -> Any:
    """A spreadsheet cell value as a JSON value: dates and times as ISO text.

    A date-time at midnight whose number format shows no time is a date (``2026-11-30``).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return value
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and "h" not in (number_format or "").lower():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


def header_keys(cells: Sequence[Any]) -> list[str]:
    """Object keys from a header row: blanks become ``column N``, repeats get ``_2``, ``_3``."""
    keys: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        text = "" if cell is None else str(cell).strip()
        key = text or f"column {i + 1}"
        base, n = key, 1
        while key in seen:
            n += 1
            key = f"{base}_{n}"
        seen.add(key)
        keys.append(key)
    return keys


def rows_from_values(
    values: Iterable[Sequence[Any]], header: bool, skip_rows: int = 0
) -> tuple[list[Any], list[str] | None]:
    """Rows (objects with a header, else lists) and the header keys.

    ``skip_rows`` rows are dropped first; rows whose cells are all empty are left out
    (the header row is the first non-empty row). With a header, a short row gets
    ``None`` for its missing cells and cells beyond the header get ``column N`` keys.
    """
    rows: list[Any] = []
    keys: list[str] | None = None
    for n, raw in enumerate(values):
        if n < skip_rows:
            continue
        cells = list(raw)
        while cells and (cells[-1] is None or cells[-1] == ""):
            cells.pop()
        if not cells:
            continue
        if not header:
            rows.append(cells)
            continue
        if keys is None:
            keys = header_keys(cells)
            continue
        if len(cells) > len(keys):
            keys = header_keys([*keys, *([None] * (len(cells) - len(keys)))])
        row = {k: (cells[i] if i < len(cells) else None) for i, k in enumerate(keys)}
        rows.append(row)
    return rows, keys


def row_values(row: Any, columns: Sequence[str] | None) -> list[Any]:
    """The cells of one row in column order; a list row is taken as it is."""
    if isinstance(row, dict):
        if columns is None:
            return list(row.values())
        return [row.get(c) for c in columns]
    if isinstance(row, list | tuple):
        return list(row)
    return [row]


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def csv_cell(value: Any) -> Any:
    """A value as the csv module should write it: null empty, booleans true/false,
    numbers as JavaScript prints them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return js_number_to_string(value)  # as JavaScript prints it: 950, not 950.0
    if isinstance(value, int | str):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return _text(value)
    return str(value)


def xlsx_cell(value: Any, iso_dates: bool) -> Any:
    """A value as an XLSX cell takes it: objects as JSON text, ISO text as a date when asked.

    Time-zone aware date-times are stored in UTC (Excel has no time zones).
    """
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return None
        return value
    if isinstance(value, str):
        if iso_dates and _ISO.fullmatch(value):
            parsed = _parse_iso(value)
            if parsed is not None:
                return parsed
        return _ILLEGAL.sub("", value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date | dt.time):
        return value
    if isinstance(value, dict | list):
        return _ILLEGAL.sub("", _text(value))
    return _ILLEGAL.sub("", str(value))


def _parse_iso(text: str) -> dt.date | dt.datetime | None:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def iso_time(timestamp: float) -> str:
    """A POSIX timestamp as ISO 8601 UTC with milliseconds (``2026-11-30T01:02:03.456Z``)."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
