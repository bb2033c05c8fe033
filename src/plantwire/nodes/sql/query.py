"""sql-query: run a SQL statement with named parameters from the message, or write
messages in batches (one executemany in one transaction)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import text

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseFloat, LooseInt, NodeConfig, node_type

from .convert_codec import error_message, json_rows
from .database import SqlDatabaseNode

__all__ = ["SqlQueryConfig", "SqlQueryNode"]

MODES = ("query", "batch")


class SqlQueryConfig(NodeConfig):
    """The sql-query node as it appears in flows.json."""

    database: str = Field("", description="Id of the sql-database config node.")
    query: str = Field(
        "",
        description="SQL with named parameters (:name) bound from msg.params, or from "
        "msg.payload when it is an object. Empty: the SQL comes from msg.sql.",
    )
    mode: str = Field(
        "query",
        description="query: one statement per message; batch: gather messages and write "
        "them with one executemany in one transaction.",
    )
    batchSize: LooseInt = Field(
        100, description="Batch mode: write when this many messages are waiting."
    )
    batchTime: LooseFloat = Field(
        1000,
        description="Batch mode: write at most this many milliseconds after the first "
        "waiting message (whichever comes first).",
    )

    @model_validator(mode="after")
    def _check(self) -> SqlQueryConfig:
        if not self.database:
            raise ValueError("database: no sql-database config node is selected")
        if self.mode not in MODES:
            raise ValueError(f"mode: '{self.mode}' is not one of {', '.join(MODES)}")
        if self.mode == "batch" and not self.query.strip():
            raise ValueError("query: batch mode needs the SQL in the node")
        if self.batchSize < 1:
            raise ValueError("batchSize: must be at least 1")
        if self.batchTime <= 0:
            raise ValueError("batchTime: must be positive")
        return self


def _params(msg: Msg) -> dict[str, Any]:
    params = msg.get("params")
    if isinstance(params, dict):
        return params
    payload = msg.get("payload")
    if isinstance(payload, dict):
        return payload
    return {}


def _short(sql: str, limit: int = 200) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@node_type("sql-query")
class SqlQueryNode(Node):
    """Runs SQL on a database and sends the result.

    Parameters are written ``:name`` in the SQL and bound from ``msg.params`` (an
    object), or from ``msg.payload`` when it is an object: values are sent to the
    database separately and are never pasted into the SQL text, so a value cannot
    change the statement. When the node's query is empty the SQL comes from ``msg.sql``.

    A SELECT sends ``msg.payload`` = a list of row objects (numbers as numbers, dates
    and times as ISO text); INSERT, UPDATE and DELETE send ``msg.payload =
    {"rowCount": n}``. In batch mode messages are gathered until ``batchSize`` are
    waiting or ``batchTime`` ms passed, then written with one executemany in one
    transaction; one message with ``{"rowCount": n, "count": messages}`` follows.
    A database error (syntax, unknown table, connection refused) reaches catch nodes
    with the database's message and the query; the pool keeps working.
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

    async def start(self) -> None:
        db = self.flow.get_node(self.cfg.database)
        if not isinstance(db, SqlDatabaseNode):
            self.status("red", "ring", "no database")
            self.error(f"sql-database config node '{self.cfg.database}' not found")
            return
        self.db = db
        db.register(self)
        self.status({})

    async def close(self, removed: bool) -> None:
        self.cancel_timer(self._timer)
        self._timer = None
        if self.db is not None:
            if self._pending:
                await self._flush()
            await self.db.deregister(self)
            self.db = None

    # ----- messages -------------------------------------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.db is None:
            self.error("no sql-database config node", msg)
            return
        if self.cfg.mode == "batch":
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
        try:
            async with self.db.get_engine().begin() as conn:
                result = await conn.execute(text(sql), _params(msg))
                if result.returns_rows:
                    msg["payload"] = json_rows(result.mappings().all())
                else:
                    msg["payload"] = {"rowCount": result.rowcount}
        except Exception as exc:
            self._fail(exc, sql, msg)
            return
        self.status("green", "dot", "ok")
        send(msg)

    # ----- batch mode -----------------------------------------------------------------

    def _on_timer(self) -> None:
        self._timer = None
        self.create_task(self._flush())

    async def _flush(self) -> None:
        async with self._lock:
            self.cancel_timer(self._timer)
            self._timer = None
            batch, self._pending = self._pending, []
            if not batch or self.db is None:
                return
            sql = self.cfg.query
            try:
                async with self.db.get_engine().begin() as conn:
                    result = await conn.execute(text(sql), [_params(m) for m in batch])
                    count = result.rowcount
            except Exception as exc:
                self._fail(exc, sql, batch[-1], f"batch of {len(batch)} rolled back: ")
                return
            out = dict(batch[-1])
            out["payload"] = {"rowCount": count if count >= 0 else len(batch), "count": len(batch)}
            self.status("green", "dot", f"{len(batch)} written")
            self.send(out)

    # ----- errors ---------------------------------------------------------------------

    def _fail(self, exc: BaseException, sql: str, msg: Msg, prefix: str = "") -> None:
        db = self.db
        where = db.label if db is not None else "database"
        text_ = f"{where}: {prefix}{error_message(exc)} (query: {_short(sql)})"
        if db is not None:
            text_ = db.mask(text_)
        self.status("red", "ring", "error")
        self.error(text_, msg)
