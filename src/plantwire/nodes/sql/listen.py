"""pg-listen: PostgreSQL LISTEN/NOTIFY as a message source."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from pydantic import Field, model_validator

from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseFloat, NodeConfig, config_ref, node_type

from .convert_codec import check_identifier, error_message
from .database import SqlDatabaseNode

__all__ = ["PgListenConfig", "PgListenNode"]


class PgListenConfig(NodeConfig):
    """The pg-listen node as it appears in flows.json."""

    database: str = config_ref("sql-database", "Id of a sql-database config node (PostgreSQL).")
    channels: str = Field("", description="Comma-separated channels to LISTEN on.")
    parseJson: LooseBool = Field(
        True, description="Parse a payload that is JSON text into an object (else keep text)."
    )
    reconnect: LooseFloat = Field(
        2.0, description="Seconds before the first reconnect attempt (doubles up to 60)."
    )

    @model_validator(mode="after")
    def _check(self) -> PgListenConfig:
        if not self.database:
            raise ValueError("database: no sql-database config node is selected")
        names = [c.strip() for c in self.channels.split(",") if c.strip()]
        if not names:
            raise ValueError("channels: give at least one channel")
        for name in names:
            check_identifier(name, "channels")
        if self.reconnect <= 0:
            raise ValueError("reconnect: must be positive")
        return self


@node_type("pg-listen")
class PgListenNode(Node):
    """Sends a message for every PostgreSQL notification on its channels
    (``NOTIFY channel, 'text'`` or ``pg_notify('channel', 'text')``, often from a trigger).

    ``msg.payload`` is the notification's text (parsed when it is JSON and ``parseJson`` is
    on), ``msg.topic`` the channel, ``msg.pid`` the notifying backend's process id. The
    node holds one connection of its own (not from the pool) and reconnects with backoff
    when it is lost; PostgreSQL does not keep notifications for a listener that is not
    connected, so those sent during an outage are not received — a trigger that also
    writes a row lets a flow catch up with a query after ``msg.topic`` = ``"reconnected"``
    (sent once the connection is back).
    """

    config_model = PgListenConfig
    category = "storage"
    color = "#C0DEED"
    icon = "db.svg"
    inputs = 0

    def __init__(self, flow: Any, config: PgListenConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.channels = [c.strip() for c in config.channels.split(",") if c.strip()]
        self.db: SqlDatabaseNode | None = None
        self.conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        db = self.flow.get_node(self.cfg.database)
        if not isinstance(db, SqlDatabaseNode):
            self.status("red", "ring", "no database")
            self.error(f"sql-database config node '{self.cfg.database}' not found")
            return
        if db.url.get_backend_name() != "postgresql":
            self.status("red", "ring", "not PostgreSQL")
            self.error(f"database {db.label}: LISTEN/NOTIFY needs PostgreSQL")
            return
        self.db = db
        self._task = self.create_task(self._run())

    async def close(self, removed: bool) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._disconnect()

    async def _disconnect(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _run(self) -> None:
        assert self.db is not None
        delay, first = self.cfg.reconnect, True
        dsn = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            self.status("yellow", "ring", "connecting")
            try:
                conn = await asyncpg.connect(dsn, timeout=10)
                self._lost.clear()
                conn.add_termination_listener(lambda _c: self._lost.set())
                for channel in self.channels:
                    await conn.add_listener(channel, self._on_notify)
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                text = self.db.mask(f"database {self.db.label}: {error_message(exc)}")
                self.status("red", "ring", "disconnected")
                if first:
                    self.error(f"{text}; retrying every {delay:g} s or more")
                first = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            self.conn = conn
            self.status("green", "dot", f"listening on {', '.join(self.channels)}")
            if not first:
                self.send({"topic": "reconnected", "payload": self.channels})
            first, delay = False, self.cfg.reconnect
            await self._watch(conn)
            await self._disconnect()

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Return when the connection is lost (a termination event or a failed probe)."""
        while not self._lost.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lost.wait(), 5.0)
            if self._lost.is_set() or conn.is_closed():
                return
            try:  # a cut link does not always terminate the connection by itself
                await asyncio.wait_for(conn.execute("SELECT 1"), 5.0)
            except Exception:
                return

    def _on_notify(self, _conn: Any, pid: int, channel: str, payload: str) -> None:
        value: Any = payload
        if self.cfg.parseJson:
            with contextlib.suppress(ValueError):
                value = json.loads(payload)
        self.send({"topic": channel, "payload": value, "pid": pid})
