"""OPC UA client nodes against a real asyncua Server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncua.server.server import Server

from plantwire.runtime.runtime import Runtime, RuntimeSettings
from tests.tcp_proxy import free_port

from .helpers import client_node, nid, node_of, probe, start_server, tab, user, wait_for


@pytest.fixture
async def opc() -> AsyncIterator[tuple[Server, int, int]]:
    port = free_port()
    server, idx = await start_server(port)
    yield server, idx, port
    await server.stop()


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = Runtime(RuntimeSettings(tmp_path, credential_secret="x"))
    yield rt
    if rt._started:
        await rt.stop()


def received(rt: Runtime, nid: str = "out") -> list[dict[str, Any]]:
    return node_of(rt, nid).received  # type: ignore[no-any-return]


def errors_of(rt: Runtime) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    rt.log_listeners.append(lambda node, level, text: found.append((node.id if node else "", text)))
    return found


async def test_read_all_data_types(opc: tuple[Server, int, int], runtime: Runtime) -> None:
    _, idx, port = opc
    refs = {
        "Temperature": 21.5,
        "Speed": 1.25,
        "Count": -42,
        "Total": 2**40,
        "Small": 200,
        "Running": True,
        "Recipe": "Lager",
        "Stamp": "2026-01-02T03:04:05.000Z",
        "Blob": b"\x01\x02",
        "Levels": [1.0, 2.0, 3.0],
    }
    ids = [f"ns={idx};s=Line1.{name}" for name in refs]
    ids.append(f"/Objects/{idx}:Plant/{idx}:Area1/{idx}:Line1/{idx}:Recipe")
    await runtime.deploy(
        [tab(), client_node(port), user("r", "opcua-read", nodeIds=ids, interval="0.3"), probe()]
    )
    await wait_for(lambda: len(received(runtime)) >= len(ids), what="first poll")
    first = {m["nodeId"]: m for m in received(runtime)[: len(ids)]}
    for name, want in refs.items():
        msg = first[f"ns={idx};s=Line1.{name}"]
        assert msg["payload"] == want, name
        assert msg["quality"] == {"status": "good"}
        assert msg["topic"] == f"ns={idx};s=Line1.{name}"
        assert msg["sourceTimestamp"].endswith("Z")
    assert first[ids[-1]]["payload"] == "Lager"  # browse path
    assert node_of(runtime, "r").last_status["fill"] == "green"


async def test_read_on_input_object_output(opc: tuple[Server, int, int], runtime: Runtime) -> None:
    _, idx, port = opc
    ids = [f"Temp = ns={idx};s=Line1.Temperature", f"Count = ns={idx};s=Line1.Count"]
    await runtime.deploy(
        [
            tab(),
            client_node(port),
            user("r", "opcua-read", nodeIds=ids, interval="0", output="object", topic="line1"),
            probe(),
        ]
    )
    reader = node_of(runtime, "r")
    await wait_for(lambda: reader.last_status.get("text") == "connected", what="connected")
    runtime.deliver(reader, {"payload": "go", "batch": 7})
    await wait_for(lambda: len(received(runtime)) == 1)
    msg = received(runtime)[0]
    assert msg["payload"] == {"Temp": 21.5, "Count": -42}
    assert msg["topic"] == "line1"
    assert msg["quality"] == {"status": "good"}


async def test_write_with_type_coercion(opc: tuple[Server, int, int], runtime: Runtime) -> None:
    server, idx, port = opc
    await runtime.deploy(
        [tab(), client_node(port), user("w", "opcua-write"), probe(), {
            "id": "catch", "type": "catch", "z": "t1", "scope": None, "wires": [["caught"]]
        }, probe("caught")]
    )  # fmt: skip
    writer = node_of(runtime, "w")
    await wait_for(lambda: writer.last_status.get("text") == "connected", what="connected")
    cases = [
        ("Setpoint", "62.5", 62.5),
        ("Count", "17", 17),
        ("Running", 0, False),
        ("Recipe", 12, "12"),
        ("Levels", ["4", 5, 6.5], [4.0, 5.0, 6.5]),
        ("Stamp", "2026-05-01T00:00:00Z", None),
    ]
    for name, value, _ in cases:
        runtime.deliver(writer, {"topic": f"ns={idx};s=Line1.{name}", "payload": value})
    await wait_for(lambda: len(received(runtime)) == len(cases), what="writes")
    assert all(m["statusCode"] == "Good" for m in received(runtime))
    for name, _, want in cases:
        got = await server.get_node(nid(f"Line1.{name}", idx)).read_value()
        if want is not None:
            assert got == want, name
    # a value that does not fit: error names the node id and the type
    runtime.deliver(writer, {"topic": f"ns={idx};s=Line1.Small", "payload": 300})
    runtime.deliver(writer, {"topic": f"ns={idx};s=Line1.Count", "payload": "abc"})
    await wait_for(lambda: len(received(runtime, "caught")) == 2, what="errors")
    texts = [m["error"]["message"] for m in received(runtime, "caught")]
    assert f"ns={idx};s=Line1.Small" in texts[0] and "Byte" in texts[0]
    assert "Int32" in texts[1]


async def test_subscribe_and_deadband(opc: tuple[Server, int, int], runtime: Runtime) -> None:
    server, idx, port = opc
    level = server.get_node(nid("Line1.Level", idx))
    temp = server.get_node(nid("Line1.Temperature", idx))
    await runtime.deploy(
        [
            tab(),
            client_node(port),
            user(
                "s",
                "opcua-subscribe",
                nodeIds=[
                    f"ns={idx};s=Line1.Temperature",
                    {"nodeId": f"ns={idx};s=Line1.Level", "deadbandType": "absolute",
                     "deadband": 5, "name": "level"},
                ],
                publishingInterval="100",
                samplingInterval="50",
            ),
            probe(),
        ]
    )  # fmt: skip
    msgs = received(runtime)
    await wait_for(lambda: len(msgs) >= 2, what="initial values")
    assert {m["point"] for m in msgs} == {f"ns={idx};s=Line1.Temperature", "level"}
    for value in (22.0, 23.0, 24.0):
        await temp.write_value(value)
        await asyncio.sleep(0.3)
    for value in (1.0, 2.0, 10.0, 11.0, 20.0):  # only 10 and 20 move more than 5
        await level.write_value(value)
        await asyncio.sleep(0.3)
    await wait_for(lambda: [m["payload"] for m in msgs if m["point"] == "level"][-1] == 20.0)
    temps = [m["payload"] for m in msgs if m["point"] != "level"]
    levels = [m["payload"] for m in msgs if m["point"] == "level"]
    assert temps == [21.5, 22.0, 23.0, 24.0]
    assert levels == [0.0, 10.0, 20.0]
    assert all(m["sourceTimestamp"] and m["quality"]["status"] == "good" for m in msgs)


async def test_browse(opc: tuple[Server, int, int], runtime: Runtime) -> None:
    _, idx, port = opc
    await runtime.deploy(
        [tab(), client_node(port), user("b", "opcua-browse", startNode=f"ns={idx};s=Plant",
                                        depth="4"), probe()]
    )  # fmt: skip
    node = node_of(runtime, "b")
    await wait_for(lambda: node.last_status.get("text") == "connected", what="connected")
    runtime.deliver(node, {"payload": ""})
    await wait_for(lambda: len(received(runtime)) == 1)
    tree = received(runtime)[0]["payload"]
    assert tree["browseName"] == f"{idx}:Plant" and tree["nodeClass"] == "Object"
    line = tree["children"][0]["children"][0]
    assert line["displayName"] == "Line1"
    by_name = {c["displayName"]: c for c in line["children"]}
    assert by_name["Temperature"]["dataType"] == "Double"
    assert by_name["Temperature"]["nodeId"] == f"ns={idx};s=Line1.Temperature"
    assert by_name["Count"]["dataType"] == "Int32"
    assert by_name["Add"]["nodeClass"] == "Method"
    assert [c["browseName"] for c in by_name["Temperature"]["children"]] == [
        f"{idx}:EngineeringUnits"
    ]


async def test_method_call(opc: tuple[Server, int, int], runtime: Runtime) -> None:
    _, idx, port = opc
    await runtime.deploy(
        [
            tab(),
            client_node(port),
            user("m", "opcua-method", objectId=f"ns={idx};s=Line1", methodId=f"{idx}:Add"),
            probe(),
        ]
    )
    node = node_of(runtime, "m")
    await wait_for(lambda: node.last_status.get("text") == "connected", what="connected")
    runtime.deliver(node, {"payload": ["1.5", 2]})
    await wait_for(lambda: len(received(runtime)) == 1)
    assert received(runtime)[0]["payload"] == 3.5


async def test_bad_node_id_others_keep_working(
    opc: tuple[Server, int, int], runtime: Runtime
) -> None:
    _, idx, port = opc
    errors = errors_of(runtime)
    good, missing = f"ns={idx};s=Line1.Temperature", f"ns={idx};s=Line1.NoSuchTag"
    await runtime.deploy(
        [tab(), client_node(port), user("r", "opcua-read", nodeIds=[good, missing],
                                        interval="0.2"), probe()]
    )  # fmt: skip
    await wait_for(lambda: len(received(runtime)) >= 6, what="three polls")
    by_id = {m["nodeId"]: m for m in received(runtime)}
    assert by_id[good]["payload"] == 21.5 and by_id[good]["quality"]["status"] == "good"
    assert by_id[missing]["quality"]["status"] == "bad"
    assert "BadNodeIdUnknown" in by_id[missing]["quality"]["reason"]
    status = node_of(runtime, "r").last_status
    assert status["fill"] == "yellow" and missing in status["text"]
    mine = [t for nid, t in errors if nid == "r"]
    assert len(mine) == 1 and missing in mine[0] and "BadNodeIdUnknown" in mine[0]


async def test_malformed_node_id_refused_at_deploy(runtime: Runtime) -> None:
    with pytest.raises(Exception, match="ns=2;x=oops"):
        await runtime.deploy(
            [tab(), client_node(1), user("r", "opcua-read", nodeIds=["ns=2;x=oops"]), probe()]
        )


async def test_server_restart_values_resume(tmp_path: Path, runtime: Runtime) -> None:
    port = free_port()
    server, idx = await start_server(port)
    ref = f"ns={idx};s=Line1.Temperature"
    try:
        await runtime.deploy(
            [
                tab(),
                client_node(port),
                user("r", "opcua-read", nodeIds=[ref], interval="0.2"),
                user("s", "opcua-subscribe", wires="subs", nodeIds=[ref],
                     publishingInterval="100"),
                probe(),
                probe("subs"),
            ]
        )  # fmt: skip
        msgs, subs = received(runtime), received(runtime, "subs")
        await wait_for(lambda: len(msgs) >= 2 and len(subs) >= 1, what="values before")
        await server.stop()
        await wait_for(
            lambda: node_of(runtime, "r").last_status.get("fill") == "red", what="disconnected"
        )
        assert msgs[-1]["quality"]["status"] == "bad"
        await asyncio.sleep(1.0)
        server, idx = await start_server(port)
        await server.get_node(nid("Line1.Temperature", idx)).write_value(99.0)
        loop = asyncio.get_running_loop()
        restarted = loop.time()
        await wait_for(
            lambda: msgs[-1]["payload"] == 99.0 and subs[-1]["payload"] == 99.0,
            timeout=5.0,
            what="values after restart",
        )
        assert loop.time() - restarted < 5.0
        assert node_of(runtime, "r").last_status["text"] == "connected"
        assert node_of(runtime, "s").last_status["text"] == "connected"
    finally:
        await server.stop()
