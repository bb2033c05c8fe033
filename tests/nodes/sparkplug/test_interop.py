"""Interoperability with pysparkplug (an independent Sparkplug B implementation).

pysparkplug decodes what our edge node publishes, and our host decodes what
pysparkplug encodes; both go through the machine's Mosquitto.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from plantwire.nodes.sparkplug.host import SparkplugHostNode
from plantwire.runtime.runtime import Runtime

from .conftest import broker_node, uid, wait_for
from .test_edge import TAB
from .test_host import host_flow, received

ps = pytest.importorskip("pysparkplug")


def _edge(group: str) -> dict[str, Any]:
    return {
        "id": "edge",
        "type": "sparkplug-edge",
        "z": "t1",
        "broker": "brk",
        "groupId": group,
        "edgeNodeId": "E1",
        "metrics": [
            {"name": "temp", "datatype": "Double"},
            {"name": "count", "datatype": "UInt64"},
            {"name": "label", "datatype": "String"},
        ],
        "devices": [
            {
                "name": "plc",
                "metrics": [
                    {"name": "pos", "datatype": "Int16"},
                    {"name": "on", "datatype": "Boolean"},
                    {"name": "f", "datatype": "Float"},
                    {"name": "arr", "datatype": "Int32Array"},
                ],
            }
        ],
        "wires": [[]],
    }


async def test_pysparkplug_decodes_our_edge_node(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group = uid("g")
    watcher = await spy(f"spBv1.0/{group}/#")
    rt = make_runtime()
    await rt.deploy([TAB, broker_node(), _edge(group)])
    await wait_for(lambda: watcher.on("DBIRTH/E1/plc"), what="DBIRTH")
    edge = rt.get_node("edge")
    assert edge is not None
    rt.deliver(edge, {"payload": {"temp": 1.25, "count": 2**40, "label": "ok"}})
    rt.deliver(
        edge, {"device": "plc", "payload": {"pos": -300, "on": True, "f": 0.5, "arr": [1, -2]}}
    )
    await wait_for(lambda: watcher.on("DDATA/E1/plc"), what="DDATA")

    nbirth = ps.NBirth.decode(watcher.on("NBIRTH/E1")[0].payload)
    assert nbirth.seq == 0
    by_name = {m.name: m for m in nbirth.metrics}
    assert by_name["bdSeq"].datatype == ps.DataType.UINT64 and by_name["bdSeq"].value == 0
    assert by_name["Node Control/Rebirth"].value is False
    assert by_name["temp"].datatype == ps.DataType.DOUBLE and by_name["temp"].is_null
    dbirth = ps.DBirth.decode(watcher.on("DBIRTH/E1/plc")[0].payload)
    assert dbirth.seq == 1
    assert [(m.name, m.datatype) for m in dbirth.metrics] == [
        ("pos", ps.DataType.INT16),
        ("on", ps.DataType.BOOLEAN),
        ("f", ps.DataType.FLOAT),
        ("arr", ps.DataType.INT32_ARRAY),
    ]
    ndata = ps.NData.decode(watcher.on("NDATA/E1")[0].payload, birth=nbirth)
    assert ndata.seq == 2
    got = {nbirth.get_name(m.alias): (m.value, m.datatype) for m in ndata.metrics}
    assert got == {
        "temp": (1.25, ps.DataType.DOUBLE),
        "count": (2**40, ps.DataType.UINT64),
        "label": ("ok", ps.DataType.STRING),
    }
    ddata = ps.DData.decode(watcher.on("DDATA/E1/plc")[0].payload, birth=dbirth)
    assert ddata.seq == 3
    got = {dbirth.get_name(m.alias): m.value for m in ddata.metrics}
    assert got == {"pos": -300, "on": True, "f": 0.5, "arr": (1, -2)}
    await rt.stop()
    await wait_for(lambda: watcher.on("NDEATH/E1"), what="NDEATH")
    ndeath = ps.NDeath.decode(watcher.on("NDEATH/E1")[0].payload)
    assert (ndeath.bd_seq_metric.name, ndeath.bd_seq_metric.value) == ("bdSeq", 0)


async def test_our_host_decodes_pysparkplug_payloads(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group = uid("g")
    sender = await spy(f"spBv1.0/{group}/NCMD/#")
    rt = make_runtime()
    await rt.deploy([TAB, broker_node(), *host_flow(group)])
    host = rt.get_node("host")
    assert isinstance(host, SparkplugHostNode)
    await wait_for(lambda: host.session and host.session.connected, what="host connected")
    ts = ps.get_current_timestamp()
    birth = ps.NBirth(
        timestamp=ts,
        seq=0,
        metrics=(
            ps.Metric(timestamp=ts, name="bdSeq", datatype=ps.DataType.UINT64, value=0),
            ps.Metric(timestamp=ts, name="speed", datatype=ps.DataType.INT8, value=-3, alias=1),
            ps.Metric(timestamp=ts, name="name", datatype=ps.DataType.STRING, value="m1", alias=2),
            ps.Metric(
                timestamp=ts,
                name="flags",
                datatype=ps.DataType.BOOLEAN_ARRAY,
                value=(True, False, True),
                alias=3,
            ),
        ),
    )
    await sender.publish(f"spBv1.0/{group}/NBIRTH/P1", birth.encode())
    # data by alias only and without data types (pysparkplug's default): from the birth
    data = ps.NData(
        timestamp=ts + 1,
        seq=1,
        metrics=(
            ps.Metric(timestamp=ts + 1, name=None, datatype=ps.DataType.INT8, value=-100, alias=1),
            ps.Metric(
                timestamp=ts + 1,
                name=None,
                datatype=ps.DataType.BOOLEAN_ARRAY,
                value=(False, True),
                alias=3,
            ),
        ),
    )
    await sender.publish(f"spBv1.0/{group}/NDATA/P1", data.encode())
    await wait_for(lambda: len(received(rt, "metrics")) == 5, what="5 metric messages")
    got = [(m["topic"], m["payload"], m["sparkplug"]["datatype"]) for m in received(rt, "metrics")]
    assert got == [
        (f"{group}/P1/speed", -3, "Int8"),
        (f"{group}/P1/name", "m1", "String"),
        (f"{group}/P1/flags", [True, False, True], "BooleanArray"),
        (f"{group}/P1/speed", -100, "Int8"),
        (f"{group}/P1/flags", [False, True], "BooleanArray"),
    ]
    assert received(rt, "metrics")[3]["sparkplug"]["seq"] == 1
    assert received(rt, "events")[0]["payload"]["bdSeq"] == 0
    assert not sender.on("NCMD/P1")  # no gap, no rebirth request
