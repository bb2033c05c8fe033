"""Use case 2, repair before it breaks: examples/use-cases/repair.json against the virtual
line (Modbus) and the CMMS REST API of the ERP service."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plantwire.sim.erp import ErpService
from plantwire.sim.plant import Command, FaultCode, Plant
from tests.flowkit import until as wait_until
from tests.use_cases.conftest import (
    SimLine,
    clear_jams,
    erp_table,
    load_flow,
    start_flow,
)

WEAR_RATE_PER_H = 0.5 / 100.0
"""Bearing wear per running hour at the default 300 bottles/min (load 0.5; sim/plant.py)."""


def work_orders(erp: ErpService) -> list[dict[str, Any]]:
    return erp_table(erp, "MaintenanceOrders")


class Bearing:
    """The plant's side: wear when the work order was created, and whether it failed."""

    def __init__(self, erp: ErpService) -> None:
        self.erp = erp
        self.failed = False
        self.max_wear = 0.0

    def __call__(self, plant: Plant) -> None:
        self.max_wear = max(self.max_wear, plant.wear)
        if plant.fault_code is FaultCode.BEARING_FAILURE:
            self.failed = True


async def test_one_work_order_with_evidence_long_before_the_bearing_fails(
    sim_line: Callable[..., Any], erp: ErpService, tmp_path: Path, endless_silo: None
) -> None:
    # a motor with 86 running hours on its bearing (wear 45 %), run at 10 simulated
    # hours per second; it would fail at 100 % wear, about 110 running hours from here
    line: SimLine = await sim_line(speed=36000, tick=0.1)
    line.plant.wear = 0.45
    bearing = Bearing(erp)
    line.hands.extend([clear_jams, bearing])
    line.plant.command(Command.START)
    flow = load_flow("repair", modbus=line.port, erp=erp.base_url)
    for node in flow:
        if node["type"] == "modbus-read":
            node.update(rate="100", rateUnit="ms")
    rt = await start_flow(tmp_path / "data", flow)
    try:
        await wait_until(lambda: len(work_orders(erp)) >= 1, 30, "a work order")
        wear_at_order = line.plant.wear
        run_hours_at_order = line.plant.run_hours
        # keep running another 20 simulated hours: the episode goes on, no second order
        await wait_until(
            lambda: line.plant.run_hours > run_hours_at_order + 20, 20, "20 more running hours"
        )
    finally:
        await rt.stop()
    orders = work_orders(erp)
    assert len(orders) == 1
    order = orders[0]
    assert not bearing.failed
    hours_left = (1.0 - wear_at_order) / WEAR_RATE_PER_H
    assert hours_left > 48, f"work order only {hours_left:.0f} running hours before failure"
    assert order["Equipment"] == "LINE1-FILLER-M1"
    assert order["ExternalReference"].startswith("VIB-LINE1-M1-")
    assert "Bearing wear suspected" in order["Description"]
    evidence = json.loads(order["LongText"])
    assert evidence["machine"] == "LINE1-FILLER-M1"
    assert evidence["trend"]["mean"] > 2.0 and evidence["trend"]["slopePerDay"] > 0
    readings = evidence["readings"]
    assert len(readings) == 12
    assert all(r["mmS"] > 1.0 for r in readings)
    times = [r["t"] for r in readings]
    assert times == sorted(times)
