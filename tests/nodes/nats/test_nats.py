"""nats-server / nats in / nats out against the machine's NATS (with JetStream) on
127.0.0.1:4222, and through a TCP proxy the test cuts to simulate an outage."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg as NatsMsg

from plantwire.nodes.nats.input import NatsInNode
from plantwire.nodes.nats.nats_codec import (
    check_publish_subject,
    check_subject,
    decode_payload,
    encode_headers,
    encode_payload,
    parse_servers,
)
from plantwire.nodes.nats.output import NatsOutNode
from plantwire.nodes.nats.server import NatsServerNode
from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from tests.conftest import probe, require_service, tab
from tests.flowkit import deploy as _deploy
from tests.flowkit import received as _got
from tests.tcp_proxy import TcpProxy

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def nc() -> AsyncIterator[NATS]:
    """A plain client of the real server for setup and checks."""
    require_service("NATS", 4222)
    client = await nats.connect(NATS_URL)
    yield client
    await client.close()


@pytest.fixture
async def stream(nc: NATS) -> AsyncIterator[tuple[str, str]]:
    """A unique stream name and subject prefix; the stream is deleted afterwards."""
    name = f"PW_{uuid.uuid4().hex[:10]}"
    yield name, name.lower()
    with contextlib.suppress(Exception):
        await nc.jetstream().delete_stream(name)


def _uid() -> str:
    return f"pw.{uuid.uuid4().hex[:10]}"


def _server(url: str = NATS_URL, **extra: Any) -> dict[str, Any]:
    return {"id": "ns", "type": "nats-server", "servers": url, "reconnectWait": "0.1", **extra}


def _in(nid: str, subject: str, wires: list[list[str]], **extra: Any) -> dict[str, Any]:
    return {
        "id": nid,
        "type": "nats in",
        "z": extra.pop("z", "t1"),
        "server": "ns",
        "subject": subject,
        "wires": wires,
        **extra,
    }


def _out(nid: str, subject: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "id": nid,
        "type": "nats out",
        "z": extra.pop("z", "t1"),
        "server": "ns",
        "subject": subject,
        "wires": extra.pop("wires", []),
        **extra,
    }


def _catch(z: str = "t1") -> dict[str, Any]:
    return {"id": f"c-{z}", "type": "catch", "z": z, "scope": None, "wires": [["err"]]}


async def _until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def _wait(rt: Runtime, nid: str, count: int, timeout: float = 10.0) -> list[Msg]:
    await _until(lambda: len(_got(rt, nid)) >= count, f"{count} messages on {nid}", timeout)
    return _got(rt, nid)


async def _subscribed(rt: Runtime, *nids: str) -> None:
    """Wait until the nats in nodes subscribed and the server has the subscriptions."""
    for nid in nids:
        node = rt.get_node(nid)
        assert isinstance(node, NatsInNode)
        await _until(lambda n=node: n._sub is not None, f"{nid} subscribed")  # type: ignore[misc]
    server = rt.get_node("ns")
    assert isinstance(server, NatsServerNode) and server.nc is not None
    await server.nc.flush()


async def _connected(rt: Runtime) -> NatsServerNode:
    server = rt.get_node("ns")
    assert isinstance(server, NatsServerNode)
    await _until(lambda: server.is_connected, "the connection")
    return server


def _push(rt: Runtime, nid: str, msg: Msg) -> None:
    node = rt.get_node(nid)
    assert node is not None
    rt.deliver(node, msg)


# ----- codec ----------------------------------------------------------------------------


def test_codec_servers_subjects_payloads() -> None:
    assert parse_servers("nats://a:4222, b ,tls://c") == [
        "nats://a:4222",
        "nats://b:4222",
        "tls://c:4222",
    ]
    for bad, word in [("", "no server"), ("http://x", "scheme"), ("nats://u:p@h", "credentials")]:
        with pytest.raises(ValueError, match=word):
            parse_servers(bad)
    assert check_subject("a.*.c.>") == "a.*.c.>"
    for bad in ("a..b", "a.>.c", "a.b*", "a b", ""):
        with pytest.raises(ValueError, match="subject"):
            check_subject(bad)
    with pytest.raises(ValueError, match="wildcard"):
        check_publish_subject("a.*")
    assert encode_payload({"a": 1}) == b'{"a":1}'
    assert encode_payload("é") == "é".encode()
    assert encode_payload(b"\x00") == b"\x00"
    assert encode_payload(None) == b""
    assert encode_payload(3.5) == b"3.5"
    assert decode_payload(b'{"a":1}', True) == {"a": 1}
    assert decode_payload(b'{"a":1}', False) == '{"a":1}'
    assert decode_payload(b"not json", True) == "not json"
    assert decode_payload(b"\xff\x00", True) == b"\xff\x00"
    assert encode_headers({"A": 1, "B": ["x", "y"]}) == {"A": "1", "B": "x,y"}
    assert encode_headers({}) is None
    with pytest.raises(ValueError, match="line break"):
        encode_headers({"A": "x\r\nB: y"})


async def test_invalid_config_is_refused_naming_the_field(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = make_runtime()
    await rt.open()
    cases = [
        ([_server(), _in("i", "a..b", [[]])], "subject"),
        ([_server(), _in("i", "a", [[]], mode="kafka")], "mode"),
        ([_server(), _in("i", "a", [[]], mode="jetstream", createStream=True)], "stream"),
        ([_server(), _out("o", "a.*")], "wildcard"),
        ([_server(), _out("o", "a", mode="request", timeout="0")], "timeout"),
        ([_server(url="http://x"), _out("o", "a")], "servers"),
        ([_server(auth="creds"), _out("o", "a")], "credsFile"),
    ]
    for nodes, word in cases:
        with pytest.raises(PlantwireError, match=word):
            await rt.deploy([tab(), *nodes])


# ----- core -----------------------------------------------------------------------------


async def test_core_round_trip_wildcards_headers_json_and_bytes(
    nc: NATS, make_runtime: Callable[..., Runtime]
) -> None:
    base = _uid()
    flow = [
        tab(),
        _server(),
        _in("star", f"{base}.*.temp", [["p-star"]], json=True),
        _in("tail", f"{base}.>", [["p-tail"]]),
        _out("out"),
        probe("p-star"),
        probe("p-tail"),
    ]
    rt = await _deploy(make_runtime, flow)
    await _subscribed(rt, "star", "tail")
    _push(rt, "out", {"topic": f"{base}.a.temp", "payload": {"t": 21.5}, "headers": {"site": "p1"}})
    _push(rt, "out", {"topic": f"{base}.b.temp", "payload": b"\xff\x00\x01"})
    _push(rt, "out", {"topic": f"{base}.a.pressure", "payload": "text"})
    tail = await _wait(rt, "p-tail", 3)
    star = await _wait(rt, "p-star", 2)
    assert [m["topic"] for m in tail] == [f"{base}.a.temp", f"{base}.b.temp", f"{base}.a.pressure"]
    assert tail[0]["payload"] == '{"t":21.5}'  # json off: text
    assert tail[2]["payload"] == "text"
    assert star[0]["payload"] == {"t": 21.5}
    assert star[0]["nats"]["headers"] == {"site": "p1"}
    assert star[0]["nats"]["subject"] == f"{base}.a.temp"
    assert star[1]["payload"] == b"\xff\x00\x01"  # not UTF-8: stays bytes
    assert star[1]["nats"]["headers"] == {}
    assert len(_got(rt, "p-star")) == 2  # pressure did not match *.temp
    # a message from another client arrives too, with its reply subject
    await nc.publish(f"{base}.c.temp", b"7", reply="some.inbox")
    star = await _wait(rt, "p-star", 3)
    assert star[2]["payload"] == 7
    assert star[2]["nats"]["reply"] == "some.inbox"


async def test_queue_group_shares_messages_each_once(
    nc: NATS, make_runtime: Callable[..., Runtime]
) -> None:
    subject = _uid()
    flow = [
        tab(),
        _server(),
        _in("w1", subject, [["p1"]], queue="workers"),
        _in("w2", subject, [["p2"]], queue="workers"),
        probe("p1"),
        probe("p2"),
    ]
    rt = await _deploy(make_runtime, flow)
    await _subscribed(rt, "w1", "w2")
    for i in range(60):
        await nc.publish(subject, str(i).encode())
    await nc.flush()
    await _until(lambda: len(_got(rt, "p1")) + len(_got(rt, "p2")) >= 60, "60 messages")
    await asyncio.sleep(0.2)  # a duplicate would show up now
    one = [m["payload"] for m in _got(rt, "p1")]
    two = [m["payload"] for m in _got(rt, "p2")]
    assert one and two, "both members of the group got a share"
    assert sorted(one + two, key=int) == [str(i) for i in range(60)]


async def test_request_reply_between_two_flows(make_runtime: Callable[..., Runtime]) -> None:
    require_service("NATS", 4222)
    subject = _uid()
    flow = [
        tab("svc"),
        tab("cli"),
        _server(),
        _in("req", subject, [["answer"]], z="svc", queue="svc", json=True),
        {
            "id": "answer",
            "type": "change",
            "z": "svc",
            "rules": [
                {
                    "t": "set",
                    "p": "payload",
                    "pt": "msg",
                    "to": '{"echo": payload.n * 2}',
                    "tot": "jsonata",
                }
            ],
            "wires": [["reply"]],
        },
        _out("reply", z="svc"),  # no subject: answers msg.nats.reply
        _out("ask", subject, z="cli", mode="request", json=True, timeout="3", wires=[["got"]]),
        probe("got", z="cli"),
    ]
    rt = await _deploy(make_runtime, flow)
    await _subscribed(rt, "req")
    for n in (1, 2, 3):
        _push(rt, "ask", {"payload": {"n": n}, "headers": {"trace": f"t{n}"}})
    got = await _wait(rt, "got", 3)
    assert sorted(m["payload"]["echo"] for m in got) == [2, 4, 6]
    assert all(m["nats"]["subject"].startswith("_INBOX.") for m in got)


async def test_request_without_responder_or_reply_reaches_catch(
    nc: NATS, make_runtime: Callable[..., Runtime]
) -> None:
    silent = _uid()
    await nc.subscribe(silent)  # subscribed, never answers
    await nc.flush()
    nobody = _uid()
    flow = [
        tab(),
        _server(),
        _out("ask-nobody", nobody, mode="request", timeout="2", wires=[["got"]]),
        _out("ask-silent", silent, mode="request", timeout="0.3", wires=[["got"]]),
        _catch(),
        probe("got"),
        probe("err"),
    ]
    rt = await _deploy(make_runtime, flow)
    await _connected(rt)
    _push(rt, "ask-nobody", {"payload": "hi"})
    err = await _wait(rt, "err", 1)
    assert "no responders" in err[0]["error"]["message"]
    assert nobody in err[0]["error"]["message"]
    _push(rt, "ask-silent", {"payload": "hi"})
    err = await _wait(rt, "err", 2)
    assert f"no reply on subject '{silent}' within 0.3 s" in err[1]["error"]["message"]
    assert _got(rt, "got") == []


# ----- JetStream ------------------------------------------------------------------------


async def test_jetstream_durable_gets_what_was_published_while_stopped(
    nc: NATS, stream: tuple[str, str], make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    name, prefix = stream
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"])
    flow = [
        tab(),
        _server(),
        _in(
            "in",
            f"{prefix}.line.*",
            [["got"]],
            mode="jetstream",
            durable="worker",
            deliverPolicy="all",
            maxInFlight="4",
            json=True,
        ),
        probe("got"),
    ]
    rt = await _deploy(make_runtime, flow, data_dir=tmp_path / "a")
    await js.publish(f"{prefix}.line.a", b"-1")
    first = await _wait(rt, "got", 1)
    assert first[0]["payload"] == -1
    await rt.stop()
    for i in range(10):
        await js.publish(f"{prefix}.line.{'ab'[i % 2]}", str(i).encode(), headers={"n": str(i)})
    rt2 = await _deploy(make_runtime, flow, data_dir=tmp_path / "b")
    got = await _wait(rt2, "got", 10)
    assert [m["payload"] for m in got] == list(range(10))
    assert [m["nats"]["headers"]["n"] for m in got] == [str(i) for i in range(10)]
    seqs = [m["nats"]["sequence"] for m in got]
    assert seqs == sorted(seqs) and seqs[0] == 2
    assert all(m["nats"]["stream"] == name and not m["nats"]["redelivered"] for m in got)
    assert got[0]["topic"] == f"{prefix}.line.a" and got[0]["nats"]["reply"] is None
    await rt2.stop()
    info = await js.consumer_info(name, "worker")
    assert info.num_ack_pending == 0 and info.num_pending == 0  # every one acked
    assert info.num_redelivered == 0
    assert info.delivered.stream_seq == 11


async def test_jetstream_unacked_message_is_delivered_again(
    nc: NATS, stream: tuple[str, str], make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """A message fetched by a consumer that stopped before acking (another client here)
    reaches the node with msg.nats.redelivered set once ackWait has passed."""
    name, prefix = stream
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"])
    await js.publish(f"{prefix}.x", b"once")
    from nats.js.api import ConsumerConfig

    psub = await js.pull_subscribe(
        f"{prefix}.x", durable="shared", stream=name, config=ConsumerConfig(ack_wait=0.5)
    )
    taken = await psub.fetch(1, timeout=2)
    assert taken[0].data == b"once"  # fetched, never acked
    await psub.unsubscribe()
    flow = [
        tab(),
        _server(),
        _in("in", f"{prefix}.x", [["got"]], mode="jetstream", durable="shared"),
        probe("got"),
    ]
    rt = await _deploy(make_runtime, flow, data_dir=tmp_path)
    got = await _wait(rt, "got", 1)
    assert got[0]["payload"] == "once" and got[0]["nats"]["redelivered"] is True


async def test_jetstream_create_stream_and_publish_round_trip(
    nc: NATS, stream: tuple[str, str], make_runtime: Callable[..., Runtime]
) -> None:
    name, prefix = stream
    subject = f"{prefix}.orders"
    flow = [
        tab(),
        _server(),
        _out("pub", subject, mode="jetstream", stream=name, createStream=True),
        _in(
            "sub",
            subject,
            [["got"]],
            mode="jetstream",
            stream=name,
            createStream=True,
            deliverPolicy="all",
            json=True,
        ),
        _catch(),
        probe("got"),
        probe("err"),
    ]
    rt = await _deploy(make_runtime, flow)
    await _connected(rt)
    for i in range(3):
        _push(rt, "pub", {"payload": {"order": i}, "headers": {"k": "v"}})
    got = await _wait(rt, "got", 3)
    assert [m["payload"] for m in got] == [{"order": 0}, {"order": 1}, {"order": 2}]
    assert got[0]["nats"]["headers"]["k"] == "v"
    info = await nc.jetstream().stream_info(name)
    assert info.config.subjects == [subject] and info.state.messages == 3
    assert _got(rt, "err") == []


async def test_jetstream_publish_without_stream_is_rejected(
    make_runtime: Callable[..., Runtime],
) -> None:
    require_service("NATS", 4222)
    subject = _uid()
    flow = [tab(), _server(), _out("pub", subject, mode="jetstream"), _catch(), probe("err")]
    rt = await _deploy(make_runtime, flow)
    await _connected(rt)
    _push(rt, "pub", {"payload": "x"})
    err = await _wait(rt, "err", 1)
    assert f"no JetStream stream holds subject '{subject}'" in err[0]["error"]["message"]
    assert "waits" not in err[0]["error"]["message"]
    node = rt.get_node("pub")
    assert isinstance(node, NatsOutNode) and node.outbox is not None
    assert node.outbox.pending == 0  # not kept for a retry


async def test_too_large_message_is_rejected_not_retried(
    make_runtime: Callable[..., Runtime],
) -> None:
    require_service("NATS", 4222)
    flow = [tab(), _server(), _out("pub", _uid()), _catch(), probe("err")]
    rt = await _deploy(make_runtime, flow)
    server = await _connected(rt)
    assert server.nc is not None
    _push(rt, "pub", {"payload": b"x" * (server.nc.max_payload + 1)})
    err = await _wait(rt, "err", 1)
    assert "waits" not in err[0]["error"]["message"]
    assert "NATS at nats://127.0.0.1:4222" in err[0]["error"]["message"]
    node = rt.get_node("pub")
    assert isinstance(node, NatsOutNode) and node.outbox is not None
    assert node.outbox.pending == 0


# ----- outage through the proxy ---------------------------------------------------------


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    require_service("NATS", 4222)
    p = TcpProxy("127.0.0.1", 4222)
    await p.open()
    yield p
    await p.close()


async def _outage(rt: Runtime, proxy: TcpProxy, count: int) -> NatsServerNode:
    """Cut the connection, send ``count`` messages into the out node, check they wait and
    one error says so, then restore the connection."""
    server = await _connected(rt)
    await proxy.close()
    await _until(lambda: not server.is_connected, "the disconnect")
    for i in range(count):
        _push(rt, "pub", {"payload": {"i": i}, "headers": {"i": str(i)}})
    node = rt.get_node("pub")
    assert isinstance(node, NatsOutNode) and node.outbox is not None
    outbox = node.outbox
    await _until(lambda: outbox.pending == count, f"{count} queued")
    err = await _wait(rt, "err", 1)
    assert "waits in the store-and-forward queue" in err[0]["error"]["message"]
    assert err[0]["payload"] == {"i": 0}
    await proxy.open()
    await _until(lambda: outbox.pending == 0, "the queue to drain", timeout=15)
    return server


async def test_core_publish_waits_through_an_outage(
    nc: NATS, proxy: TcpProxy, make_runtime: Callable[..., Runtime]
) -> None:
    subject = _uid()
    received: list[NatsMsg] = []

    async def collect(m: NatsMsg) -> None:
        received.append(m)

    await nc.subscribe(subject, cb=collect)
    await nc.flush()
    flow = [
        tab(),
        _server(f"nats://127.0.0.1:{proxy.port}"),
        _out("pub", subject),
        _in("sub", subject, [["got"]]),  # the same connection: resubscribed after it
        _catch(),
        probe("err"),
        probe("got"),
    ]
    rt = await _deploy(make_runtime, flow)
    await _subscribed(rt, "sub")
    await _outage(rt, proxy, 8)
    await _until(lambda: len(received) >= 8, "8 messages at the subscriber")
    assert [m.data for m in received] == [f'{{"i":{i}}}'.encode() for i in range(8)]
    assert [m.headers and m.headers["i"] for m in received] == [str(i) for i in range(8)]
    assert len(_got(rt, "err")) == 1
    # and it keeps publishing directly afterwards
    _push(rt, "pub", {"payload": "after"})
    await _until(lambda: len(received) == 9, "the message after the outage")
    assert received[-1].data == b"after"
    got = await _wait(rt, "got", 1)
    assert got[-1]["payload"] == "after"


async def test_jetstream_publish_waits_through_an_outage(
    nc: NATS, stream: tuple[str, str], proxy: TcpProxy, make_runtime: Callable[..., Runtime]
) -> None:
    name, prefix = stream
    subject = f"{prefix}.events"
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[subject])
    flow = [
        tab(),
        _server(f"nats://127.0.0.1:{proxy.port}"),
        _out("pub", subject, mode="jetstream", stream=name, timeout="2"),
        _in("sub", subject, [["got"]], mode="jetstream", durable="reader", json=True),
        _catch(),
        probe("err"),
        probe("got"),
    ]
    rt = await _deploy(make_runtime, flow)
    await _outage(rt, proxy, 6)
    assert len(_got(rt, "err")) == 1
    # the consumer on the same connection resumes fetching after the outage
    got = await _wait(rt, "got", 6)
    assert [m["payload"] for m in got] == [{"i": i} for i in range(6)]
    psub = await js.pull_subscribe(subject, stream=name)
    msgs = await psub.fetch(6, timeout=3)
    assert [m.data for m in msgs] == [f'{{"i":{i}}}'.encode() for i in range(6)]
    assert [m.metadata.sequence.stream for m in msgs] == list(range(1, 7))
    assert (await js.stream_info(name)).state.messages == 6  # no duplicate
