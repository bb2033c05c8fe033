"""Store-and-forward: the SQLite spool and the Forwarder in front of a remote."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from plantwire.runtime.spool import Forwarder, Rejected, Spool, SpoolClosed

SRC = str(Path(__file__).resolve().parents[2] / "src")


class Remote:
    """A remote system stand-in for the send function: records what it got, fails when
    told to. (The forwarder's peer is the sink's send function, not a network protocol.)"""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.fail = False
        self.calls = 0

    async def send(self, item: bytes) -> None:
        self.calls += 1
        if self.fail:
            raise ConnectionError("remote down")
        self.got.append(item)


def items(n: int, start: int = 0) -> list[bytes]:
    return [f"m{i}".encode() for i in range(start, start + n)]


async def wait_for(cond: object, timeout: float = 10.0) -> None:
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_spool_put_peek_ack_and_accounting(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite")
    await spool.open()
    assert len(spool) == 0 and spool.peek(10) == [] and spool.oldest_age == 0.0
    for it in items(5):
        spool.put(it)
    assert len(spool) == 5 and spool.total_bytes == 10
    batch = spool.peek(3)
    assert [b for _, b in batch] == items(3)
    assert len(spool) == 5  # peek does not remove
    spool.ack(batch[1][0])
    assert len(spool) == 3 and spool.total_bytes == 6
    assert [b for _, b in spool.peek(10)] == items(3, 2)
    spool.ack(batch[0][0])  # already acked: nothing happens
    assert len(spool) == 3
    assert spool.oldest_age >= 0.0 and spool.stats()["messages"] == 3
    await spool.close()
    with pytest.raises(SpoolClosed):
        spool.put(b"x")


async def test_replay_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    remote = Remote()
    fwd = Forwarder(Spool(path), remote.send, retry_min=0.01)
    await fwd.start()
    for it in items(50):
        await fwd.submit(it)  # remote considered down: all spooled
    assert fwd.pending == 50 and remote.calls == 0
    await fwd.stop()

    fwd2 = Forwarder(Spool(path), remote.send, retry_min=0.01)
    await fwd2.start()
    assert fwd2.pending == 50
    fwd2.remote_up()
    await wait_for(lambda: fwd2.pending == 0)
    assert remote.got == items(50)
    await fwd2.submit(b"direct")
    assert remote.got[-1] == b"direct" and fwd2.sent == 51
    await fwd2.stop()


async def test_order_across_down_up_cycles(tmp_path: Path) -> None:
    remote = Remote()
    fwd = Forwarder(Spool(tmp_path / "s.sqlite"), remote.send, retry_min=0.01, batch_size=7)
    await fwd.start()
    fwd.remote_up()
    n = 0
    for cycle in range(6):
        for _ in range(40):
            await fwd.submit(f"m{n}".encode())
            n += 1
            if n % 13 == 0:
                await asyncio.sleep(0)  # let the replay task run in between
        if cycle % 2 == 0:
            fwd.remote_down()
            remote.fail = True
        else:
            remote.fail = False
            fwd.remote_up()
    remote.fail = False
    fwd.remote_up()
    await wait_for(lambda: fwd.pending == 0)
    assert remote.got == items(n)
    await fwd.stop()


async def test_direct_path_writes_nothing_to_disk(tmp_path: Path) -> None:
    remote = Remote()
    spool = Spool(tmp_path / "s.sqlite")
    fwd = Forwarder(spool, remote.send)
    await fwd.start()
    fwd.remote_up()
    for it in items(100):
        await fwd.submit(it)
    assert remote.got == items(100) and spool._next_id == 1  # no row was ever written
    await fwd.stop()


async def test_failed_direct_send_is_spooled_and_retried(tmp_path: Path) -> None:
    remote = Remote()
    fwd = Forwarder(Spool(tmp_path / "s.sqlite"), remote.send, retry_min=0.05)
    await fwd.start()
    fwd.remote_up()
    remote.fail = True
    await fwd.submit(b"a")  # send raises: spooled, no exception for the caller
    await fwd.submit(b"b")  # something waits: spooled behind it
    assert fwd.pending == 2
    remote.fail = False
    await wait_for(lambda: fwd.pending == 0)
    await fwd.submit(b"c")
    assert remote.got == [b"a", b"b", b"c"]
    await fwd.stop()


async def test_limits_drop_oldest_and_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "plantwire.spool")
    spool = Spool(tmp_path / "s.sqlite", max_messages=10, name="line1")
    await spool.open()
    for it in items(25):
        spool.put(it)
    assert len(spool) == 10 and spool.dropped == 15
    assert [b for _, b in spool.peek(100)] == items(10, 15)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "line1" in warnings[0].getMessage()
    # deliveries bring it under the limits: the episode ends, a new one warns again
    spool.ack(spool.peek(100)[-1][0])
    for it in items(12, 100):
        spool.put(it)
    assert spool.dropped == 17
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    await spool.close()

    spool = Spool(tmp_path / "b.sqlite", max_bytes=100)
    await spool.open()
    for _ in range(7):
        spool.put(b"x" * 30)
    assert len(spool) == 3 and spool.total_bytes == 90 and spool.dropped == 4
    spool.put(b"y" * 500)  # larger than the whole spool: everything goes, itself too
    assert len(spool) == 0 and spool.total_bytes == 0 and spool.dropped == 8
    spool.put(b"z")
    assert [b for _, b in spool.peek(5)] == [b"z"]
    await spool.close()


async def test_age_expiry(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite", max_age=0.3)
    await spool.open()
    spool.put(b"old1")
    spool.put(b"old2")
    await asyncio.sleep(0.4)
    spool.put(b"new")  # the put notices the expired head
    assert [b for _, b in spool.peek(10)] == [b"new"] and spool.dropped == 2
    await asyncio.sleep(0.4)
    assert spool.peek(10) == [] and spool.dropped == 3 and len(spool) == 0
    await spool.close()

    # expiry of items that waited on disk while no process ran
    path = tmp_path / "r.sqlite"
    spool = Spool(path)
    await spool.open()
    spool.put(b"stale")
    await spool.close()
    await asyncio.sleep(0.3)
    spool = Spool(path, max_age=0.2)
    await spool.open()
    assert len(spool) == 1 and spool.expire() == 1 and len(spool) == 0
    await spool.close()


async def test_rejected_item_is_dropped_not_retried(tmp_path: Path) -> None:
    got: list[bytes] = []
    rejected: list[bytes] = []

    async def send(item: bytes) -> None:
        if item == b"bad":
            raise Rejected("invalid topic")
        got.append(item)

    fwd = Forwarder(
        Spool(tmp_path / "s.sqlite"), send, on_reject=lambda it, exc: rejected.append(it)
    )
    await fwd.start()
    for it in (b"a", b"bad", b"b"):
        await fwd.submit(it)  # spooled: remote down
    fwd.remote_up()
    await wait_for(lambda: fwd.pending == 0)
    assert got == [b"a", b"b"] and rejected == [b"bad"] and fwd.rejected == 1
    with pytest.raises(Rejected):
        await fwd.submit(b"bad")  # on the direct path the caller hears about it
    await fwd.stop()


async def test_stop_is_prompt_and_keeps_unsent_items(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def hang(item: bytes) -> None:
        started.set()
        await asyncio.sleep(3600)

    path = tmp_path / "s.sqlite"
    fwd = Forwarder(Spool(path), hang)
    await fwd.start()
    for it in items(3):
        await fwd.submit(it)
    fwd.remote_up()
    await asyncio.wait_for(started.wait(), 5)
    t0 = time.monotonic()
    await fwd.stop()
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(SpoolClosed):
        await fwd.submit(b"late")
    spool = Spool(path)
    await spool.open()
    assert [b for _, b in spool.peek(10)] == items(3)  # the interrupted one too
    await spool.close()


async def test_concurrent_submitters_with_flaky_send(tmp_path: Path) -> None:
    """Several tasks submit while the connection flaps and send fails at random (before
    delivering): every item arrives exactly once, in submission order."""
    rnd = random.Random(7)
    got: list[bytes] = []
    order: list[bytes] = []

    async def flaky(item: bytes) -> None:
        await asyncio.sleep(0 if rnd.random() < 0.7 else 0.001)
        if rnd.random() < 0.2:
            raise ConnectionError("flaky")
        got.append(item)

    fwd = Forwarder(Spool(tmp_path / "s.sqlite"), flaky, retry_min=0.001, retry_max=0.01)
    await fwd.start()
    fwd.remote_up()

    async def producer(p: int) -> None:
        for i in range(150):
            item = f"p{p}-{i}".encode()
            order.append(item)  # submit's call order is the delivery order
            await fwd.submit(item)
            if rnd.random() < 0.3:
                await asyncio.sleep(0)

    async def flapper() -> None:
        for _ in range(30):
            await asyncio.sleep(rnd.random() * 0.01)
            fwd.remote_down()
            await asyncio.sleep(rnd.random() * 0.01)
            fwd.remote_up()

    await asyncio.gather(*(producer(p) for p in range(4)), flapper())
    fwd.remote_up()
    await wait_for(lambda: fwd.pending == 0 and len(got) >= len(order))
    assert got == order and len(order) == 600
    await fwd.stop()


async def test_failure_after_delivery_gives_duplicates_never_loss(tmp_path: Path) -> None:
    """At-least-once: a send that delivers and then raises (a lost acknowledgement) makes
    the item go again; nothing is lost and the first arrivals are in order."""
    rnd = random.Random(3)
    got: list[bytes] = []

    async def lossy_ack(item: bytes) -> None:
        got.append(item)
        await asyncio.sleep(0)
        if rnd.random() < 0.15:
            raise TimeoutError("no acknowledgement")

    fwd = Forwarder(Spool(tmp_path / "s.sqlite"), lossy_ack, retry_min=0.001, retry_max=0.005)
    await fwd.start()
    fwd.remote_up()
    for it in items(300):
        await fwd.submit(it)
    await wait_for(lambda: fwd.pending == 0)
    first_seen = list(dict.fromkeys(got))
    assert first_seen == items(300)
    # duplicates only directly repeat an item (the retry of the same head)
    dedup = [g for i, g in enumerate(got) if i == 0 or got[i - 1] != g]
    assert dedup == items(300)
    await fwd.stop()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {src!r})
    from plantwire.runtime.spool import Forwarder, Spool

    async def send(item):
        raise ConnectionError("remote down")

    async def main():
        fwd = Forwarder(Spool({path!r}), send, retry_min=0.001, retry_max=0.002)
        await fwd.start()
        fwd.remote_up()  # every send fails: direct attempts, then the spool
        i = 0
        while True:
            await fwd.submit(b"item-%d" % i)
            sys.stdout.write("%d\\n" % i)
            sys.stdout.flush()
            i += 1

    asyncio.run(main())
    """
)


async def test_kill_9_loses_nothing_that_submit_accepted(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(src=SRC, path=str(path)))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdout is not None
    last = -1
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= 3000:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and last >= 3000

    remote = Remote()
    fwd = Forwarder(Spool(path), remote.send, retry_min=0.01)
    await fwd.start()
    fwd.remote_up()
    await wait_for(lambda: fwd.pending == 0, timeout=30)
    await fwd.stop()
    # every acknowledged submit is there, in order; (at most a few more that were
    # accepted after the last line the child printed)
    assert len(remote.got) >= last + 1
    assert remote.got == [b"item-%d" % i for i in range(len(remote.got))]


async def test_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    wal = Path(str(path) + "-wal")
    spool = Spool(path)
    await spool.open()
    for it in items(12000):  # a writer that never pauses: the inline fallback bounds the WAL
        spool.put(it)
    assert wal.stat().st_size < 24 * 1024 * 1024
    spool.ack(spool.peek(20000)[-1][0])
    spool.put(b"last")
    await asyncio.sleep(1.5)  # idle: the timed background checkpoint syncs it all
    spool.put(b"after")  # ... and this write starts the WAL over
    with sqlite3.connect(path) as other:
        busy, frames, _ = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and frames <= 4
    await spool.close()
    assert not wal.exists() or wal.stat().st_size == 0
    spool = Spool(path)
    await spool.open()
    assert [b for _, b in spool.peek(5)] == [b"last", b"after"]
    await spool.close()
