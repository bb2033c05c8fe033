"""Use cases 3 and 4, energy per unit and OEE per shift: examples/use-cases/energy.json and
oee.json against the virtual line (Modbus), writing to SQLite and to PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from plantwire.sim.plant import Command, MachineState, Plant
from tests.flowkit import until as wait_until
from tests.use_cases.conftest import (
    Database,
    SimLine,
    clear_jams,
    load_flow,
    start_flow,
)

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Simulated time 0, as the flows' "simulated clock" change node sets it."""
SHIFT_S = 8 * 3600


@dataclass
class Ledger:
    """The plant's own figures per 8-hour shift (06:00, 14:00, 22:00 in simulated time),
    read from the model every tick, before the operator acts (as the Modbus server shows
    it): what the flows' reports must agree with. A tick counts as running time when the
    machine is RUNNING at its end."""

    energy: dict[int, float] = field(default_factory=dict)  # kWh at the first tick of a shift
    bottles: dict[int, int] = field(default_factory=dict)
    running_s: dict[int, float] = field(default_factory=dict)
    _last: float | None = None

    @staticmethod
    def shift_of(sim_time: float) -> int:
        return int((sim_time - 6 * 3600) // SHIFT_S)

    def __call__(self, plant: Plant) -> None:
        shift = self.shift_of(plant.sim_time)
        self.energy.setdefault(shift, plant.energy_kwh)
        self.bottles.setdefault(shift, plant.bottle_count)
        if self._last is not None and plant.state is MachineState.RUNNING:
            span = plant.sim_time - self._last
            self.running_s[shift] = self.running_s.get(shift, 0.0) + span
        self._last = plant.sim_time

    def name(self, shift: int) -> str:
        start = EPOCH + dt.timedelta(seconds=6 * 3600 + shift * SHIFT_S)
        return start.strftime("%Y-%m-%d %H:%M")


def _fast_polls(flow: list[dict[str, Any]], ms: int) -> None:
    for node in flow:
        if node["type"] == "modbus-read":
            node.update(rate=str(ms), rateUnit="ms")


async def test_energy_per_1000_bottles_per_shift_into_sql_and_csv(
    sim_line: Callable[..., Any], database: Database, tmp_path: Path, endless_silo: None
) -> None:
    database.tables.append("energy_per_shift")
    await database.drop("energy_per_shift")
    line: SimLine = await sim_line(speed=14400, tick=0.05)  # 4 simulated hours a second
    ledger = Ledger()
    line.hands.extend([clear_jams, ledger])
    line.plant.command(Command.START)
    flow = load_flow("energy", modbus=line.port, sql=database.url)
    _fast_polls(flow, 50)
    data = tmp_path / "data"
    rt = await start_flow(data, flow)
    try:
        # the partial night shift the simulation starts in, then two whole shifts
        await wait_until(
            lambda: database.count("energy_per_shift", 3), 40, "three shift reports in SQL"
        )
    finally:
        await rt.stop()
    rows = await database.rows("SELECT * FROM energy_per_shift ORDER BY shift")
    assert [r["shift"] for r in rows[:3]] == [ledger.name(s) for s in (-1, 0, 1)]
    for row in rows[1:3]:
        assert row["line"] == "LINE1"
        shift = next(s for s in ledger.energy if ledger.name(s) == row["shift"])
        kwh = ledger.energy[shift + 1] - ledger.energy[shift]
        bottles = ledger.bottles[shift + 1] - ledger.bottles[shift]
        # the report agrees with the plant's own meter and counter over that shift (the
        # flow samples every ~12 simulated minutes and splits at the boundary; the
        # ledger's values are those of the first tick in each shift)
        assert abs(row["kwh"] - kwh) / kwh < 0.03, (row, kwh)
        assert abs(row["bottles"] - bottles) / bottles < 0.03, (row, bottles)
        # the physics: at 300 bottles/min a worn-in motor takes 4.25-4.4 kW, 18,000
        # bottles an hour: 0.236-0.245 kWh per 1,000, a little more with jam stops
        assert 0.236 <= row["kwh_per_1000"] <= 0.26, row
        assert abs(row["kwh_per_1000"] - 1000 * row["kwh"] / row["bottles"]) < 1e-5
    report = data / "reports" / "energy-per-shift.csv"
    with report.open(newline="") as f:
        lines = list(csv.DictReader(f))
    assert [r["shift"] for r in lines[:3]] == [r["shift"] for r in rows[:3]]
    assert float(lines[1]["kwh_per_1000"]) == rows[1]["kwh_per_1000"]


async def test_oee_per_shift_into_sql(
    sim_line: Callable[..., Any],
    database: Database,
    tmp_path: Path,
    endless_silo: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # fewer random jams (one every 10 running hours): each stop and start is placed to
    # within one Modbus poll (3-15 simulated minutes at this speed, more on a busy machine)
    monkeypatch.setattr("plantwire.sim.plant.JAM_RATE_PER_RUN_HOUR", 0.1)
    database.tables.append("oee_per_shift")
    await database.drop("oee_per_shift")
    line: SimLine = await sim_line(speed=10800, tick=0.02)  # 3 simulated hours a second
    ledger = Ledger()
    stop = PlannedStop(start_h=6 + 8 + 2, hours=2)  # in the second shift, 2 of its 8 hours
    line.hands.extend([ledger, clear_jams, stop])  # the ledger sees what Modbus shows
    line.plant.command(Command.START)
    flow = load_flow("oee", modbus=line.port, sql=database.url)
    _fast_polls(flow, 50)
    rt = await start_flow(tmp_path / "data", flow)
    try:
        # the partial night shift the simulation starts in, then three whole shifts
        await wait_until(
            lambda: database.count("oee_per_shift", 4, "final"), 60, "four final shift rows"
        )
    finally:
        await rt.stop()
    rows = await database.rows("SELECT * FROM oee_per_shift WHERE final ORDER BY shift")
    assert [r["shift"] for r in rows[:4]] == [ledger.name(s) for s in (-1, 0, 1, 2)]
    rows = rows[1:4]
    by_name = {ledger.name(s): s for s in ledger.running_s}
    for row in rows:
        shift = by_name[row["shift"]]
        true_availability = ledger.running_s[shift] / SHIFT_S
        assert abs(row["availability"] - true_availability) < 0.05, (row, true_availability)
        assert 0.9 <= row["performance"] <= 1.0, row  # 300 of 300 bottles/min, ramps aside
        assert 0.985 <= row["quality"] <= 1.0, row  # 0.5 % rejects with a cool motor
        product = row["availability"] * row["performance"] * row["quality"]
        assert abs(row["oee"] - product) < 1e-3
    stopped = next(r for r in rows if by_name[r["shift"]] == stop.shift)
    # 6 of 8 hours at most (jams take more), while the other shifts lose only jams
    assert 0.6 <= stopped["availability"] <= 0.78, stopped
    others = [r["availability"] for r in rows if r is not stopped]
    assert min(others) > 0.85 and min(others) - stopped["availability"] > 0.1, others


class PlannedStop:
    """Stops the line for ``hours`` simulated hours at ``start_h`` and starts it again."""

    def __init__(self, start_h: float, hours: float) -> None:
        self.start, self.end = start_h * 3600, (start_h + hours) * 3600
        self.shift = Ledger.shift_of(self.start)

    def __call__(self, plant: Plant) -> None:
        if self.start <= plant.sim_time < self.end:
            plant.command(Command.STOP)
        elif plant.sim_time >= self.end and plant.state is MachineState.IDLE:
            plant.command(Command.START)
