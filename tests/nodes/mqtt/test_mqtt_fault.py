"""Store and forward: the broker stops and restarts while 20,000 QoS 1 messages flow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plantwire.nodes.mqtt.client import MqttConnection, MqttMessage, MqttOptions
from plantwire.runtime.runtime import Runtime
from tests.tcp_proxy import free_port

from .helpers import TAB, Mosquitto, broker, mqtt_out, probe, uniq, wait_for

N = 20_000


def figures(seqs: list[int], n: int) -> dict[str, int]:
    """sent, received, lost, duplicates, reordered (first arrivals below an earlier one)."""
    seen: set[int] = set()
    reordered = 0
    highest = -1
    for seq in seqs:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    return {
        "sent": n,
        "received": len(seqs),
        "lost": len(set(range(n)) - seen),
        "duplicates": len(seqs) - len(seen),
        "reordered": reordered,
    }


async def test_broker_restart_loses_nothing_and_keeps_order(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    port = free_port()
    mosq = Mosquitto(
        tmp_path,
        port,
        "persistence true\nautosave_interval 1\nmax_queued_messages 0\nmax_queued_bytes 0\n",
    )
    await mosq.start()
    topic = uniq("fault")
    seqs: list[int] = []

    def on_message(msg: MqttMessage) -> None:
        seqs.append(int(msg.payload))

    subscriber = MqttConnection(
        MqttOptions(
            port=port,
            client_id="pw-fault-sub-" + topic[-10:],
            clean_session=False,
            reconnect_min=0.1,
            reconnect_max=0.5,
        )
    )
    await subscriber.start()
    assert await subscriber.wait_connected(10)
    sub = subscriber.subscribe(topic, 1, on_message)
    assert await subscriber.wait_subscribed(sub, 10)

    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            broker(port=port, clientid="pw-fault-pub-" + topic[-10:]),
            probe("src", ["out"]),
            mqtt_out("out", topic, qos="1"),
        ]
    )
    out: Any = rt.get_node("out")
    assert await out.broker.conn.wait_connected(10)
    out.broker.conn.options.reconnect_max = 0.5
    src: Any = rt.get_node("src")

    async def produce() -> None:
        for i in range(N):
            await src.send_async({"payload": i})

    async def outage() -> None:
        await wait_for(lambda: len(seqs) >= N // 4, timeout=60, what="a quarter delivered")
        await mosq.stop()
        await asyncio.sleep(1.5)  # messages keep coming: they go to the spool
        await mosq.start()

    try:
        await asyncio.wait_for(asyncio.gather(produce(), outage()), 120)
        await wait_for(lambda: len(set(seqs)) >= N, timeout=120, what="every message")
        await asyncio.sleep(0.5)
    finally:
        result = figures(seqs, N)
        print(
            "\nMQTT fault test: sent={sent} received={received} lost={lost} "
            "duplicates={duplicates} reordered={reordered}".format(**result),
            f"forwarder={out.forwarder.stats() if out.forwarder else None}",
        )
        await rt.stop()
        await subscriber.stop()
        await mosq.stop()
    assert result["lost"] == 0
    assert result["reordered"] == 0
