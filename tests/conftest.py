"""Shared fixtures: node types made for runtime tests, and a runtime factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from plantwire.registry import load_node_types
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.spec import NodeConfig, node_type

load_node_types()

EVENTS: list[tuple[str, str]] = []
"""(event, node id) pairs recorded by the test node types: start / close / close-removed."""


class ProbeConfig(NodeConfig):
    fail: bool = Field(False, description="Raise on every message.")
    outputs: int = 1


@node_type("test-probe")
class ProbeNode(Node):
    """Test node: records what it receives, forwards it, raises when told to."""

    config_model = ProbeConfig

    def __init__(self, flow: Any, config: ProbeConfig) -> None:
        super().__init__(flow, config)
        self.received: list[Msg] = []
        self.fail = config.fail

    async def start(self) -> None:
        EVENTS.append(("start", self.id))

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        self.received.append(msg)
        if self.fail or msg.get("fail"):
            raise ValueError(f"probe {self.id} failed")
        send(msg)

    async def close(self, removed: bool) -> None:
        EVENTS.append(("close-removed" if removed else "close", self.id))


class SlowConfig(NodeConfig):
    delay: float = 0.001
    limit: int = 5


@node_type("test-slow")
class SlowNode(Node):
    """Test node: an async sink that takes ``delay`` seconds per message."""

    config_model = SlowConfig

    def __init__(self, flow: Any, config: SlowConfig) -> None:
        super().__init__(flow, config)
        self.delay = config.delay
        self.queue_limit = config.limit  # type: ignore[misc]
        self.received: list[Msg] = []
        self.max_depth = 0

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        depth = len(self._queue or ())
        self.max_depth = max(self.max_depth, depth)
        await asyncio.sleep(self.delay)
        self.received.append(msg)
        send(msg)


@pytest.fixture
def events() -> list[tuple[str, str]]:
    EVENTS.clear()
    return EVENTS


@pytest.fixture
async def make_runtime(tmp_path: Path) -> AsyncIterator[Callable[..., Runtime]]:
    made: list[Runtime] = []

    def factory(**kwargs: Any) -> Runtime:
        kwargs.setdefault("credential_secret", "test-secret")
        rt = Runtime(RuntimeSettings(kwargs.pop("data_dir", tmp_path), **kwargs))
        made.append(rt)
        return rt

    yield factory
    for rt in made:
        if rt._started:
            await rt.stop()


def tab(tid: str = "t1", **extra: Any) -> dict[str, Any]:
    return {"id": tid, "type": "tab", "label": extra.pop("label", tid), **extra}


def probe(
    nid: str, wires: list[list[str]] | None = None, z: str = "t1", **extra: Any
) -> dict[str, Any]:
    return {
        "id": nid,
        "type": "test-probe",
        "z": z,
        "wires": wires if wires is not None else [[]],
        **extra,
    }


def require_service(name: str, port: int, host: str = "127.0.0.1") -> None:
    """Skip (visibly) when a loopback service is not running; in CI (PLANTWIRE_REQUIRE_SERVICES=1)
    fail instead, so a test never skips silently there."""
    import os
    import socket

    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        reason = f"{name} is not reachable on {host}:{port} ({exc})"
    if os.environ.get("PLANTWIRE_REQUIRE_SERVICES"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def mosquitto() -> tuple[str, int]:
    """The machine's Mosquitto on 127.0.0.1:1883."""
    require_service("Mosquitto", 1883)
    return ("127.0.0.1", 1883)
