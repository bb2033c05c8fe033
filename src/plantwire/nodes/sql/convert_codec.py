"""Pure helpers of the SQL nodes (no I/O): JSON-friendly row values, password masking,
database error texts."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

__all__ = [
    "check_identifier",
    "error_message",
    "is_read",
    "is_transient",
    "json_rows",
    "json_value",
    "mask",
]

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


# ----- what kind of failure: wait and retry, or give up ---------------------------------

_MYSQL_CONNECTION_CODES = frozenset({1040, 1053, 2002, 2003, 2006, 2013, 2055})
"""Too many connections, server shutdown, can't connect, server gone away, lost connection."""
_PG_TRANSIENT_STATES = ("08", "57P", "53300")
"""Connection exceptions, operator intervention (shutdown, starting up), too many connections."""
_TRANSIENT_TEXTS = ("database is locked", "connection refused", "connection was closed")


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be reached (refused, lost, shutting
    down, pool timeout, SQLite locked): worth waiting and retrying. False for an error in
    the statement or its data (syntax, constraint, wrong type), which no retry cures."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        err = todo.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, OSError | TimeoutError):
            return True
        if getattr(err, "connection_invalidated", False):
            return True
        if type(err).__name__ in ("DisconnectionError", "TimeoutError", "InterfaceError"):
            return True
        state = getattr(err, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_PG_TRANSIENT_STATES):
            return True
        args: tuple[Any, ...] = tuple(getattr(err, "args", ()))
        if args and isinstance(args[0], int) and args[0] in _MYSQL_CONNECTION_CODES:
            return True
        if any(t in str(err).lower() for t in _TRANSIENT_TEXTS):
            return True
        for nxt in (err.__cause__, err.__context__, getattr(err, "orig", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return False


_LEADING = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.S)
_READS = frozenset({"select", "with", "show", "explain", "values", "pragma", "describe", "table"})


def is_read(sql: str) -> bool:
    """True for a statement that only reads (SELECT, WITH, SHOW, EXPLAIN, ...): its rows
    are wanted now, so it never waits in the store-and-forward queue."""
    rest = _LEADING.sub("", sql, count=1)
    word = re.match(r"[A-Za-z]+", rest)
    return word is not None and word.group(0).lower() in _READS


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: str, what: str) -> str:
    """``name`` when it is a plain SQL identifier (letters, digits, _), else ValueError
    naming ``what``; identifiers are quoted by the dialect when the statement is built."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"{what}: {name!r} is not a plain column or table name")
    return name
