"""The bottling line model: dynamics, commands, faults, determinism (no I/O)."""

from __future__ import annotations

import pytest

from plantwire.sim.plant import (
    SILO_LOW_PCT,
    VIBRATION_ALERT_MM_S,
    Command,
    DeliveryState,
    FaultCode,
    MachineState,
    Plant,
)


def run_for(plant: Plant, seconds: float, chunk: float = 60.0) -> None:
    """Step in chunks with the silo topped up; restart after a random jam."""
    while seconds > 0:
        plant.silo_level = 80.0
        plant.step(min(chunk, seconds))
        seconds -= chunk
        if plant.fault_code is FaultCode.JAM:
            assert plant.command(Command.RESET_FAULT)
            assert plant.command(Command.START)


def test_level_falls_and_bottles_count_while_running() -> None:
    plant = Plant(seed=1)
    assert plant.command(Command.START)
    before = plant.snapshot()
    plant.step(600)
    after = plant.snapshot()
    assert after.running
    assert after.line_speed == 300.0
    assert after.silo_level < before.silo_level - 10  # ~5 bottles/s x 0.005 %
    assert 2900 <= after.bottle_count <= 3000
    assert after.good_count + after.reject_count == after.bottle_count
    assert after.energy_kwh > 0.5
    assert after.motor_temp > before.motor_temp + 10


def test_level_stays_while_idle() -> None:
    plant = Plant(seed=1)
    plant.step(600)
    snap = plant.snapshot()
    assert snap.state is MachineState.IDLE
    assert snap.silo_level == 80.0
    assert snap.bottle_count == 0


def test_delivery_raises_level_over_the_delivery_time() -> None:
    plant = Plant(seed=2)
    plant.silo_level = 20.0
    assert plant.command(Command.ORDER_DELIVERY)
    assert not plant.command(Command.ORDER_DELIVERY)  # one at a time
    plant.step(30)
    assert plant.snapshot().delivery_state is DeliveryState.ORDERED
    assert plant.silo_level == 20.0
    plant.step(30 + 150)  # truck arrived at 60 s, half unloaded
    half = plant.snapshot()
    assert half.delivery_state is DeliveryState.UNLOADING
    assert 45.0 < half.silo_level < 55.0
    plant.step(200)
    done = plant.snapshot()
    assert done.delivery_state is DeliveryState.NONE
    assert done.silo_level == pytest.approx(80.0)  # 20 + the default 60 %


def test_delivery_amount_setpoint_and_level_capped() -> None:
    plant = Plant(seed=2)
    assert plant.set_setpoint("delivery_amount", 500.0) == 100.0  # clamped
    plant.command(Command.ORDER_DELIVERY)
    plant.step(1000)
    assert plant.silo_level == 100.0


def test_vibration_rises_with_wear_long_before_failure_and_repair_resets() -> None:
    plant = Plant(seed=3)
    plant.wear = 0.4  # a used bearing: the last 60 % of its life
    plant.command(Command.START)
    history: list[tuple[float, float]] = []  # (wear %, vibration)
    alert_wear = None
    while plant.fault_code is not FaultCode.BEARING_FAILURE:
        run_for(plant, 3600)
        snap = plant.snapshot()
        history.append((snap.wear_pct, snap.vibration))
        if alert_wear is None and snap.maintenance_due:
            alert_wear = snap.wear_pct
        assert snap.sim_time < 400 * 3600, "the bearing never failed"
    assert alert_wear is not None and alert_wear < 80.0  # hours of warning at 300 bpm
    early, late = history[2][1], history[-2][1]
    assert late > VIBRATION_ALERT_MM_S > 2 * early
    assert plant.snapshot().state is MachineState.FAULT
    assert not plant.command(Command.RESET_FAULT)  # the bearing is still broken
    assert plant.command(Command.REPAIR)
    assert plant.wear == 0.0
    assert plant.command(Command.RESET_FAULT)
    plant.command(Command.START)
    plant.step(120)
    assert plant.snapshot().vibration < early * 1.1


def test_repair_refused_while_running() -> None:
    plant = Plant()
    plant.wear = 0.5
    plant.command(Command.START)
    assert not plant.command(Command.REPAIR)
    assert plant.wear == 0.5


def test_overtemperature_fault_reset_by_write_once_cool() -> None:
    plant = Plant(seed=4)
    plant.set_setpoint("line_speed_sp", 600)
    plant.set_setpoint("max_motor_temp", 45)
    plant.command(Command.START)
    while plant.state is MachineState.RUNNING and plant.sim_time < 1800:
        plant.step(5)
    snap = plant.snapshot()
    assert snap.state is MachineState.FAULT
    assert snap.fault_code is FaultCode.OVERTEMPERATURE
    assert not plant.command(Command.START)  # a faulted machine does not start
    assert not plant.command(Command.RESET_FAULT)  # still hot
    plant.step(1800)  # cools down at standstill
    assert plant.snapshot().line_speed == 0.0
    assert plant.command(Command.RESET_FAULT)
    assert plant.snapshot().state is MachineState.IDLE
    assert plant.snapshot().fault_code is FaultCode.NONE


def test_empty_silo_faults_until_refilled() -> None:
    plant = Plant(seed=5)
    plant.silo_level = 1.0
    plant.command(Command.START)
    plant.step(300)
    snap = plant.snapshot()
    assert snap.fault_code is FaultCode.SILO_EMPTY
    assert snap.silo_level == 0.0
    assert snap.silo_low
    assert not plant.command(Command.RESET_FAULT)
    plant.command(Command.ORDER_DELIVERY)
    plant.step(400)
    assert plant.silo_level > SILO_LOW_PCT
    assert plant.command(Command.RESET_FAULT)
    assert plant.command(Command.START)


def test_random_jams_happen_and_are_reset() -> None:
    plant = Plant(seed=6)
    plant.command(Command.START)
    jams = 0
    for _ in range(60 * 6):
        plant.silo_level = 80.0  # keep the silo and the bearing out of the way
        plant.wear = 0.0
        plant.step(600)
        if plant.fault_code is FaultCode.JAM:
            jams += 1
            assert plant.command(Command.RESET_FAULT)
            assert plant.command(Command.START)
    assert 3 <= jams <= 40  # 0.25 per running hour


def test_reject_rate_rises_with_motor_temperature() -> None:
    plant = Plant()
    plant.motor_temp = 40.0
    cool = plant.reject_probability
    plant.motor_temp = 90.0
    hot = plant.reject_probability
    assert cool == 0.005
    assert hot > 10 * cool
    hot_line, cool_line = Plant(seed=7), Plant(seed=7)
    hot_line.wear = 0.9
    hot_line.set_setpoint("line_speed_sp", 600)
    for plant in (hot_line, cool_line):
        plant.set_setpoint("max_motor_temp", 150)
        plant.command(Command.START)
        run_for(plant, 3000)
    assert hot_line.motor_temp > cool_line.motor_temp + 40
    hot_rate = hot_line.reject_count / hot_line.bottle_count
    cool_rate = cool_line.reject_count / cool_line.bottle_count
    assert cool_rate < 0.01
    assert hot_rate > 5 * cool_rate


def test_same_seed_same_history_other_seed_differs() -> None:
    def history(seed: int) -> list[object]:
        plant = Plant(seed=seed)
        plant.command(Command.START)
        out: list[object] = []
        for i in range(200):
            plant.step(97.3)
            if i == 50:
                plant.set_setpoint("line_speed_sp", 450)
            if plant.state is MachineState.FAULT:
                plant.command(Command.RESET_FAULT)
                plant.command(Command.START)
            out.append(plant.snapshot())
        return out

    assert history(11) == history(11)
    assert history(11) != history(12)


def test_counters_reset_and_wrap_as_uint32() -> None:
    plant = Plant()
    plant.bottle_count = plant.good_count = (1 << 32) - 2
    plant.command(Command.START)
    plant.step(60)
    assert plant.bottle_count < 1000  # wrapped
    plant.command(Command.RESET_COUNTERS)
    snap = plant.snapshot()
    assert (snap.bottle_count, snap.good_count, snap.reject_count) == (0, 0, 0)
    plant.energy_kwh = 5_000_000.0
    assert plant.snapshot().energy_wh == 5_000_000_000 % (1 << 32)


def test_stop_ramps_down_and_setpoints_clamp() -> None:
    plant = Plant()
    plant.command(Command.START)
    plant.step(10)
    plant.command(Command.STOP)
    plant.step(1)
    assert 0 < plant.line_speed < 300
    plant.step(10)
    assert plant.line_speed == 0.0
    assert plant.set_setpoint("line_speed_sp", -5) == 0.0
    assert plant.set_setpoint("line_speed_sp", float("nan")) == 0.0
