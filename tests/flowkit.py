"""Helpers the node tests share: deploy a flow, read what a test-probe received, wait."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from tests.conftest import ProbeNode


async def deploy(make_runtime: Callable[..., Runtime], flow: list[Any], **kw: Any) -> Runtime:
    """A runtime from the ``make_runtime`` fixture (``kw``: settings), ``flow`` deployed."""
    rt = make_runtime(**kw)
    await rt.open()
    await rt.deploy(flow)
    return rt


def received(rt: Runtime, nid: str) -> list[Msg]:
    """The messages the test-probe node ``nid`` received so far."""
    node = rt.get_node(nid)
    assert isinstance(node, ProbeNode)
    return node.received


async def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``cond`` (a plain or an async function) until it is true; fail naming ``what``
    after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.02)


async def wait_messages(rt: Runtime, nid: str, count: int, timeout: float = 10.0) -> list[Msg]:
    """Wait until probe ``nid`` has ``count`` messages; they all."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while len(received(rt, nid)) < count and loop.time() < end:
        await asyncio.sleep(0.02)
    got = received(rt, nid)
    assert len(got) >= count, f"{nid} received {len(got)} of {count}: {got[:3]}"
    return got
