"""Shared glue of config nodes that own one connection used by several nodes (amqp-broker,
redis-config): the users, the connection state shown in every user's status, the
background task that (re)connects with backoff, and closing after the last user; and the
lookup of such a config node by the nodes that use it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, Generic, Protocol, TypeVar

from plantwire.runtime.node import Node

__all__ = ["RETRY_MAX", "RETRY_MIN", "Backoff", "ConnectionOwner", "find_config_node"]

RETRY_MIN, RETRY_MAX = 0.5, 30.0


class _User(Protocol):
    id: str


U = TypeVar("U", bound=_User)
N = TypeVar("N", bound=Node)


class Backoff:
    """Delays between connection attempts: ``first`` seconds doubling up to ``most``, each
    wait varied by +-20 % so that many clients do not retry in step."""

    def __init__(self, first: float = RETRY_MIN, most: float = RETRY_MAX) -> None:
        self.first = first
        self.most = most
        self.delay = first

    def reset(self) -> None:
        """After a successful connect the next wait is the shortest again."""
        self.delay = self.first

    async def wait(self, grow: bool = True) -> None:
        """Wait the current delay; with ``grow`` the next one is twice as long."""
        await asyncio.sleep(self.delay * (0.8 + 0.4 * random.random()))
        if grow:
            self.delay = min(self.delay * 2, self.most)


class ConnectionOwner(Node, Generic[U]):
    """Base of a config node whose connection is shared by its users (nodes registered by
    id). A subclass starts its (re)connect loop with ``_start_task``, releases the
    connection in ``_release`` and names the server in ``label``."""

    def __init__(self, flow: Any, config: Any) -> None:
        super().__init__(flow, config)
        self.users: dict[str, U] = {}
        self.state = "disconnected"
        self._task: asyncio.Task[None] | None = None

    @property
    def label(self) -> str:
        raise NotImplementedError

    def _show(self, fill: str, shape: str, text: str) -> None:
        """Show the connection state in the status of every user."""
        for user in list(self.users.values()):
            if isinstance(user, Node):
                user.status(fill, shape, text)

    def _start_task(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(work)

    @property
    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def deregister(self, node: U) -> None:
        """A node stops using the connection; after the last one it is closed."""
        self.users.pop(node.id, None)
        if not self.users:
            await self._shutdown()

    async def _release(self) -> None:
        """Close the connection (the task is stopped and the state is disconnected)."""
        raise NotImplementedError

    async def _shutdown(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.state = "disconnected"
        await self._release()

    async def close(self, removed: bool) -> None:
        self.users.clear()
        await self._shutdown()


def find_config_node(
    node: Node, kind: type[N], field: str, ref: str, missing: str, status: str
) -> N | None:
    """The config node ``ref`` (the value of ``field``) when it is a ``kind``; else the
    node shows ``status`` (red) and reports "field: missing" (to catch nodes) and None."""
    found = node.flow.get_node(ref)
    if isinstance(found, kind):
        return found
    node.status("red", "ring", status)
    node.error(f"{field}: {missing}")
    return None
