"""The SQL backends under test: SQLite in the data folder, PostgreSQL and MariaDB on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import require_service

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MARIA_URL = "mysql+aiomysql://root@127.0.0.1:3306/test"


@dataclass
class Backend:
    """One database under test: the URL the node gets, an engine for setup, a table."""

    name: str
    node_url: str
    engine: AsyncEngine
    table: str

    async def sql(self, statement: str, params: Any = None) -> list[dict[str, Any]]:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(statement), params or {})
            return [dict(r) for r in result.mappings().all()] if result.returns_rows else []


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "postgresql":
        require_service("PostgreSQL", 5432)
        node_url = engine_url = PG_URL
    elif request.param == "mariadb":
        require_service("MariaDB", 3306)
        node_url = engine_url = MARIA_URL
    else:
        node_url = "sqlite+aiosqlite:///plant.db"  # relative: lies in the data folder
        engine_url = f"sqlite+aiosqlite:///{tmp_path / 'plant.db'}"
    engine = create_async_engine(engine_url)
    table = f"t_{uuid.uuid4().hex[:12]}"
    be = Backend(request.param, node_url, engine, table)
    await be.sql(
        f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(200), "
        "amount NUMERIC(10,2), ts TIMESTAMP NULL)"
    )
    yield be
    await be.sql(f"DROP TABLE IF EXISTS {table}")
    await engine.dispose()
