"""mqtt-embedded-broker: a real amqtt broker in the runtime, real MQTT clients (gmqtt,
mosquitto_sub) on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import gmqtt  # type: ignore[import-untyped]
import pytest
from gmqtt.mqtt.constants import MQTTv311  # type: ignore[import-untyped]

from plantwire.runtime.runtime import Runtime
from tests.conftest import tab
from tests.tcp_proxy import free_port


def broker_node(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": "b1",
        "type": "mqtt-embedded-broker",
        "z": "t1",
        "host": "127.0.0.1",
        "port": str(port),  # as Node-RED writes it
        "wires": [],
        **extra,
    }


class Client:
    """A gmqtt client speaking MQTT 3.1.1 that collects what it receives."""

    def __init__(self, client_id: str) -> None:
        self.client = gmqtt.Client(client_id)
        self.got: list[tuple[str, bytes, int, bool]] = []
        self.arrived = asyncio.Event()
        self.client.on_message = self._on_message

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        self.got.append((topic, payload, qos, bool(props.get("retain"))))
        self.arrived.set()
        return 0

    async def connect(self, port: int, user: str | None = None, pw: str | None = None) -> None:
        if user is not None:
            self.client.set_auth_credentials(user, pw)
        await asyncio.wait_for(self.client.connect("127.0.0.1", port, version=MQTTv311), 10)

    async def wait(self, n: int, timeout: float = 10.0) -> None:
        async def until() -> None:
            while len(self.got) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(until(), timeout)

    async def disconnect(self) -> None:
        await self.client.disconnect()


async def test_publish_subscribe_qos0_qos1_and_retained(
    make_runtime: Callable[..., Runtime],
) -> None:
    port = free_port()
    rt = make_runtime()
    await rt.deploy([tab(), broker_node(port)])
    node = rt.get_node("b1")
    assert node is not None and node.last_status["fill"] == "green"
    assert str(port) in node.last_status["text"]

    pub, sub = Client("pub"), Client("sub")
    await pub.connect(port)
    await sub.connect(port)
    sub.client.subscribe("plant/#", qos=1)
    await asyncio.sleep(0.3)
    pub.client.publish("plant/line1/temp", b"21.5", qos=0)
    pub.client.publish("plant/line1/state", b"running", qos=1)
    await sub.wait(2)
    # amqtt delivers at the subscription's QoS (documented quirk), so both arrive as QoS 1
    assert sorted((t, p, q) for t, p, q, _ in sub.got) == [
        ("plant/line1/state", b"running", 1),
        ("plant/line1/temp", b"21.5", 1),
    ]

    # retained: a client subscribing later still gets the last value, flagged retained
    pub.client.publish("plant/line1/setpoint", b"42", qos=1, retain=True)
    await sub.wait(3)
    late = Client("late")
    await late.connect(port)
    late.client.subscribe("plant/line1/setpoint", qos=1)
    await late.wait(1)
    assert late.got[0][:2] == ("plant/line1/setpoint", b"42") and late.got[0][3] is True

    # a second, independent client implementation: mosquitto_sub
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv311",
        "-t", "plant/line1/setpoint", "-C", "1", "-W", "10",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert out.decode().strip() == "42"

    for c in (pub, sub, late):
        await c.disconnect()
    await rt.stop()


async def test_shutdown_frees_the_port_and_redeploy_reuses_it(
    make_runtime: Callable[..., Runtime],
) -> None:
    port = free_port()
    rt = make_runtime()
    await rt.deploy([tab(), broker_node(port)])
    client = Client("c1")
    await client.connect(port)  # a connected client must not keep the port busy
    await rt.stop()
    client.client.reconnect_retries = 0  # (gmqtt would keep trying to reconnect)
    await client.disconnect()
    await asyncio.sleep(0.2)
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    rt2 = make_runtime()
    await rt2.deploy([tab(), broker_node(port)])
    assert rt2.get_node("b1").last_status["fill"] == "green"  # type: ignore[union-attr]
    again = Client("c2")
    await again.connect(port)
    await again.disconnect()
    await rt2.stop()


async def test_port_in_use_is_a_clear_error_and_the_runtime_keeps_running(
    make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        rt = make_runtime()
        flows = [
            tab(),
            broker_node(port),
            {"id": "p1", "type": "test-probe", "z": "t1", "wires": [[]]},
        ]
        await rt.deploy(flows)
        node = rt.get_node("b1")
        assert node is not None and node.broker is None  # type: ignore[attr-defined]
        assert node.last_status["fill"] == "red" and str(port) in node.last_status["text"]
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert any(f"port {port} is already in use" in e for e in errors), errors
        assert rt.get_node("p1") is not None  # the rest of the flow is running
        await rt.stop()
    finally:
        blocker.close()


async def mosquitto_pub(port: int, *auth: str) -> tuple[int, str]:
    """Publish one message with the mosquitto_pub client; (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv311",
        "-t", "t/auth", "-m", "x", *auth,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return proc.returncode or 0, err.decode()


async def test_username_password_authentication(make_runtime: Callable[..., Runtime]) -> None:
    port = free_port()
    rt = make_runtime()
    creds = {"credentials": {"user": "plant", "password": "s3cret"}}
    await rt.deploy([tab(), broker_node(port, **creds)])
    assert await mosquitto_pub(port, "-u", "plant", "-P", "s3cret") == (0, "")
    for auth in ((), ("-u", "plant", "-P", "wrong"), ("-u", "other", "-P", "s3cret")):
        code, err = await mosquitto_pub(port, *auth)
        assert code != 0 and "not authori" in err.lower(), (auth, code, err)
    await rt.stop()

    rt2 = make_runtime()  # without credentials: anonymous clients are welcome
    await rt2.deploy([tab(), broker_node(port, id="b2")])
    assert await mosquitto_pub(port) == (0, "")
    await rt2.stop()


def test_config_validation() -> None:
    from plantwire.nodes.mqtt.embedded_broker import EmbeddedBrokerConfig

    cfg = EmbeddedBrokerConfig.model_validate(
        {"id": "b", "type": "mqtt-embedded-broker", "port": "1884", "host": ""}
    )
    assert cfg.port == 1884 and cfg.host == "127.0.0.1" and cfg.sessionExpiry == 86400
    with pytest.raises(ValueError, match="port must be between"):
        EmbeddedBrokerConfig.model_validate({"id": "b", "type": "x", "port": "70000"})
