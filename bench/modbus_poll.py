"""Modbus polling throughput: points per second through the real nodes and coordinator.

Starts ``--devices`` pymodbus TCP servers (subprocesses, ``--registers`` holding
registers each), deploys one modbus-client + one modbus-read (every register a uint16
point, object output, report by exception off, the fastest interval) per device, and
counts the values that reach a downstream node for ``--seconds``. Prints one JSON line:
points/s, requests/s, and the CPU time (user+sys) of this process.

    .venv/bin/python bench/modbus_poll.py [--devices 10] [--registers 1000] [--seconds 10]
                                          [--rbe] [--mode object|point] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from plantwire.registry import load_node_types
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.spec import NodeConfig, node_type


@node_type("bench-count")
class CountNode(Node):
    """Counts the values it receives."""

    config_model = NodeConfig

    def __init__(self, flow: Any, config: NodeConfig) -> None:
        super().__init__(flow, config)
        self.values = 0

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        payload = msg.get("payload")
        self.values += len(payload) if isinstance(payload, dict) else 1


def serve(port: int, registers: int) -> None:
    """Subprocess: one Modbus TCP server whose registers change every second."""
    from pymodbus.server import ModbusTcpServer

    from plantwire.nodes.modbus._store import FlowDatastore

    async def run() -> None:
        store = FlowDatastore({"holding": registers})
        store.set("holding", 0, list(range(registers)))
        server = ModbusTcpServer(store, address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        print("ready", flush=True)
        tick = 0
        while True:
            await asyncio.sleep(1.0)
            tick += 1
            store.set("holding", 0, [(i + tick) % 65536 for i in range(registers)])

    asyncio.run(run())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_node_types()
    ports = [free_port() for _ in range(args.devices)]
    procs = []
    for port in ports:
        cmd = [sys.executable, __file__, "--serve", str(port), "--registers", str(args.registers)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        procs.append(proc)
    flows: list[dict[str, Any]] = [{"id": "t1", "type": "tab"}]
    for i, port in enumerate(ports):
        points = [
            {"name": f"r{a}", "table": "holding", "address": a, "type": "uint16"}
            for a in range(args.registers)
        ]
        flows += [
            {"id": f"mc{i}", "type": "modbus-client", "tcpHost": "127.0.0.1",
             "tcpPort": port, "clientTimeout": 2000},
            {"id": f"rd{i}", "type": "modbus-read", "z": "t1", "server": f"mc{i}",
             "rate": str(args.rate_ms), "rateUnit": "ms", "points": points,
             "outputMode": args.mode, "reportByException": args.rbe, "wires": [["count"]]},
        ]  # fmt: skip
    flows.append({"id": "count", "type": "bench-count", "z": "t1", "wires": []})
    rt = Runtime(RuntimeSettings(Path(tempfile.mkdtemp()), credential_secret="bench"))
    try:
        await rt.deploy(flows)
        counter = rt.get_node("count")
        assert isinstance(counter, CountNode)
        await asyncio.sleep(2.0)  # connect and warm up
        coords = [rt.get_node(f"mc{i}").coordinator for i in range(args.devices)]  # type: ignore[union-attr]
        req0 = sum(c.requests_sent for c in coords)
        v0, t0 = counter.values, time.perf_counter()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        await asyncio.sleep(args.seconds)
        if prof:
            prof.disable()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = time.perf_counter() - t0
        values = counter.values - v0
        requests = sum(c.requests_sent for c in coords) - req0
    finally:
        await rt.stop()
        for proc in procs:
            proc.kill()
            proc.wait()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if prof:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(20)
    return {
        "bench": "modbus_poll",
        "devices": args.devices,
        "registers_per_device": args.registers,
        "interval_ms": args.rate_ms,
        "mode": args.mode,
        "report_by_exception": args.rbe,
        "seconds": round(elapsed, 2),
        "points_per_s": round(values / elapsed),
        "requests_per_s": round(requests / elapsed),
        "cpu_s": round(cpu, 2),
        "cpu_fraction_of_one_core": round(cpu / elapsed, 2),
        "points_per_cpu_s": round(values / cpu) if cpu else None,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--registers", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate-ms", type=int, default=10)
    ap.add_argument("--mode", choices=("object", "point"), default="object")
    ap.add_argument("--rbe", action="store_true", help="report by exception on")
    ap.add_argument("--profile", action="store_true", help="cProfile to stderr")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.registers)
        return
    print(json.dumps(asyncio.run(bench(args))))


if __name__ == "__main__":
    main()
