"""http in / http response against a real aiohttp client on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from plantwire.runtime.runtime import Runtime, RuntimeSettings
from tests.tcp_proxy import free_port


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = RuntimeSettings(tmp_path, credential_secret="s")
    settings.http_node_port = free_port()
    settings.http_node_response_timeout = 5.0  # type: ignore[attr-defined]
    runtime = Runtime(settings)
    yield runtime
    await runtime.stop()


def base(rt: Runtime) -> str:
    return f"http://127.0.0.1:{rt.settings.http_node_port}"


def http_in(nid: str, url: str, method: str = "get", wires: str = "resp", **kw: Any) -> Any:
    return {"id": nid, "type": "http in", "z": "t1", "url": url, "method": method,
            "wires": [[wires]], **kw}  # fmt: skip


def resp(nid: str = "resp", **kw: Any) -> dict[str, Any]:
    return {"id": nid, "type": "http response", "z": "t1", "wires": [], **kw}


def func(nid: str, code: str, wires: str = "resp") -> dict[str, Any]:
    return {"id": nid, "type": "function", "z": "t1", "func": code, "outputs": 1,
            "wires": [[wires]]}  # fmt: skip


TAB = {"id": "t1", "type": "tab", "label": "http"}


async def test_round_trip_with_change_node(rt: Runtime) -> None:
    change = {
        "id": "c", "type": "change", "z": "t1", "wires": [["resp"]],
        "rules": [{"t": "set", "p": "payload", "pt": "msg", "to": "hello", "tot": "str"}],
    }  # fmt: skip
    await rt.deploy([TAB, http_in("in", "/hello", wires="c"), change, resp()])
    async with aiohttp.ClientSession() as s, s.get(base(rt) + "/hello") as r:
        assert r.status == 200
        assert await r.text() == "hello"
        assert r.headers["Content-Type"].startswith("text/html")


async def test_params_query_headers_and_status(rt: Runtime) -> None:
    code = (
        "req = msg['req']\n"
        "msg['payload'] = {'id': req['params']['id'], 'q': msg['payload'],"
        " 'h': req['headers']['x-line'], 'm': req['method'], 'c': req['cookies']['session']}\n"
        "msg['statusCode'] = 201\nmsg['headers'] = {'X-Out': 'yes'}\nreturn msg"
    )
    await rt.deploy([TAB, http_in("in", "/items/:id", wires="f"), func("f", code), resp()])
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            base(rt) + "/items/42?a=1&b=x&b=y",
            headers={"X-Line": "L1", "Cookie": "session=abc"},
        ) as r,
    ):
        assert r.status == 201
        assert r.headers["X-Out"] == "yes"
        assert r.headers["Content-Type"].startswith("application/json")
        body = await r.json()
    assert body == {"id": "42", "q": {"a": "1", "b": ["x", "y"]}, "h": "L1", "m": "GET",
                    "c": "abc"}  # fmt: skip


async def test_post_bodies_by_content_type(rt: Runtime) -> None:
    code = (
        "p = msg['payload']\n"
        "msg['payload'] = {'t': type(p).__name__, 'v': p if not isinstance(p, bytes) else None}"
        "\nreturn msg"
    )
    await rt.deploy([TAB, http_in("in", "/data", "post", wires="f"), func("f", code), resp()])
    url = base(rt) + "/data"
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"a": [1, 2]}) as r:
            assert await r.json() == {"t": "dict", "v": {"a": [1, 2]}}
        async with s.post(url, data={"x": "1", "y": "two"}) as r:
            assert await r.json() == {"t": "dict", "v": {"x": "1", "y": "two"}}
        async with s.post(url, data="plain", headers={"Content-Type": "text/plain"}) as r:
            assert await r.json() == {"t": "str", "v": "plain"}
        async with s.post(url, data=b"\xff\x00", headers={"Content-Type": "image/png"}) as r:
            body = await r.json()
            assert body["t"] == "bytes"  # a Buffer in Node-RED


async def test_bytes_and_number_payloads_and_node_status_code(rt: Runtime) -> None:
    await rt.deploy(
        [
            TAB,
            http_in("a", "/bin", wires="fa"),
            func("fa", "msg['payload'] = bytes([1, 2, 3])\nreturn msg", "ra"),
            resp("ra", statusCode="202", headers={"X-Node": "n"}),
            http_in("b", "/num", wires="fb"),
            func("fb", "msg['payload'] = 42\nmsg['headers'] = {'x-node': 'msg'}\nreturn msg", "rb"),
            resp("rb", headers={"x-node": "cfg"}),
        ]
    )
    async with aiohttp.ClientSession() as s:
        async with s.get(base(rt) + "/bin") as r:
            assert r.status == 202
            assert await r.read() == b"\x01\x02\x03"
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert r.headers["X-Node"] == "n"
        async with s.get(base(rt) + "/num") as r:
            assert await r.text() == "42"
            assert r.headers["x-node"] == "cfg"


async def test_unknown_route_is_404_and_method_must_match(rt: Runtime) -> None:
    await rt.deploy([TAB, http_in("in", "/only-get"), resp()])
    async with aiohttp.ClientSession() as s:
        async with s.get(base(rt) + "/nothing") as r:
            assert r.status == 404
        async with s.post(base(rt) + "/only-get") as r:
            assert r.status == 404
        async with s.get(base(rt) + "/ONLY-GET/") as r:  # Express: case-insensitive, slash
            assert r.status == 200


async def test_redeploy_keeps_other_routes(rt: Runtime) -> None:
    flows = [
        TAB,
        http_in("a", "/a", wires="fa"),
        func("fa", "msg['payload'] = 'A'\nreturn msg"),
        http_in("b", "/b", wires="fb"),
        func("fb", "msg['payload'] = 'B'\nreturn msg"),
        resp(),
    ]
    await rt.deploy(flows)
    async with aiohttp.ClientSession() as s:
        async with s.get(base(rt) + "/b") as r:
            assert await r.text() == "B"
        changed = [dict(n) for n in flows]
        changed[1]["url"] = "/a2"
        await rt.deploy(changed, mode="nodes")
        async with s.get(base(rt) + "/a") as r:
            assert r.status == 404
        async with s.get(base(rt) + "/a2") as r:
            assert await r.text() == "A"
        async with s.get(base(rt) + "/b") as r:
            assert await r.text() == "B"


async def test_missing_response_gets_504(tmp_path: Path) -> None:
    settings = RuntimeSettings(tmp_path, credential_secret="s")
    settings.http_node_port = free_port()
    settings.http_node_response_timeout = 0.5  # type: ignore[attr-defined]
    rt = Runtime(settings)
    try:
        await rt.deploy([TAB, {**http_in("in", "/void"), "wires": [[]]}])
        async with aiohttp.ClientSession() as s, s.get(base(rt) + "/void") as r:
            assert r.status == 504
    finally:
        await rt.stop()


async def test_server_stops_with_last_route(rt: Runtime) -> None:
    await rt.deploy([TAB, http_in("in", "/x"), resp()])
    await rt.deploy([TAB])
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientConnectorError):
            await s.get(base(rt) + "/x")


async def test_upload_files_and_cookies(rt: Runtime) -> None:
    code = (
        "f = msg['req']['files'][0]\n"
        "msg['payload'] = {'name': f['originalname'], 'size': f['size'],"
        " 'field': msg['payload']['note']}\n"
        "msg['cookies'] = {'token': {'value': 'v1', 'maxAge': 60000}, 'old': None}\nreturn msg"
    )
    await rt.deploy(
        [TAB, http_in("in", "/up", "post", upload=True, wires="f"), func("f", code), resp()]
    )
    form = aiohttp.FormData()
    form.add_field("note", "hi")
    form.add_field("file", b"12345", filename="a.bin", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as s, s.post(base(rt) + "/up", data=form) as r:
        assert await r.json() == {"name": "a.bin", "size": 5, "field": "hi"}
        assert r.cookies["token"].value == "v1"
        assert "old" in r.cookies


async def test_node_red_export_runs_unchanged(rt: Runtime) -> None:
    exported = [
        {"id": "f1", "type": "tab", "label": "Flow 1", "disabled": False, "info": ""},
        {"id": "n1", "type": "http in", "z": "f1", "name": "", "url": "/hello-param/:name",
         "method": "get", "upload": False, "swaggerDoc": "", "x": 120, "y": 80,
         "wires": [["n2"]]},
        {"id": "n2", "type": "template", "z": "f1", "name": "page", "field": "payload",
         "fieldType": "msg", "format": "handlebars", "syntax": "mustache",
         "template": "<html><body>Hello {{req.params.name}}</body></html>",
         "output": "str", "x": 300, "y": 80, "wires": [["n3"]]},
        {"id": "n3", "type": "http response", "z": "f1", "name": "", "statusCode": "",
         "headers": {}, "x": 450, "y": 80, "wires": []},
    ]  # fmt: skip
    await rt.deploy(exported)
    async with aiohttp.ClientSession() as s, s.get(base(rt) + "/hello-param/Nick") as r:
        assert r.status == 200
        assert await r.text() == "<html><body>Hello Nick</body></html>"


async def test_example_flow_runs(rt: Runtime) -> None:
    import json

    flows = json.loads((Path(__file__).parents[3] / "examples/http/flows.json").read_text())
    await rt.deploy(flows)
    async with aiohttp.ClientSession() as s, s.get(base(rt) + "/lines/L1") as r:
        assert await r.json() == {"line": "L1", "state": "running"}
        assert r.headers["Cache-Control"] == "no-store"
