"""One polling coordinator per device connection.

Every node that reads from the same device (a Modbus client, an S7 PLC, a Logix
controller) subscribes its points to that connection's coordinator. Per interval, one
cycle reads the points of *all* subscribers, packed into as few requests as the device
allows (the protocol supplies ``plan``), and hands each subscriber the results of its
own points. The coordinator owns the connection's life: connect, reconnect with
exponential backoff and jitter, one log line when it fails and one when it recovers,
and a state every user node shows as its status. A failing request marks only its
points bad (a dead unit on a shared RTU bus does not stall the others); a failing
connection marks everything bad once and reconnects. Nothing a device does ends the
process.

A protocol supplies three things::

    coordinator = PollCoordinator(
        "plc-7 (127.0.0.1:502)",
        connect=client.connect,          # async () -> None; raise when it cannot
        disconnect=client.close,         # async () -> None
        plan=plan_requests,              # (points) -> list[Request]; each Request.points
        execute=read_request,            # async (Request) -> {point: value}; raise on failure
    )
    sub = coordinator.subscribe(points, interval=1.0, on_result=node.on_values)
    await coordinator.call(lambda: client.write(...))   # writes share the connection
    coordinator.unsubscribe(sub)

``on_result(results)`` gets ``{point: PointResult}`` for the subscriber's points every
cycle. Points must be hashable (frozen dataclasses are a good fit). ``execute`` may put a
``PointResult(error=...)`` in its answer for one bad point of an otherwise good request.
A ``ConnectionLost`` raised by an operation passed to ``call`` makes the loop reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

__all__ = [
    "ConnectionLost",
    "PointResult",
    "PollCoordinator",
    "PollRequest",
    "PollSubscription",
]

log = logging.getLogger("plantwire.poll")

P = TypeVar("P", bound=Hashable)


class ConnectionLost(Exception):
    """Raised by ``execute`` when the whole connection is gone (not just one request)."""


class PollRequest(Protocol[P]):  # type: ignore[misc]
    """What ``plan`` returns: one device request and the points it serves."""

    @property
    def points(self) -> Sequence[P]: ...


class PointResult(NamedTuple):
    """The outcome of reading one point in one cycle (a tuple: cheap per point)."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(eq=False)
class PollSubscription(Generic[P]):
    points: list[P]
    interval: float
    on_result: Callable[[dict[P, PointResult]], None]
    last: dict[P, PointResult] = field(default_factory=dict)


StateListener = Callable[[str, str], None]


class PollCoordinator(Generic[P]):
    """Polls a device for every subscriber of one connection (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        connect: Callable[[], Awaitable[None]],
        disconnect: Callable[[], Awaitable[None]],
        plan: Callable[[list[P]], Sequence[Any]],
        execute: Callable[[Any], Awaitable[dict[P, Any]]],
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 0.2,
        request_timeout: float | None = None,
    ) -> None:
        self.name = name
        self._connect = connect
        self._disconnect = disconnect
        self._plan = plan
        self._execute = execute
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.request_timeout = request_timeout
        self.state = "stopped"
        self.last_error = ""
        self.requests_sent = 0
        self.cycles = 0
        self._subs: list[PollSubscription[P]] = []
        self._plans: dict[float, list[Any]] = {}
        self._listeners: list[StateListener] = []
        self._lock = asyncio.Lock()  # one request at a time on the wire
        self._runner: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._connected = asyncio.Event()
        self._logged_failure = False

    # ----- subscribers --------------------------------------------------------------

    def subscribe(
        self,
        points: Sequence[P],
        interval: float,
        on_result: Callable[[dict[P, PointResult]], None],
    ) -> PollSubscription[P]:
        if interval <= 0:
            raise ValueError("poll interval must be positive")
        sub = PollSubscription(list(points), float(interval), on_result)
        self._subs.append(sub)
        self._plans.pop(sub.interval, None)
        self._changed.set()
        return sub

    def unsubscribe(self, sub: PollSubscription[P]) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._plans.pop(sub.interval, None)
            self._changed.set()

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)
        listener(self.state, self.last_error)

    def remove_state_listener(self, listener: StateListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _set_state(self, state: str, detail: str = "") -> None:
        if state == self.state and detail == self.last_error:
            return
        self.state = state
        self.last_error = detail
        for listener in list(self._listeners):
            try:
                listener(state, detail)
            except Exception:  # a user node's status handler must not stop polling
                log.exception("state listener failed")

    # ----- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            # Python 3.11's wait_for can swallow a cancel that lands in the same loop turn
            # as the event it waits for (an unsubscribe just before stop): cancel again
            # until the task has really ended.
            while not runner.done():
                runner.cancel()
                await asyncio.wait({runner}, timeout=0.2)
        if self._connected.is_set():
            self._connected.clear()
            try:
                await self._disconnect()
            except Exception as exc:
                log.debug("%s: error while disconnecting: %s", self.name, exc)
        self._set_state("stopped")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def call(self, op: Callable[[], Awaitable[Any]]) -> Any:
        """Run a one-off operation (a write) on the connection, between poll requests."""
        if not self._connected.is_set():
            raise ConnectionLost(f"{self.name} is not connected ({self.last_error or self.state})")
        async with self._lock:
            try:
                return await op()
            except ConnectionLost as exc:
                lost = exc
        # the poll loop reconnects; the caller still gets the error
        await self._lost(str(lost) or "connection lost")
        self._changed.set()
        raise lost

    # ----- the loop -------------------------------------------------------------------

    async def _ensure_connected(self) -> None:
        delay = self.backoff_min
        while not self._connected.is_set():
            self._set_state(
                "connecting" if not self._logged_failure else "reconnecting", self.last_error
            )
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                text = str(exc) or type(exc).__name__
                if not self._logged_failure:
                    log.warning("%s: cannot connect: %s (retrying with backoff)", self.name, text)
                    self._logged_failure = True
                self._set_state("reconnecting", text)
                self._fail_all(f"not connected: {text}")
                sleep = min(delay, self.backoff_max) * (
                    1 + random.uniform(-self.jitter, self.jitter)
                )
                await asyncio.sleep(max(0.05, sleep))
                delay = min(delay * 2, self.backoff_max)
                continue
            if self._logged_failure:
                log.info("%s: connected again", self.name)
                self._logged_failure = False
            self._connected.set()
            self._set_state("connected")

    async def _lost(self, text: str) -> None:
        if not self._logged_failure:
            log.warning("%s: connection lost: %s (reconnecting)", self.name, text)
            self._logged_failure = True
        self._connected.clear()
        self._set_state("reconnecting", text)
        self._fail_all(f"connection lost: {text}")
        try:
            await self._disconnect()
        except Exception as exc:
            log.debug("%s: error while disconnecting: %s", self.name, exc)

    def _fail_all(self, reason: str) -> None:
        for sub in list(self._subs):
            results = {p: PointResult(error=reason) for p in sub.points}
            if sub.last != results:
                sub.last = results
                self._deliver(sub, results)

    def _deliver(self, sub: PollSubscription[P], results: dict[P, PointResult]) -> None:
        try:
            sub.on_result(results)
        except Exception:
            log.exception("%s: subscriber failed to take its values", self.name)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_due: dict[float, float] = {}
        while True:
            if not self._subs:
                self._changed.clear()
                await self._changed.wait()
                continue
            await self._ensure_connected()
            now = loop.time()
            intervals = sorted({s.interval for s in self._subs})
            for interval in list(next_due):
                if interval not in intervals:
                    del next_due[interval]
            due = [i for i in intervals if next_due.get(i, 0.0) <= now]
            for interval in due:
                next_due[interval] = now + interval
                if not await self._cycle(interval):
                    break
            if not self._connected.is_set():
                continue
            wake = min(next_due.get(i, now) for i in intervals)
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.0, wake - loop.time()))
            except TimeoutError:
                pass

    async def _cycle(self, interval: float) -> bool:
        """Read every point due at ``interval``; False when the connection was lost."""
        subs = [s for s in self._subs if s.interval == interval]
        requests = self._plans.get(interval)
        if requests is None:
            points: list[P] = []
            seen: set[P] = set()
            for s in subs:
                for p in s.points:
                    if p not in seen:
                        seen.add(p)
                        points.append(p)
            requests = list(self._plan(points))
            self._plans[interval] = requests
        results: dict[P, PointResult] = {}
        for request in requests:
            try:
                async with self._lock:
                    self.requests_sent += 1
                    if self.request_timeout:
                        values = await asyncio.wait_for(
                            self._execute(request), self.request_timeout
                        )
                    else:
                        values = await self._execute(request)
            except asyncio.CancelledError:
                raise
            except ConnectionLost as exc:
                await self._lost(str(exc) or "connection lost")
                return False
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                if isinstance(exc, TimeoutError):
                    reason = f"no answer within {self.request_timeout} s"
                for p in request.points:
                    results[p] = PointResult(error=reason)
                continue
            for p in request.points:
                if p in values:
                    v = values[p]
                    # execute may report one bad point inside a good answer as a PointResult
                    results[p] = v if isinstance(v, PointResult) else PointResult(value=v)
                else:
                    results[p] = PointResult(error="no value in the device's answer")
        self.cycles += 1
        for s in subs:
            mine = {p: results[p] for p in s.points if p in results}
            s.last = mine
            self._deliver(s, mine)
        return True
