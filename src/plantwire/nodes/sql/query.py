"""sql-query: run a SQL statement with named parameters from the message, or write
messages in batches (one executemany in one transaction)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy import text
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from plantwire.nodes.common.outbox import Outbox, OutboxConfig
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseFloat, LooseInt, choices, config_ref, node_type

from .convert_codec import check_identifier, error_message, is_read, is_transient, json_rows
from .database import SqlDatabaseNode

__all__ = ["SqlQueryConfig", "SqlQueryNode", "upsert_statement"]

MODES = ("query", "batch", "upsert")


class SqlQueryConfig(OutboxConfig):
    """The sql-query node as it appears in flows.json."""

    database: str = config_ref("sql-database", "Id of the sql-database config node.")
    query: str = Field(
        "",
        description="SQL with named parameters (:name) bound from msg.params, or from "
        "msg.payload when it is an object. Empty: the SQL comes from msg.sql.",
    )
    mode: str = Field(
        "query",
        json_schema_extra=choices(*MODES),
        description="query: one statement per message; batch: gather messages and write "
        "them with one executemany in one transaction; upsert: insert each message's "
        "object as a row of `table`, updating the row whose `keys` columns match.",
    )
    table: str = Field("", description="Upsert mode: the table (name or schema.name).")
    keys: str = Field(
        "",
        description="Upsert mode: comma-separated key columns (a primary key or unique "
        "constraint) that identify the row to update.",
    )
    columns: str = Field(
        "",
        description="Upsert mode: comma-separated columns written; empty: the keys of "
        "each message's object.",
    )
    batchSize: LooseInt = Field(
        100, description="Batch and upsert modes: write when this many messages are waiting."
    )
    batchTime: LooseFloat = Field(
        1000,
        description="Batch and upsert modes: write at most this many milliseconds after "
        "the first waiting message (whichever comes first).",
    )

    @model_validator(mode="after")
    def _check(self) -> SqlQueryConfig:
        if not self.database:
            raise ValueError("database: no sql-database config node is selected")
        if self.mode not in MODES:
            raise ValueError(f"mode: '{self.mode}' is not one of {', '.join(MODES)}")
        if self.mode == "batch" and not self.query.strip():
            raise ValueError("query: batch mode needs the SQL in the node")
        if self.mode == "upsert":
            if not self.table.strip():
                raise ValueError("table: upsert mode needs the table")
            for part in self.table.strip().split("."):
                check_identifier(part, "table")
            if not _names(self.keys):
                raise ValueError("keys: upsert mode needs the key columns")
            for name in _names(self.keys) + _names(self.columns):
                check_identifier(name, "keys" if name in _names(self.keys) else "columns")
        if self.batchSize < 1:
            raise ValueError("batchSize: must be at least 1")
        if self.batchTime <= 0:
            raise ValueError("batchTime: must be positive")
        return self


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _params(msg: Msg) -> dict[str, Any] | list[dict[str, Any]]:
    params = msg.get("params")
    if isinstance(params, dict | list):
        return params
    payload = msg.get("payload")
    if isinstance(payload, dict):
        return payload
    return {}


def _short(sql: str, limit: int = 200) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Failed(Exception):
    """A statement failed: carries the text for catch nodes, and the original error."""

    def __init__(self, text: str, cause: BaseException) -> None:
        super().__init__(text)
        self.cause = cause


@node_type("sql-query")
class SqlQueryNode(Node):
    """Runs SQL on a database and sends the result.

    Parameters are written ``:name`` in the SQL and bound from ``msg.params`` (an
    object, or a list of objects to run the statement once per object), or from
    ``msg.payload`` when it is an object: values are sent to the database separately and
    are never pasted into the SQL text, so a value cannot change the statement. When the
    node's query is empty the SQL comes from ``msg.sql``.

    A SELECT sends ``msg.payload`` = a list of row objects (numbers as numbers, dates
    and times as ISO text); INSERT, UPDATE and DELETE send ``msg.payload =
    {"rowCount": n}``. In batch mode messages are gathered until ``batchSize`` are
    waiting or ``batchTime`` ms passed, then written with one executemany in one
    transaction; one message with ``{"rowCount": n, "count": messages}`` follows. Upsert
    mode writes each message's object as a row of ``table``: inserted, or updating the
    row with the same ``keys`` (PostgreSQL and SQLite ON CONFLICT, MariaDB/MySQL ON
    DUPLICATE KEY), gathered like batch mode.

    Writes are never lost to an outage: while the database is unreachable, statements
    that write (and every batch and upsert) wait on disk in the store-and-forward queue
    and are written in order when it is back (``spool``; the first failure reaches catch
    nodes saying so). Reads run at once. An error in the statement or its data (syntax,
    unknown table, a parameter of the wrong type, a duplicate key) reaches catch nodes
    with the database's message and the query, and is not retried.
    """

    config_model = SqlQueryConfig
    category = "storage"
    color = "#C0DEED"
    icon = "db.svg"

    def __init__(self, flow: Any, config: SqlQueryConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.db: SqlDatabaseNode | None = None
        self._pending: list[Msg] = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self.outbox: Outbox | None = None

    async def start(self) -> None:
        db = self.flow.get_node(self.cfg.database)
        if not isinstance(db, SqlDatabaseNode):
            self.status("red", "ring", "no database")
            self.error(f"sql-database config node '{self.cfg.database}' not found")
            return
        self.db = db
        db.register(self)
        self.outbox = Outbox(
            self,
            self.cfg,
            self._deliver,
            remote=db.label,
            is_transient=lambda exc: is_transient(getattr(exc, "cause", exc)),
        )
        await self.outbox.start(up=True)
        self.status({})

    async def close(self, removed: bool) -> None:
        self.cancel_timer(self._timer)
        self._timer = None
        if self.db is not None:
            if self._pending:
                await self._flush()
            if self.outbox is not None:
                await self.outbox.stop()
                self.outbox = None
            await self.db.deregister(self)
            self.db = None

    # ----- messages -------------------------------------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.db is None or self.outbox is None:
            self.error("no sql-database config node", msg)
            return
        if self.cfg.mode != "query":
            self._pending.append(msg)
            if len(self._pending) >= self.cfg.batchSize:
                await self._flush()
            elif self._timer is None:
                self._timer = self.call_later(self.cfg.batchTime / 1000.0, self._on_timer)
            return
        sql = self.cfg.query if self.cfg.query.strip() else msg.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            self.error("no SQL: the node's query is empty and msg.sql is not a text", msg)
            return
        if is_read(sql):
            try:
                await self._deliver(msg)
            except _Failed as exc:
                self._fail(str(exc), msg)
            return
        await self.outbox.submit(msg)

    async def _deliver(self, msg: Msg) -> None:
        """Run the statement(s) of one message in one transaction and send the result on;
        raises _Failed with the text for catch nodes."""
        db = self.db
        if db is None:
            raise _Failed("no sql-database config node", RuntimeError("no database"))
        batch = msg.get("params") if msg.get("sqlBatch") else None
        sql = self.cfg.query if self.cfg.query.strip() else msg.get("sql")
        try:
            async with db.get_engine().begin() as conn:
                if self.cfg.mode == "upsert":
                    rows = batch if isinstance(batch, list) else [_params(msg)]
                    count = await self._upsert(conn, rows)
                    msg["payload"] = {"rowCount": count, "count": len(rows)}
                else:
                    if not isinstance(sql, str):
                        raise ValueError("no SQL: msg.sql is not a text")
                    params = _params(msg)
                    result = await conn.execute(text(sql), params)
                    if result.returns_rows:
                        msg["payload"] = json_rows(result.mappings().all())
                    elif isinstance(params, list):  # executemany: some drivers count -1
                        n, count = len(params), result.rowcount
                        msg["payload"] = {"rowCount": count if count >= 0 else n, "count": n}
                    else:
                        msg["payload"] = {"rowCount": result.rowcount}
        except _Failed:
            raise
        except Exception as exc:
            prefix = f"batch of {len(batch)} rolled back: " if isinstance(batch, list) else ""
            what = sql if isinstance(sql, str) and self.cfg.mode != "upsert" else self._what()
            text_ = f"{db.label}: {prefix}{error_message(exc)} (query: {_short(what)})"
            self.status("red", "ring", "unreachable" if is_transient(exc) else "error")
            raise _Failed(db.mask(text_), exc) from exc
        msg.pop("sqlBatch", None)
        if isinstance(batch, list):
            self.status("green", "dot", f"{len(batch)} written")
        else:
            self.status("green", "dot", "ok")
        self.send(msg)

    def _what(self) -> str:
        return f"upsert into {self.cfg.table} on {self.cfg.keys}"

    async def _upsert(self, conn: Any, rows: list[Any]) -> int:
        """Insert-or-update ``rows`` (objects) into the table; returns the rows touched."""
        if conn.dialect.name not in ("postgresql", "sqlite", "mysql", "mariadb"):
            raise ValueError(f"upsert is not available for {conn.dialect.name}")
        keys = _names(self.cfg.keys)
        fixed = _names(self.cfg.columns)
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            if not isinstance(row, dict):
                raise ValueError(f"upsert needs an object per message, not {type(row).__name__}")
            cols = tuple(fixed) if fixed else tuple(row)
            for name in cols:
                check_identifier(name, "column")
            missing = [k for k in keys if k not in cols]
            if missing:
                raise ValueError(f"upsert row lacks key column(s) {', '.join(missing)}")
            groups.setdefault(cols, []).append({c: row.get(c) for c in cols})
        total = 0
        for cols, params in groups.items():
            stmt = upsert_statement(conn.dialect.name, self.cfg.table.strip(), cols, keys)
            result = await conn.execute(stmt, params)
            total += max(result.rowcount, 0) if result.rowcount is not None else 0
        return total

    # ----- batch mode -----------------------------------------------------------------

    def _on_timer(self) -> None:
        self._timer = None
        self.create_task(self._flush())

    async def _flush(self) -> None:
        async with self._lock:
            self.cancel_timer(self._timer)
            self._timer = None
            batch, self._pending = self._pending, []
            if not batch or self.outbox is None:
                return
            out = dict(batch[-1])
            out["params"] = [_params(m) for m in batch]
            out["sqlBatch"] = True
            await self.outbox.submit(out)

    # ----- errors ---------------------------------------------------------------------

    def _fail(self, text_: str, msg: Msg) -> None:
        self.status("red", "ring", "error")
        self.error(text_, msg)


def upsert_statement(dialect: str, table_name: str, cols: tuple[str, ...], keys: list[str]) -> Any:
    """An INSERT ... ON CONFLICT / ON DUPLICATE KEY UPDATE for ``dialect`` (identifiers
    quoted by SQLAlchemy; values bound)."""
    schema, _, name = table_name.rpartition(".")
    tbl = sa_table(name, *[sa_column(c) for c in cols], schema=schema or None)
    updates = [c for c in cols if c not in keys]
    if dialect in ("mysql", "mariadb"):
        my = mysql_insert(tbl)
        if not updates:  # nothing to update: a no-op assignment keeps the row
            return my.prefix_with("IGNORE")
        return my.on_duplicate_key_update({c: my.inserted[c] for c in updates})
    ins = pg_insert(tbl) if dialect == "postgresql" else sqlite_insert(tbl)
    if not updates:
        return ins.on_conflict_do_nothing(index_elements=keys)
    return ins.on_conflict_do_update(
        index_elements=keys, set_={c: ins.excluded[c] for c in updates}
    )
