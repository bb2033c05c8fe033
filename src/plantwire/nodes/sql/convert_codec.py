"""Pure helpers of the SQL nodes (no I/O): JSON-friendly row values, password masking,
database error texts."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

__all__ = ["error_message", "json_rows", "json_value", "mask"]

MASK = "***"
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")


def json_value(value: Any) -> Any:
    """A value a database driver returned, as JSON can carry it: Decimal -> float,
    date/time -> ISO 8601 text, interval -> seconds, UUID -> text; bytes stay bytes
    (a Node-RED Buffer); lists and dicts (JSON columns, arrays) are converted inside."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_value(v) for v in value]
    return str(value)


def json_rows(rows: Iterable[Mapping[Any, Any]]) -> list[dict[str, Any]]:
    """Result rows as a list of dicts of JSON-friendly values."""
    return [{str(k): json_value(v) for k, v in row.items()} for row in rows]


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def error_message(exc: BaseException) -> str:
    """The database's own message for ``exc``: for a SQLAlchemy DBAPIError the driver's
    text (without SQLAlchemy's ``[SQL: ...]`` and parameter dump), else ``str(exc)``."""
    orig = getattr(exc, "orig", None)
    base = orig if isinstance(orig, BaseException) else exc
    text = str(base).strip()
    if isinstance(base, OSError) and base.strerror:
        text = base.strerror
    if not text:
        text = type(base).__name__
    cut = text.find("\n[SQL:")
    if cut >= 0:
        text = text[:cut]
    args: tuple[Any, ...] = tuple(getattr(base, "args", ()))
    # aiomysql/pymysql errors are (code, message) tuples
    if (
        not isinstance(base, OSError)
        and len(args) == 2
        and isinstance(args[0], int)
        and isinstance(args[1], str)
    ):
        text = f"({args[0]}) {args[1]}"
    text = _BACKGROUND.sub("", text)
    if text.startswith("A value is required for bind parameter"):
        text += " (give it in msg.params, or in msg.payload as an object)"
    return " ".join(text.split())
