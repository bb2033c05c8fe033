"""The HTTP API of `plantwire serve` against a real uvicorn server and real clients."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import aiohttp

from plantwire.runtime.runtime import DEPLOY_TYPES
from plantwire.server.ws import encode_value
from tests.server.conftest import Running, open_comms


def chain(
    tab: str = "t1", text: str = "one", i: str = "i1", c: str = "c1", d: str = "d1"
) -> list[dict[str, Any]]:
    """inject -> change (payload = text) -> debug, on tab ``tab``."""
    return [
        {"id": tab, "type": "tab", "label": f"flow {tab}"},
        {
            "id": i,
            "type": "inject",
            "z": tab,
            "props": [{"p": "payload"}],
            "payload": "",
            "payloadType": "date",
            "wires": [[c]],
        },
        {
            "id": c,
            "type": "change",
            "z": tab,
            "rules": [{"t": "set", "p": "payload", "pt": "msg", "to": text, "tot": "str"}],
            "wires": [[d]],
        },
        {"id": d, "type": "debug", "z": tab, "complete": "payload", "wires": []},
    ]


async def deploy(
    r: Running, body: Any, dtype: str = "full", status: int = 204, version: str = "v1"
) -> Any:
    headers = {"Node-RED-Deployment-Type": dtype, "Node-RED-API-Version": version}
    async with r.http.post(r.url + "/flows", json=body, headers=headers) as resp:
        text = await resp.text()
        assert resp.status == status, text
        return json.loads(text) if text and resp.content_type == "application/json" else None


async def get_json(r: Running, path: str, status: int = 200, **headers: str) -> Any:
    async with r.http.get(r.url + path, headers=headers) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def inject(r: Running, nid: str, body: Any = None, status: int = 200) -> str:
    async with r.http.post(f"{r.url}/inject/{nid}", json=body) as resp:
        assert resp.status == status, await resp.text()
        return await resp.text()


async def test_flows_v1_and_v2_read_what_was_deployed_and_write_the_flows_file(serve):
    r = await serve()
    assert await get_json(r, "/flows") == []
    flows = chain()
    assert await deploy(r, flows) is None  # v1: 204, no body
    assert await get_json(r, "/flows") == flows
    v2 = await get_json(r, "/flows", **{"Node-RED-API-Version": "v2"})
    assert v2["flows"] == flows and len(v2["rev"]) == 64
    saved = json.loads((r.server.config.data_dir / "flows.json").read_text())
    assert saved == flows
    bad = await get_json(r, "/flows", 400, **{"Node-RED-API-Version": "v3"})
    assert bad["code"] == "invalid_api_version"


async def test_v2_deploy_checks_the_revision_and_answers_409_when_stale(serve):
    r = await serve()
    first = await deploy(r, {"flows": chain(text="a")}, version="v2", status=200)
    second = await deploy(
        r, {"rev": first["rev"], "flows": chain(text="b")}, version="v2", status=200
    )
    assert second["rev"] != first["rev"]
    stale = await deploy(
        r, {"rev": first["rev"], "flows": chain(text="c")}, version="v2", status=409
    )
    assert stale["code"] == "version_mismatch"
    current = await get_json(r, "/flows", **{"Node-RED-API-Version": "v2"})
    assert current["rev"] == second["rev"]
    assert current["flows"][2]["rules"][0]["to"] == "b"
    # without a rev there is no check (Node-RED's behaviour)
    await deploy(r, {"flows": chain(text="d")}, version="v2", status=200)


async def test_deploy_types_restart_only_what_they_should(serve):
    r = await serve()
    flows = chain() + chain("t2", "two", "i2", "c2", "d2")
    await deploy(r, flows)
    rt = r.server.runtime
    before = {n: rt.get_node(n) for n in ("i1", "c1", "d1", "i2", "c2")}
    comms = await open_comms(r)

    flows[2]["rules"][0]["to"] = "uno"
    await deploy(r, flows, "nodes")
    event = await comms.next("deploy")
    assert event["data"]["type"] == "nodes" and event["data"]["changed"] == ["c1"]
    assert rt.get_node("c1") is not before["c1"]
    assert all(rt.get_node(n) is before[n] for n in ("i1", "d1", "i2", "c2"))
    assert await inject(r, "i1") == "OK"
    assert (await comms.next("debug", id="d1"))["data"]["msg"] == "uno"

    flows[6]["rules"][0]["to"] = "dos"
    await deploy(r, flows, "flows")
    assert (await comms.next("deploy"))["data"]["type"] == "flows"
    assert rt.get_node("i2") is not before["i2"]  # its tab changed
    assert rt.get_node("i1") is before["i1"]  # the other tab kept running
    await inject(r, "i2")
    assert (await comms.next("debug", id="d2"))["data"]["msg"] == "dos"

    await deploy(r, flows, "full")
    assert rt.get_node("i1") is not before["i1"]

    # reload: restart from the flows file (edited on disk here)
    path = r.server.config.data_dir / "flows.json"
    on_disk = json.loads(path.read_text())
    on_disk[2]["rules"][0]["to"] = "from the file"
    path.write_text(json.dumps(on_disk))
    async with r.http.post(
        r.url + "/flows", headers={"Node-RED-Deployment-Type": "reload"}
    ) as resp:
        assert resp.status == 204
    await inject(r, "i1")
    assert (await comms.next("debug", id="d1"))["data"]["msg"] == "from the file"
    assert (await get_json(r, "/flows"))[2]["rules"][0]["to"] == "from the file"

    refused = await deploy(r, flows, "partial", status=400)
    assert refused["code"] == "invalid_deployment_type"
    assert set(DEPLOY_TYPES) <= set((await get_json(r, "/settings"))["deploymentTypes"])


async def test_invalid_flow_is_refused_naming_node_and_field_and_old_flow_keeps_running(serve):
    r = await serve()
    good = chain(text="still here")
    await deploy(r, good)
    comms = await open_comms(r)
    bad = copy.deepcopy(good)
    bad[2]["rules"] = "not a list"
    problem = await deploy(r, bad, status=400)
    assert problem["code"] == "invalid_flow"
    assert problem["problems"][0]["id"] == "c1"
    assert problem["problems"][0]["field"] == "rules"
    assert "c1" in problem["message"] and "rules" in problem["message"]
    assert await get_json(r, "/flows") == good
    assert json.loads((r.server.config.data_dir / "flows.json").read_text()) == good
    await inject(r, "i1")
    assert (await comms.next("debug", id="d1"))["data"]["msg"] == "still here"

    wire = copy.deepcopy(good)
    wire[1]["wires"] = [["nowhere"]]
    problem = await deploy(r, wire, "nodes", status=400)
    assert problem["problems"][0]["id"] == "i1"


async def test_flow_endpoints_add_get_update_delete_one_tab(serve):
    r = await serve()
    await deploy(r, [*chain(), {"id": "tls1", "type": "tls-config", "name": "plant ca"}])
    new = {
        "label": "Packing",
        "nodes": [
            {"id": "pi", "type": "inject", "wires": [["pd"]], "props": [{"p": "payload"}]},
            {"id": "pd", "type": "debug", "wires": []},
        ],
    }
    async with r.http.post(r.url + "/flow", json=new) as resp:
        assert resp.status == 200, await resp.text()
        fid = (await resp.json())["id"]
    flow = await get_json(r, f"/flow/{fid}")
    assert flow["label"] == "Packing"
    assert [n["id"] for n in flow["nodes"]] == ["pi", "pd"]
    assert all(n["z"] == fid for n in flow["nodes"])
    assert r.server.runtime.get_node("pi") is not None

    flow["label"] = "Packing line 2"
    flow["nodes"] = flow["nodes"][1:]  # drop the inject
    async with r.http.put(f"{r.url}/flow/{fid}", json=flow) as resp:
        assert resp.status == 200 and (await resp.json()) == {"id": fid}
    again = await get_json(r, f"/flow/{fid}")
    assert again["label"] == "Packing line 2" and [n["id"] for n in again["nodes"]] == ["pd"]
    assert r.server.runtime.get_node("pi") is None

    glob = await get_json(r, "/flow/global")
    assert [n["id"] for n in glob["configs"]] == ["tls1"]
    assert (await get_json(r, "/flow/t1"))["nodes"][0]["id"] == "i1"

    async with r.http.post(r.url + "/flow", json={"label": "x", "nodes": [chain()[1]]}) as resp:
        assert resp.status == 400 and "duplicate id" in (await resp.json())["message"]
    async with r.http.post(r.url + "/flow", json={"label": "x"}) as resp:
        assert resp.status == 400 and (await resp.json())["message"] == "missing nodes property"
    async with r.http.put(r.url + "/flow/nope", json={"nodes": []}) as resp:
        assert resp.status == 404 and (await resp.json())["code"] == "not_found"

    async with r.http.delete(f"{r.url}/flow/{fid}") as resp:
        assert resp.status == 204
    assert (await get_json(r, f"/flow/{fid}", 404))["code"] == "not_found"
    assert r.server.runtime.get_node("pd") is None
    async with r.http.delete(f"{r.url}/flow/{fid}") as resp:
        assert resp.status == 404
    async with r.http.delete(r.url + "/flow/global") as resp:
        assert resp.status == 400
    assert [n["id"] for n in await get_json(r, "/flows")] == ["t1", "i1", "c1", "d1", "tls1"]


async def test_inject_endpoint_presses_the_button_and_takes_user_props(serve):
    r = await serve()
    flows = [
        {"id": "t1", "type": "tab"},
        {"id": "i1", "type": "inject", "z": "t1", "props": [{"p": "payload"}],
         "payload": "configured", "payloadType": "str", "wires": [["d1"]]},
        {"id": "d1", "type": "debug", "z": "t1", "wires": []},
    ]  # fmt: skip
    await deploy(r, flows)
    comms = await open_comms(r)
    await inject(r, "i1")
    assert (await comms.next("debug", id="d1"))["data"]["msg"] == "configured"
    props = {"__user_inject_props__": [{"p": "payload", "v": "from the button", "vt": "str"}]}
    await inject(r, "i1", props)
    assert (await comms.next("debug", id="d1"))["data"]["msg"] == "from the button"
    assert (await (await r.http.post(r.url + "/inject/d1")).json())["code"] == "not_found"
    async with r.http.post(r.url + "/inject/missing") as resp:
        assert resp.status == 404


async def test_node_catalogue_lists_every_type_with_schema_and_help(serve):
    r = await serve()
    nodes = await get_json(r, "/nodes")
    by_type = {n["type"]: n for n in nodes}
    assert {"inject", "debug", "change", "mqtt in", "sql-query"} <= set(by_type)
    inj = by_type["inject"]
    assert inj["category"] and inj["outputs"] == 1 and inj["inputs"] == 0
    assert inj["color"].startswith("#") and inj["icon"] and inj["help"]
    assert "repeat" in inj["schema"]["properties"]
    assert (await get_json(r, "/nodes/mqtt%20in"))["type"] == "mqtt in"
    assert (await get_json(r, "/nodes/no-such-type", 404))["code"] == "not_found"


async def test_comms_streams_debug_status_log_and_deploy_events(serve):
    r = await serve()
    comms = await open_comms(r)
    flows = [
        {"id": "t1", "type": "tab"},
        {"id": "i1", "type": "inject", "z": "t1", "props": [{"p": "payload"}],
         "payload": "x" * 5000, "payloadType": "str", "wires": [["d1"]]},
        {"id": "d1", "type": "debug", "z": "t1", "name": "long", "console": "true",
         "tostatus": True, "wires": []},
        {"id": "i2", "type": "inject", "z": "t1", "props": [{"p": "payload"}],
         "payload": json.dumps(list(range(30))), "payloadType": "json", "wires": [["s1"]]},
        {"id": "s1", "type": "split", "z": "t1", "wires": [["d2"]]},
        {"id": "d2", "type": "debug", "z": "t1", "name": "fast", "wires": []},
    ]  # fmt: skip
    await deploy(r, flows)
    event = await comms.next("deploy")
    assert set(event["data"]["added"]) >= {"i1", "d1"} and len(event["data"]["rev"]) == 64

    await inject(r, "i1")
    debug = (await comms.next("debug", id="d1"))["data"]
    assert debug["format"] == "string[5000]" and debug["name"] == "long"
    assert debug["msg"] == "x" * 1000 + "..."  # truncated on the server
    status = await comms.next("status/d1", fill="grey", shape="dot")
    assert status["data"]["text"] == "x" * 32 + "..."
    line = await comms.next("log", id="d1")
    assert line["data"]["level"] == "info" and len(line["data"]["text"]) <= 1003

    # 30 messages in one burst: 10 pass, the other 20 are counted in one notice
    await inject(r, "i2")
    dropped = await comms.next("debug/dropped", id="d2")
    assert dropped["data"]["dropped"] == 20
    shown = [e for e in comms.events if e["topic"] == "debug" and e["data"]["id"] == "d2"]
    assert [e["data"]["msg"] for e in shown] == [str(n) for n in range(10)]
    assert shown[0]["data"]["format"] == "number"

    # a new client gets the last status of every node
    late = await open_comms(r)
    assert (await late.next("status/d1"))["data"]["text"] == "x" * 32 + "..."


async def test_comms_pause_switch_holds_back_debug_messages(serve):
    r = await serve()
    await deploy(r, chain(text="while paused"))
    comms = await open_comms(r)
    await comms.send({"pause": True})
    assert (await comms.next("debug/paused"))["data"] == {"paused": True, "dropped": 0}
    await inject(r, "i1")
    await comms.send({"pause": False})
    resumed = await comms.next("debug/paused")
    assert resumed["data"] == {"paused": False, "dropped": 1}
    assert not [e for e in comms.events if e["topic"] == "debug"]
    await inject(r, "i1")
    assert (await comms.next("debug", id="d1"))["data"]["msg"] == "while paused"


def test_debug_values_are_encoded_with_long_parts_cut() -> None:
    fmt, text = encode_value({"a": "y" * 2000, "b": list(range(1500)), "c": b"\x01\x02"}, 1000)
    assert fmt == "Object"
    value = json.loads(text)  # still valid JSON
    assert value["a"] == "y" * 1000 + "..."
    assert (
        value["b"]["__enc__"] and value["b"]["length"] == 1500 and len(value["b"]["data"]) == 1000
    )
    assert value["c"] == {"__enc__": True, "type": "Buffer", "data": [1, 2], "length": 2}
    assert encode_value([1, 2]) == ("array[2]", "[1, 2]")
    assert encode_value(None) == ("null", "null")
    assert encode_value(True) == ("boolean", "true")


async def test_oversized_and_malformed_requests_are_refused_cleanly(serve):
    r = await serve(max_body=10_000)
    await deploy(r, chain())

    async def post(data: Any, ctype: str = "application/json") -> tuple[int, dict[str, Any]]:
        async with r.http.post(
            r.url + "/flows", data=data, headers={"Content-Type": ctype}
        ) as resp:
            text = await resp.text()
            assert "Traceback" not in text
            return resp.status, json.loads(text)

    status, body = await post(json.dumps([{"id": "n", "type": "comment", "info": "z" * 20_000}]))
    assert (status, body["code"]) == (413, "request_too_large")

    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 1000

    status, body = await post(chunks())  # no Content-Length: counted while read
    assert (status, body["code"]) == (413, "request_too_large")
    status, body = await post('[{"id": "n", "type": ')
    assert (status, body["code"]) == (400, "invalid_json") and "line 1" in body["message"]
    assert (await post("[" * 5000 + "]" * 5000))[0] == 400  # too deep for the parser
    assert (await post('[{"id": "n", "type": "comment", "x": NaN}]'))[0] == 400
    assert (await post("[]", "text/plain"))[0] == 415
    status, body = await post('{"not": "a list"}')
    assert (status, body["code"]) == (400, "invalid_flow")
    status, body = await post('[{"type": "comment"}]')
    assert status == 400 and "id" in body["message"]
    assert (await get_json(r, "/nope", 404))["code"] == "not_found"
    assert await get_json(r, "/flows") == chain()  # nothing was touched


async def test_credentials_stay_out_of_the_flows_and_the_file(serve):
    r = await serve()
    secret = "s3cret-pw-do-not-show"
    flows = [{"id": "tls1", "type": "tls-config", "credentials": {"passphrase": secret}}]
    await deploy(r, flows)
    v2 = {
        "flows": [{"id": "tls2", "type": "tls-config"}, {"id": "tls1", "type": "tls-config"}],
        "credentials": {"tls2": {"passphrase": "second"}},
    }
    await deploy(r, v2, version="v2", status=200)
    shown = json.dumps(await get_json(r, "/flows"))
    assert secret not in shown and "second" not in shown
    assert secret not in (r.server.config.data_dir / "flows.json").read_text()
    assert await get_json(r, "/credentials/tls-config/tls1") == {"has_passphrase": True}
    assert await get_json(r, "/credentials/tls-config/tls2") == {"has_passphrase": True}
    assert r.server.runtime.credentials.get("tls1")["passphrase"] == secret

    # a refused deploy that lacks tls1 must not cost tls1 its credentials
    await deploy(r, [{"id": "x", "type": "change", "rules": "bad", "wires": [[]]}], status=400)
    await deploy(r, [{"id": "tls1", "type": "tls-config"}])
    assert await get_json(r, "/credentials/tls-config/tls1") == {"has_passphrase": True}


async def test_revisions_are_kept_and_deployed_flows_survive_a_restart(serve):
    r = await serve()
    await deploy(r, chain(text="first"))
    await deploy(r, chain(text="second"))
    revs = await get_json(r, "/revisions")
    assert [x["type"] for x in revs] == ["full", "full"]
    old = await get_json(r, f"/revisions/{revs[1]['rev']}")
    assert old["flows"][2]["rules"][0]["to"] == "first"
    await get_json(r, "/revisions/unknown", 404)
    rev = (await get_json(r, "/flows", **{"Node-RED-API-Version": "v2"}))["rev"]
    await r.http.close()
    await r.stop()

    again = await serve()
    assert (await get_json(again, "/flows", **{"Node-RED-API-Version": "v2"}))["rev"] == rev
    comms = await open_comms(again)
    await inject(again, "i1")
    assert (await comms.next("debug", id="d1"))["data"]["msg"] == "second"


async def test_openapi_document_covers_every_route(serve):
    r = await serve()
    doc = await get_json(r, "/openapi.json")
    assert doc["openapi"].startswith("3.1")
    from starlette.routing import Route

    app_routes = {route.path for route in r.uv.config.app.routes if isinstance(route, Route)}
    assert app_routes <= set(doc["paths"]), app_routes - set(doc["paths"])
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                assert op["responses"], (path, method)


async def test_comms_refuses_a_foreign_origin(serve):
    r = await serve()
    try:
        await r.http.ws_connect(r.url + "/comms", origin="http://evil.example")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 403
    else:
        raise AssertionError("cross-site WebSocket accepted")
    async with r.http.post(r.url + "/inject/x", headers={"Origin": "http://evil.example"}) as resp:
        assert resp.status == 403 and (await resp.json())["code"] == "forbidden_origin"


async def test_runtime_log_lines_reach_comms(serve, caplog):
    caplog.set_level(logging.INFO, logger="plantwire")  # as `plantwire serve` configures it
    r = await serve()
    comms = await open_comms(r)
    flows = [{"id": "t1", "type": "tab"}, {"id": "n1", "type": "not-installed", "z": "t1"}]
    await deploy(r, flows)
    warning = await comms.next("log", level="warn")
    assert "not-installed" in warning["data"]["text"]
    assert warning["data"]["text"].startswith("[plantwire.runtime]")
    info = await comms.next("log", level="info")
    assert "deployed (full)" in info["data"]["text"]


async def test_an_invalid_flows_file_is_shown_but_not_started(serve, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    bad = chain()
    bad[2]["rules"] = "not a list"
    (data / "flows.json").write_text(json.dumps(bad))
    r = await serve(data_dir=data)
    assert await get_json(r, "/flows") == bad  # there to be fixed in the editor
    assert r.server.runtime.nodes() == []
    await deploy(r, chain(), "nodes")
    assert r.server.runtime.get_node("i1") is not None
