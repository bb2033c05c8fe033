"""redis-config / redis in / redis out against the machine's Redis (127.0.0.1:6379)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from plantwire.nodes.redis.config import RedisConfigNode
from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from tests.conftest import probe, require_service, tab
from tests.flowkit import deploy as _deploy
from tests.flowkit import received as _got
from tests.flowkit import until as _until
from tests.flowkit import wait_messages as _wait
from tests.tcp_proxy import TcpProxy

HOST, PORT = "127.0.0.1", 6379


@pytest.fixture
async def rds() -> AsyncIterator[aioredis.Redis]:
    """The test's own client, to write and inspect directly; deletes the keys it hands out."""
    require_service("Redis", PORT)
    client = aioredis.Redis(host=HOST, port=PORT)
    client.made = []  # type: ignore[attr-defined]
    yield client
    if client.made:  # type: ignore[attr-defined]
        await client.delete(*client.made)  # type: ignore[attr-defined]
    await client.aclose()


def _key(rds: Any, prefix: str = "pw") -> str:
    key = f"{prefix}:test:{uuid.uuid4().hex[:10]}"
    rds.made.append(key)
    return key


def _server(nid: str = "r", port: int = PORT, **extra: Any) -> dict[str, Any]:
    return {"id": nid, "type": "redis-config", "host": HOST, "port": str(port), **extra}


def _in(nid: str = "in", wires: str = "got", **extra: Any) -> dict[str, Any]:
    return {"id": nid, "type": "redis in", "z": "t1", "server": "r", "wires": [[wires]], **extra}


def _out(nid: str = "out", **extra: Any) -> dict[str, Any]:
    extra.setdefault("server", "r")
    wires = [["res"]] if extra.get("mode") == "command" else []
    return {"id": nid, "type": "redis out", "z": "t1", "wires": wires, **extra}


def _catch() -> list[dict[str, Any]]:
    return [
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["err"]]},
        probe("err"),
    ]


def _connected(rt: Runtime, nid: str = "r") -> bool:
    node = rt.get_node(nid)
    assert isinstance(node, RedisConfigNode)
    return node.connected


async def _ready(rt: Runtime, *ids: str) -> None:
    await _until(lambda: _connected(rt), what="connection")
    for nid in ids:
        node = rt.get_node(nid)
        await _until(lambda n=node: bool(getattr(n, "_ready", False)), what=f"{nid} ready")


def _send(rt: Runtime, nid: str, msg: Msg) -> None:
    node = rt.get_node(nid)
    assert node is not None
    rt.deliver(node, msg)


async def test_publish_subscribe_and_patterns(
    rds: Any, make_runtime: Callable[..., Runtime]
) -> None:
    base = f"pw:test:{uuid.uuid4().hex[:8]}"
    flow = [
        tab(),
        _server(),
        _in(mode="subscribe", channels=f"{base}:a, {base}:b", json="true"),
        _in("pin", wires="pgot", mode="psubscribe", channels=f"{base}:line.*"),
        _out(mode="publish"),
        _out("outfix", mode="publish", key=f"{base}:line.7"),
        probe("got"),
        probe("pgot"),
        *_catch(),
    ]
    rt = await _deploy(make_runtime, flow)
    await _ready(rt, "in", "pin")
    await asyncio.sleep(0.1)
    _send(rt, "out", {"topic": f"{base}:a", "payload": {"v": 1}})
    _send(rt, "out", {"topic": f"{base}:c", "payload": {"v": 2}})  # nobody listens
    _send(rt, "out", {"topic": f"{base}:b", "payload": [1, 2]})
    _send(rt, "outfix", {"payload": "text value", "topic": "ignored"})
    _send(rt, "outfix", {"payload": b"\xff\x00"})
    got = await _wait(rt, "got", 2)
    assert [(m["topic"], m["payload"]) for m in got] == [
        (f"{base}:a", {"v": 1}),
        (f"{base}:b", [1, 2]),
    ]
    pgot = await _wait(rt, "pgot", 2)
    assert [m["payload"] for m in pgot] == ["text value", b"\xff\x00"]
    assert pgot[0]["topic"] == f"{base}:line.7"
    assert pgot[0]["redis"]["pattern"] == f"{base}:line.*"
    assert _got(rt, "err") == []


async def test_stream_round_trip_fields_and_maxlen(
    rds: Any, make_runtime: Callable[..., Runtime]
) -> None:
    s = _key(rds)
    flow = [
        tab(),
        _server(),
        _in(mode="stream", channels=s, group="g1", start="0"),
        _in("jin", wires="jgot", mode="stream", channels=s, group="g2", start="0", json="true"),
        probe("jgot"),
        _out(mode="stream", key=s),
        _out("outf", mode="stream", key=s, fieldsFromPayload="true", maxlen="1000"),
        probe("got"),
        *_catch(),
    ]
    rt = await _deploy(make_runtime, flow)
    await _ready(rt, "in", "jin")
    _send(rt, "out", {"payload": {"a": 1}})
    await _wait(rt, "got", 1)
    _send(rt, "outf", {"payload": {"machine": "filler", "count": 12}})
    got = await _wait(rt, "got", 2)
    assert got[0]["payload"] == json.dumps({"a": 1}, separators=(",", ":"))
    assert got[0]["redis"]["fields"] == {"payload": '{"a":1}'}
    assert got[1]["payload"] == {"machine": "filler", "count": "12"}
    assert got[1]["topic"] == s and "-" in got[1]["redis"]["id"]
    # json: the single payload field parsed; in a field map each field that is JSON
    jgot = await _wait(rt, "jgot", 2)
    assert jgot[0]["payload"] == {"a": 1}
    assert jgot[1]["payload"] == {"machine": "filler", "count": 12}
    entries = await rds.xrange(s)
    assert entries[1][1] == {b"machine": b"filler", b"count": b"12"}
    assert await rds.xpending(s, "g1") == {"pending": 0, "min": None, "max": None, "consumers": []}
    # maxlen trims (approximately): many entries, the stream stays near the limit
    for i in range(1500):
        _send(rt, "outf", {"payload": {"i": i}})
    await _wait(rt, "got", 1502, timeout=20)
    assert await rds.xlen(s) < 1400


async def test_stream_group_shares_entries_between_two_consumers(
    rds: Any, make_runtime: Callable[..., Runtime]
) -> None:
    s = _key(rds)
    flow = [
        tab(),
        _server(),
        _in(
            "c1",
            wires="got",
            mode="stream",
            channels=s,
            group="work",
            consumer="one",
            count="1",
            json="true",
        ),
        _in(
            "c2",
            wires="got",
            mode="stream",
            channels=s,
            group="work",
            consumer="two",
            count="1",
            json="true",
        ),
        probe("got"),
    ]
    rt = await _deploy(make_runtime, flow)
    await _ready(rt, "c1", "c2")
    for i in range(40):
        await rds.xadd(s, {"payload": json.dumps(i)})
    got = await _wait(rt, "got", 40)
    await asyncio.sleep(0.3)
    values = sorted(m["payload"] for m in _got(rt, "got"))
    assert values == list(range(40))  # each entry once
    info = {c["name"]: c for c in await rds.xinfo_consumers(s, "work")}
    assert set(info) == {b"one", b"two"} or set(info) == {"one", "two"}
    assert all(c["pending"] == 0 for c in info.values())
    assert len(got) == 40


async def test_stream_pending_entries_are_redelivered_first_after_restart(
    rds: Any, make_runtime: Callable[..., Runtime]
) -> None:
    s = _key(rds)
    await rds.xgroup_create(s, "g", id="0", mkstream=True)
    for i in range(3):
        await rds.xadd(s, {"payload": f"old{i}"})
    # consumer "worker" took them before and crashed without acknowledging
    taken = await rds.xreadgroup("g", "worker", {s: ">"}, count=10)
    assert len(taken[0][1]) == 3
    await rds.xadd(s, {"payload": "new"})
    flow = [
        tab(),
        _server(),
        _in(mode="stream", channels=s, group="g", consumer="worker"),
        probe("got"),
    ]
    rt = await _deploy(make_runtime, flow)
    got = await _wait(rt, "got", 4)
    assert [m["payload"] for m in got] == ["old0", "old1", "old2", "new"]
    pending = await rds.xpending(s, "g")
    for _ in range(50):
        if pending["pending"] == 0:
            break
        await asyncio.sleep(0.02)
        pending = await rds.xpending(s, "g")
    assert pending["pending"] == 0


async def test_list_set_and_command(rds: Any, make_runtime: Callable[..., Runtime]) -> None:
    lst, key, lst2 = _key(rds), _key(rds), _key(rds)
    flow = [
        tab(),
        _server(),
        _in(mode="list", channels=lst, json="true"),
        _out(mode="list", key=lst),
        _out("lpush", mode="list", key=lst2, push="lpush"),
        _out("set", mode="set", ttl="30"),
        _out("cmd", mode="command"),
        probe("got"),
        probe("res"),
        *_catch(),
    ]
    rt = await _deploy(make_runtime, flow)
    await _ready(rt, "in")
    for v in ({"job": 1}, {"job": 2}, 3):
        _send(rt, "out", {"payload": v})
    got = await _wait(rt, "got", 3)
    assert [m["payload"] for m in got] == [{"job": 1}, {"job": 2}, 3]
    assert got[0]["topic"] == lst
    for v in ("a", "b"):
        _send(rt, "lpush", {"payload": v})
    _send(rt, "set", {"topic": key, "payload": {"state": "running"}})
    for _ in range(100):
        if await rds.llen(lst2) == 2 and await rds.exists(key):
            break
        await asyncio.sleep(0.02)
    assert await rds.lrange(lst2, 0, -1) == [b"b", b"a"]
    assert await rds.get(key) == b'{"state":"running"}'
    assert 0 < await rds.ttl(key) <= 30
    _send(rt, "cmd", {"payload": ["HSET", key + "h", "a", "1", "b", "2"]})
    rds.made.append(key + "h")
    _send(rt, "cmd", {"payload": ["HGETALL", key + "h"]})
    _send(rt, "cmd", {"payload": ["EVAL", "return {KEYS[1], ARGV[1] * 2}", 1, "k", 21]})
    res = await _wait(rt, "res", 3)
    assert res[0]["payload"] == 2
    assert res[1]["payload"] in ({"a": "1", "b": "2"}, ["a", "1", "b", "2"])
    assert res[2]["payload"] == ["k", 42]
    # a command the server refuses: to catch, not retried
    _send(rt, "cmd", {"payload": ["LPUSH", key, "x"]})  # key holds a string
    errs = await _wait(rt, "err", 1)
    assert "WRONGTYPE" in errs[0]["error"]["message"]


async def test_wrong_type_write_is_rejected_not_queued(
    rds: Any, make_runtime: Callable[..., Runtime]
) -> None:
    key = _key(rds)
    await rds.set(key, "a string")
    flow = [tab(), _server(), _out(mode="list", key=key), *_catch()]
    rt = await _deploy(make_runtime, flow)
    await _until(lambda: _connected(rt))
    _send(rt, "out", {"payload": "x"})
    errs = await _wait(rt, "err", 1)
    assert "WRONGTYPE" in errs[0]["error"]["message"] and "waits" not in errs[0]["error"]["message"]
    out = rt.get_node("out")
    assert out.outbox.pending == 0


async def test_out_keeps_messages_while_redis_is_unreachable(
    rds: Any, make_runtime: Callable[..., Runtime]
) -> None:
    s = _key(rds)
    proxy = await TcpProxy(HOST, PORT).open()
    flow = [
        tab(),
        _server(),
        _server("rp", port=proxy.port),
        _in(mode="stream", channels=s, group="g", start="0"),
        _out(server="rp", mode="stream", key=s),
        probe("got"),
        *_catch(),
    ]
    rt = await _deploy(make_runtime, flow)
    try:
        await _ready(rt, "in")
        await _until(lambda: _connected(rt, "rp"))
        _send(rt, "out", {"payload": "before"})
        await _wait(rt, "got", 1)
        await proxy.close()
        for i in range(5):  # the first write finds the server gone
            _send(rt, "out", {"payload": f"m{i}"})
        errs = await _wait(rt, "err", 1)
        out = rt.get_node("out")
        await _until(lambda: out.outbox.pending == 5, what="5 spooled")
        await _until(lambda: not _connected(rt, "rp"), what="the drop to be seen")
        await proxy.open()
        got = await _wait(rt, "got", 6, timeout=15)
        assert [m["payload"] for m in got] == ["before"] + [f"m{i}" for i in range(5)]
        assert len(_got(rt, "err")) == 1
        assert "waits" in errs[0]["error"]["message"]
        assert await rds.xlen(s) == 6
    finally:
        await rt.stop()
        await proxy.close()


async def test_subscriber_resubscribes_after_the_connection_drops(
    rds: Any, make_runtime: Callable[..., Runtime]
) -> None:
    ch = f"pw:test:{uuid.uuid4().hex[:8]}"
    proxy = await TcpProxy(HOST, PORT).open()
    flow = [tab(), _server(port=proxy.port), _in(mode="subscribe", channels=ch), probe("got")]
    rt = await _deploy(make_runtime, flow)
    try:
        await _ready(rt, "in")
        await rds.publish(ch, "one")
        await _wait(rt, "got", 1)
        await proxy.close()
        await _until(lambda: not _connected(rt), what="the drop to be seen")
        await proxy.open()
        node = rt.get_node("in")
        await _until(lambda: _connected(rt) and bool(node._ready), timeout=15)
        for _ in range(100):  # subscribed again: a new publish arrives
            if await rds.publish(ch, "two"):
                break
            await asyncio.sleep(0.05)
        got = await _wait(rt, "got", 2)
        assert got[1]["payload"] == "two"
    finally:
        await rt.stop()
        await proxy.close()


@pytest.mark.parametrize(
    ("node", "field"),
    [
        (_server(port="0"), "port"),
        (_server(db="-1"), "db"),
        (_in(mode="poll", channels="x"), "mode"),
        (_in(mode="subscribe", channels=" , "), "channels"),
        (_in(mode="stream", channels="s", start="5"), "start"),
        (_in(mode="stream", channels="s", group=""), "group"),
        (_out(mode="list", push="middle"), "push"),
        (_out(mode="set", ttl="-5"), "ttl"),
        (_out(mode="stream", maxlen="-1"), "maxlen"),
        (_out(mode="nope"), "mode"),
    ],
)
async def test_bad_settings_are_refused_naming_the_field(
    node: dict[str, Any], field: str, make_runtime: Callable[..., Runtime]
) -> None:
    flow = [tab(), node, *([_server()] if node["type"] != "redis-config" else [])]
    rt = make_runtime()
    await rt.open()
    with pytest.raises(PlantwireError, match=field):
        await rt.deploy(flow)
