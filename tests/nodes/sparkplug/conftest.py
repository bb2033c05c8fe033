"""Helpers of the Sparkplug tests: flows, a raw MQTT spy, waiting for conditions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from plantwire.nodes.mqtt.client import MqttConnection, MqttMessage, MqttOptions
from plantwire.registry import default_registry
from plantwire.runtime.node import Node
from plantwire.spec import NodeConfig, node_type

if "mqtt-broker" not in default_registry:  # the real config node is written concurrently

    class _BrokerConfig(NodeConfig):
        broker: str = ""
        port: str = "1883"

    @node_type("mqtt-broker")
    class _FallbackBroker(Node):
        """Test stand-in for the mqtt-broker config node (only holds its properties)."""

        config_model = _BrokerConfig
        is_config = True


def uid(prefix: str) -> str:
    """A unique Sparkplug id (group ids differ per test so tests never see each other)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def broker_node(port: int = 1883) -> dict[str, Any]:
    return {"id": "brk", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(port)}


async def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``cond`` until it returns something truthy."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.02)


class Spy:
    """A plain MQTT client recording what arrives on some topic filters."""

    def __init__(self, port: int = 1883) -> None:
        self.conn = MqttConnection(
            MqttOptions(host="127.0.0.1", port=port, client_id=uid("spy-")), name="spy"
        )
        self.messages: list[MqttMessage] = []

    async def start(self, *filters: str) -> None:
        subs = [self.conn.subscribe(f, 1, self.messages.append) for f in filters]
        await self.conn.start()
        assert await self.conn.wait_connected(10)
        for sub in subs:
            assert await self.conn.wait_subscribed(sub, 10)

    def on(self, suffix: str) -> list[MqttMessage]:
        return [m for m in self.messages if m.topic.endswith(suffix)]

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        await self.conn.publish(topic, payload, qos=qos, retain=retain)


@pytest.fixture
async def spy(mosquitto: tuple[str, int]) -> AsyncIterator[Callable[..., Awaitable[Spy]]]:
    made: list[Spy] = []

    async def factory(*filters: str, port: int = 1883) -> Spy:
        s = Spy(port)
        made.append(s)
        await s.start(*filters)
        return s

    yield factory
    for s in made:
        await s.conn.stop()
