"""Store-and-forward: a disk-backed FIFO (SQLite, WAL) in front of a remote system. Any
sink (mqtt out, sparkplug-edge, later SQL and HTTP) puts one :class:`Forwarder` before it:

    spool = Spool(data_dir / "spool" / f"{node.id}.sqlite", max_messages=..., max_age=...)
    forwarder = Forwarder(spool, send=publish_one, name=node.id)
    await forwarder.start()
    await forwarder.submit(item)      # item: bytes; never lost once this returns
    forwarder.remote_up() / forwarder.remote_down()   # connection state changes
    await forwarder.stop()

Guarantees (details, settings and measured costs in docs/store-and-forward.md): order;
at-least-once (an item is removed only after ``send`` returned for it, so a crash between
the two, or a lost acknowledgement, can repeat it); nothing ``submit`` accepted is lost on
kill -9 (it is committed to the WAL first); on power loss (``synchronous=NORMAL``) the
file stays consistent but items accepted since the last checkpoint (about one second)
can be lost. Limits ``max_messages`` / ``max_bytes`` / ``max_age`` drop the oldest items,
counted, with one warning per episode. One spool file serves one Forwarder at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from plantwire.runtime.errors import PlantwireError

__all__ = ["Forwarder", "Rejected", "Spool", "SpoolClosed", "SpoolError"]

log = logging.getLogger("plantwire.spool")

_CHECKPOINT_EVERY = 1000  # writes between two background WAL checkpoints ...
_CHECKPOINT_DELAY = 1.0  # ... or seconds after a write, whichever comes first
_CHECKPOINT_INLINE = 4000  # writes not fully checkpointed after which one runs inline
_EPISODE_END = 0.9  # an overflow episode ends when a delivery brings it under 90 % of limits
_CONNECT: dict[str, Any] = {"isolation_level": None, "check_same_thread": False, "timeout": 2.0}
_SCHEMA = """
PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);
"""


class SpoolError(PlantwireError):
    """The spool file could not be opened, read or written."""


class SpoolClosed(SpoolError):
    """The spool (or its forwarder) is not open."""


class Rejected(PlantwireError):
    """Raised by ``send`` for an item the remote will never accept (an invalid topic, a
    constraint violation): it is removed, not retried, and counted in ``rejected``."""


class Spool:
    """A durable FIFO of byte items in one SQLite file (WAL mode).

    ``max_bytes`` limits the sum of item lengths. All methods but ``open``/``close`` are
    synchronous, for the event loop: each is one short transaction.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_messages: int = 1_000_000,
        max_bytes: int = 1 << 30,
        max_age: float | None = 7 * 86400.0,
        name: str = "",
    ) -> None:
        if max_messages < 1 or max_bytes < 1 or (max_age is not None and max_age <= 0):
            raise ValueError("max_messages, max_bytes and max_age must be positive")
        self.path, self.name = Path(path), name or Path(path).stem
        self.max_messages, self.max_bytes, self.max_age = max_messages, max_bytes, max_age
        self._conn: sqlite3.Connection | None = None
        self._ckpt_conn: sqlite3.Connection | None = None
        self._ckpt_task: asyncio.Task[None] | None = None
        self._dirty, self._full = asyncio.Event(), asyncio.Event()  # wake the checkpointer
        self._writes = self._unsynced = 0  # since the last checkpoint / full WAL sync
        self._count = self._bytes = self._dropped = self._episode_dropped = 0
        self._next_id = 1
        self._head_id: int | None = None  # the oldest item
        self._head_ts: float | None = None
        self._in_episode = False  # an overflow episode: items are being dropped

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    async def open(self) -> None:
        """Open (or create) the file; recovers the WAL of a killed process."""
        if self._conn is not None:
            return
        try:
            self._conn = await asyncio.to_thread(self._open_sync)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool file {self.path}: {exc}") from exc
        self._dirty, self._full = asyncio.Event(), asyncio.Event()
        self._ckpt_task = asyncio.get_running_loop().create_task(self._checkpoints())
        if self._count:
            log.info(f"spool {self.name}: {self._count} items ({self._bytes} bytes) waiting")

    def _open_sync(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn: sqlite3.Connection = sqlite3.connect(self.path, **_CONNECT)
        try:
            conn.executescript(_SCHEMA)
            self._load_counters(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _load_counters(self, conn: sqlite3.Connection) -> None:
        query = "SELECT count(*), coalesce(sum(size), 0), coalesce(max(id), 0) FROM items"
        count, total, max_id = conn.execute(query).fetchone()
        self._count, self._bytes = int(count), int(total)
        self._next_id = max(self._next_id, int(max_id) + 1)
        self._refresh_head(conn)

    async def close(self) -> None:
        """Checkpoint the WAL into the main file and close; items stay on disk."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        self._dirty.set()  # let the checkpointer finish and end
        self._full.set()
        if self._ckpt_task is not None:
            with contextlib.suppress(Exception):
                await self._ckpt_task
        ckpt = self._ckpt_conn
        self._ckpt_conn = None

        def finish() -> None:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.debug("spool %s: final checkpoint failed: %s", self.name, exc)
            conn.close()
            if ckpt is not None:
                ckpt.close()

        await asyncio.to_thread(finish)

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SpoolClosed(f"spool {self.name} is not open")
        return self._conn

    def __len__(self) -> int:
        return self._count

    @property
    def total_bytes(self) -> int:
        """Sum of the lengths of the items in the spool."""
        return self._bytes

    @property
    def dropped(self) -> int:
        """Items dropped because a limit was reached, since the spool was opened."""
        return self._dropped

    @property
    def oldest_age(self) -> float:
        """Age in seconds of the oldest item (0 when empty)."""
        return 0.0 if self._head_ts is None else max(0.0, time.time() - self._head_ts)

    def stats(self) -> dict[str, Any]:
        age = round(self.oldest_age, 3)
        return {"messages": self._count, "bytes": self._bytes, "dropped": self._dropped, "age": age}

    def put(self, item: bytes) -> None:
        """Append ``item``; durable (survives kill -9) when this returns."""
        now, size, item_id = time.time(), len(item), self._next_id
        over = self._over_limits(now, 1, size)

        def insert(conn: sqlite3.Connection) -> None:
            sql = "INSERT INTO items(id, ts, size, data) VALUES (?, ?, ?, ?)"
            conn.execute(sql, (item_id, now, size, item))
            self._next_id = item_id + 1
            self._count += 1
            self._bytes += size
            if self._head_id is None:
                self._head_id, self._head_ts = item_id, now
            if over:  # same transaction: drop the oldest
                self._note_dropped(self._trim(conn, now), "limit reached")

        self._write(insert, txn=over)

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` oldest items as (id, item), without removing them."""
        conn = self._require()
        if self._count == 0:
            return []
        self.expire()
        query = "SELECT id, data FROM items ORDER BY id LIMIT ?"
        try:
            rows = conn.execute(query, (max(1, limit),)).fetchall()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read spool file {self.path}: {exc}") from exc
        return [(int(i), bytes(d)) for i, d in rows]

    def ack(self, upto_id: int) -> None:
        """Remove every item with id <= ``upto_id`` (they were delivered)."""
        if self._head_id is None or upto_id < self._head_id:
            self._require()
            return

        def delete(conn: sqlite3.Connection) -> None:
            query = "DELETE FROM items WHERE id <= ? RETURNING size"
            sizes = conn.execute(query, (upto_id,)).fetchall()
            self._count -= len(sizes)
            self._bytes -= sum(int(s) for (s,) in sizes)
            self._refresh_head(conn)

        self._write(delete, txn=False)
        fill = max(self._count / self.max_messages, self._bytes / self.max_bytes)
        if self._in_episode and fill <= _EPISODE_END:
            dropped = self._episode_dropped
            log.info(f"spool {self.name}: under its limits again; {dropped} items dropped")
            self._in_episode, self._episode_dropped = False, 0

    def expire(self) -> int:
        """Drop the items older than ``max_age`` now; returns how many were dropped."""
        self._require()
        if not self._over_limits(time.time(), 0, 0):
            return 0
        before = self._dropped
        self._write(lambda c: self._note_dropped(self._trim(c, time.time()), "max_age reached"))
        return self._dropped - before

    def _write(self, fn: Callable[[sqlite3.Connection], object], txn: bool = True) -> None:
        """Run ``fn`` as one committed write transaction; counters are re-read on failure."""
        conn = self._require()
        try:
            if txn:
                conn.execute("BEGIN IMMEDIATE")
            fn(conn)
            if txn:
                conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._load_counters(conn)  # re-read what the failed transaction left
            if isinstance(exc, sqlite3.Error):
                raise SpoolError(f"cannot write to spool file {self.path}: {exc}") from exc
            raise
        self._wrote(conn)

    def _over_limits(self, now: float, extra_count: int, extra_bytes: int) -> bool:
        too_old = self._head_ts is not None and now - self._head_ts > (self.max_age or 1e300)
        full = self._count + extra_count > self.max_messages
        return too_old or full or self._bytes + extra_bytes > self.max_bytes

    def _trim(self, conn: sqlite3.Connection, now: float) -> int:
        """Delete the oldest items until every limit holds (inside a transaction)."""
        cutoff = now - self.max_age if self.max_age is not None else None
        count, total = self._count, self._bytes
        last_drop: int | None = None
        cur = conn.execute("SELECT id, ts, size FROM items ORDER BY id")
        try:
            for item_id, ts, size in cur:
                old = cutoff is not None and ts < cutoff
                if not (old or count > self.max_messages or total > self.max_bytes):
                    break
                last_drop, count, total = int(item_id), count - 1, total - int(size)
        finally:
            cur.close()
        if last_drop is not None:
            conn.execute("DELETE FROM items WHERE id <= ?", (last_drop,))
        dropped, self._count, self._bytes = self._count - count, count, total
        self._refresh_head(conn)
        return dropped

    def _note_dropped(self, dropped: int, reason: str) -> None:
        if not dropped:
            return
        self._dropped += dropped
        self._episode_dropped += dropped
        if not self._in_episode:
            self._in_episode = True
            limits = f"{self.max_messages} messages, {self.max_bytes} bytes, {self.max_age} s"
            log.warning(f"spool {self.name}: {reason} ({limits}): dropping the oldest items")

    def _refresh_head(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT id, ts FROM items ORDER BY id LIMIT 1").fetchone()
        self._head_id, self._head_ts = (int(row[0]), float(row[1])) if row else (None, None)

    def _wrote(self, conn: sqlite3.Connection) -> None:
        """Count a write. Checkpoints run in the background; inline only when they never
        catch up with a writer that never pauses (see _checkpoints)."""
        self._writes += 1
        self._unsynced += 1
        if self._unsynced >= _CHECKPOINT_INLINE:
            with contextlib.suppress(sqlite3.Error):
                busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not busy and frames == done:
                    self._writes = self._unsynced = 0
        self._dirty.set()
        if self._writes >= _CHECKPOINT_EVERY:
            self._full.set()

    async def _checkpoints(self) -> None:
        """Sync the WAL into the main file (the only fsyncs) in a worker thread, after
        _CHECKPOINT_EVERY writes or _CHECKPOINT_DELAY seconds after a write."""
        while self._conn is not None:
            await self._dirty.wait()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._full.wait(), _CHECKPOINT_DELAY)
            self._dirty.clear()
            self._full.clear()
            self._writes = 0
            try:
                await asyncio.to_thread(self._checkpoint_sync)
            except sqlite3.Error as exc:
                log.debug(f"spool {self.name}: checkpoint failed: {exc}")
                continue
            if not self._writes:
                self._unsynced = 0  # no write during the checkpoint: the WAL starts over

    def _checkpoint_sync(self) -> None:
        if self._ckpt_conn is None:
            self._ckpt_conn = sqlite3.connect(self.path, **_CONNECT)
        self._ckpt_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


class Forwarder:
    """Sends items to a remote in order, spooling them while the remote is unavailable.

    A background task replays the spool in order while the remote is up, removing each
    item once ``send`` returned for it, retrying with exponential backoff (``retry_min``
    .. ``retry_max`` s) when it raises. ``send`` must raise when the item was not
    delivered and time out on its own; :class:`Rejected` drops an item the remote will
    never accept (``on_reject(item, exc)`` is told). When a direct send fails and its
    item is spooled instead, ``on_fail(item, exc)`` is told (a node reports it to catch
    nodes). The remote starts as down.
    """

    def __init__(
        self,
        spool: Spool,
        send: Callable[[bytes], Awaitable[None]],
        *,
        name: str = "",
        retry_min: float = 0.5,
        retry_max: float = 30.0,
        batch_size: int = 100,
        on_reject: Callable[[bytes, BaseException], None] | None = None,
        on_fail: Callable[[bytes, BaseException], None] | None = None,
    ) -> None:
        if retry_min <= 0 or retry_max < retry_min:
            raise ValueError("retry_min must be positive and retry_max >= retry_min")
        self.spool, self._send, self.name = spool, send, name or spool.name
        self.retry_min, self.retry_max = retry_min, retry_max
        self.batch_size, self.on_reject = max(1, batch_size), on_reject
        self.on_fail = on_fail
        self.sent = self.rejected = 0  # items delivered; dropped because send raised Rejected
        self._up = self._running = self._owns_spool = self._failing = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # work may be available
        self._reconnected = asyncio.Event()  # the remote came back: end the backoff
        self._lock = asyncio.Lock()
        self._direct = 0  # submits on (or queued for) the direct path

    async def start(self) -> None:
        """Open the spool (unless already open) and start the replay task."""
        if self._running:
            return
        if not self.spool.is_open:
            await self.spool.open()
            self._owns_spool = True
        self._running = True
        self._task = asyncio.get_running_loop().create_task(self._replay())

    async def stop(self) -> None:
        """Stop replaying; close the spool if ``start`` opened it. Unsent items stay."""
        self._running = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._owns_spool:
            self._owns_spool = False
            await self.spool.close()

    def remote_up(self) -> None:
        """The remote is reachable: replay the backlog now (ends a retry backoff)."""
        if not self._up:
            self._reconnected.set()
        self._up = True
        self._wake.set()

    def remote_down(self) -> None:
        """The remote is unreachable: spool everything until :meth:`remote_up`."""
        self._up = False

    @property
    def up(self) -> bool:
        """The remote is considered reachable (``remote_up`` was called last)."""
        return self._up

    @property
    def pending(self) -> int:
        """Items waiting in the spool."""
        return len(self.spool)

    def stats(self) -> dict[str, Any]:
        return {"up": self._up, "sent": self.sent, "rejected": self.rejected, **self.spool.stats()}

    async def submit(self, item: bytes) -> None:
        """Send now when the remote is up and nothing is waiting, else spool it; returns
        once the item was delivered or is on disk. Raises :class:`Rejected` (from a direct
        send), :class:`SpoolClosed` (stopped) or :class:`SpoolError`."""
        if not self._running:
            raise SpoolClosed(f"forwarder {self.name} is not running")
        if self._direct == 0 and not self._direct_possible():
            self._spool(item)
            return
        # direct path, serialised: a failed send is spooled before any later submit
        self._direct += 1
        try:
            async with self._lock:
                if not self._direct_possible():
                    self._spool(item)
                    return
                try:
                    await self._send(item)
                except Rejected:
                    self.rejected += 1
                    raise
                except asyncio.CancelledError:
                    if self.spool.is_open:
                        self._spool(item)  # may have been delivered: at-least-once
                    raise
                except Exception as exc:
                    log.debug("forwarder %s: direct send failed (%s); spooling", self.name, exc)
                    self._spool(item)
                    if self.on_fail is not None:
                        try:
                            self.on_fail(item, exc)
                        except Exception:
                            log.exception(f"forwarder {self.name}: on_fail failed")
                    return
                self.sent += 1
        finally:
            self._direct -= 1

    def _direct_possible(self) -> bool:
        return self._up and self._running and len(self.spool) == 0

    def _spool(self, item: bytes) -> None:
        self.spool.put(item)
        if self._up:
            self._wake.set()

    async def _replay(self) -> None:
        delay = self.retry_min
        while True:
            if not (self._up and len(self.spool)):
                self._wake.clear()
                await self._wake.wait()
                delay = self.retry_min
                continue
            try:
                if await self._replay_batch():
                    delay = self.retry_min
                    continue
            except SpoolError as exc:
                log.error(f"forwarder {self.name}: {exc}")
            self._reconnected.clear()  # back off; retry at once when the remote is back
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._reconnected.wait(), delay)
            delay = min(delay * 2, self.retry_max)

    async def _replay_batch(self) -> bool:
        """Send one batch of spooled items in order; False when a send failed."""
        for item_id, item in self.spool.peek(self.batch_size):
            if not self._up:
                return True
            async with self._lock:
                try:
                    await self._send(item)
                    self.sent += 1
                except Rejected as exc:
                    self.rejected += 1
                    log.error(f"forwarder {self.name}: item {item_id} rejected, dropped: {exc}")
                    try:
                        if self.on_reject is not None:
                            self.on_reject(item, exc)
                    except Exception:
                        log.exception(f"forwarder {self.name}: on_reject failed")
                except Exception as exc:
                    if not self._failing:  # one warning per failing streak
                        self._failing = True
                        n = len(self.spool)
                        log.warning(f"forwarder {self.name}: send failed ({exc}); {n} waiting")
                    return False
                self.spool.ack(item_id)
            if self._failing:
                self._failing = False
                log.info(f"forwarder {self.name}: sending again; {len(self.spool)} waiting")
        return True
