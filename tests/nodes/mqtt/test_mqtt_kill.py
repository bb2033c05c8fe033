"""kill -9 of the runtime while the broker is down: spooled messages arrive after restart.

A `plantwire run` process publishes N QoS 1 readings through `mqtt out` while its broker
is down (they go to the store-and-forward spool), is killed with SIGKILL, the broker
starts, and a second `plantwire run` on the same data folder replays them, in order,
before what it publishes itself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from gmqtt import Client  # type: ignore[import-untyped]

from tests.nodes.mqtt.helpers import Mosquitto
from tests.tcp_proxy import free_port

N = 2000
TOPIC = "pwtest/kill9/readings"


def flows(port: int) -> list[dict[str, Any]]:
    code = (
        "run = env.get('PW_RUN')\n"
        f"for i in range({N}):\n"
        "    node.send({'payload': {'run': run, 'seq': i}})\n"
        "return None"
    )
    return [
        {"id": "t", "type": "tab", "label": "kill -9"},
        {
            "id": "b",
            "type": "mqtt-broker",
            "name": "down at first",
            "broker": "127.0.0.1",
            "port": str(port),
            "clientid": "",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "60",
            "cleansession": True,
        },
        {
            "id": "go",
            "type": "inject",
            "z": "t",
            "props": [{"p": "payload"}],
            "payload": "",
            "payloadType": "date",
            "repeat": "",
            "once": True,
            "onceDelay": "0.1",
            "wires": [["gen"]],
        },
        {"id": "gen", "type": "function", "z": "t", "func": code, "outputs": 1, "wires": [["out"]]},
        {
            "id": "out",
            "type": "mqtt out",
            "z": "t",
            "topic": TOPIC,
            "qos": "1",
            "retain": "false",
            "broker": "b",
            "wires": [],
        },
    ]


def spooled(data: Path) -> int:
    path = data / "spool" / "out.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM items").fetchone()[0])
    except sqlite3.Error:
        return 0


def start_runtime(flow_file: Path, data: Path, run: str) -> Any:
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-m", "plantwire.cli", "run", str(flow_file), "--data", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PW_RUN": run},
    )


async def test_kill9_while_broker_down_then_replay(tmp_path: Path) -> None:
    port = free_port()
    broker = Mosquitto(tmp_path, port)
    flow_file = tmp_path / "flows.json"
    flow_file.write_text(json.dumps(flows(port)))
    data = tmp_path / "data"

    first = start_runtime(flow_file, data, "A")
    try:
        deadline = time.monotonic() + 60
        while spooled(data) < N and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert spooled(data) == N, f"only {spooled(data)} of {N} spooled"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    await broker.start()
    received: list[dict[str, Any]] = []
    sub = Client("pwtest-kill9-sub")
    sub.on_message = lambda client, topic, payload, qos, props: (
        received.append(json.loads(payload)) or 0
    )
    await sub.connect("127.0.0.1", port)
    sub.subscribe(TOPIC, qos=1)
    await asyncio.sleep(0.3)

    second = start_runtime(flow_file, data, "B")
    try:
        deadline = time.monotonic() + 90
        while len(received) < 2 * N and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        await sub.disconnect()
        await broker.stop()

    from_a = [m["seq"] for m in received if m["run"] == "A"]
    from_b = [m["seq"] for m in received if m["run"] == "B"]
    lost = N - len(set(from_a))
    duplicates = len(from_a) - len(set(from_a))
    reordered = sum(1 for x, y in itertools.pairwise(from_a) if y < x)
    last_a = max(i for i, m in enumerate(received) if m["run"] == "A")
    first_b = min((i for i, m in enumerate(received) if m["run"] == "B"), default=len(received))
    print(
        f"\nkill -9 while broker down: spooled {N}, replayed {len(from_a)}, lost {lost}, "
        f"duplicates {duplicates}, reordered {reordered}; new after restart {len(from_b)}"
    )
    assert lost == 0 and reordered == 0
    assert last_a < first_b, "the backlog must be replayed before new messages"
    assert sorted(set(from_b)) == list(range(N))
