"""Store-and-forward: a disk-backed FIFO (SQLite, WAL) in front of a remote system.

INTERFACE SKELETON — being implemented. Any sink (mqtt out, sparkplug-edge, later SQL
and HTTP) puts one :class:`Forwarder` in front of its remote system:

    spool = Spool(data_dir / "spool" / f"{node.id}.sqlite", max_messages=..., max_age=...)
    forwarder = Forwarder(spool, send=publish_one, name=node.id)
    await forwarder.start()
    await forwarder.submit(item)      # item: bytes; never lost once this returns
    forwarder.remote_up() / forwarder.remote_down()   # connection state changes
    await forwarder.stop()

While the remote is down (or a send fails) items are kept on disk in order, up to
``max_messages`` / ``max_bytes`` / ``max_age`` (the oldest are dropped and counted, with
one warning per episode); when it is back they are replayed in order before new ones.
A kill -9 of the process loses nothing that ``submit`` accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

__all__ = ["Forwarder", "Spool"]


class Spool:
    """A durable FIFO of byte items in one SQLite file (WAL mode)."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_messages: int = 1_000_000,
        max_bytes: int = 1 << 30,
        max_age: float | None = 7 * 86400.0,
        name: str = "",
    ) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def dropped(self) -> int:
        """Items dropped because a limit was reached, since the spool was opened."""
        raise NotImplementedError

    def put(self, item: bytes) -> None:
        """Append ``item``; durable (survives kill -9) when this returns."""
        raise NotImplementedError

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` oldest items as (id, item), without removing them."""
        raise NotImplementedError

    def ack(self, upto_id: int) -> None:
        """Remove every item with id <= ``upto_id`` (they were delivered)."""
        raise NotImplementedError


class Forwarder:
    """Sends items to a remote in order, spooling them while the remote is unavailable."""

    def __init__(
        self,
        spool: Spool,
        send: Callable[[bytes], Awaitable[None]],
        *,
        name: str = "",
        retry_min: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def submit(self, item: bytes) -> None:
        """Send now when the remote is up and nothing is waiting, else spool it."""
        raise NotImplementedError

    def remote_up(self) -> None:
        raise NotImplementedError

    def remote_down(self) -> None:
        raise NotImplementedError

    @property
    def pending(self) -> int:
        raise NotImplementedError
