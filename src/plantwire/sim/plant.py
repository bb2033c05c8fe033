"""The bottling line model: pure dynamics, no I/O, deterministic for a given seed.

One silo feeds a filler driven by one motor. ``Plant.step(dt)`` advances simulated
time by ``dt`` seconds (internally in sub-steps of at most one second); commands and
setpoint writes change the plant between steps. Every protocol server shows the same
``Snapshot``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import IntEnum

AMBIENT_C = 25.0
"""Ambient temperature around the motor, in °C."""
RATED_SPEED_BPM = 600.0
"""Line speed at which the motor carries its full rated load."""
SPEED_RAMP_BPM_S = 100.0
"""How fast the actual line speed follows its target, in bottles/min per second."""
SILO_PCT_PER_BOTTLE = 0.005
"""Silo level used by one bottle: a 10 000 l silo and 0.5 l bottles."""
THERMAL_TAU_S = 300.0
"""Thermal time constant of the motor."""
TEMP_RISE_FULL_LOAD_C = 55.0
"""Temperature rise over ambient at full load with a new bearing."""
WEAR_LIFE_HOURS = 100.0
"""Running hours at full load until the bearing fails (wear reaches 1)."""
JAM_RATE_PER_RUN_HOUR = 0.25
"""Mean number of random jams per running hour."""
DELIVERY_LEAD_S = 60.0
"""Time from ordering a delivery until the truck starts unloading."""
DELIVERY_UNLOAD_S = 300.0
"""Time the truck needs to unload one delivery."""
OVERTEMP_RESET_MARGIN_C = 5.0
"""An overtemperature fault resets only once the motor is this much under the limit."""
SILO_LOW_PCT = 10.0
"""Silo level under which the low-level flag is set."""
VIBRATION_ALERT_MM_S = 2.8
"""Vibration above which maintenance is due (ISO 10816 class I: between "satisfactory" and
"unacceptable"); at the default speed it is crossed at about 72 % wear."""
UINT32 = 1 << 32


class MachineState(IntEnum):
    """Machine state as every protocol shows it (a uint16 / INT)."""

    IDLE = 0
    RUNNING = 1
    FAULT = 2


class FaultCode(IntEnum):
    """Why the machine is in FAULT (0 when it is not)."""

    NONE = 0
    OVERTEMPERATURE = 1
    SILO_EMPTY = 2
    JAM = 3
    BEARING_FAILURE = 4


class DeliveryState(IntEnum):
    """Where the current silo delivery is."""

    NONE = 0
    ORDERED = 1
    UNLOADING = 2


class Command(IntEnum):
    """One-shot commands; each protocol maps its coils / bits / methods to these."""

    START = 0
    STOP = 1
    RESET_FAULT = 2
    ORDER_DELIVERY = 3
    REPAIR = 4
    RESET_COUNTERS = 5


SETPOINT_LIMITS: dict[str, tuple[float, float]] = {
    "line_speed_sp": (0.0, RATED_SPEED_BPM),
    "max_motor_temp": (40.0, 150.0),
    "delivery_amount": (1.0, 100.0),
}
"""Writable setpoints and the range each is clamped to."""


@dataclass(frozen=True)
class Snapshot:
    """Everything the servers publish, at one instant of simulated time."""

    sim_time: float
    silo_level: float
    line_speed: float
    line_speed_sp: float
    motor_temp: float
    max_motor_temp: float
    vibration: float
    wear_pct: float
    power_kw: float
    run_hours: float
    energy_kwh: float
    bottle_count: int
    good_count: int
    reject_count: int
    state: MachineState
    fault_code: FaultCode
    delivery_state: DeliveryState
    delivery_amount: float

    @property
    def energy_wh(self) -> int:
        """Energy meter as an unsigned 32-bit count of Wh (kWh x 1000)."""
        return int(self.energy_kwh * 1000.0) % UINT32

    @property
    def sim_seconds(self) -> int:
        """Simulated time as whole seconds since the simulator started (a uint32)."""
        return int(self.sim_time) % UINT32

    @property
    def running(self) -> bool:
        """True while the machine is RUNNING."""
        return self.state is MachineState.RUNNING

    @property
    def faulted(self) -> bool:
        """True while the machine is in FAULT."""
        return self.state is MachineState.FAULT

    @property
    def silo_low(self) -> bool:
        """True when the silo level is under ``SILO_LOW_PCT``."""
        return self.silo_level < SILO_LOW_PCT

    @property
    def delivery_active(self) -> bool:
        """True from ordering a delivery until it is unloaded."""
        return self.delivery_state is not DeliveryState.NONE

    @property
    def maintenance_due(self) -> bool:
        """True when vibration is above ``VIBRATION_ALERT_MM_S``."""
        return self.vibration > VIBRATION_ALERT_MM_S


class Plant:
    """A bottling line: silo, filler, motor, energy meter. Advance it with ``step``."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self.sim_time = 0.0
        self.silo_level = 80.0
        self.line_speed = 0.0
        self.line_speed_sp = 300.0
        self.max_motor_temp = 95.0
        self.delivery_amount = 60.0
        self.motor_temp = AMBIENT_C
        self.wear = 0.02
        self.run_hours = 0.0
        self.energy_kwh = 0.0
        self.bottle_count = 0
        self.good_count = 0
        self.reject_count = 0
        self.state = MachineState.IDLE
        self.fault_code = FaultCode.NONE
        self.delivery_state = DeliveryState.NONE
        self._delivery_timer = 0.0
        self._delivery_rate = 0.0
        self._bottle_fraction = 0.0
        self._vibration_noise = 0.0

    # ----------------------------------------------------------------- commands
    def command(self, cmd: Command) -> bool:
        """Apply a one-shot command; returns False when the plant refuses it now."""
        if cmd is Command.START:
            if self.state is not MachineState.IDLE or self.silo_level <= 0.0:
                return False
            self.state = MachineState.RUNNING
            return True
        if cmd is Command.STOP:
            if self.state is MachineState.RUNNING:
                self.state = MachineState.IDLE
            return True
        if cmd is Command.RESET_FAULT:
            return self._reset_fault()
        if cmd is Command.ORDER_DELIVERY:
            if self.delivery_state is not DeliveryState.NONE:
                return False
            self.delivery_state = DeliveryState.ORDERED
            self._delivery_timer = DELIVERY_LEAD_S
            return True
        if cmd is Command.REPAIR:
            if self.state is MachineState.RUNNING:
                return False  # lock out / tag out: only a stopped machine is repaired
            self.wear = 0.0
            return True
        self.bottle_count = self.good_count = self.reject_count = 0
        return True

    def _reset_fault(self) -> bool:
        if self.state is not MachineState.FAULT:
            return True
        if self._fault_cause(margin=OVERTEMP_RESET_MARGIN_C) is not FaultCode.NONE:
            return False  # the cause is still there
        self.state = MachineState.IDLE
        self.fault_code = FaultCode.NONE
        return True

    def set_setpoint(self, name: str, value: float) -> float:
        """Set a writable setpoint (see ``SETPOINT_LIMITS``); returns the clamped value."""
        if name not in SETPOINT_LIMITS:
            raise KeyError(f"unknown setpoint {name!r}")
        low, high = SETPOINT_LIMITS[name]
        if not math.isfinite(value):
            value = getattr(self, name)
        clamped = min(max(float(value), low), high)
        setattr(self, name, clamped)
        return clamped

    # ----------------------------------------------------------------- dynamics
    def step(self, dt: float) -> None:
        """Advance simulated time by ``dt`` seconds."""
        remaining = max(0.0, dt)
        while remaining > 1e-9:
            h = min(1.0, remaining)
            self._substep(h)
            remaining -= h

    def _substep(self, h: float) -> None:
        self.sim_time += h
        running = self.state is MachineState.RUNNING
        target = self.line_speed_sp if running else 0.0
        ramp = SPEED_RAMP_BPM_S * h * (3.0 if self.state is MachineState.FAULT else 1.0)
        self.line_speed += max(-ramp, min(ramp, target - self.line_speed))
        load = self.line_speed / RATED_SPEED_BPM
        self._fill_bottles(h)
        self._advance_delivery(h)
        # Motor: first-order thermal model toward a load- and wear-dependent equilibrium.
        equilibrium = AMBIENT_C + TEMP_RISE_FULL_LOAD_C * load * (1.0 + 0.5 * self.wear)
        self.motor_temp += (equilibrium - self.motor_temp) * (1.0 - math.exp(-h / THERMAL_TAU_S))
        if self.line_speed > 0.0:
            self.run_hours += h / 3600.0
            self.wear += load * h / (WEAR_LIFE_HOURS * 3600.0)
        self.energy_kwh += self.power_kw * h / 3600.0
        self._vibration_noise = self._rng.gauss(0.0, 0.03)
        if running:
            self._check_faults(h)

    def _fill_bottles(self, h: float) -> None:
        if self.line_speed <= 0.0 or self.silo_level <= 0.0:
            return
        self._bottle_fraction += self.line_speed / 60.0 * h
        n = int(self._bottle_fraction)
        if n == 0:
            return
        self._bottle_fraction -= n
        p = self.reject_probability
        if n <= 50:
            rejects = sum(1 for _ in range(n) if self._rng.random() < p)
        else:
            mean = n * p
            rejects = round(self._rng.gauss(mean, math.sqrt(mean * (1.0 - p))))
            rejects = min(max(rejects, 0), n)
        self.bottle_count = (self.bottle_count + n) % UINT32
        self.good_count = (self.good_count + n - rejects) % UINT32
        self.reject_count = (self.reject_count + rejects) % UINT32
        self.silo_level = max(0.0, self.silo_level - n * SILO_PCT_PER_BOTTLE)

    def _advance_delivery(self, h: float) -> None:
        if self.delivery_state is DeliveryState.ORDERED:
            self._delivery_timer -= h
            if self._delivery_timer <= 0.0:
                self.delivery_state = DeliveryState.UNLOADING
                self._delivery_timer = DELIVERY_UNLOAD_S
                self._delivery_rate = self.delivery_amount / DELIVERY_UNLOAD_S
        elif self.delivery_state is DeliveryState.UNLOADING:
            self.silo_level = min(100.0, self.silo_level + self._delivery_rate * h)
            self._delivery_timer -= h
            if self._delivery_timer <= 0.0 or self.silo_level >= 100.0:
                self.delivery_state = DeliveryState.NONE

    def _fault_cause(self, margin: float = 0.0) -> FaultCode:
        if self.wear >= 1.0:
            return FaultCode.BEARING_FAILURE
        if self.motor_temp > self.max_motor_temp - margin:
            return FaultCode.OVERTEMPERATURE
        if self.silo_level <= 0.0:
            return FaultCode.SILO_EMPTY
        return FaultCode.NONE

    def _check_faults(self, h: float) -> None:
        cause = self._fault_cause()
        if cause is FaultCode.NONE:
            jam_p = 1.0 - math.exp(-JAM_RATE_PER_RUN_HOUR * h / 3600.0)
            if self._rng.random() < jam_p:
                cause = FaultCode.JAM
        if cause is not FaultCode.NONE:
            self.state = MachineState.FAULT
            self.fault_code = cause

    # ----------------------------------------------------------------- derived values
    @property
    def reject_probability(self) -> float:
        """Chance that one bottle is rejected: 0.5 %, rising steeply above 60 °C."""
        excess = max(0.0, self.motor_temp - 60.0)
        return min(0.5, 0.005 + 0.0004 * float(excess**1.5))

    @property
    def vibration(self) -> float:
        """Vibration RMS in mm/s: background, a speed term, and a bearing term growing with
        wear squared (it shows whenever the shaft turns, more at higher speed)."""
        fraction = self.line_speed / RATED_SPEED_BPM
        value = 0.15 + 0.8 * fraction
        if fraction > 0.0:
            value += 6.0 * self.wear**2 * (0.5 + 0.5 * fraction)
        return max(0.0, value * (1.0 + self._vibration_noise))

    @property
    def power_kw(self) -> float:
        """Electrical power: 0.5 kW for controls, plus the motor's load (more when worn)."""
        load = self.line_speed / RATED_SPEED_BPM
        return 0.5 + 7.5 * load * (1.0 + 0.3 * self.wear)

    def snapshot(self) -> Snapshot:
        """The current values, as the servers publish them."""
        return Snapshot(
            sim_time=self.sim_time,
            silo_level=self.silo_level,
            line_speed=self.line_speed,
            line_speed_sp=self.line_speed_sp,
            motor_temp=self.motor_temp,
            max_motor_temp=self.max_motor_temp,
            vibration=self.vibration,
            wear_pct=min(100.0, self.wear * 100.0),
            power_kw=self.power_kw,
            run_hours=self.run_hours,
            energy_kwh=self.energy_kwh,
            bottle_count=self.bottle_count,
            good_count=self.good_count,
            reject_count=self.reject_count,
            state=self.state,
            fault_code=self.fault_code,
            delivery_state=self.delivery_state,
            delivery_amount=self.delivery_amount,
        )
