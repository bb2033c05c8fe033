"""EtherNet/IP (CIP, Logix tags) server: cpppo in a child process managed by the simulator.

The child (``plantwire.sim.enip_child``) serves the tags; every tick the simulator sends it
the full set of tag values over its standard input, and it reports each client write
on its standard output. Clients address the tags by name (symbolic Read/Write Tag), any
route path / processor slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from plantwire.sim.engine import Controls
from plantwire.sim.plant import Command, Snapshot

log = logging.getLogger("plantwire.sim.enip")
LogixType = Literal["REAL", "DINT", "INT", "BOOL"]


@dataclass(frozen=True)
class Tag:
    """One Logix tag: its value comes from ``key`` (a snapshot field) or it triggers ``command``."""

    name: str
    type: LogixType
    unit: str
    description: str
    key: str = ""
    command: Command | None = None
    setpoint: bool = False


TAGS: tuple[Tag, ...] = (
    Tag("Silo_Level", "REAL", "%", "Silo level", "silo_level"),
    Tag("Line_Speed", "REAL", "bottles/min", "Actual line speed", "line_speed"),
    Tag("Motor_Temp", "REAL", "°C", "Motor temperature", "motor_temp"),
    Tag("Motor_Vibration", "REAL", "mm/s", "Motor vibration RMS", "vibration"),
    Tag("Motor_Wear", "REAL", "%", "Bearing wear", "wear_pct"),
    Tag("Run_Hours", "REAL", "h", "Motor running hours", "run_hours"),
    Tag("Power_kW", "REAL", "kW", "Electrical power", "power_kw"),
    Tag("Bottle_Count", "DINT", "bottles", "Bottles filled", "bottle_count"),
    Tag("Good_Count", "DINT", "bottles", "Good bottles", "good_count"),
    Tag("Reject_Count", "DINT", "bottles", "Rejected bottles", "reject_count"),
    Tag("Energy_Wh", "DINT", "Wh", "Energy meter (kWh x 1000)", "energy_wh"),
    Tag("Machine_State", "INT", "", "0 idle, 1 running, 2 fault", "state"),
    Tag(
        "Fault_Code", "INT", "", "0 none, 1 overtemp, 2 silo empty, 3 jam, 4 bearing", "fault_code"
    ),
    Tag("Delivery_State", "INT", "", "0 none, 1 ordered, 2 unloading", "delivery_state"),
    Tag(
        "Line_Speed_SP",
        "REAL",
        "bottles/min",
        "Line speed setpoint (0..600)",
        "line_speed_sp",
        setpoint=True,
    ),
    Tag("Motor_Temp_Limit", "REAL", "°C", "Trip limit (40..150)", "max_motor_temp", setpoint=True),
    Tag(
        "Delivery_Amount", "REAL", "%", "Silo % one delivery adds", "delivery_amount", setpoint=True
    ),
    Tag("Cmd_Start", "BOOL", "", "Write 1: start the line", command=Command.START),
    Tag("Cmd_Stop", "BOOL", "", "Write 1: stop the line", command=Command.STOP),
    Tag("Cmd_Reset_Fault", "BOOL", "", "Write 1: reset a fault", command=Command.RESET_FAULT),
    Tag(
        "Cmd_Order_Delivery",
        "BOOL",
        "",
        "Write 1: order a delivery",
        command=Command.ORDER_DELIVERY,
    ),
    Tag("Cmd_Repair", "BOOL", "", "Write 1: repair the bearing", command=Command.REPAIR),
    Tag(
        "Cmd_Reset_Counters", "BOOL", "", "Write 1: reset counters", command=Command.RESET_COUNTERS
    ),
)
"""Every tag the ENIP server holds."""

_BY_NAME = {tag.name: tag for tag in TAGS}


def tag_value(tag: Tag, snap: Snapshot) -> float | int:
    """The value a tag shows for a snapshot (DINTs carry the uint32 bit pattern, signed)."""
    if tag.command is not None:
        return 0
    raw = getattr(snap, tag.key)
    if tag.type == "REAL":
        return float(raw)
    number = int(raw)
    if tag.type == "DINT" and number >= 1 << 31:
        number -= 1 << 32
    return number


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class EnipAdapter:
    """Runs and feeds the cpppo child process."""

    name = "enip"

    def __init__(self, controls: Controls, host: str, port: int) -> None:
        self.controls = controls
        self.host = host
        self.port = port
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stderr_tail: deque[str] = deque(maxlen=20)

    def endpoint(self) -> str:
        """Where EtherNet/IP clients connect."""
        return f"enip (Logix tags) {self.host}:{self.port}"

    async def start(self) -> None:
        """Spawn the child and wait until it accepts TCP connections."""
        if not _port_free(self.host, self.port):
            raise OSError(f"EtherNet/IP port {self.host}:{self.port} is in use")
        args = [f"{tag.name}={tag.type}" for tag in TAGS]
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "plantwire.sim.enip_child", "--no-udp",
            "--address", f"{self.host}:{self.port}", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._tasks = [
            asyncio.create_task(self._read_writes()),
            asyncio.create_task(self._read_stderr()),
        ]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20.0
        while loop.time() < deadline:
            if self._proc.returncode is not None:
                break
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        await self.stop()
        tail = " | ".join(self._stderr_tail)
        raise OSError(f"EtherNet/IP server did not start on {self.host}:{self.port}: {tail}")

    async def _read_writes(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            try:
                event: dict[str, Any] = json.loads(line)
                self._apply(str(event["write"]), event["value"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("enip: ignored a write report %r: %s", line[:200], exc)

    def _apply(self, name: str, value: Any) -> None:
        tag = _BY_NAME.get(name)
        if tag is None:
            return
        if tag.command is not None:
            if value:
                self.controls.command(tag.command, "enip")
        elif tag.setpoint:
            self.controls.set_setpoint(tag.key, float(value), "enip")

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self._stderr_tail.append(text)
            log.debug("enip child: %s", text)

    async def publish(self, snap: Snapshot) -> None:
        """Send every tag value to the child."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return
        values: dict[str, float | int] = {tag.name: tag_value(tag, snap) for tag in TAGS}
        for tag in TAGS:
            if tag.setpoint:
                values[tag.name] = float(getattr(self.controls.plant, tag.key))
        proc.stdin.write(json.dumps(values).encode() + b"\n")
        await proc.stdin.drain()

    async def stop(self) -> None:
        """Close the child's input (it exits), then make sure it is gone."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
