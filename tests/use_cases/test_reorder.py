"""Use case 1, reorder before you run out: examples/use-cases/reorder.json against the
virtual line (Modbus), the ERP's OData service and a local SMTP server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plantwire.sim.erp import ErpService
from plantwire.sim.plant import Command, DeliveryState, Plant
from tests.flowkit import until as wait_until
from tests.tcp_proxy import free_port
from tests.use_cases.conftest import (
    Mailbox,
    SimLine,
    clear_jams,
    erp_table,
    load_flow,
    start_flow,
)


def purchase_orders(erp: ErpService) -> list[dict[str, Any]]:
    return erp_table(erp, "PurchaseOrders", "CreatedAt")


class Episodes:
    """Watches the silo from the plant's side: low-level episodes and deliveries."""

    def __init__(self) -> None:
        self.min_level = 100.0
        self.deliveries = 0
        self._was_active = False

    def __call__(self, plant: Plant) -> None:
        self.min_level = min(self.min_level, plant.silo_level)
        active = plant.delivery_state is not DeliveryState.NONE
        if active and not self._was_active:
            self.deliveries += 1
        self._was_active = active


async def test_one_purchase_order_per_episode_and_none_twice_across_a_restart(
    sim_line: Callable[..., Any],
    erp: ErpService,
    smtp: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the supplier needs 15 minutes to start unloading: the silo keeps falling meanwhile,
    # so a restart in that time would order again if the episode were forgotten
    monkeypatch.setattr("plantwire.sim.plant.DELIVERY_LEAD_S", 900.0)
    line: SimLine = await sim_line(speed=600, tick=0.1)
    watch = Episodes()
    line.hands.extend([clear_jams, watch])
    flow = load_flow("reorder", modbus=line.port, erp=erp.base_url, smtp=smtp.port)
    for node in flow:
        if node["type"] == "modbus-read":
            node.update(rate="100", rateUnit="ms")
    line.plant.command(Command.START)
    data = tmp_path / "data"
    rt = await start_flow(data, flow)
    try:
        # episode 1: the silo falls from 80 %; well before it is empty, one order
        await wait_until(lambda: len(purchase_orders(erp)) == 1, 30, "the first purchase order")
        await wait_until(lambda: watch.deliveries == 1, 10, "the delivery at the silo")
        first = purchase_orders(erp)[0]
        assert 20.0 < line.plant.silo_level < 60.0  # ordered with the lead time to spare
        level = line.plant.silo_level
    finally:
        await rt.stop()  # Plantwire restarts in the middle of the episode ...
    rt = await start_flow(data, flow)  # ... same data folder: the episode is remembered
    try:
        await wait_until(lambda: line.plant.silo_level > level + 5, 10, "the refill")
        assert len(purchase_orders(erp)) == 1  # still falling after the restart: no order
        await wait_until(lambda: len(purchase_orders(erp)) == 2, 40, "the second episode's order")
        await wait_until(lambda: len(smtp.mails) == 2, 10, "two mails to purchasing")
        await wait_until(lambda: watch.deliveries == 2, 10, "the second delivery")
    finally:
        await rt.stop()
    orders = purchase_orders(erp)
    assert len(orders) == 2  # one per episode, none repeated by the restart
    assert orders[0] == first
    assert len({o["ExternalReference"] for o in orders}) == 2
    for order in orders:
        assert order["Material"] == "SUGAR-SYRUP" and float(order["Quantity"]) == 6000
        assert order["ExternalReference"].startswith("SILO1-")
    assert watch.deliveries == 2
    assert watch.min_level > 5.0  # the line never ran dry: material came in time
    numbers = [o["PurchaseOrder"] for o in orders]
    for mail, number in zip(smtp.mails, numbers, strict=True):
        assert mail["Subject"] == "Reorder: silo 1 needs sugar syrup"
        assert number in mail.get_content()


async def test_an_order_raised_while_the_erp_is_down_waits_and_is_created_once(
    sim_line: Callable[..., Any], smtp: Mailbox, tmp_path: Path
) -> None:
    """The ERP is down when the silo runs low: the order waits on disk (and a catch node
    says so) and is created exactly once when the ERP is back."""
    port = free_port()
    db = tmp_path / "erp.sqlite"
    line: SimLine = await sim_line(speed=300, tick=0.1)
    line.hands.append(clear_jams)
    line.plant.silo_level = 55.0  # close to the reorder point
    line.plant.command(Command.START)
    flow = load_flow("reorder", modbus=line.port, erp=f"http://127.0.0.1:{port}", smtp=smtp.port)
    for node in flow:
        if node["type"] == "modbus-read":
            node.update(rate="100", rateUnit="ms")
        if node["type"] == "odata":
            node.update(retries="0")
    rt = await start_flow(tmp_path / "data", flow)
    erp = ErpService(db)
    try:
        create = rt.get_node("create")
        assert create is not None
        await wait_until(lambda: create.outbox.pending >= 1, 30, "the order queued on disk")
        status = create.last_status or {}
        assert "queued" in str(status.get("text")), status
        await erp.start("127.0.0.1", port)  # the ERP is back
        await wait_until(lambda: len(purchase_orders(erp)) == 1, 20, "the order in the ERP")
        await wait_until(lambda: len(smtp.mails) == 1, 10, "the mail to purchasing")
        await wait_until(lambda: create.outbox.pending == 0, 5, "an empty queue")
    finally:
        await rt.stop()
        await erp.stop()
    assert len(purchase_orders(erp)) == 1
