"""Flow builders, waiting and a private Mosquitto for the MQTT node tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from plantwire.nodes.mqtt.client import MqttConnection, MqttMessage, MqttOptions
from plantwire.runtime.runtime import Runtime

MOSQUITTO = "/usr/sbin/mosquitto"


def uniq(prefix: str = "pwtest") -> str:
    """A topic prefix no other test uses."""
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def broker(bid: str = "b1", port: int = 1883, **extra: Any) -> dict[str, Any]:
    node = {
        "id": bid,
        "type": "mqtt-broker",
        "name": "",
        "broker": "127.0.0.1",
        "port": str(port),
        "clientid": "",
        "autoConnect": True,
        "usetls": False,
        "protocolVersion": "4",
        "keepalive": "60",
        "cleansession": True,
    }
    node.update(extra)
    return node


def mqtt_in(nid: str, topic: str, wires: list[str], **extra: Any) -> dict[str, Any]:
    node = {
        "id": nid,
        "type": "mqtt in",
        "z": "t1",
        "topic": topic,
        "qos": "2",
        "datatype": "auto-detect",
        "broker": "b1",
        "nl": False,
        "rap": True,
        "rh": 0,
        "inputs": 0,
        "wires": [wires],
    }
    node.update(extra)
    return node


def mqtt_out(nid: str, topic: str = "", **extra: Any) -> dict[str, Any]:
    node = {
        "id": nid,
        "type": "mqtt out",
        "z": "t1",
        "topic": topic,
        "qos": "",
        "retain": "",
        "broker": "b1",
        "wires": [],
    }
    node.update(extra)
    return node


def probe(nid: str, wires: list[str] | None = None) -> dict[str, Any]:
    return {"id": nid, "type": "test-probe", "z": "t1", "wires": [wires or []]}


def catch(nid: str, wires: list[str]) -> dict[str, Any]:
    return {"id": nid, "type": "catch", "z": "t1", "scope": None, "wires": [wires]}


TAB = {"id": "t1", "type": "tab", "label": "mqtt"}


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)


async def wait_subscribed(rt: Runtime, *in_ids: str, timeout: float = 10.0) -> None:
    """Wait until the mqtt in nodes are connected and their subscription acknowledged."""
    for nid in in_ids:
        node: Any = rt.get_node(nid)
        assert node is not None and node.broker is not None
        conn = node.broker.conn
        assert await conn.wait_connected(timeout), f"{nid} not connected"
        assert await conn.wait_subscribed(node.subscription, timeout), f"{nid} not subscribed"


async def wait_connected(rt: Runtime, node_id: str, timeout: float = 10.0) -> None:
    node: Any = rt.get_node(node_id)
    assert await node.broker.conn.wait_connected(timeout), f"{node_id} not connected"


@contextlib.asynccontextmanager
async def watcher(
    topic: str, port: int = 1883, version: int = 4, **opts: Any
) -> AsyncIterator[list[MqttMessage]]:
    """A plain client subscribed to ``topic``; yields the list of messages received."""
    got: list[MqttMessage] = []
    conn = MqttConnection(
        MqttOptions(
            port=port, protocol_version=version, client_id=uniq("w").replace("/", ""), **opts
        )
    )
    await conn.start()
    assert await conn.wait_connected(10)
    sub = conn.subscribe(topic, 2, got.append)
    assert await conn.wait_subscribed(sub, 10)
    try:
        yield got
    finally:
        await conn.stop()


class Mosquitto:
    """A private mosquitto process (for tests that stop brokers or need TLS)."""

    def __init__(self, tmp: Path, port: int, extra: str = "", listener: str = "") -> None:
        if shutil.which(MOSQUITTO) is None:
            pytest.skip("mosquitto binary not installed")
        self.port = port
        self.conf = tmp / f"mosquitto-{port}.conf"
        self.conf.write_text(
            (listener or f"listener {port} 127.0.0.1\n")
            + "allow_anonymous true\n"
            + ("user root\n" if os.geteuid() == 0 else "")  # keep access to tmp_path
            + f"persistence_location {tmp}/\n"
            # never drop: a test subscriber slower than a replaying publisher must not
            # lose messages in the broker (its default queue per client is 1000)
            + "max_queued_messages 0\n"
            + extra
        )
        self.log = tmp / f"mosquitto-{port}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                MOSQUITTO, "-c", str(self.conf), stdout=log, stderr=log
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                if loop.time() > deadline or self.proc.returncode is not None:
                    raise AssertionError(
                        f"mosquitto did not start: {self.log.read_text()}"
                    ) from None
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)
        self.proc = None
