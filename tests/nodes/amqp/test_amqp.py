"""amqp-broker / amqp in / amqp out against the machine's RabbitMQ (127.0.0.1:5672)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pytest

from plantwire.nodes.amqp.broker import AmqpBrokerNode
from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from tests.conftest import probe, require_service, tab
from tests.flowkit import deploy as _deploy
from tests.flowkit import received as _got
from tests.flowkit import until as _until
from tests.flowkit import wait_messages as _wait
from tests.tcp_proxy import TcpProxy

HOST, PORT = "127.0.0.1", 5672


@pytest.fixture
async def rabbit() -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel of the test's own connection (to publish and inspect directly)."""
    require_service("RabbitMQ", PORT)
    conn = await aio_pika.connect(host=HOST, port=PORT)
    channel = await conn.channel()
    yield channel
    await conn.close()


def _uid() -> str:
    return uuid.uuid4().hex[:10]


def _broker(nid: str = "b", port: int = PORT, **extra: Any) -> dict[str, Any]:
    return {
        "id": nid,
        "type": "amqp-broker",
        "host": HOST,
        "port": str(port),
        "vhost": "/",
        "credentials": {"user": "guest", "password": "guest"},
        **extra,
    }


def _in(nid: str = "in", broker: str = "b", wires: str = "got", **extra: Any) -> dict[str, Any]:
    return {"id": nid, "type": "amqp in", "z": "t1", "broker": broker, "wires": [[wires]], **extra}


def _out(nid: str = "out", broker: str = "b", **extra: Any) -> dict[str, Any]:
    return {"id": nid, "type": "amqp out", "z": "t1", "broker": broker, "wires": [], **extra}


def _catch() -> list[dict[str, Any]]:
    return [
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["err"]]},
        probe("err"),
    ]


def _connected(rt: Runtime, nid: str = "b") -> bool:
    node = rt.get_node(nid)
    assert isinstance(node, AmqpBrokerNode)
    return node.connected


async def _ready(rt: Runtime, *ids: str) -> None:
    """Broker connected and the consumers' queues bound."""
    await _until(lambda: _connected(rt), what="connection")
    for nid in ids:
        node = rt.get_node(nid)
        await _until(lambda n=node: getattr(n, "last_status", {}).get("text") == "connected")
        await _until(lambda n=node: bool(getattr(n, "queue_name", "")), what="queue")


def _send(rt: Runtime, nid: str, msg: Msg) -> None:
    node = rt.get_node(nid)
    assert node is not None
    rt.deliver(node, msg)


async def test_topic_exchange_routes_json_text_bytes_with_properties(
    rabbit: Any, make_runtime: Callable[..., Runtime]
) -> None:
    ex = f"pw.test.{_uid()}"
    flow = [
        tab(),
        _broker(),
        _in(
            exchange=ex,
            exchangeType="topic",
            routingKey="plant.*.temp, plant.alarm",
            durable="false",
        ),
        _out(exchange=ex, declare=True, exchangeType="topic", durable="false"),
        probe("got"),
        *_catch(),
    ]
    rt = await _deploy(make_runtime, flow)
    await _ready(rt, "in")
    _send(
        rt,
        "out",
        {
            "topic": "plant.l1.temp",
            "payload": {"t": 21.5, "ok": True},
            "headers": {"line": "l1", "n": 3},
            "amqp": {"correlationId": "c-1", "replyTo": "answers", "messageId": "m-1"},
        },
    )
    _send(rt, "out", {"topic": "plant.l1.pressure", "payload": "not bound: dropped"})
    _send(rt, "out", {"topic": "plant.alarm", "payload": "high level"})
    _send(rt, "out", {"topic": "plant.l2.temp", "payload": b"\x00\xffraw"})
    got = await _wait(rt, "got", 3)
    await asyncio.sleep(0.2)
    assert [m["topic"] for m in got] == ["plant.l1.temp", "plant.alarm", "plant.l2.temp"]
    first, second, third = got
    assert first["payload"] == {"t": 21.5, "ok": True}
    amqp = first["amqp"]
    assert amqp["exchange"] == ex and amqp["routingKey"] == "plant.l1.temp"
    assert amqp["headers"] == {"line": "l1", "n": 3}
    assert amqp["contentType"] == "application/json"
    assert (amqp["correlationId"], amqp["replyTo"], amqp["messageId"]) == ("c-1", "answers", "m-1")
    assert amqp["persistent"] is True and amqp["redelivered"] is False
    assert isinstance(amqp["deliveryTag"], int) and isinstance(amqp["timestamp"], int)
    assert second["payload"] == "high level" and second["amqp"]["contentType"] == "text/plain"
    assert third["payload"] == b"\x00\xffraw"
    assert _got(rt, "err") == []
    await rt.stop()
    await rabbit.exchange_delete(ex)


async def test_default_exchange_named_queue_non_persistent_and_json_flag(
    rabbit: Any, make_runtime: Callable[..., Runtime]
) -> None:
    q = f"pw.q.{_uid()}"
    flow = [
        tab(),
        _broker(),
        _in(queue=q, durable="false", json="true", ack="done"),
        _out(routingKey=q, persistent="false"),
        probe("got"),
        *_catch(),
    ]
    rt = await _deploy(make_runtime, flow)
    await _ready(rt, "in")
    _send(rt, "out", {"payload": "[1, 2, 3]"})  # text/plain, but the node parses JSON
    got = await _wait(rt, "got", 1)
    assert got[0]["payload"] == [1, 2, 3]
    assert got[0]["amqp"]["persistent"] is False
    assert got[0]["amqp"]["exchange"] == "" and got[0]["topic"] == q
    # acked after it was sent on: nothing left in the queue
    await rt.stop()
    queue = await rabbit.declare_queue(q, passive=True)
    assert queue.declaration_result.message_count == 0
    await queue.delete(if_unused=False, if_empty=False)


async def test_headers_exchange_binding(rabbit: Any, make_runtime: Callable[..., Runtime]) -> None:
    ex = f"pw.h.{_uid()}"
    flow = [
        tab(),
        _broker(),
        _in(
            exchange=ex,
            exchangeType="headers",
            durable="false",
            bindHeaders='{"x-match": "all", "line": "3"}',
            ack="auto",
        ),
        _out(exchange=ex, declare=True, exchangeType="headers", durable="false"),
        probe("got"),
        *_catch(),
    ]
    rt = await _deploy(make_runtime, flow)
    await _ready(rt, "in")
    _send(rt, "out", {"payload": "line 2", "headers": {"line": "2"}})
    _send(rt, "out", {"payload": "line 3", "headers": {"line": "3", "extra": 1}})
    got = await _wait(rt, "got", 1)
    await asyncio.sleep(0.2)
    assert [m["payload"] for m in got] == ["line 3"]
    await rt.stop()
    await rabbit.exchange_delete(ex)


async def test_unroutable_mandatory_message_reaches_catch(
    rabbit: Any, make_runtime: Callable[..., Runtime]
) -> None:
    ex = f"pw.m.{_uid()}"
    await rabbit.declare_exchange(ex, aio_pika.ExchangeType.DIRECT, auto_delete=False)
    flow = [
        tab(),
        _broker(),
        _out(exchange=ex, mandatory="true"),
        _out("out2", exchange=f"missing.{_uid()}"),
        *_catch(),
    ]
    try:
        rt = await _deploy(make_runtime, flow)
        await _until(lambda: _connected(rt))
        _send(rt, "out", {"topic": "nobody.listens", "payload": "lost?"})
        errs = await _wait(rt, "err", 1)
        assert "nobody.listens" in errs[0]["error"]["message"]
        assert "returned" in errs[0]["error"]["message"]
        assert errs[0]["error"]["source"]["id"] == "out"
        # an exchange that does not exist: refused, not queued for ever
        _send(rt, "out2", {"topic": "x", "payload": "y"})
        errs = await _wait(rt, "err", 2)
        assert (
            "exchange" in errs[1]["error"]["message"] and "waits" not in errs[1]["error"]["message"]
        )
        # the node keeps working after the channel error
        _send(rt, "out2", {"topic": "x", "payload": "y"})
        await _wait(rt, "err", 3)
    finally:
        await rabbit.exchange_delete(ex)


async def test_out_keeps_messages_while_the_server_is_unreachable(
    rabbit: Any, make_runtime: Callable[..., Runtime]
) -> None:
    q = f"pw.q.{_uid()}"
    proxy = await TcpProxy(HOST, PORT).open()
    flow = [
        tab(),
        _broker(),  # consumer: direct to RabbitMQ
        _broker("bp", port=proxy.port),  # publisher: through the proxy
        _in(queue=q, durable="false"),
        _out(broker="bp", routingKey=q),
        probe("got"),
        *_catch(),
    ]
    rt = await _deploy(make_runtime, flow)
    try:
        await _ready(rt, "in")
        await _until(lambda: _connected(rt, "bp"))
        _send(rt, "out", {"payload": "before"})
        await _wait(rt, "got", 1)
        await proxy.close()
        await _until(lambda: not _connected(rt, "bp"), what="the drop to be seen")
        for i in range(5):
            _send(rt, "out", {"payload": f"m{i}"})
        errs = await _wait(rt, "err", 1)
        out = rt.get_node("out")
        await _until(lambda: out.outbox.pending == 5, what="5 spooled")
        await proxy.open()
        got = await _wait(rt, "got", 6, timeout=15)
        assert [m["payload"] for m in got] == ["before"] + [f"m{i}" for i in range(5)]
        assert len(_got(rt, "err")) == 1, [e["error"]["message"] for e in _got(rt, "err")]
        assert "waits" in errs[0]["error"]["message"]
    finally:
        await rt.stop()
        await proxy.close()
        await rabbit.queue_delete(q)


async def test_in_resumes_after_the_connection_drops(
    rabbit: Any, make_runtime: Callable[..., Runtime]
) -> None:
    q = f"pw.q.{_uid()}"
    proxy = await TcpProxy(HOST, PORT).open()
    flow = [tab(), _broker(port=proxy.port), _in(queue=q, durable="true"), probe("got")]
    rt = await _deploy(make_runtime, flow)
    try:
        await _ready(rt, "in")
        await rabbit.default_exchange.publish(aio_pika.Message(b"one"), routing_key=q)
        await _wait(rt, "got", 1)
        await proxy.close()
        await _until(lambda: not _connected(rt), what="the drop to be seen")
        assert rt.get_node("in").last_status["fill"] == "red"  # type: ignore[union-attr]
        for body in (b"two", b"three"):
            await rabbit.default_exchange.publish(aio_pika.Message(body), routing_key=q)
        await proxy.open()
        got = await _wait(rt, "got", 3, timeout=15)
        assert [m["payload"] for m in got] == [b"one", b"two", b"three"]
        assert rt.get_node("in").last_status["text"] == "connected"  # type: ignore[union-attr]
    finally:
        await rt.stop()
        await proxy.close()
        await rabbit.queue_delete(q)


async def test_prefetch_bounds_unacked_messages(
    rabbit: Any, make_runtime: Callable[..., Runtime]
) -> None:
    q = f"pw.q.{_uid()}"
    flow = [
        tab(),
        _broker(prefetch="3"),
        _in(queue=q, durable="false", wires="slow"),
        {"id": "slow", "type": "test-slow", "z": "t1", "delay": 0.05, "limit": 1, "wires": [[]]},
    ]
    rt = await _deploy(make_runtime, flow)
    await _ready(rt, "in")
    for i in range(30):
        await rabbit.default_exchange.publish(aio_pika.Message(str(i).encode()), routing_key=q)
    await asyncio.sleep(0.3)
    queue = await rabbit.declare_queue(q, passive=True)
    # the server holds back what the slow flow has not taken: prefetch 3 unacked at most
    assert queue.declaration_result.message_count >= 30 - 3 - 10
    slow = rt.get_node("slow")
    await _until(lambda: len(slow.received) == 30, timeout=15)
    assert [m["payload"] for m in slow.received] == [str(i).encode() for i in range(30)]
    await rt.stop()
    await rabbit.queue_delete(q)


@pytest.mark.parametrize(
    ("node", "field"),
    [
        (_broker(port="70000"), "port"),
        (_broker(host=" "), "host"),
        (_in(exchange="x", exchangeType="nosuch"), "exchangeType"),
        (_in(ack="later"), "ack"),
        (_in(declare="false"), "queue"),
        (_in(bindHeaders="[1]"), "bindHeaders"),
        (_out(exchangeType="zig"), "exchangeType"),
        (_out(spoolMaxMessages="0"), "spoolMaxMessages"),
    ],
)
async def test_bad_settings_are_refused_naming_the_field(
    node: dict[str, Any], field: str, make_runtime: Callable[..., Runtime]
) -> None:
    flow = [tab(), node, *([_broker()] if node["type"] != "amqp-broker" else [])]
    rt = make_runtime()
    await rt.open()
    with pytest.raises(PlantwireError, match=field):
        await rt.deploy(flow)


async def test_missing_queue_without_declare_shows_an_error(
    rabbit: Any, make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    q = f"pw.missing.{_uid()}"
    flow = [tab(), _broker(), _in(queue=q, declare="false"), probe("got")]
    rt = await _deploy(make_runtime, flow)
    node = rt.get_node("in")
    assert node is not None
    await _until(lambda: node.last_status.get("text") == "error", what="error status")
    assert any(q in r.getMessage() and "NOT_FOUND" in r.getMessage() for r in caplog.records)
