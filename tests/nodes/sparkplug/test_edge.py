"""sparkplug-edge against the machine's Mosquitto: births, deaths, commands, RBE, STATE."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from plantwire.nodes.sparkplug.edge import SparkplugEdgeNode
from plantwire.nodes.sparkplug.sparkplug_codec import (
    REBIRTH,
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
    encode_state,
)
from plantwire.runtime.runtime import Runtime

from .conftest import broker_node, uid, wait_for

TAB = {"id": "t1", "type": "tab", "label": "t1"}


def edge_flow(group: str, **extra: Any) -> list[dict[str, Any]]:
    edge = {
        "id": "edge",
        "type": "sparkplug-edge",
        "z": "t1",
        "broker": "brk",
        "groupId": group,
        "edgeNodeId": "E1",
        "metrics": [{"name": "temp", "datatype": "Double", "deadband": "0.5"}],
        "devices": [
            {
                "name": "pump",
                "metrics": [
                    {"name": "rpm", "datatype": "Int32"},
                    {"name": "running", "datatype": "Boolean"},
                ],
            }
        ],
        "wires": [["out"]],
        **extra,
    }
    return [
        TAB,
        broker_node(),
        edge,
        {"id": "out", "type": "test-probe", "z": "t1", "wires": [[]]},
    ]


def payloads(spy: Any, suffix: str) -> list[Payload]:
    return [decode_payload(m.payload) for m in spy.on(suffix)]


async def test_births_data_and_ndeath_as_will(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group = uid("g")
    watcher = await spy(f"spBv1.0/{group}/#")
    rt = make_runtime()
    await rt.deploy(edge_flow(group))
    await wait_for(lambda: watcher.on("DBIRTH/E1/pump"), what="DBIRTH")
    nbirth = payloads(watcher, "NBIRTH/E1")[0]
    assert nbirth.seq == 0
    assert [m.name for m in nbirth.metrics] == ["bdSeq", REBIRTH, "temp"]
    assert nbirth.metrics[0].value == 0 and nbirth.metrics[0].datatype is DataType.UInt64
    dbirth = payloads(watcher, "DBIRTH/E1/pump")[0]
    assert dbirth.seq == 1 and [m.name for m in dbirth.metrics] == ["rpm", "running"]
    aliases = {m.name: m.alias for m in nbirth.metrics + dbirth.metrics if m.alias}

    edge = rt.get_node("edge")
    assert isinstance(edge, SparkplugEdgeNode)
    rt.deliver(edge, {"device": "pump", "payload": {"rpm": -5, "running": True}})
    rt.deliver(edge, {"payload": {"temp": 21.5}})
    await wait_for(lambda: watcher.on("NDATA/E1"), what="NDATA")
    ddata = payloads(watcher, "DDATA/E1/pump")[0]
    assert ddata.seq == 2
    assert [(m.alias, m.value, m.name) for m in ddata.metrics] == [
        (aliases["rpm"], -5, None),
        (aliases["running"], True, None),
    ]
    assert payloads(watcher, "NDATA/E1")[0].seq == 3

    # the connection dies without a DISCONNECT: the broker publishes the will (NDEATH)
    assert edge.session is not None and edge.session.conn is not None
    edge.session.conn._abort_transport()
    await wait_for(lambda: watcher.on("NDEATH/E1"), what="NDEATH from the will")
    death = payloads(watcher, "NDEATH/E1")[0]
    assert death.seq is None and death.metrics[0].name == "bdSeq" and death.metrics[0].value == 0
    # a new session: NBIRTH with the next bdSeq, seq from 0 again, births carry last values
    await wait_for(lambda: len(watcher.on("NBIRTH/E1")) == 2, what="second NBIRTH")
    again = payloads(watcher, "NBIRTH/E1")[1]
    assert again.seq == 0 and again.metrics[0].value == 1
    assert again.metrics[2].value == 21.5
    await wait_for(lambda: len(watcher.on("DBIRTH/E1/pump")) == 2, what="second DBIRTH")
    assert payloads(watcher, "DBIRTH/E1/pump")[1].metrics[0].value == -5

    # a deliberate stop announces the death too (bdSeq of the current session)
    await rt.stop()
    await wait_for(lambda: len(watcher.on("NDEATH/E1")) == 2, what="NDEATH on close")
    assert payloads(watcher, "NDEATH/E1")[1].metrics[0].value == 1


async def test_rebirth_and_commands(make_runtime: Callable[..., Runtime], spy: Any) -> None:
    group = uid("g")
    watcher = await spy(f"spBv1.0/{group}/#")
    rt = make_runtime()
    await rt.deploy(edge_flow(group))
    await wait_for(lambda: watcher.on("DBIRTH/E1/pump"), what="DBIRTH")
    rt.deliver(rt.get_node("edge"), {"payload": {"temp": 3.0}})  # type: ignore[arg-type]
    await wait_for(lambda: watcher.on("NDATA/E1"), what="NDATA")
    rebirth = Payload(timestamp=1, metrics=[Metric(REBIRTH, True, DataType.Boolean)])
    await watcher.publish(f"spBv1.0/{group}/NCMD/E1", encode_payload(rebirth))
    await wait_for(lambda: len(watcher.on("DBIRTH/E1/pump")) == 2, what="rebirth")
    births = payloads(watcher, "NBIRTH/E1")
    assert len(births) == 2 and births[1].seq == 0 and births[1].metrics[0].value == 0
    assert births[1].metrics[2].value == 3.0
    assert payloads(watcher, "DBIRTH/E1/pump")[1].seq == 1

    # a DCMD by alias and an NCMD by name reach the output, one message per metric
    rpm_alias = next(m.alias for m in payloads(watcher, "DBIRTH/E1/pump")[0].metrics)
    dcmd = Payload(
        timestamp=2, metrics=[Metric(alias=rpm_alias, value=1200, datatype=DataType.Int32)]
    )
    await watcher.publish(f"spBv1.0/{group}/DCMD/E1/pump", encode_payload(dcmd))
    ncmd = Payload(timestamp=3, metrics=[Metric("temp", 5.5, DataType.Double)])
    await watcher.publish(f"spBv1.0/{group}/NCMD/E1", encode_payload(ncmd))
    probe = rt.get_node("out")
    await wait_for(lambda: len(probe.received) == 2, what="command outputs")  # type: ignore[union-attr]
    got = [(m["topic"], m["payload"], m["metric"], m["device"]) for m in probe.received]  # type: ignore[union-attr]
    assert got == [
        (f"{group}/E1/pump/rpm", 1200, "rpm", "pump"),
        (f"{group}/E1/temp", 5.5, "temp", None),
    ]
    assert probe.received[0]["sparkplug"]["messageType"] == "DCMD"  # type: ignore[union-attr]


async def test_report_by_exception_and_device_death(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group = uid("g")
    watcher = await spy(f"spBv1.0/{group}/#")
    rt = make_runtime()
    await rt.deploy(edge_flow(group, rbe="true"))
    await wait_for(lambda: watcher.on("DBIRTH/E1/pump"), what="DBIRTH")
    edge = rt.get_node("edge")
    assert edge is not None
    for value in (20.0, 20.2, 20.4, 21.0, 21.0):
        rt.deliver(edge, {"payload": {"temp": value}})
    rt.deliver(edge, {"device": "pump", "command": "death"})
    await wait_for(lambda: watcher.on("DDEATH/E1/pump"), what="DDEATH")
    values = [p.metrics[0].value for p in payloads(watcher, "NDATA/E1")]
    assert values == [20.0, 21.0]  # within the 0.5 deadband of the last report: not sent
    assert payloads(watcher, "DDEATH/E1/pump")[0].seq == 4
    # data for the dead device: it is born again first
    rt.deliver(edge, {"device": "pump", "payload": {"rpm": 1}})
    await wait_for(lambda: watcher.on("DDATA/E1/pump"), what="DDATA")
    seqs = [decode_payload(m.payload).seq for m in watcher.messages if "/E1" in m.topic]
    assert seqs == [0, 1, 2, 3, 4, 5, 6]
    assert watcher.messages[-2].topic.endswith("DBIRTH/E1/pump")


async def test_bad_input_reaches_catch(make_runtime: Callable[..., Runtime], spy: Any) -> None:
    group = uid("g")
    watcher = await spy(f"spBv1.0/{group}/#")
    rt = make_runtime()
    flow = edge_flow(group)
    flow.append({"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["caught"]]})
    flow.append({"id": "caught", "type": "test-probe", "z": "t1", "wires": [[]]})
    await rt.deploy(flow)
    await wait_for(lambda: watcher.on("DBIRTH/E1/pump"), what="DBIRTH")
    edge = rt.get_node("edge")
    assert edge is not None
    rt.deliver(edge, {"payload": {"nope": 1}})
    rt.deliver(edge, {"device": "pump", "payload": {"rpm": "fast"}})
    rt.deliver(edge, {"payload": 5})
    caught = rt.get_node("caught")
    await wait_for(lambda: len(caught.received) == 3, what="3 errors")  # type: ignore[union-attr]
    texts = [m["error"]["message"] for m in caught.received]  # type: ignore[union-attr]
    assert "'nope' is not a configured metric" in texts[0]
    assert "Int32 needs an integer" in texts[1]
    assert "msg.payload must be an object" in texts[2]


async def test_primary_host_offline_data_is_stored_and_sent_historical(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group, host = uid("g"), uid("H")
    watcher = await spy(f"spBv1.0/{group}/#")
    rt = make_runtime()
    await rt.deploy(edge_flow(group, primaryHostId=host))
    edge = rt.get_node("edge")
    assert isinstance(edge, SparkplugEdgeNode)
    await wait_for(lambda: "waiting" in str(edge.last_status.get("text")), what="waiting")
    await asyncio.sleep(0.3)
    assert watcher.messages == []  # no birth before the primary host is online
    await watcher.publish(f"spBv1.0/STATE/{host}", encode_state(True, 1000))
    await wait_for(lambda: watcher.on("DBIRTH/E1/pump"), what="births after STATE online")
    rt.deliver(edge, {"payload": {"temp": 1.0}})
    await wait_for(lambda: watcher.on("NDATA/E1"), what="live NDATA")

    await watcher.publish(f"spBv1.0/STATE/{host}", encode_state(False, 1000))
    await wait_for(lambda: "offline" in str(edge.last_status.get("text")), what="host offline")
    rt.deliver(edge, {"payload": {"temp": 2.0}, "timestamp": 1111})
    rt.deliver(edge, {"payload": {"temp": 3.0}, "timestamp": 2222})
    await wait_for(
        lambda: edge.forwarder is not None and edge.forwarder.pending == 2, what="stored"
    )
    await asyncio.sleep(0.3)
    assert len(watcher.on("NDATA/E1")) == 1
    await watcher.publish(f"spBv1.0/STATE/{host}", encode_state(False, 500))  # older: ignored
    await watcher.publish(f"spBv1.0/STATE/{host}", encode_state(True, 2000))
    await wait_for(lambda: len(watcher.on("NDATA/E1")) == 3, what="stored data sent")
    rt.deliver(edge, {"payload": {"temp": 4.0}})
    await wait_for(lambda: len(watcher.on("NDATA/E1")) == 4, what="live data again")
    data = payloads(watcher, "NDATA/E1")
    got = [(d.metrics[0].value, d.metrics[0].is_historical) for d in data]
    assert got == [(1.0, False), (2.0, True), (3.0, True), (4.0, False)]
    assert [d.metrics[0].timestamp for d in data[1:3]] == [1111, 2222]
    # the host came back: a fresh NBIRTH + DBIRTH before the stored data
    order = [m.topic.split("/")[2] for m in watcher.messages]
    assert order == ["NBIRTH", "DBIRTH", "NDATA", "NBIRTH", "DBIRTH", "NDATA", "NDATA", "NDATA"]
