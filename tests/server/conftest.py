"""A real `plantwire serve` (uvicorn on a free loopback port) and an HTTP/WebSocket client."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvicorn

from plantwire.server.app import PlantwireServer, ServerConfig, create_app


@dataclass
class Running:
    server: PlantwireServer
    url: str
    http: aiohttp.ClientSession
    uv: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.uv.should_exit = True
        await asyncio.wait_for(self.task, 10)


class Comms:
    """A /comms WebSocket client that collects events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def next(self, topic: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next event with ``topic`` (prefix match when it ends with '/') and data
        fields equal to ``match``; earlier non-matching events are kept in ``events``."""

        def hit(ev: dict[str, Any]) -> bool:
            t = ev["topic"]
            ok = t.startswith(topic) if topic.endswith("/") else t == topic
            data = ev.get("data")
            return ok and all(isinstance(data, dict) and data.get(k) == v for k, v in match.items())

        async def wait() -> dict[str, Any]:
            while True:
                frame = await self.ws.receive()
                if frame.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"comms closed: {frame}")
                batch = json.loads(frame.data)
                assert isinstance(batch, list)
                found = None
                for ev in batch:
                    if found is None and hit(ev):
                        found = ev
                    else:
                        self.events.append(ev)
                if found is not None:
                    return found

        for i, ev in enumerate(self.events):
            if hit(ev):
                return self.events.pop(i)
        return await asyncio.wait_for(wait(), timeout)

    async def send(self, data: Any) -> None:
        await self.ws.send_str(json.dumps(data))


@pytest.fixture
async def serve(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    started: list[Running] = []

    async def start(**kwargs: Any) -> Running:
        setup = kwargs.pop("setup", None)
        kwargs.setdefault("data_dir", tmp_path / "data")
        kwargs.setdefault("credential_secret", "test-secret")
        kwargs.setdefault("http_node_port", 0)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = ServerConfig(port=port, **kwargs)
        server = PlantwireServer(config)
        if setup:
            setup(server)
        uv = uvicorn.Server(
            uvicorn.Config(
                create_app(server), lifespan="on", log_level="warning", ws_max_size=1 << 20
            )
        )
        task = asyncio.create_task(uv.serve(sockets=[sock]))
        for _ in range(500):
            if uv.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert uv.started, "server did not start"
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        running = Running(server, f"http://127.0.0.1:{port}", http, uv, task)
        started.append(running)
        return running

    yield start
    for running in started:
        await running.http.close()
        if not running.task.done():
            await running.stop()


async def open_comms(running: Running, **kwargs: Any) -> Comms:
    ws = await running.http.ws_connect(running.url + "/comms", **kwargs)
    return Comms(ws)
