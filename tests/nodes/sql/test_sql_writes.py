"""sql-query writes: upsert on every backend, executemany from msg.params, a parameter of
the wrong type, and store-and-forward while PostgreSQL is unreachable (through a proxy)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from plantwire.nodes.sql.query import SqlQueryNode
from plantwire.runtime.runtime import Runtime
from tests.conftest import require_service
from tests.flowkit import until
from tests.nodes.sql.conftest import PG_URL, Backend
from tests.nodes.sql.test_sql import _ask, _deploy, _flow, _got, _wait
from tests.tcp_proxy import TcpProxy


async def test_upsert_inserts_then_updates_by_key(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    t = backend.table
    flow = _flow(
        backend.node_url, "", mode="upsert", table=t, keys="id", batchSize="1", batchTime="50"
    )
    rt = await _deploy(make_runtime, flow)
    out = await _ask(rt, {"payload": {"id": 1, "name": "filler", "amount": 1.5}})
    assert out["payload"]["count"] == 1
    await _ask(rt, {"payload": {"id": 2, "name": "capper", "amount": 2}})
    await _ask(rt, {"payload": {"id": 1, "name": "filler-2", "amount": 9}})
    rows = await backend.sql(f"SELECT id, name, amount FROM {t} ORDER BY id")
    assert [(r["id"], r["name"], float(r["amount"])) for r in rows] == [
        (1, "filler-2", 9.0),
        (2, "capper", 2.0),
    ]
    # a column name that is not a plain identifier is refused, nothing written
    err = await _ask(rt, {"payload": {"id": 3, "name; DROP": "x"}}, "err")
    assert "not a plain column" in err["error"]["message"]
    assert len(await backend.sql(f"SELECT id FROM {t}")) == 2


async def test_upsert_batches_by_count(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    t = backend.table
    flow = _flow(
        backend.node_url, "", mode="upsert", table=t, keys="id", batchSize="4", batchTime="60000"
    )
    rt = await _deploy(make_runtime, flow)
    q = rt.get_node("q")
    assert q is not None
    for i, name in ((1, "a"), (2, "b"), (1, "a2"), (3, "c")):
        rt.deliver(q, {"payload": {"id": i, "name": name}})
    out = await _wait(rt, "out", 1)
    assert out[0]["payload"]["count"] == 4
    rows = await backend.sql(f"SELECT id, name FROM {t} ORDER BY id")
    assert rows == [{"id": 1, "name": "a2"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]


async def test_params_list_runs_the_statement_per_object(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    t = backend.table
    sql = f"INSERT INTO {t} (id, name) VALUES (:id, :name)"
    rt = await _deploy(make_runtime, _flow(backend.node_url, sql))
    out = await _ask(rt, {"params": [{"id": i, "name": f"n{i}"} for i in range(3)]})
    assert out["payload"]["rowCount"] == 3
    assert len(await backend.sql(f"SELECT id FROM {t}")) == 3


async def test_parameter_of_the_wrong_type_reaches_catch_and_is_not_retried(
    make_runtime: Callable[..., Runtime],
) -> None:
    require_service("PostgreSQL", 5432)
    engine = create_async_engine(PG_URL)
    t = f"t_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, qty INTEGER)"))
    try:
        sql = f"INSERT INTO {t} (id, qty) VALUES (:id, :qty)"
        rt = await _deploy(make_runtime, _flow(PG_URL, sql))
        err = await _ask(rt, {"payload": {"id": 1, "qty": "twelve"}}, "err")
        message = err["error"]["message"]
        assert "INSERT INTO" in message and ("qty" in message or "int" in message.lower())
        assert err["payload"] == {"id": 1, "qty": "twelve"}  # the message itself is kept
        q = rt.get_node("q")
        assert isinstance(q, SqlQueryNode) and q.outbox is not None
        assert q.outbox.pending == 0  # not queued for retry
        out = await _ask(rt, {"payload": {"id": 2, "qty": 12}})
        assert out["payload"] == {"rowCount": 1}
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {t}"))
        await engine.dispose()


@pytest.fixture
async def pg_table() -> AsyncIterator[tuple[str, Any]]:
    require_service("PostgreSQL", 5432)
    engine = create_async_engine(PG_URL)
    t = f"t_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v TEXT)"))
    yield t, engine
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {t}"))
    await engine.dispose()


async def _rows(engine: Any, t: str) -> list[int]:
    async with engine.begin() as conn:
        result = await conn.execute(text(f"SELECT id FROM {t} ORDER BY id"))
        return [r[0] for r in result]


async def test_writes_wait_while_the_database_is_down_and_arrive_in_order(
    make_runtime: Callable[..., Runtime], pg_table: tuple[str, Any]
) -> None:
    t, engine = pg_table
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.open()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/test"
    sql = f"INSERT INTO {t} (id, v) VALUES (:id, :v)"
    rt = await _deploy(make_runtime, _flow(url, sql))
    q = rt.get_node("q")
    assert q is not None
    await _ask(rt, {"payload": {"id": 0, "v": "before"}})
    await proxy.close()
    for i in range(1, 21):
        rt.deliver(q, {"payload": {"id": i, "v": "during"}})
    errs = await _wait(rt, "err", 1)
    assert "waits in the store-and-forward queue" in errs[0]["error"]["message"]
    assert errs[0]["payload"] == {"id": 1, "v": "during"}
    await asyncio.sleep(0.5)
    assert len(_got(rt, "err")) == 1  # one report per outage, not one per message
    assert await _rows(engine, t) == [0]
    await proxy.open()

    async def all_written() -> bool:
        return await _rows(engine, t) == list(range(21))

    await until(all_written, 20.0, "every row written")
    await _wait(rt, "out", 21)  # every queued write sent its result on, in order
    assert [m["payload"] for m in _got(rt, "out")][-1] == {"rowCount": 1}
    await proxy.close()


async def test_queued_writes_survive_a_restart(
    make_runtime: Callable[..., Runtime], pg_table: tuple[str, Any]
) -> None:
    t, engine = pg_table
    proxy = TcpProxy("127.0.0.1", 5432)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/test"
    flow = _flow(
        url,
        f"INSERT INTO {t} (id, v) VALUES (:id, :v)",
        mode="batch",
        batchSize="5",
        batchTime="100",
    )
    rt = await _deploy(make_runtime, flow)  # the proxy is down: the database is unreachable
    q = rt.get_node("q")
    assert q is not None
    for i in range(12):
        rt.deliver(q, {"payload": {"id": i, "v": "x"}})
    await _wait(rt, "err", 1)
    await asyncio.sleep(0.3)
    await rt.stop()  # pending messages are flushed into the queue on close
    assert await _rows(engine, t) == []
    await proxy.open()
    rt2 = make_runtime()
    await rt2.open()
    await rt2.deploy(flow)

    async def all_written() -> bool:
        return await _rows(engine, t) == list(range(12))

    await until(all_written, 20.0, "every row written")
    await proxy.close()
