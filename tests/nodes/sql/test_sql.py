"""sql-database / sql-query against real PostgreSQL, MariaDB and SQLite on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plantwire.nodes.sql.database import SqlDatabaseNode
from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from tests.conftest import probe, require_service, tab
from tests.flowkit import deploy as _deploy
from tests.flowkit import received as _got
from tests.flowkit import wait_messages as _wait
from tests.nodes.sql.conftest import PG_URL, Backend


def _flow(url: str, query: str, creds: dict[str, str] | None = None, **q: Any) -> list[Any]:
    db: dict[str, Any] = {"id": "db", "type": "sql-database", "url": url, "poolSize": "2"}
    if creds:
        db["credentials"] = creds
    return [
        tab(),
        db,
        {
            "id": "q",
            "type": "sql-query",
            "z": "t1",
            "database": "db",
            "query": query,
            "wires": [["out"]],
            **q,
        },
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["err"]]},
        probe("out"),
        probe("err"),
    ]


async def _ask(rt: Runtime, msg: Msg, nid: str = "out") -> Msg:
    before = len(_got(rt, "out")) + len(_got(rt, "err"))
    node = rt.get_node("q")
    assert node is not None
    rt.deliver(node, msg)
    for _ in range(500):
        if len(_got(rt, "out")) + len(_got(rt, "err")) > before:
            break
        await asyncio.sleep(0.02)
    got = _got(rt, nid)
    assert got, f"nothing on {nid}; out={_got(rt, 'out')} err={_got(rt, 'err')}"
    return got[-1]


async def test_select_binds_parameters_and_gives_json_values(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    t = backend.table
    await backend.sql(
        f"INSERT INTO {t} (id, name, amount, ts) VALUES (:id, :n, :a, :ts)",
        [
            {"id": 1, "n": "filler", "a": "12.50", "ts": None},
            {"id": 2, "n": "capper", "a": "3.25", "ts": dt.datetime(2026, 1, 2, 3, 4, 5)},
            {"id": 3, "n": "labeler", "a": "99.00", "ts": None},
        ],
    )
    sql = f"SELECT id, name, amount, ts FROM {t} WHERE amount < :limit ORDER BY id"
    rt = await _deploy(make_runtime, _flow(backend.node_url, sql))
    out = await _ask(rt, {"params": {"limit": 50}, "payload": "ignored"})
    rows = out["payload"]
    assert [(r["id"], r["name"], r["amount"]) for r in rows] == [
        (1, "filler", 12.5),
        (2, "capper", 3.25),
    ]
    assert isinstance(rows[0]["amount"], float)
    assert rows[0]["ts"] is None
    assert str(rows[1]["ts"]).startswith("2026-01-02")  # datetime -> ISO text
    assert "T03:04:05" in rows[1]["ts"] or " 03:04:05" in rows[1]["ts"]
    # parameters from msg.payload when it is an object
    out = await _ask(rt, {"payload": {"limit": 5}})
    assert [r["name"] for r in out["payload"]] == ["capper"]
    if backend.name == "sqlite":
        assert (Path(rt.settings.data_dir) / "plant.db").exists()


async def test_insert_update_delete_give_row_count(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    t = backend.table
    rt = await _deploy(make_runtime, _flow(backend.node_url, ""))
    ins = f"INSERT INTO {t} (id, name, amount) VALUES (:id, :name, :amount)"
    for i in range(3):
        out = await _ask(rt, {"sql": ins, "payload": {"id": i, "name": f"m{i}", "amount": i}})
        assert out["payload"] == {"rowCount": 1}
    out = await _ask(rt, {"sql": f"UPDATE {t} SET amount = 7 WHERE id >= :f", "params": {"f": 1}})
    assert out["payload"] == {"rowCount": 2}
    out = await _ask(rt, {"sql": f"DELETE FROM {t} WHERE id = :id", "payload": {"id": 0}})
    assert out["payload"] == {"rowCount": 1}
    rows = await backend.sql(f"SELECT id, amount FROM {t} ORDER BY id")
    assert [(r["id"], float(r["amount"])) for r in rows] == [(1, 7.0), (2, 7.0)]
    assert _got(rt, "err") == []


async def test_injection_attempt_is_stored_as_text(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    t = backend.table
    evil = f"'x'); DROP TABLE {t}; --"
    sql = f"INSERT INTO {t} (id, name) VALUES (:id, :name)"
    rt = await _deploy(make_runtime, _flow(backend.node_url, sql))
    out = await _ask(rt, {"payload": {"id": 1, "name": evil}})
    assert out["payload"] == {"rowCount": 1}
    rows = await backend.sql(f"SELECT name FROM {t}")  # the table is still there
    assert rows == [{"name": evil}]


async def test_batch_writes_rows_in_one_transaction(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    t = backend.table
    sql = f"INSERT INTO {t} (id, name, amount) VALUES (:id, :name, :amount)"
    flow = _flow(backend.node_url, sql, mode="batch", batchSize="5", batchTime="60000")
    rt = await _deploy(make_runtime, flow)
    q = rt.get_node("q")
    assert q is not None
    for i in range(5):
        rt.deliver(q, {"payload": {"id": i, "name": f"r{i}", "amount": i * 1.5}})
    out = await _wait(rt, "out", 1)
    assert out[0]["payload"] == {"rowCount": 5, "count": 5}
    rows = await backend.sql(f"SELECT id, name FROM {t} ORDER BY id")
    assert rows == [{"id": i, "name": f"r{i}"} for i in range(5)]
    # a batch with a duplicate key is rolled back as a whole: none of its rows stay
    for i in (10, 11, 2, 12, 13):
        rt.deliver(q, {"payload": {"id": i, "name": "dup", "amount": 0}})
    err = await _wait(rt, "err", 1)
    assert "batch of 5 rolled back" in err[0]["error"]["message"]
    assert "INSERT INTO" in err[0]["error"]["message"]
    assert len(await backend.sql(f"SELECT id FROM {t}")) == 5
    assert len(_got(rt, "out")) == 1


async def test_batch_time_window_flushes_a_partial_batch(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    t = backend.table
    sql = f"INSERT INTO {t} (id, name) VALUES (:id, :name)"
    flow = _flow(backend.node_url, sql, mode="batch", batchSize="100", batchTime="300")
    rt = await _deploy(make_runtime, flow)
    q = rt.get_node("q")
    assert q is not None
    for i in range(3):
        rt.deliver(q, {"payload": {"id": i, "name": "w"}})
    out = await _wait(rt, "out", 1)
    assert out[0]["payload"] == {"rowCount": 3, "count": 3}
    assert len(await backend.sql(f"SELECT id FROM {t}")) == 3


async def test_errors_reach_catch_and_the_pool_keeps_working(
    backend: Backend, make_runtime: Callable[..., Runtime]
) -> None:
    rt = await _deploy(make_runtime, _flow(backend.node_url, ""))
    err = await _ask(rt, {"sql": "SELEKT nonsense FROM", "payload": 1}, "err")
    text1 = err["error"]["message"]
    assert "SELEKT nonsense FROM" in text1 and "syntax" in text1.lower()
    missing = f"missing_{uuid.uuid4().hex[:8]}"
    err = await _ask(rt, {"sql": f"SELECT * FROM {missing}"}, "err")
    assert missing in err["error"]["message"]
    assert err["error"]["source"]["id"] == "q"
    err = await _ask(rt, {"payload": 1}, "err")
    assert "no SQL" in err["error"]["message"]
    for _ in range(4):  # more than the pool holds: connections were returned
        out = await _ask(rt, {"sql": f"SELECT COUNT(*) AS n FROM {backend.table}"})
        assert out["payload"] == [{"n": 0}]
    db = rt.get_node("db")
    assert isinstance(db, SqlDatabaseNode) and db.engine is not None
    await rt.stop()
    assert db.engine is None  # disposed with its last user


async def test_password_never_appears_in_messages_or_logs(
    make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    require_service("PostgreSQL", 5432)
    secret = "Sup3rSecretPW"
    caplog.set_level(logging.DEBUG)
    flow = _flow(PG_URL, "", {"password": secret})
    flow.append(
        {
            "id": "db2",
            "type": "sql-database",
            "url": "postgresql+asyncpg://postgres@127.0.0.1:1/test",
            "credentials": {"password": secret},
        }
    )
    flow.append(
        {
            "id": "q2",
            "type": "sql-query",
            "z": "t1",
            "database": "db2",
            "query": "SELECT 1",
            "wires": [["out"]],
        }
    )
    rt = await _deploy(make_runtime, flow)
    out = await _ask(rt, {"sql": "SELECT 1 AS one"})  # trust auth: the password is not checked
    assert out["payload"] == [{"one": 1}]
    await _ask(rt, {"sql": "SELECT * FROM no_such_table_xyz"}, "err")
    q2 = rt.get_node("q2")
    assert q2 is not None
    rt.deliver(q2, {"payload": 1})
    errs = await _wait(rt, "err", 2)
    refused = errs[-1]["error"]["message"]
    assert "127.0.0.1:1" in refused or "refused" in refused.lower(), refused
    seen = repr(errs) + caplog.text + repr([n.last_status for n in (q2,)])
    assert secret not in seen
    db = rt.get_node("db")
    assert isinstance(db, SqlDatabaseNode)
    assert secret not in db.label


async def test_deploy_refuses_bad_settings(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    await rt.open()
    for bad, word in (
        ({"url": "postgresql+asyncpg://u:pw@h/db"}, "credentials"),
        ({"url": "oracle://h/db"}, "driver"),
        ({"url": ""}, "empty"),
    ):
        flow = [tab(), {"id": "db", "type": "sql-database", **bad}]
        with pytest.raises(PlantwireError, match=word):
            await rt.deploy(flow)
    flow = _flow("sqlite+aiosqlite:///x.db", "", mode="batch")
    with pytest.raises(PlantwireError, match="batch mode needs"):
        await rt.deploy(flow)
