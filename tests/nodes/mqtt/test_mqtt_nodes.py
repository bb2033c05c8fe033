"""mqtt in / mqtt out / mqtt-broker through runtime flows against the machine's Mosquitto."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from plantwire.runtime.runtime import Runtime

from .helpers import (
    TAB,
    broker,
    catch,
    mqtt_in,
    mqtt_out,
    probe,
    uniq,
    wait_connected,
    wait_for,
    wait_subscribed,
    watcher,
)

pytestmark = pytest.mark.usefixtures("mosquitto")


def received(rt: Runtime, nid: str) -> list[dict[str, Any]]:
    node: Any = rt.get_node(nid)
    return node.received  # type: ignore[no-any-return]


async def send(rt: Runtime, src: str, *msgs: dict[str, Any]) -> None:
    node: Any = rt.get_node(src)
    for msg in msgs:
        await node.send_async(msg)


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_round_trip_through_flows(make_runtime: Callable[..., Runtime], qos: int) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(),
            probe("src", ["out"]),
            mqtt_out("out", f"{base}/x", qos=str(qos)),
            mqtt_in("in", f"{base}/#", ["got"], qos=str(qos)),
            probe("got"),
        ]
    )
    await wait_subscribed(rt, "in")
    await wait_connected(rt, "out")
    await send(rt, "src", *({"payload": f"m{i}"} for i in range(50)))
    await wait_for(lambda: len(received(rt, "got")) == 50, what="50 messages")
    msgs = received(rt, "got")
    assert [m["payload"] for m in msgs] == [f"m{i}" for i in range(50)]
    assert all(m["topic"] == f"{base}/x" and m["qos"] == qos for m in msgs)
    assert all(m["retain"] is False for m in msgs)
    assert rt.get_node("in").last_status == {  # type: ignore[union-attr]
        "fill": "green",
        "shape": "dot",
        "text": "connected",
    }


async def test_msg_properties_and_node_settings(make_runtime: Callable[..., Runtime]) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(),
            probe("src", ["dyn", "fixed", "zero"]),
            mqtt_out("dyn"),  # topic, qos, retain from msg
            mqtt_out("fixed", f"{base}/fixed", qos="1", retain="false"),
            mqtt_out("zero", f"{base}/zero", qos="0"),
            mqtt_in("in", f"{base}/+", ["got"]),
            probe("got"),
        ]
    )
    await wait_subscribed(rt, "in")
    await wait_connected(rt, "dyn")
    await send(
        rt,
        "src",
        {"topic": f"{base}/dyn", "payload": {"a": 1.0, "b": [True, None]}, "qos": 2},
    )
    await wait_for(lambda: len(received(rt, "got")) == 3)
    by_topic = {m["topic"]: m for m in received(rt, "got")}
    assert by_topic[f"{base}/dyn"]["qos"] == 2
    assert by_topic[f"{base}/fixed"]["qos"] == 1  # node setting wins over msg.qos
    assert by_topic[f"{base}/zero"]["qos"] == 0  # "0" on the node wins too, as in Node-RED
    assert by_topic[f"{base}/dyn"]["payload"] == {"a": 1, "b": [True, None]}


async def test_payload_conversions_on_publish(make_runtime: Callable[..., Runtime]) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(),
            probe("src", ["out"]),
            mqtt_out("out", f"{base}/p"),
            mqtt_in("in", f"{base}/p", ["got"], datatype="buffer"),
            probe("got"),
        ]
    )
    await wait_subscribed(rt, "in")
    await wait_connected(rt, "out")
    values = [{"x": 1.5, "s": "é"}, 42, 2.0, True, None, b"\x00\xff", "text", [1, "a"]]
    await send(rt, "src", *({"payload": v} for v in values))
    await wait_for(lambda: len(received(rt, "got")) == len(values))
    got = [m["payload"] for m in received(rt, "got")]
    assert got == [
        '{"x":1.5,"s":"é"}'.encode(),
        b"42",
        b"2",
        b"true",
        b"",
        b"\x00\xff",
        b"text",
        b'[1,"a"]',
    ]


async def test_retained_message_reaches_a_later_subscriber(
    make_runtime: Callable[..., Runtime],
) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [TAB, broker(), probe("src", ["out"]), mqtt_out("out", f"{base}/r", retain="true")]
    )
    await wait_connected(rt, "out")
    await send(rt, "src", {"payload": "kept", "qos": 1})
    await asyncio.sleep(0.3)
    rt2 = make_runtime()
    await rt2.deploy([TAB, broker(), mqtt_in("in", f"{base}/r", ["got"]), probe("got")])
    await wait_for(lambda: len(received(rt2, "got")) == 1)
    msg = received(rt2, "got")[0]
    assert msg["payload"] == "kept" and msg["retain"] is True
    await send(rt, "src", {"payload": ""})  # clear the retained message


async def test_wildcards_and_shared_connection(make_runtime: Callable[..., Runtime]) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(),
            probe("src", ["out"]),
            mqtt_out("out"),
            mqtt_in("plus", f"{base}/+/temp", ["p"]),
            mqtt_in("hash", f"{base}/#", ["h"]),
            mqtt_in("same", f"{base}/#", ["s"]),  # same filter: one broker subscription
            probe("p"),
            probe("h"),
            probe("s"),
        ]
    )
    await wait_subscribed(rt, "plus", "hash", "same")
    conns = {id(rt.get_node(n).broker.conn) for n in ("plus", "hash", "out")}  # type: ignore[union-attr]
    assert len(conns) == 1
    topics = [f"{base}/m1/temp", f"{base}/m1/speed", f"{base}/m2/temp", f"{base}/m2/a/temp", base]
    await send(rt, "src", *({"topic": t, "payload": t} for t in topics))
    await wait_for(lambda: len(received(rt, "h")) == 5 and len(received(rt, "s")) == 5)
    await asyncio.sleep(0.2)
    assert [m["topic"] for m in received(rt, "p")] == [f"{base}/m1/temp", f"{base}/m2/temp"]
    assert [m["topic"] for m in received(rt, "h")] == topics


async def test_shared_subscription_across_two_runtimes(
    make_runtime: Callable[..., Runtime], tmp_path: Any
) -> None:
    base = uniq()
    flows = [
        TAB,
        broker(protocolVersion="5"),
        mqtt_in("in", f"$share/grp/{base}/#", ["got"]),
        probe("got"),
    ]
    rt1 = make_runtime(data_dir=tmp_path / "a")
    rt2 = make_runtime(data_dir=tmp_path / "b")
    await rt1.deploy(flows)
    await rt2.deploy(flows)
    await wait_subscribed(rt1, "in")
    await wait_subscribed(rt2, "in")
    pub = make_runtime(data_dir=tmp_path / "c")
    await pub.deploy([TAB, broker(), probe("src", ["out"]), mqtt_out("out", f"{base}/x", qos="1")])
    await wait_connected(pub, "out")
    await send(pub, "src", *({"payload": i} for i in range(200)))
    both = lambda: received(rt1, "got") + received(rt2, "got")  # noqa: E731
    await wait_for(lambda: len(both()) >= 200, what="200 shared messages")
    await asyncio.sleep(0.3)
    values = sorted(m["payload"] for m in both())
    assert values == list(range(200))  # each message handled exactly once
    assert received(rt1, "got") and received(rt2, "got")  # and spread over both


@pytest.mark.parametrize(
    ("datatype", "raw", "expected"),
    [
        ("auto-detect", b'{"a":1}', {"a": 1}),
        ("auto-detect", b"12.5", 12.5),
        ("auto-detect", b"plain", "plain"),
        ("auto", b'{"a":1}', '{"a":1}'),
        ("auto", b"\xff\xfe", b"\xff\xfe"),
        ("utf8", b"caf\xc3\xa9", "café"),
        ("buffer", b"abc", b"abc"),
        ("json", b"[1,2]", [1, 2]),
        ("base64", b"hello", "aGVsbG8="),
    ],
)
async def test_datatypes(
    make_runtime: Callable[..., Runtime], datatype: str, raw: bytes, expected: Any
) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(),
            probe("src", ["out"]),
            mqtt_out("out", f"{base}/d"),
            mqtt_in("in", f"{base}/d", ["got"], datatype=datatype),
            probe("got"),
        ]
    )
    await wait_subscribed(rt, "in")
    await wait_connected(rt, "out")
    await send(rt, "src", {"payload": raw})
    await wait_for(lambda: len(received(rt, "got")) == 1)
    assert received(rt, "got")[0]["payload"] == expected


async def test_non_json_payload_and_invalid_topic_reach_catch(
    make_runtime: Callable[..., Runtime],
) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(),
            probe("src", ["out"]),
            mqtt_out("out"),
            mqtt_in("in", f"{base}/j", ["got"], datatype="json"),
            probe("got"),
            catch("c", ["errs"]),
            probe("errs"),
        ]
    )
    await wait_subscribed(rt, "in")
    await wait_connected(rt, "out")
    await send(rt, "src", {"topic": f"{base}/j", "payload": "not json"})
    await send(rt, "src", {"topic": f"{base}/+/bad", "payload": 1})
    await send(rt, "src", {"payload": "no topic"})
    await send(rt, "src", {"topic": f"{base}/j", "payload": {"ok": True}})
    await wait_for(lambda: len(received(rt, "got")) == 1 and len(received(rt, "errs")) == 3)
    errs = received(rt, "errs")
    by_source = sorted((e["error"]["source"]["id"], e["error"]["message"]) for e in errs)
    assert by_source[0] == ("in", "Failed to parse JSON string")
    assert [e["payload"] for e in errs if e["error"]["source"]["id"] == "in"] == [b"not json"]
    assert by_source[1][0] == "out" and "Invalid topic specified" in by_source[1][1]
    assert "'+'" in by_source[1][1] or "'+'" in by_source[2][1]
    assert received(rt, "got")[0]["payload"] == {"ok": True}  # the connection stayed up
    assert rt.get_node("in").broker.conn.connected  # type: ignore[union-attr]


async def test_dynamic_subscribe_and_unsubscribe(make_runtime: Callable[..., Runtime]) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(),
            probe("ctl", ["in"]),
            mqtt_in("in", "", ["got"], inputs=1),
            probe("got"),
            probe("src", ["out"]),
            mqtt_out("out"),
        ]
    )
    await wait_connected(rt, "out")
    node: Any = rt.get_node("in")
    await send(
        rt, "ctl", {"action": "subscribe", "topic": [f"{base}/a", {"topic": f"{base}/b", "qos": 1}]}
    )
    await wait_for(lambda: len(node.dynamic_subs) == 2)
    conn = node.broker.conn
    for handle in node._dyn_handles.values():
        assert await conn.wait_subscribed(handle, 10)
    await send(
        rt, "src", {"topic": f"{base}/a", "payload": 1}, {"topic": f"{base}/b", "payload": 2}
    )
    await wait_for(lambda: len(received(rt, "got")) == 2)
    await send(rt, "ctl", {"action": "unsubscribe", "topic": f"{base}/a"})
    await send(rt, "ctl", {"action": "getSubscriptions"})
    await wait_for(lambda: len(received(rt, "got")) == 3)
    listing = received(rt, "got")[2]
    assert listing["topic"] == "subscriptions"
    assert [s["topic"] for s in listing["payload"]] == [f"{base}/b"]
    await asyncio.sleep(0.2)
    await send(
        rt, "src", {"topic": f"{base}/a", "payload": 3}, {"topic": f"{base}/b", "payload": 4}
    )
    await wait_for(lambda: len(received(rt, "got")) == 4)
    await asyncio.sleep(0.3)
    assert [m["payload"] for m in received(rt, "got") if m["topic"] != "subscriptions"] == [1, 2, 4]


async def test_disconnect_and_connect_actions(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    await rt.deploy([TAB, broker(), probe("ctl", ["out"]), mqtt_out("out", "x/y")])
    await wait_connected(rt, "out")
    node: Any = rt.get_node("out")
    await send(rt, "ctl", {"action": "disconnect"})
    await wait_for(lambda: node.last_status.get("text") == "disconnected")
    await send(rt, "ctl", {"action": "connect"})
    await wait_for(lambda: node.last_status.get("text") == "connected")


async def test_mqtt5_properties(make_runtime: Callable[..., Runtime]) -> None:
    base = uniq()
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(protocolVersion="5"),
            probe("src", ["fromnode", "frommsg"]),
            mqtt_out(
                "fromnode",
                f"{base}/n",
                respTopic=f"{base}/reply",
                contentType="application/json",
                userProps='{"line":"3"}',
                correl="c-42",
                expiry="60",
            ),
            mqtt_out("frommsg", f"{base}/m"),
            mqtt_in("in", f"{base}/+", ["got"], datatype="auto-detect"),
            probe("got"),
        ]
    )
    await wait_subscribed(rt, "in")
    await wait_connected(rt, "src" if False else "fromnode")
    await send(
        rt,
        "src",
        {
            "payload": '{"v":1}',
            "responseTopic": "ignored/by/node",
            "userProperties": {"k": "v", "n": 1},
            "contentType": "text/plain",
            "correlationData": b"\x01\x02",
            "messageExpiryInterval": 30,
        },
    )
    await wait_for(lambda: len(received(rt, "got")) == 2)
    by_topic = {m["topic"]: m for m in received(rt, "got")}
    n, m = by_topic[f"{base}/n"], by_topic[f"{base}/m"]
    assert n["payload"] == {"v": 1}  # content type application/json
    assert n["responseTopic"] == f"{base}/reply"
    assert n["userProperties"] == {"line": "3"}
    assert n["correlationData"] == b"c-42"
    assert n["contentType"] == "application/json"
    assert 0 < n["messageExpiryInterval"] <= 60
    assert m["payload"] == '{"v":1}'  # text/plain: a string
    assert m["userProperties"] == {"k": "v"}
    assert m["correlationData"] == b"\x01\x02"
    assert m["responseTopic"] == "ignored/by/node"


async def test_birth_close_and_will(make_runtime: Callable[..., Runtime]) -> None:
    base = uniq()
    cfg = broker(
        clientid=uniq("cid").replace("/", ""),
        birthTopic=f"{base}/state",
        birthPayload="online",
        birthQos="1",
        closeTopic=f"{base}/state",
        closePayload="offline",
        willTopic=f"{base}/state",
        willPayload="lost",
        keepalive="5",
    )
    async with watcher(f"{base}/state") as got:
        rt = make_runtime()
        await rt.deploy([TAB, cfg, probe("src", ["out"]), mqtt_out("out", f"{base}/x")])
        await wait_for(lambda: [m.payload for m in got] == [b"online"])
        await rt.stop()
        await wait_for(lambda: [m.payload for m in got] == [b"online", b"offline"])
        rt2 = make_runtime()
        await rt2.deploy([TAB, cfg, probe("src", ["out"]), mqtt_out("out", f"{base}/x")])
        await wait_for(lambda: len(got) == 3)
        conn = rt2.get_node("out").broker.conn  # type: ignore[union-attr]
        conn._client._connection._transport.abort()  # the connection breaks: will
        await wait_for(lambda: b"lost" in [m.payload for m in got], what="will message")
        await wait_for(lambda: [m.payload for m in got][-1] == b"online", what="birth again")
        await rt2.stop()


async def test_node_red_exported_flow_runs_unchanged(make_runtime: Callable[..., Runtime]) -> None:
    base = uniq("bench")
    with open("/work/shared/bench/mqtt_pipeline.json") as fh:
        text = fh.read()
    text = text.replace('"18830"', '"1883"').replace("bench/in", f"{base}/in")
    text = text.replace("bench/out", f"{base}/out").replace('"nr-bench"', '"pw-' + base[-10:] + '"')
    flows = json.loads(text)
    rt = make_runtime()
    await rt.deploy(flows)
    await wait_subscribed(rt, "in1")
    readings = [{"machine": "m7", "seq": i, "temp": 40 + i * 5} for i in range(4)]
    async with watcher(f"{base}/out") as got:
        feeder = make_runtime()
        await feeder.deploy([TAB, broker(), probe("src", ["o"]), mqtt_out("o", f"{base}/in")])
        await wait_connected(feeder, "o")
        await send(feeder, "src", *({"payload": r} for r in readings))
        await wait_for(lambda: len(got) == 4)
    out = [json.loads(m.payload) for m in got]
    assert [o["alarm"] for o in out] == [False, False, False, True]
    assert [o["seq"] for o in out] == [0, 1, 2, 3]
