"""Helpers of the UNS tests: a unique namespace per test, an independent MQTT client
(gmqtt, straight to the machine's Mosquitto) to publish and subscribe as another
party would, and cleanup of the retained topics a test leaves behind."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import gmqtt  # type: ignore[import-untyped]
import pytest
from gmqtt.mqtt.constants import MQTTv311  # type: ignore[import-untyped]

HOST, PORT = "127.0.0.1", 1883


class PeerClient:
    """Another MQTT client: records what it receives as (topic, payload bytes, retain)."""

    def __init__(self) -> None:
        self.client = gmqtt.Client(f"uns-test-{uuid.uuid4().hex[:10]}")
        self.received: list[tuple[str, bytes, bool]] = []
        self.client.on_message = self._on_message

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        self.received.append((topic, payload, bool(props.get("retain"))))
        return 0

    async def connect(self) -> PeerClient:
        await self.client.connect(HOST, PORT, version=MQTTv311)
        return self

    def subscribe(self, topic_filter: str) -> None:
        self.client.subscribe(topic_filter, qos=1)

    def publish(self, topic: str, payload: bytes | str, retain: bool = True) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, bytes, bool]]:
        """Wait until ``count`` messages arrived (returns what arrived by the timeout)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while len(self.received) < count and loop.time() < end:
            await asyncio.sleep(0.02)
        return list(self.received)

    def values(self) -> dict[str, Any]:
        """Last JSON payload per topic."""
        return {t: json.loads(p) for t, p, _ in self.received if p}

    async def close(self) -> None:
        await self.client.disconnect()


async def clear_retained(root: str) -> None:
    """Remove every retained topic under ``root`` (what a test published)."""
    peer = await PeerClient().connect()
    peer.subscribe(f"{root}/#")
    await asyncio.sleep(0.5)
    for topic in {t for t, p, retained in peer.received if retained and p}:
        peer.publish(topic, b"", retain=True)
    await asyncio.sleep(0.2)
    await peer.close()


@pytest.fixture
async def uns_root(mosquitto: tuple[str, int]) -> AsyncIterator[str]:
    """A unique enterprise name; its retained topics are cleared after the test."""
    name = f"acme-{uuid.uuid4().hex[:12]}"
    yield name
    await clear_retained(name)
    await clear_retained(f"pfx-{name}")


@pytest.fixture
async def peer(mosquitto: tuple[str, int]) -> AsyncIterator[PeerClient]:
    client = await PeerClient().connect()
    yield client
    await client.close()


def broker_node(bid: str = "broker") -> dict[str, Any]:
    """An mqtt-broker config node for the machine's Mosquitto (Node-RED's properties)."""
    return {
        "id": bid,
        "type": "mqtt-broker",
        "name": "local",
        "broker": HOST,
        "port": str(PORT),
        "clientid": "",
        "autoConnect": True,
        "usetls": False,
        "protocolVersion": "4",
        "keepalive": "60",
        "cleansession": True,
    }


def model_node(
    enterprise: str, mid: str = "model", bid: str = "broker", **extra: Any
) -> dict[str, Any]:
    return {
        "id": mid,
        "type": "uns-model",
        "broker": bid,
        "enterprise": enterprise,
        "site": "plant1",
        "prefix": "",
        "qos": "1",
        "retain": "true",
        **extra,
    }
