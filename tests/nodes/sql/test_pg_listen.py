"""pg-listen against the machine's PostgreSQL: notifications in, and back after an outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.runtime import Runtime
from tests.conftest import probe, require_service, tab
from tests.nodes.sql.conftest import PG_URL
from tests.nodes.sql.test_sql import _got, _wait
from tests.tcp_proxy import TcpProxy


def _flow(url: str, channels: str) -> list[Any]:
    return [
        tab(),
        {"id": "db", "type": "sql-database", "url": url},
        {
            "id": "l",
            "type": "pg-listen",
            "z": "t1",
            "database": "db",
            "channels": channels,
            "reconnect": "0.2",
            "wires": [["out"]],
        },
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["err"]]},
        probe("out"),
        probe("err"),
    ]


async def _notify(channel: str, payload: str) -> None:
    engine = create_async_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})
    finally:
        await engine.dispose()


async def _listening(rt: Runtime) -> None:
    node = rt.get_node("l")
    assert node is not None
    for _ in range(200):
        status = node.last_status or {}
        if status.get("fill") == "green":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not listening: {node.last_status}")


async def test_notifications_become_messages(make_runtime: Callable[..., Runtime]) -> None:
    require_service("PostgreSQL", 5432)
    a, b = f"ch_{uuid.uuid4().hex[:8]}", f"ch_{uuid.uuid4().hex[:8]}"
    rt = make_runtime()
    await rt.open()
    await rt.deploy(_flow(PG_URL, f"{a}, {b}"))
    await _listening(rt)
    await _notify(a, '{"order": "4500000001", "qty": 12}')
    await _notify(b, "plain text")
    await _notify(f"{a}x", "not listened to")
    got = await _wait(rt, "out", 2)
    assert got[0]["topic"] == a and got[0]["payload"] == {"order": "4500000001", "qty": 12}
    assert got[1]["topic"] == b and got[1]["payload"] == "plain text"
    assert isinstance(got[0]["pid"], int)
    await asyncio.sleep(0.2)
    assert len(_got(rt, "out")) == 2


async def test_listener_reconnects_after_an_outage(make_runtime: Callable[..., Runtime]) -> None:
    require_service("PostgreSQL", 5432)
    channel = f"ch_{uuid.uuid4().hex[:8]}"
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        rt = make_runtime()
        await rt.open()
        await rt.deploy(
            _flow(f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/test", channel)
        )
        await _listening(rt)
        await _notify(channel, "1")
        await _wait(rt, "out", 1)
        await proxy.close()
        node = rt.get_node("l")
        assert node is not None
        for _ in range(300):
            if (node.last_status or {}).get("fill") == "red":
                break
            await asyncio.sleep(0.05)
        assert (node.last_status or {}).get("text") == "disconnected"
        await proxy.open()
        await _listening(rt)
        got = await _wait(rt, "out", 2)
        assert got[1]["topic"] == "reconnected"
        await _notify(channel, "2")
        got = await _wait(rt, "out", 3)
        assert got[2]["payload"] == 2


async def test_listener_needs_postgresql(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    await rt.open()
    await rt.deploy(_flow("sqlite+aiosqlite:///x.db", "orders"))
    errs = await _wait(rt, "err", 0)
    node = rt.get_node("l")
    assert node is not None and (node.last_status or {}).get("text") == "not PostgreSQL"
    assert errs == []
    with pytest.raises(PlantwireError, match="channels"):
        await rt.deploy(_flow(PG_URL, "bad-name"))
