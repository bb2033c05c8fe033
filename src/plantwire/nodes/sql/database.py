"""sql-database: the config node that owns one SQLAlchemy async engine (connection pool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from plantwire.runtime.node import Node
from plantwire.spec import LooseFloat, LooseInt, NodeConfig, node_type

from .convert_codec import mask

__all__ = ["SqlDatabaseConfig", "SqlDatabaseNode", "resolve_url"]

DRIVERS = (
    "sqlite+aiosqlite",
    "postgresql+asyncpg",
    "mysql+aiomysql",
    "mariadb+aiomysql",
    "mssql+aioodbc",
)
"""SQLAlchemy async drivers offered; MS SQL Server needs ``pip install aioodbc`` and an ODBC
driver on the machine, and is not tested here (no server on the test machine)."""


def _parse(url: str) -> URL:
    try:
        return make_url(url.strip())
    except ArgumentError as exc:
        raise ValueError(f"url: '{url}' is not a database URL ({exc})") from None


def resolve_url(url: str, data_dir: Path, user: str = "", password: str = "") -> URL:
    """The engine URL: credentials merged in, a relative SQLite path under ``data_dir``."""
    parsed = _parse(url)
    if user:
        parsed = parsed.set(username=user)
    if password:
        parsed = parsed.set(password=password)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not db.startswith("file:") and not Path(db).is_absolute():
            parsed = parsed.set(database=str(data_dir / db))
    return parsed


class SqlDatabaseConfig(NodeConfig):
    """The sql-database node as it appears in flows.json (the password is a credential)."""

    url: str = Field(
        "",
        description="SQLAlchemy URL without the password: sqlite+aiosqlite:///plant.db "
        "(relative to the data folder), postgresql+asyncpg://user@host:5432/db, "
        "mysql+aiomysql://user@host:3306/db or mssql+aioodbc://user@dsn (MS SQL Server: "
        "needs the aioodbc package and an ODBC driver; untested).",
    )
    poolSize: LooseInt = Field(5, description="Connections kept open in the pool.")
    maxOverflow: LooseInt = Field(
        10, description="Extra connections opened above poolSize under load."
    )
    poolTimeout: LooseFloat = Field(
        30, description="Seconds a query waits for a free connection before it fails."
    )

    @model_validator(mode="after")
    def _check(self) -> SqlDatabaseConfig:
        if not self.url.strip():
            raise ValueError("url: the database URL is empty")
        parsed = _parse(self.url)
        if parsed.drivername not in DRIVERS:
            raise ValueError(
                f"url: driver '{parsed.drivername}' is not one of {', '.join(DRIVERS)}"
            )
        if parsed.password:
            raise ValueError("url: put the password in the credentials, not in the URL")
        if self.poolSize < 1:
            raise ValueError("poolSize: must be at least 1")
        if self.maxOverflow < 0:
            raise ValueError("maxOverflow: must not be negative")
        if self.poolTimeout <= 0:
            raise ValueError("poolTimeout: must be positive")
        return self


@node_type("sql-database")
class SqlDatabaseNode(Node):
    """A SQL database (PostgreSQL, MariaDB/MySQL or SQLite), shared by every sql-query
    node that uses it.

    One connection pool per database node: the first user opens the engine, the last
    one to close disposes it. The password is kept as a credential and never shown in
    a status, log line or error message. A relative SQLite path lies in the data folder.
    """

    config_model = SqlDatabaseConfig
    credential_fields: ClassVar[dict[str, str]] = {"user": "text", "password": "password"}
    is_config = True
    category = "config"
    color = "#C0DEED"
    icon = "db.svg"

    def __init__(self, flow: Any, config: SqlDatabaseConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.users: dict[str, Node] = {}
        self.engine: AsyncEngine | None = None

    @property
    def secrets(self) -> list[str]:
        """Texts that must never appear in a message (the password, the full URL)."""
        password = str(self.credentials.get("password") or "")
        if not password:
            return []
        return [self._url().render_as_string(hide_password=False), password]

    @property
    def url(self) -> URL:
        """The engine URL, credentials included (never show it: see ``label``)."""
        return self._url()

    def _url(self) -> URL:
        return resolve_url(
            self.cfg.url,
            self.flow.runtime.settings.data_dir,
            str(self.credentials.get("user") or ""),
            str(self.credentials.get("password") or ""),
        )

    @property
    def label(self) -> str:
        """The URL with the password hidden, or the node's name."""
        return self.name or self._url().render_as_string(hide_password=True)

    def mask(self, text: str) -> str:
        """``text`` with the password (and a URL carrying it) replaced by ``***``."""
        return mask(text, self.secrets)

    def get_engine(self) -> AsyncEngine:
        """The shared engine, created on first use."""
        if self.engine is None:
            url = self._url()
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:"):
                kwargs.update(
                    pool_size=self.cfg.poolSize,
                    max_overflow=self.cfg.maxOverflow,
                    pool_timeout=self.cfg.poolTimeout,
                )
            if url.get_backend_name() == "sqlite":
                Path(url.database or ".").parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(url, **kwargs)
        return self.engine

    def register(self, node: Node) -> None:
        """A node starts using the database."""
        self.users[node.id] = node

    async def deregister(self, node: Node) -> None:
        """A node stops using the database; after the last one the pool is closed."""
        self.users.pop(node.id, None)
        if not self.users:
            await self._dispose()

    async def _dispose(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            await engine.dispose()

    async def close(self, removed: bool) -> None:
        self.users.clear()
        await self._dispose()
