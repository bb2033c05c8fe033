"""websocket-listener / websocket-client / websocket in / websocket out against real
aiohttp websocket peers on loopback."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from plantwire.nodes.websocket.remote import WebSocketClientNode
from plantwire.nodes.websocket.ws_codec import incoming_msg, outgoing_frame
from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.node import Node
from plantwire.runtime.runtime import Runtime
from tests.conftest import ProbeNode, probe, tab
from tests.nodes.mqtt.test_mqtt_tls import make_pki
from tests.tcp_proxy import free_port


async def until(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def node(rt: Runtime, nid: str) -> Node:
    n = rt.get_node(nid)
    assert n is not None, nid
    return n


def got(rt: Runtime, nid: str = "p") -> list[dict[str, Any]]:
    n = node(rt, nid)
    assert isinstance(n, ProbeNode)
    return n.received


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime(http_node_port=free_port())


def url(rt: Runtime, path: str) -> str:
    return f"ws://127.0.0.1:{rt.settings.http_node_port}{path}"


def listener_flow(path: str, wholemsg: bool = False, echo: bool = True) -> list[dict[str, Any]]:
    """listener L; websocket in -> probe p -> websocket out (replies via msg._session)."""
    return [
        tab(),
        {"id": "L", "type": "websocket-listener", "path": path,
         "wholemsg": "true" if wholemsg else "false"},
        {"id": "in", "type": "websocket in", "z": "t1", "server": "L", "client": "",
         "wires": [["p"]]},
        probe("p", [["out"]] if echo else [[]]),
        {"id": "out", "type": "websocket out", "z": "t1", "server": "L", "client": "",
         "wires": []},
    ]  # fmt: skip


# ----- listener ----------------------------------------------------------------------


async def test_listener_echo_replies_only_to_the_sender(rt: Runtime) -> None:
    path = f"/ws/{uuid.uuid4().hex[:8]}"
    await rt.deploy(listener_flow(path))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url(rt, path)) as a,
        http.ws_connect(url(rt, path)) as b,
    ):
        await a.send_str("from a")
        reply = await a.receive(timeout=5)
        assert (reply.type, reply.data) == (WSMsgType.TEXT, "from a")
        # had the reply been broadcast, b would get "from a" before its own echo
        await b.send_str("from b")
        first = await b.receive(timeout=5)
        assert first.data == "from b"
        msgs = got(rt)
        assert [m["payload"] for m in msgs] == ["from a", "from b"]
        sessions = [m["_session"] for m in msgs]
        assert all(s["type"] == "websocket" for s in sessions)
        assert sessions[0]["id"] != sessions[1]["id"]


async def test_broadcast_to_three_clients_and_connection_count(rt: Runtime) -> None:
    path = f"/ws/{uuid.uuid4().hex[:8]}"
    flows = listener_flow(path)
    flows[3]["wires"] = [["strip"]]
    flows.append(
        {"id": "strip", "type": "change", "z": "t1", "wires": [["out"]],
         "rules": [{"t": "delete", "p": "_session", "pt": "msg"}]}
    )  # fmt: skip
    await rt.deploy(flows)
    out = node(rt, "out")
    async with aiohttp.ClientSession() as http:
        clients = [await http.ws_connect(url(rt, path)) for _ in range(3)]
        await until(lambda: out.last_status.get("text") == "connected 3", what="connected 3")
        assert out.last_status["fill"] == "green"
        await clients[0].send_str("to everyone")
        for ws in clients:
            frame = await ws.receive(timeout=5)
            assert frame.data == "to everyone"
        await clients[2].close()
        await until(lambda: out.last_status.get("text") == "connected 2", what="connected 2")
        assert out.last_status["event"] == "disconnect"
        for ws in clients[:2]:
            await ws.close()
        await until(lambda: out.last_status.get("text") == "disconnected", what="disconnected")
        assert out.last_status["fill"] == "red"


async def test_wholemsg_round_trip_and_non_json(rt: Runtime) -> None:
    path = f"/ws/{uuid.uuid4().hex[:8]}"
    await rt.deploy(listener_flow(path, wholemsg=True))
    async with aiohttp.ClientSession() as http, http.ws_connect(url(rt, path)) as ws:
        await ws.send_str(json.dumps({"topic": "line1", "payload": {"speed": 12.5, "n": 3}}))
        back = json.loads((await ws.receive(timeout=5)).data)
        assert back["topic"] == "line1"
        assert back["payload"] == {"speed": 12.5, "n": 3}
        assert "_session" not in back and "_msgid" in back
        m = got(rt)[0]
        assert m["topic"] == "line1" and m["_session"]["type"] == "websocket"
        # text that is not JSON arrives as the payload (Node-RED: no error)
        await ws.send_str("not json")
        back = json.loads((await ws.receive(timeout=5)).data)
        assert back["payload"] == "not json"
        await ws.send_str("42")
        back = json.loads((await ws.receive(timeout=5)).data)
        assert back["payload"] == 42


async def test_binary_frames_are_bytes(rt: Runtime) -> None:
    path = f"/ws/{uuid.uuid4().hex[:8]}"
    await rt.deploy(listener_flow(path))
    data = bytes(range(256))
    async with aiohttp.ClientSession() as http, http.ws_connect(url(rt, path)) as ws:
        await ws.send_bytes(data)
        frame = await ws.receive(timeout=5)
        assert (frame.type, frame.data) == (WSMsgType.BINARY, data)
        assert got(rt)[0]["payload"] == data


async def test_plain_get_is_refused_and_redeploy_closes_clients(rt: Runtime) -> None:
    path = f"/ws/{uuid.uuid4().hex[:8]}"
    await rt.deploy(listener_flow(path))
    base = f"http://127.0.0.1:{rt.settings.http_node_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + path) as r:
            assert r.status == 426
        ws = await http.ws_connect(url(rt, path))
        await rt.deploy([tab()])  # the listener is removed
        frame = await ws.receive(timeout=5)
        assert (frame.type, frame.data) == (WSMsgType.CLOSE, 1001)
        await ws.close()
        # deployed again, the path is served again
        await rt.deploy(listener_flow(path))
        async with http.ws_connect(url(rt, path)) as again:
            await again.send_str("back")
            assert (await again.receive(timeout=5)).data == "back"


async def test_duplicate_listener_path_is_an_error(rt: Runtime) -> None:
    path = f"/ws/{uuid.uuid4().hex[:8]}"
    errors: list[str] = []
    rt.log_listeners.append(lambda n, level, text: errors.append(text))
    flows = listener_flow(path)
    flows.append({"id": "L2", "type": "websocket-listener", "path": path, "wholemsg": "false"})
    await rt.deploy(flows)
    assert any("same path" in e and path in e for e in errors), errors


async def test_validation_names_the_field(rt: Runtime) -> None:
    bad = listener_flow("ws/no-slash")
    with pytest.raises(FlowValidationError, match=r"path: 'ws/no-slash' must start with '/'"):
        await rt.deploy(bad)
    client = {"id": "C", "type": "websocket-client", "path": "http://127.0.0.1:1/x"}
    with pytest.raises(FlowValidationError, match=r"path: .* must be a ws:// or wss:// URL"):
        await rt.deploy([tab(), client])
    client = {"id": "C", "type": "websocket-client", "path": "ws://127.0.0.1:1/x", "hb": "x"}
    with pytest.raises(FlowValidationError, match=r"hb: 'x' is not a number"):
        await rt.deploy([tab(), client])


async def test_out_without_config_reports_the_field(rt: Runtime) -> None:
    errors: list[str] = []
    rt.log_listeners.append(lambda n, level, text: errors.append(text))
    await rt.deploy([tab(), {"id": "out", "type": "websocket out", "z": "t1", "server": "nope"}])
    assert any(e.startswith("server: missing server configuration") for e in errors), errors


# ----- client ------------------------------------------------------------------------


class WsServer:
    """A websocket server of the test: records what it receives and the pings."""

    def __init__(self, port: int, pong: bool = True, ssl_ctx: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.ssl_ctx = ssl_ctx
        self.pong = pong
        self.received: list[Any] = []
        self.pings = 0
        self.connections = 0
        self.protocols: list[str | None] = []
        self.headers: list[dict[str, str]] = []
        self.clients: list[web.WebSocketResponse] = []
        self.closed_codes: list[int | None] = []
        self._runner: web.AppRunner | None = None

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, protocols=["plant.v1"])
        await ws.prepare(request)
        self.connections += 1
        self.protocols.append(ws.ws_protocol)
        self.headers.append(dict(request.headers))
        self.clients.append(ws)
        async for frame in ws:
            if frame.type == WSMsgType.PING:
                self.pings += 1
                if self.pong:
                    await ws.pong(frame.data)
            elif frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                self.received.append(frame.data)
            elif frame.type == WSMsgType.CLOSE:
                break
        self.closed_codes.append(ws.close_code)
        self.clients.remove(ws)
        return ws

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/feed", self.handler)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, "127.0.0.1", self.port, reuse_address=True, ssl_context=self.ssl_ctx
        )
        await site.start()

    async def stop(self) -> None:
        for ws in list(self.clients):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def server() -> AsyncIterator[WsServer]:
    srv = WsServer(free_port())
    await srv.start()
    yield srv
    await srv.stop()


def client_flow(port: int, **cfg: Any) -> list[dict[str, Any]]:
    return [
        tab(),
        {"id": "C", "type": "websocket-client", "path": f"ws://127.0.0.1:{port}/feed",
         "tls": "", "wholemsg": "false", "hb": "0", "subprotocol": "", **cfg},
        {"id": "in", "type": "websocket in", "z": "t1", "server": "", "client": "C",
         "wires": [["p"]]},
        probe("p"),
        {"id": "out", "type": "websocket out", "z": "t1", "server": "", "client": "C",
         "wires": []},
    ]  # fmt: skip


def client_node(rt: Runtime) -> WebSocketClientNode:
    c = node(rt, "C")
    assert isinstance(c, WebSocketClientNode)
    return c


async def test_client_sends_and_receives(rt: Runtime, server: WsServer) -> None:
    headers = [{"keyType": "other", "keyValue": "X-Line", "valueType": "other",
                "valueValue": "L7"}]  # fmt: skip
    await rt.deploy(client_flow(server.port, subprotocol="plant.v1, other", headers=headers))
    await until(lambda: len(server.clients) == 1, what="client connection")
    assert server.protocols == ["plant.v1"]
    assert server.headers[0]["X-Line"] == "L7"
    await until(lambda: node(rt, "out").last_status.get("text") == "connected", what="status")
    await server.clients[0].send_str("hello")
    await server.clients[0].send_bytes(b"\x00\x01")
    await until(lambda: len(got(rt)) == 2, what="two messages")
    assert [m["payload"] for m in got(rt)] == ["hello", b"\x00\x01"]
    assert got(rt)[0]["_session"] == {"type": "websocket", "id": client_node(rt).conn_id}
    out = node(rt, "out")
    for payload in ({"a": 1}, b"\xff", 3.0, "text", ""):
        rt.deliver(out, {"payload": payload})
    await until(lambda: len(server.received) == 4, what="four frames")
    assert server.received == ['{"a":1}', b"\xff", "3", "text"]  # "" sends nothing


async def test_client_reconnects_and_sends_the_queue_in_order(
    rt: Runtime, server: WsServer
) -> None:
    await rt.deploy(client_flow(server.port))
    c = client_node(rt)
    out = node(rt, "out")
    await until(lambda: c.state == "connected", what="connected")
    rt.deliver(out, {"payload": "before"})
    await until(lambda: server.received == ["before"], what="first frame")
    await server.stop()
    await until(lambda: c.state != "connected", what="disconnect seen")
    await until(lambda: out.last_status.get("text") != "connected", what="status change")
    for i in range(5):
        rt.deliver(out, {"payload": f"m{i}"})
    await until(lambda: len(c.pending) == 5, what="five queued")
    await server.start()
    await until(lambda: len(server.received) == 6, timeout=10, what="queued frames")
    assert server.received == ["before", "m0", "m1", "m2", "m3", "m4"]
    assert server.connections == 2
    rt.deliver(out, {"payload": "live"})
    await until(lambda: len(server.received) == 7, what="live frame")
    assert server.received[-1] == "live"
    assert out.last_status["text"] == "connected"


async def test_client_queue_is_bounded_and_drops_are_reported(
    rt: Runtime, server: WsServer
) -> None:
    warnings: list[str] = []
    rt.log_listeners.append(lambda n, level, text: warnings.append(text))
    await server.stop()
    await rt.deploy(client_flow(server.port, queue="3"))
    c = client_node(rt)
    out = node(rt, "out")
    for i in range(5):
        rt.deliver(out, {"payload": f"m{i}"})
    await until(lambda: c.dropped == 2, what="two dropped")
    assert list(c.pending) == ["m2", "m3", "m4"]
    assert any("queue of 3 messages full" in w for w in warnings), warnings
    await server.start()
    await until(lambda: len(server.received) == 3, timeout=10, what="queued frames")
    assert server.received == ["m2", "m3", "m4"]
    await until(lambda: any("2 message(s) were dropped" in w for w in warnings), what="report")


async def test_client_heartbeat_pings_and_reconnects_without_pong(rt: Runtime) -> None:
    server = WsServer(free_port())
    await server.start()
    try:
        await rt.deploy(client_flow(server.port, hb="0.2"))
        c = client_node(rt)
        await until(lambda: server.pings >= 3, what="three pings")
        assert server.connections == 1  # pongs came back: the connection stays
        server.pong = False
        await until(lambda: server.connections >= 2, timeout=5, what="reconnect after no pong")
    finally:
        await rt.deploy([tab()])
        await server.stop()
    assert c.state == "disconnected"


async def test_client_wholemsg_and_clean_close_on_redeploy(rt: Runtime, server: WsServer) -> None:
    await rt.deploy(client_flow(server.port, wholemsg="true"))
    await until(lambda: len(server.clients) == 1, what="connection")
    rt.deliver(node(rt, "out"), {"payload": 1, "topic": "t", "_session": {"type": "x"}})
    await until(lambda: len(server.received) == 1, what="frame")
    sent = json.loads(server.received[0])
    assert sent["payload"] == 1 and sent["topic"] == "t" and "_session" not in sent
    await server.clients[0].send_str('{"payload": [1, 2], "topic": "back"}')
    await until(lambda: len(got(rt)) == 1, what="message")
    assert got(rt)[0]["payload"] == [1, 2] and got(rt)[0]["topic"] == "back"
    await rt.deploy([tab()])
    await until(lambda: server.closed_codes == [1000], what="clean close")
    assert not server.clients


async def test_client_wss_with_tls_config(rt: Runtime, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki["ca"]))
    ctx.load_cert_chain(pki["server_cert"], pki["server_key"])
    ctx.verify_mode = ssl.CERT_REQUIRED  # the client must present its certificate
    server = WsServer(free_port(), ssl_ctx=ctx)
    await server.start()
    warnings: list[str] = []
    rt.log_listeners.append(lambda n, level, text: warnings.append(text))
    try:
        tls = {"id": "tls", "type": "tls-config", "ca": str(pki["ca"]),
               "cert": str(pki["client_cert"]), "key": str(pki["client_key"])}  # fmt: skip
        flows = client_flow(server.port, tls="tls")
        flows[1]["path"] = f"wss://127.0.0.1:{server.port}/feed"
        await rt.deploy([*flows, tls])
        await until(lambda: len(server.clients) == 1, what="wss connection")
        rt.deliver(node(rt, "out"), {"payload": "secure"})
        await until(lambda: server.received == ["secure"], what="frame over TLS")
        # without the tls-config node the private CA is not trusted: refused, reported
        await rt.deploy([*flows[:1], {**flows[1], "tls": ""}, *flows[2:]])
        await until(lambda: any("certificate" in w.lower() for w in warnings), what="warning")
        await until(lambda: not server.clients, what="old connection closed")
        assert client_node(rt).state != "connected"
    finally:
        await rt.deploy([tab()])
        await server.stop()


# ----- codec -------------------------------------------------------------------------


def test_outgoing_frames_follow_node_red() -> None:
    assert outgoing_frame({"payload": "x"}, False) == "x"
    assert outgoing_frame({"payload": b""}, False) == b""  # a Buffer is always sent
    assert outgoing_frame({"payload": ""}, False) is None
    assert outgoing_frame({"topic": "no payload"}, False) is None
    assert outgoing_frame({"payload": None}, False) == "null"
    assert outgoing_frame({"payload": [1, "a"]}, False) == '[1,"a"]'
    assert outgoing_frame({"payload": True}, False) == "true"
    assert outgoing_frame({"payload": 0}, False) == "0"
    whole = outgoing_frame({"payload": b"\x01", "_session": {"id": "s"}}, True)
    assert whole == '{"payload":{"type":"Buffer","data":[1]}}'


def test_incoming_messages_follow_node_red() -> None:
    assert incoming_msg("a", False, "s") == {"payload": "a", "_session": {"type": "websocket",
                                                                          "id": "s"}}  # fmt: skip
    assert incoming_msg('{"payload":1}', False, "s")["payload"] == '{"payload":1}'
    assert incoming_msg(b'{"x":1}', True, "s")["x"] == 1
    assert incoming_msg(b"\xff\x00", True, "s")["payload"] == b"\xff\x00"
    assert incoming_msg("[1]", True, "s")["payload"] == [1]
    assert incoming_msg("null", True, "s")["payload"] is None
