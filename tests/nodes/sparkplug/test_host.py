"""sparkplug-host against the machine's Mosquitto, with our edge node and raw payloads."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from plantwire.nodes.sparkplug.host import SparkplugHostNode
from plantwire.nodes.sparkplug.sparkplug_codec import (
    REBIRTH,
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
)
from plantwire.runtime.runtime import Runtime

from .conftest import broker_node, uid, wait_for
from .test_edge import TAB, edge_flow


def host_flow(group: str, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": "host",
            "type": "sparkplug-host",
            "z": "t1",
            "broker": "brk",
            "groupId": group,
            "wires": [["metrics"], ["events"]],
            **extra,
        },
        {"id": "metrics", "type": "test-probe", "z": "t1", "wires": [[]]},
        {"id": "events", "type": "test-probe", "z": "t1", "wires": [[]]},
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["caught"]]},
        {"id": "caught", "type": "test-probe", "z": "t1", "wires": [[]]},
    ]


def received(rt: Runtime, nid: str) -> list[dict[str, Any]]:
    """What probe ``nid`` got; STATE events of other hosts on the shared broker left out."""
    node = rt.get_node(nid)
    assert node is not None
    msgs: list[dict[str, Any]] = node.received  # type: ignore[attr-defined]
    return [m for m in msgs if not str(m.get("topic", "")).startswith("STATE/")]


async def test_host_follows_our_edge_node_and_resolves_aliases(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group = uid("g")
    rt = make_runtime()
    host_only = [TAB, broker_node(), *host_flow(group)]
    await rt.deploy(host_only)
    host = rt.get_node("host")
    assert isinstance(host, SparkplugHostNode)
    await wait_for(lambda: host.session and host.session.connected, what="host connected")
    await rt.deploy(host_only + edge_flow(group)[2:])
    await wait_for(lambda: len(received(rt, "events")) >= 2, what="births")
    events = [e["payload"] for e in received(rt, "events")]
    assert [(e["event"], e["device"]) for e in events[:2]] == [("birth", None), ("birth", "pump")]
    assert events[0]["bdSeq"] == 0
    rt.deliver(rt.get_node("edge"), {"device": "pump", "payload": {"rpm": -7}})  # type: ignore[arg-type]
    await wait_for(
        lambda: any(
            m["topic"].endswith("pump/rpm") and m["payload"] == -7 for m in received(rt, "metrics")
        ),
        what="DDATA",
    )
    msg = next(m for m in received(rt, "metrics") if m["payload"] == -7)
    assert msg["topic"] == f"{group}/E1/pump/rpm"
    sp = msg["sparkplug"]
    assert (sp["group"], sp["edge"], sp["device"], sp["metric"]) == (group, "E1", "pump", "rpm")
    assert (sp["datatype"], sp["messageType"], sp["seq"], sp["historical"]) == (
        "Int32",
        "DDATA",
        2,
        False,
    )
    assert sp["alias"] is not None  # the DDATA carried the alias only
    # the edge node goes away: death events for it and its device
    await rt.deploy(host_only, mode="nodes")
    await wait_for(
        lambda: any(e["payload"]["event"] == "death" for e in received(rt, "events")), what="death"
    )


async def test_seq_gap_makes_the_host_ask_for_a_rebirth(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group = uid("g")
    fake_edge = await spy(f"spBv1.0/{group}/NCMD/#")
    rt = make_runtime()
    await rt.deploy([TAB, broker_node(), *host_flow(group)])
    host = rt.get_node("host")
    assert isinstance(host, SparkplugHostNode)
    await wait_for(lambda: host.session and host.session.connected, what="host connected")
    birth = Payload(
        timestamp=1,
        seq=0,
        metrics=[
            Metric("bdSeq", 3, DataType.UInt64),
            Metric("level", 1.0, DataType.Float, alias=5),
        ],
    )
    await fake_edge.publish(f"spBv1.0/{group}/NBIRTH/E9", encode_payload(birth))
    for seq, value in ((1, 2.0), (3, 4.0)):  # seq 2 never arrives
        data = Payload(
            timestamp=2, seq=seq, metrics=[Metric(alias=5, value=value, datatype=DataType.Float)]
        )
        await fake_edge.publish(f"spBv1.0/{group}/NDATA/E9", encode_payload(data))
    await wait_for(lambda: fake_edge.on("NCMD/E9"), what="rebirth request")
    req = decode_payload(fake_edge.on("NCMD/E9")[0].payload)
    assert [(m.name, m.value, m.datatype) for m in req.metrics] == [
        (REBIRTH, True, DataType.Boolean)
    ]
    kinds = [e["payload"]["event"] for e in received(rt, "events")]
    assert kinds == ["birth", "seq-gap", "rebirth-request"]
    gap = received(rt, "events")[1]["payload"]
    assert (gap["expected"], gap["received"]) == (2, 3)
    values = [(m["topic"], m["payload"]) for m in received(rt, "metrics")]
    assert values == [
        (f"{group}/E9/level", 1.0),
        (f"{group}/E9/level", 2.0),
        (f"{group}/E9/level", 4.0),
    ]
    # the host can also write to the edge node: NCMD with the data type from the birth
    rt.deliver(host, {"topic": f"{group}/E9", "payload": {"level": 9}})
    await wait_for(lambda: len(fake_edge.on("NCMD/E9")) == 2, what="NCMD write")
    write = decode_payload(fake_edge.on("NCMD/E9")[1].payload).metrics[0]
    assert (write.name, write.value, write.datatype) == ("level", 9.0, DataType.Float)


async def test_malformed_payload_reaches_catch_and_the_host_stays_up(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group = uid("g")
    other = await spy(f"spBv1.0/{group}/x")
    rt = make_runtime()
    await rt.deploy([TAB, broker_node(), *host_flow(group)])
    host = rt.get_node("host")
    assert isinstance(host, SparkplugHostNode)
    await wait_for(lambda: host.session and host.session.connected, what="host connected")
    await other.publish(f"spBv1.0/{group}/NBIRTH/E2", b"\xff\xfe garbage")
    await wait_for(lambda: received(rt, "caught"), what="error")
    err = received(rt, "caught")[0]
    assert (
        "NBIRTH" in err["error"]["message"]
        and "not a Sparkplug B payload" in err["error"]["message"]
    )
    assert err["topic"] == f"spBv1.0/{group}/NBIRTH/E2"
    good = Payload(timestamp=1, seq=0, metrics=[Metric("ok", True, DataType.Boolean)])
    await other.publish(f"spBv1.0/{group}/NBIRTH/E2", encode_payload(good))
    await wait_for(lambda: received(rt, "metrics"), what="next message still processed")
    assert host.session is not None and host.session.connected


async def test_host_state_online_retained_and_offline_will(
    make_runtime: Callable[..., Runtime], spy: Any
) -> None:
    group, host_id = uid("g"), uid("H")
    watcher = await spy(f"spBv1.0/STATE/{host_id}")
    rt = make_runtime()
    await rt.deploy([TAB, broker_node(), *host_flow(group, hostId=host_id)])
    await wait_for(lambda: watcher.messages, what="STATE online")
    online = json.loads(watcher.messages[0].payload)
    assert online["online"] is True and isinstance(online["timestamp"], int)
    host = rt.get_node("host")
    assert isinstance(host, SparkplugHostNode) and host.session and host.session.conn
    host.session.conn._abort_transport()
    await wait_for(lambda: len(watcher.messages) >= 2, what="STATE offline (will)")
    offline = json.loads(watcher.messages[1].payload)
    assert offline == {"online": False, "timestamp": online["timestamp"]}
    await wait_for(lambda: len(watcher.messages) >= 3, what="STATE online of the new session")
    assert json.loads(watcher.messages[2].payload)["online"] is True
    await rt.stop()
    await wait_for(lambda: len(watcher.messages) >= 4, what="STATE offline on close")
    # clean the retained message off the shared broker
    await watcher.publish(f"spBv1.0/STATE/{host_id}", b"", retain=True)
