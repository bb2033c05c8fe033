"""The simulator engine: one plant, a clock, and the protocol servers that show it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from plantwire.sim.plant import Command, Plant, Snapshot

log = logging.getLogger("plantwire.sim")


class Adapter(Protocol):
    """A protocol server showing the plant. All methods run in the engine's event loop."""

    name: str

    async def start(self) -> None:
        """Bind and serve (raise ``OSError`` when the port cannot be bound)."""

    async def publish(self, snap: Snapshot) -> None:
        """Take client writes into the plant, then show ``snap``."""

    async def stop(self) -> None:
        """Stop serving and release the port."""

    def endpoint(self) -> str:
        """Where clients connect, e.g. ``modbus tcp://127.0.0.1:5020``."""


@dataclass
class Controls:
    """What adapters may do to the plant: commands and setpoints (same loop, no locking)."""

    plant: Plant

    def command(self, cmd: Command, source: str) -> bool:
        """Apply a command; logs who sent it and whether the plant took it."""
        ok = self.plant.command(cmd)
        log.info("%s: %s %s", source, cmd.name, "done" if ok else "refused")
        return ok

    def set_setpoint(self, name: str, value: float, source: str) -> float:
        """Write a setpoint; returns the value the plant keeps (clamped to its range)."""
        kept = self.plant.set_setpoint(name, value)
        log.info("%s: %s = %g", source, name, kept)
        return kept


def summary_line(snap: Snapshot) -> str:
    """A one-line status for the console."""
    total = snap.bottle_count
    reject_pct = 100.0 * snap.reject_count / total if total else 0.0
    hours, rest = divmod(int(snap.sim_time), 3600)
    minutes, seconds = divmod(rest, 60)
    fault = f"({snap.fault_code.name})" if snap.faulted else ""
    return (
        f"t={hours:d}:{minutes:02d}:{seconds:02d} {snap.state.name}{fault} "
        f"speed {snap.line_speed:.0f}/{snap.line_speed_sp:.0f} bpm  silo {snap.silo_level:.1f}%"
        f"{' +delivery' if snap.delivery_active else ''}  motor {snap.motor_temp:.1f} C  "
        f"vib {snap.vibration:.2f} mm/s  wear {snap.wear_pct:.0f}%  bottles {total} "
        f"(rej {reject_pct:.1f}%)  energy {snap.energy_kwh:.2f} kWh"
    )


class Engine:
    """Runs the plant in (accelerated) time and publishes it to every adapter each tick."""

    def __init__(
        self,
        plant: Plant,
        adapters: list[Adapter],
        *,
        speed: float = 1.0,
        tick: float = 0.2,
        summary_every: float = 5.0,
        printer: Callable[[str], None] | None = None,
    ) -> None:
        self.plant = plant
        self.adapters = adapters
        self.speed = speed
        self.tick = tick
        self.summary_every = summary_every
        self.printer = printer
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Start every adapter; on a failure stop the ones already started and re-raise."""
        started: list[Adapter] = []
        try:
            for adapter in self.adapters:
                await adapter.start()
                started.append(adapter)
                await adapter.publish(self.plant.snapshot())
        except BaseException:
            for adapter in reversed(started):
                await self._stop_one(adapter)
            raise

    async def run(self) -> None:
        """Tick until ``request_stop``; then stop the adapters."""
        last = time.monotonic()
        next_summary = last + self.summary_every
        try:
            while not self._stop.is_set():
                try:
                    await asyncio.wait_for(self._stop.wait(), self.tick)
                except TimeoutError:
                    pass
                now = time.monotonic()
                self.plant.step((now - last) * self.speed)
                last = now
                snap = self.plant.snapshot()
                for adapter in self.adapters:
                    try:
                        await adapter.publish(snap)
                    except Exception as exc:  # one server's trouble must not stop the plant
                        log.warning("%s: publish failed: %s", adapter.name, exc)
                if self.printer is not None and self.summary_every > 0 and now >= next_summary:
                    self.printer(summary_line(snap))
                    next_summary = now + self.summary_every
        finally:
            for adapter in reversed(self.adapters):
                await self._stop_one(adapter)

    def request_stop(self) -> None:
        """Ask ``run`` to finish after the current tick."""
        self._stop.set()

    @staticmethod
    async def _stop_one(adapter: Adapter) -> None:
        try:
            await adapter.stop()
        except Exception as exc:
            log.warning("%s: stop failed: %s", adapter.name, exc)
