"""The uns, uns-model and uns-tree nodes against the machine's Mosquitto."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plantwire.nodes.uns.tree import tree_for
from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from tests.tcp_proxy import free_port as _free_port

from .conftest import PeerClient, broker_node, model_node

MOSQUITTO = "/usr/sbin/mosquitto"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _tab() -> dict[str, Any]:
    return {"id": "t1", "type": "tab", "label": "uns"}


def _uns(**extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": "u",
        "type": "uns",
        "z": "t1",
        "model": "model",
        "area": "packaging",
        "line": "line1",
        "cell": "filler",
        "point": "",
        "wires": [["out"]],
    }
    node.update(extra)
    return node


def _probe(nid: str = "out") -> dict[str, Any]:
    return {"id": nid, "type": "test-probe", "z": "t1", "wires": [[]]}


def _catch() -> dict[str, Any]:
    return {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["caught"]]}


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def _received(rt: Runtime, nid: str) -> list[Msg]:
    node = rt.get_node(nid)
    assert node is not None
    received: list[Msg] = node.received  # type: ignore[attr-defined]
    return received


async def _send(rt: Runtime, nid: str, msg: Msg) -> None:
    node = rt.get_node(nid)
    assert node is not None
    rt.deliver(node, msg)
    await asyncio.sleep(0)


async def _deploy(make_runtime: Callable[..., Runtime], flows: list[dict[str, Any]]) -> Runtime:
    rt = make_runtime()
    await rt.deploy(flows)
    return rt


async def test_values_are_published_retained_with_the_documented_shape(
    make_runtime: Callable[..., Runtime], uns_root: str
) -> None:
    flows = [
        _tab(),
        broker_node(),
        model_node(uns_root),
        _uns(units=[{"point": "temperature", "unit": "degC"}], source="plc1"),
        _probe(),
    ]
    rt = await _deploy(make_runtime, flows)
    await _send(rt, "u", {"topic": "temperature", "payload": 21.5})
    await _send(
        rt, "u", {"topic": "state", "payload": {"running": True}, "timestamp": 1714564800123}
    )
    await _until(lambda: len(_received(rt, "out")) == 2)
    base = f"{uns_root}/plant1/packaging/line1/filler"
    first, second = _received(rt, "out")
    assert first["topic"] == f"{base}/temperature"
    assert first["retain"] is True and first["qos"] == 1
    assert set(first["payload"]) == {"value", "timestamp", "quality", "unit", "source"}
    assert first["payload"]["value"] == 21.5
    assert first["payload"]["unit"] == "degC"
    assert first["payload"]["quality"] == "good"
    assert first["payload"]["source"] == "plc1"
    assert ISO_MS.match(first["payload"]["timestamp"])
    assert second["payload"]["timestamp"] == "2024-05-01T12:00:00.123Z"
    assert second["payload"]["unit"] == ""

    late = await PeerClient().connect()
    try:
        late.subscribe(f"{uns_root}/#")
        got = await late.wait_for(2)
    finally:
        await late.close()
    by_topic = {t: (json.loads(p), retained) for t, p, retained in got}
    assert by_topic[f"{base}/temperature"] == (first["payload"], True)
    assert by_topic[f"{base}/state"] == (second["payload"], True)
    assert by_topic[f"{base}/state"][0]["value"] == {"running": True}


async def test_a_late_subscriber_gets_only_the_latest_value(
    make_runtime: Callable[..., Runtime], uns_root: str
) -> None:
    rt = await _deploy(
        make_runtime, [_tab(), broker_node(), model_node(uns_root), _uns(point="speed"), _probe()]
    )
    for v in (10, 20, 30):
        await _send(rt, "u", {"payload": v, "quality": "uncertain" if v == 30 else None})
    await _until(lambda: len(_received(rt, "out")) == 3)
    late = await PeerClient().connect()
    try:
        late.subscribe(f"{uns_root}/#")
        await late.wait_for(1)
        await asyncio.sleep(0.5)  # nothing more should come
    finally:
        await late.close()
    assert len(late.received) == 1
    topic, data, retained = late.received[0]
    assert topic == f"{uns_root}/plant1/packaging/line1/filler/speed" and retained
    assert json.loads(data)["value"] == 30
    assert json.loads(data)["quality"] == "uncertain"


async def test_tree_shows_this_runtime_and_another_publisher(
    make_runtime: Callable[..., Runtime], uns_root: str, peer: PeerClient
) -> None:
    other = f"{uns_root}/plant1/utilities/compressor/pressure"
    peer.publish(other, json.dumps({"value": 6.1, "timestamp": "x", "quality": "good"}))
    await asyncio.sleep(0.3)  # retained before the runtime starts
    flows = [
        _tab(),
        broker_node(),
        model_node(uns_root, browse=True),
        _uns(point="temperature", unit="degC"),
        {"id": "tree", "type": "uns-tree", "z": "t1", "model": "model", "wires": [["snap"]]},
        {"id": "list", "type": "uns-tree", "z": "t1", "output": "list", "wires": [["flat"]]},
        _probe(),
        _probe("snap"),
        _probe("flat"),
    ]
    rt = await _deploy(make_runtime, flows)
    await _send(rt, "u", {"payload": 80.5})
    tree = tree_for(rt)
    await _until(lambda: other in tree and len(_received(rt, "out")) == 1)
    peer.publish(f"{uns_root}/plant1/utilities/line2/state", b"running")
    await _until(lambda: f"{uns_root}/plant1/utilities/line2/state" in tree)

    await _send(rt, "tree", {"payload": ""})
    await _send(rt, "list", {"payload": "", "prefix": f"{uns_root}/plant1/utilities"})
    await _until(lambda: bool(_received(rt, "snap")) and bool(_received(rt, "flat")))
    snap = _received(rt, "snap")[0]["payload"]
    site = snap[uns_root]["plant1"]
    mine = site["packaging"]["line1"]["filler"]["temperature"]
    assert mine["value"] == 80.5 and mine["unit"] == "degC" and mine["origin"] == "local"
    theirs = site["utilities"]["compressor"]["pressure"]
    assert theirs["value"] == 6.1 and theirs["origin"] == "remote"
    assert site["utilities"]["line2"]["state"]["value"] == "running"
    flat = _received(rt, "flat")[0]["payload"]
    assert [p["topic"] for p in flat] == [other, f"{uns_root}/plant1/utilities/line2/state"]

    # a retained topic another publisher clears disappears from the tree
    peer.publish(other, b"")
    await _until(lambda: other not in tree)


@pytest.mark.parametrize(
    ("node", "field", "text"),
    [
        ("model", "site", "site name 'plant/1' contains \"/\""),
        ("model", "enterprise", "enterprise name is empty"),
        ("model", "prefix", "prefix 'uns/' has an empty level"),
        ("model", "areas.0.lines.0.cells", "cell name 'f#' contains \"#\""),
        ("model", "paths", "the line level is empty"),
        ("u", "area", "area name 'pack+' contains \"+\""),
        ("u", "point", "point name 'a/b' contains"),
        ("u", "units", "point name 't#' (from units) contains"),
    ],
)
async def test_invalid_names_are_refused_at_deploy_naming_the_level(
    make_runtime: Callable[..., Runtime], node: str, field: str, text: str
) -> None:
    bad: dict[str, dict[str, Any]] = {
        "site": {"site": "plant/1"},
        "enterprise": {"enterprise": ""},
        "prefix": {"prefix": "uns/"},
        "areas.0.lines.0.cells": {
            "areas": [{"name": "pack", "lines": [{"name": "l1", "cells": ["f#"]}]}]
        },
        "paths": {"paths": "pack//filler"},
        "area": {"area": "pack+"},
        "point": {"point": "a/b"},
        "units": {"units": {"t#": "degC"}},
    }
    model = model_node("acme")
    uns = _uns()
    (model if node == "model" else uns).update(bad[field])
    rt = make_runtime()
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy([_tab(), broker_node(), model, uns, _probe()])
    problems = info.value.problems
    assert len(problems) == 1
    assert problems[0].node_id == node
    assert problems[0].field == field
    assert text in problems[0].message
    assert rt.get_node("u") is None


async def test_problems_found_per_message_reach_catch_nodes_and_nothing_is_published(
    make_runtime: Callable[..., Runtime], uns_root: str, peer: PeerClient
) -> None:
    peer.subscribe(f"{uns_root}/#")
    flows = [
        _tab(),
        broker_node(),
        model_node(uns_root, paths="packaging/line1/filler, packaging/line2"),
        _uns(area="", line="", cell=""),
        _probe(),
        _catch(),
        _probe("caught"),
    ]
    rt = await _deploy(make_runtime, flows)
    cases: list[tuple[Msg, str]] = [
        ({"area": "packaging", "topic": "raw", "payload": b"\x00\x01"}, "binary data"),
        ({"area": "packaging", "topic": "x", "payload": float("inf")}, "NaN and Infinity"),
        ({"area": "packaging", "topic": "a/b", "payload": 1}, "point name 'a/b' (from msg.topic)"),
        ({"topic": "x", "payload": 1}, "area name is missing (from msg.area)"),
        ({"area": "packaging", "line": "line7", "topic": "x", "payload": 1}, "line 'line7' is"),
        ({"area": "packaging", "topic": "x", "payload": 1, "quality": "meh"}, "msg.quality"),
        ({"area": "packaging", "topic": "x", "payload": 1, "timestamp": "soon"}, "timestamp"),
    ]
    for msg, _ in cases:
        await _send(rt, "u", msg)
    await _send(rt, "u", {"area": "packaging", "line": "line2", "topic": "ok", "payload": 1})
    await _until(lambda: len(_received(rt, "out")) == 1)
    caught = _received(rt, "caught")
    assert len(caught) == len(cases)
    for got, (_, text) in zip(caught, cases, strict=True):
        assert text in got["error"]["message"]
        assert got["error"]["source"]["id"] == "u"
    await peer.wait_for(1)
    await asyncio.sleep(0.3)
    assert [t for t, _, _ in peer.received] == [f"{uns_root}/plant1/packaging/line2/ok"]


async def test_node_settings_win_over_the_message(
    make_runtime: Callable[..., Runtime], uns_root: str
) -> None:
    flows = [
        _tab(),
        broker_node(),
        model_node(uns_root, prefix=f"pfx-{uns_root}", qos="0"),
        _uns(
            area="packaging",
            line="",
            cell="",
            pointProperty="tag.name",
            property="reading",
            unit="bar",
            units={"flow": "m3/h"},
        ),
        _probe(),
    ]
    rt = await _deploy(make_runtime, flows)
    base = f"pfx-{uns_root}/{uns_root}/plant1"
    await _send(
        rt,
        "u",
        {"area": "ignored", "line": "line3", "tag": {"name": "flow"}, "reading": 4, "unit": "l"},
    )
    await _send(rt, "u", {"tag": {"name": "pressure"}, "reading": 2, "unit": "psi"})
    await _send(rt, "u", {"line": "line3", "cell": "c9", "tag": {"name": "p"}, "reading": 3})
    await _until(lambda: len(_received(rt, "out")) == 3)
    a, b, c = _received(rt, "out")
    assert a["topic"] == f"{base}/packaging/line3/flow" and a["payload"]["unit"] == "m3/h"
    assert b["topic"] == f"{base}/packaging/pressure" and b["payload"]["unit"] == "bar"
    assert c["topic"] == f"{base}/packaging/line3/c9/p"
    assert a["qos"] == 0 and a["retain"] is True
    entry = tree_for(rt).get(f"{base}/packaging/pressure")
    assert entry is not None and entry.value == 2 and entry.node == "u"


async def test_example_flow_runs(make_runtime: Callable[..., Runtime], uns_root: str) -> None:
    path = Path(__file__).parents[3] / "examples" / "uns" / "uns-demo.json"
    flows = json.loads(path.read_text())
    for node in flows:
        if node["type"] == "uns-model":
            node["enterprise"] = uns_root
    rt = await _deploy(make_runtime, flows)
    tree = tree_for(rt)
    base = f"{uns_root}/plant1/packaging/line1/filler"
    await _until(lambda: f"{base}/temperature" in tree and f"{base}/state" in tree)
    temp = tree.get(f"{base}/temperature")
    assert temp is not None and temp.unit == "degC" and temp.source == "filler-plc"
    assert isinstance(temp.value, int | float) and 45 <= temp.value <= 60


async def _start_mosquitto(tmp_path: Path, port: int) -> asyncio.subprocess.Process:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = await asyncio.create_subprocess_exec(
        MOSQUITTO,
        "-c",
        str(conf),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while loop.time() < end:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc
        except OSError:
            await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("mosquitto did not start")


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="no mosquitto binary")
async def test_broker_outage_reaches_catch_nodes_and_publishing_resumes(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    port = _free_port()
    proc = await _start_mosquitto(tmp_path, port)
    try:
        broker = broker_node()
        broker["port"] = str(port)
        flows = [
            _tab(),
            broker,
            model_node("acme"),
            _uns(point="speed"),
            _probe(),
            _catch(),
            _probe("caught"),
        ]
        rt = await _deploy(make_runtime, flows)
        await _send(rt, "u", {"payload": 1})
        await _until(lambda: len(_received(rt, "out")) == 1)
        proc.terminate()
        await proc.wait()
        uns = rt.get_node("u")
        assert uns is not None
        await _until(lambda: uns.last_status.get("text") != "connected")
        await _send(rt, "u", {"payload": 2})
        await _until(lambda: len(_received(rt, "caught")) == 1)
        assert "not connected to the MQTT broker" in _received(rt, "caught")[0]["error"]["message"]
        proc = await _start_mosquitto(tmp_path, port)
        await _until(lambda: uns.last_status.get("text") == "connected", timeout=40)
        await _send(rt, "u", {"payload": 3})
        await _until(lambda: len(_received(rt, "out")) == 2)
        assert _received(rt, "out")[1]["payload"]["value"] == 3
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
