"""http request against a small aiohttp web server the test starts on loopback."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from tests.tcp_proxy import free_port

TAB = {"id": "t1", "type": "tab", "label": "req"}


class Peer:
    """The test's HTTP server; counts calls of /flaky."""

    def __init__(self) -> None:
        self.flaky_calls = 0
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    async def text(self, request: web.Request) -> web.Response:
        return web.Response(text=f"item {request.match_info['name']} {request.query_string}")

    async def binary(self, request: web.Request) -> web.Response:
        return web.Response(body=b"\x00\x01\xff")

    async def obj(self, request: web.Request) -> web.Response:
        return web.json_response({"speed": 12.5, "ok": True}, headers={"Set-Cookie": "k=v"})

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.text()
        return web.json_response(
            {
                "method": request.method,
                "body": body,
                "ctype": request.headers.get("Content-Type", ""),
                "x": request.headers.get("X-Plant", ""),
                "auth": request.headers.get("Authorization", ""),
                "key": request.headers.get("X-API-Key", ""),
            }
        )

    async def basic(self, request: web.Request) -> web.Response:
        expect = "Basic " + base64.b64encode(b"op:secret").decode()
        if request.headers.get("Authorization") != expect:
            return web.Response(status=401, text="no")
        return web.Response(text="welcome")

    async def flaky(self, request: web.Request) -> web.Response:
        self.flaky_calls += 1
        if self.flaky_calls == 1:
            return web.Response(status=500, text="boom")
        return web.Response(text="recovered")

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    app = web.Application()
    app.router.add_get("/items/{name}", p.text)
    app.router.add_get("/bin", p.binary)
    app.router.add_get("/obj", p.obj)
    app.router.add_route("*", "/echo", p.echo)
    app.router.add_get("/basic", p.basic)
    app.router.add_get("/flaky", p.flaky)
    app.router.add_get("/slow", p.slow)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", p.port).start()
    yield p
    await runner.cleanup()


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(RuntimeSettings(tmp_path, credential_secret="s"))
    yield runtime
    await runtime.stop()


async def run(
    rt: Runtime, msg: Msg, creds: dict[str, str] | None = None, **cfg: Any
) -> tuple[list[Msg], list[Msg]]:
    """Deploy http request -> probe (+ catch -> probe), send ``msg``, return (out, caught)."""
    node: dict[str, Any] = {"id": "req", "type": "http request", "z": "t1", "wires": [["out"]]}
    node.update(cfg)
    if creds:
        node["credentials"] = creds
    await rt.deploy(
        [
            TAB,
            node,
            {"id": "out", "type": "test-probe", "z": "t1", "wires": [[]]},
            {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["caught"]]},
            {"id": "caught", "type": "test-probe", "z": "t1", "wires": [[]]},
        ]
    )
    target = rt.get_node("req")
    assert target is not None
    rt.deliver(target, msg)
    out: list[Msg] = rt.get_node("out").received  # type: ignore[union-attr]
    caught: list[Msg] = rt.get_node("caught").received  # type: ignore[union-attr]
    for _ in range(200):
        if out or caught:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)
    return out, caught


async def test_get_text_with_mustache_url(rt: Runtime, peer: Peer) -> None:
    out, _ = await run(
        rt, {"payload": {"a": 1}, "name": "pump 1"}, url=peer.base + "/items/{{{name}}}",
        paytoqs="query",
    )  # fmt: skip
    assert out[0]["payload"] == "item pump 1 a=1"
    assert out[0]["statusCode"] == 200
    assert out[0]["responseUrl"].startswith(peer.base + "/items/")
    assert out[0]["retry"] == 0


async def test_ret_bin_and_obj(rt: Runtime, peer: Peer) -> None:
    out, _ = await run(rt, {"payload": ""}, url=peer.base + "/bin", ret="bin")
    assert out[0]["payload"] == b"\x00\x01\xff"
    out, _ = await run(rt, {"payload": ""}, url=peer.base + "/obj", ret="obj")
    assert out[0]["payload"] == {"speed": 12.5, "ok": True}
    assert out[0]["headers"]["content-type"].startswith("application/json")
    assert out[0]["responseCookies"]["k"]["value"] == "v"


async def test_post_object_is_json_and_msg_url_and_method(rt: Runtime, peer: Peer) -> None:
    msg = {"payload": {"n": 1}, "url": peer.base + "/echo", "method": "PUT",
           "headers": {"X-Plant": "A"}}  # fmt: skip
    out, _ = await run(rt, msg, method="use", ret="obj")
    body = out[0]["payload"]
    assert body["method"] == "PUT"
    assert body["body"] == '{"n":1}'
    assert body["ctype"] == "application/json"
    assert body["x"] == "A"


async def test_post_form_and_node_headers(rt: Runtime, peer: Peer) -> None:
    headers = [
        {"keyType": "Content-Type", "keyValue": "", "valueType": "other",
         "valueValue": "application/x-www-form-urlencoded"},
        {"keyType": "other", "keyValue": "X-Plant", "valueType": "msg", "valueValue": "line"},
    ]  # fmt: skip
    out, _ = await run(
        rt, {"payload": {"a": "1", "b": "x y"}, "line": "L2"}, url=peer.base + "/echo",
        method="POST", ret="obj", headers=headers,
    )  # fmt: skip
    assert out[0]["payload"]["body"] == "a=1&b=x+y"
    assert out[0]["payload"]["x"] == "L2"


async def test_basic_bearer_and_apikey_auth(rt: Runtime, peer: Peer) -> None:
    creds = {"user": "op", "password": "secret"}
    out, _ = await run(rt, {"payload": ""}, creds, url=peer.base + "/basic")
    assert (out[0]["statusCode"], out[0]["payload"]) == (200, "welcome")
    out, _ = await run(rt, {"payload": ""}, {"user": "op", "password": "bad"},
                       url=peer.base + "/basic")  # fmt: skip
    assert out[0]["statusCode"] == 401
    out, _ = await run(rt, {"payload": ""}, {"password": "tok"}, url=peer.base + "/echo",
                       authType="bearer", ret="obj")  # fmt: skip
    assert out[0]["payload"]["auth"] == "Bearer tok"
    out, _ = await run(rt, {"payload": ""}, {"password": "k1"}, url=peer.base + "/echo",
                       authType="apikey", ret="obj")  # fmt: skip
    assert out[0]["payload"]["key"] == "k1"
    assert out[0]["payload"]["auth"] == ""


async def test_500_then_success_with_retries(rt: Runtime, peer: Peer) -> None:
    out, caught = await run(rt, {"payload": ""}, url=peer.base + "/flaky", retries="2",
                            retryDelay="50")  # fmt: skip
    assert out[0]["payload"] == "recovered"
    assert out[0]["retry"] == 1
    assert peer.flaky_calls == 2
    assert caught == []


async def test_500_without_retries_is_an_ordinary_reply(rt: Runtime, peer: Peer) -> None:
    out, caught = await run(rt, {"payload": ""}, url=peer.base + "/flaky")
    assert (out[0]["statusCode"], out[0]["payload"]) == (500, "boom")
    assert caught == []


async def test_connection_refused_reaches_catch_naming_the_url(rt: Runtime) -> None:
    url = f"http://127.0.0.1:{free_port()}/down"
    out, caught = await run(rt, {"payload": ""}, url=url, retries=1, retryDelay=10)
    assert url in caught[0]["error"]["message"]
    assert "refused" in caught[0]["error"]["message"]
    assert out[0]["statusCode"] == "ECONNREFUSED"  # senderr false: also an output message
    assert rt.get_node("req").last_status["fill"] == "red"  # type: ignore[union-attr]
    out, caught = await run(rt, {"payload": ""}, url=url, senderr=True)
    assert out == [] and len(caught) == 1


async def test_timeout_from_msg_request_timeout(rt: Runtime, peer: Peer) -> None:
    out, caught = await run(rt, {"payload": "", "requestTimeout": 200}, url=peer.base + "/slow")
    assert "No response from server" in caught[0]["error"]["message"]
    assert out[0]["statusCode"] == "ETIMEDOUT"


async def test_invalid_url_is_refused_at_deploy(rt: Runtime) -> None:
    from plantwire.runtime.errors import FlowValidationError

    with pytest.raises(FlowValidationError, match="not an http"):
        await run(rt, {"payload": ""}, url="ftp://host/file")


async def test_spooled_posts_wait_out_an_outage_and_a_500_in_order(rt: Runtime) -> None:
    """A CMMS that is down, then answers 500 once, then works: every work order arrives
    once, in order, and each response message follows."""
    port = free_port()
    received: list[Any] = []
    fail_next = [True]

    async def orders(request: web.Request) -> web.Response:
        body = await request.json()
        if fail_next[0]:
            fail_next[0] = False
            return web.Response(status=500, text="database busy")
        received.append(body["n"])
        return web.json_response({"id": f"WO-{body['n']}"}, status=201)

    url = f"http://127.0.0.1:{port}/orders"
    out, caught = await run(
        rt, {"payload": {"n": 1}}, url=url, method="POST", ret="obj", spool=True, senderr=True
    )
    assert out == [] and len(caught) == 1
    message = caught[0]["error"]["message"]
    assert "refused" in message and "waits in the store-and-forward queue" in message
    node = rt.get_node("req")
    assert node is not None
    for n in (2, 3):
        rt.deliver(node, {"payload": {"n": n}})
    app = web.Application()
    app.router.add_post("/orders", orders)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        for _ in range(400):
            if len(out) == 3:
                break
            await asyncio.sleep(0.05)
        assert received == [1, 2, 3]
        assert [m["payload"] for m in out] == [{"id": "WO-1"}, {"id": "WO-2"}, {"id": "WO-3"}]
        assert all(m["statusCode"] == 201 for m in out)
        assert len(caught) == 1  # one report for the outage
    finally:
        await runner.cleanup()
