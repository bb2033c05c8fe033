"""examples/factory-floor.json shows live values from `plantwire sim` over all four protocols."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.tcp_proxy import free_port

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "factory-floor.json"


def test_factory_floor_example_against_the_simulator(tmp_path: Path) -> None:
    ports = {"modbus": free_port(), "opcua": free_port(), "s7": free_port(), "enip": free_port()}
    flow = json.loads(EXAMPLE.read_text())
    for node in flow:  # the example uses the simulator's default ports; move them
        if node["type"] == "modbus-client":
            node["tcpPort"] = str(ports["modbus"])
        elif node["type"] == "opcua-client":
            node["endpoint"] = f"opc.tcp://127.0.0.1:{ports['opcua']}"
        elif node["type"] == "s7-endpoint":
            node["port"] = ports["s7"]
        elif node["type"] == "enip-endpoint":
            node["port"] = ports["enip"]
    flow_file = tmp_path / "factory-floor.json"
    flow_file.write_text(json.dumps(flow))
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plantwire.cli",
            "sim",
            "--start",
            "--speed",
            "60",
            "--quiet",
            "--modbus-port",
            str(ports["modbus"]),
            "--opcua-port",
            str(ports["opcua"]),
            "--s7-port",
            str(ports["s7"]),
            "--enip-port",
            str(ports["enip"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 30
        for port in ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.time() < deadline and sim.poll() is None, "simulator did not start"
                    time.sleep(0.2)
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "plantwire.cli",
                "run",
                str(flow_file),
                "--data",
                str(tmp_path / "data"),
                "--for-seconds",
                "9",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if "[debug:line] LINE1" in line]
    assert lines, run.stdout
    last = lines[-1]
    number = r"\d+(\.\d+)?"
    assert re.search(rf"modbus: level {number} %, motor {number} C, \d+ bottles", last), last
    assert re.search(rf"opcua: RUNNING at {number} bpm, {number} kW", last), last
    assert re.search(rf"s7: motor {number} C", last), last
    assert re.search(rf"enip: vibration {number} mm/s, wear {number} %", last), last
    # the line runs: the bottle count grows between summaries
    counts = [int(m.group(1)) for line in lines if (m := re.search(r"(\d+) bottles", line))]
    assert len(counts) >= 2 and counts[-1] > counts[0], lines
