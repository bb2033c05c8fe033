"""``plantwire sim``: run the virtual bottling line and its protocol servers on loopback."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from pathlib import Path

from plantwire.sim.engine import Adapter, Controls, Engine
from plantwire.sim.erp import V2_ROOT, V4_ROOT, ErpService
from plantwire.sim.plant import Command, Plant, Snapshot

SERVERS = ("modbus", "opcua", "s7", "enip", "erp")


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(
        prog="plantwire sim",
        description="Run a simulated bottling line with Modbus TCP, OPC UA, S7 and "
        "EtherNet/IP servers and an ERP/CMMS web service on loopback (see docs/sim.md).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--modbus-port", type=int, default=5020, help="Modbus TCP port (default 5020)")
    p.add_argument("--opcua-port", type=int, default=4840, help="OPC UA port (default 4840)")
    p.add_argument(
        "--s7-port", type=int, default=1102, help="S7 port (default 1102; 102 needs root)"
    )
    p.add_argument("--enip-port", type=int, default=44818, help="EtherNet/IP port (default 44818)")
    p.add_argument(
        "--only",
        default=",".join(SERVERS),
        help="comma-separated servers to run: modbus,opcua,s7,enip,erp (default: all)",
    )
    p.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for faults and noise (default 0)")
    p.add_argument(
        "--tick", type=float, default=0.2, help="real seconds between updates (default 0.2)"
    )
    p.add_argument("--summary-every", type=float, default=5.0, help="seconds between summary lines")
    p.add_argument("--quiet", action="store_true", help="no summary lines")
    p.add_argument("--start", action="store_true", help="start the line right away")
    p.add_argument(
        "--opcua-security",
        choices=("none", "basic256sha256"),
        default="none",
        help="OPC UA security: none (default) or basic256sha256 (Sign and SignAndEncrypt)",
    )
    p.add_argument(
        "--opcua-cert-dir",
        type=Path,
        default=None,
        help="where the generated OPC UA server certificate is kept (default ./plantwire-sim-pki)",
    )
    p.add_argument(
        "--erp-port",
        type=int,
        default=None,
        help="port of the ERP/CMMS service (OData v2/v4 + REST, docs/sim.md); 0 disables "
        "(default 8090; when the default port is taken the ERP is left out with a warning)",
    )
    p.add_argument(
        "--erp-db",
        type=Path,
        default=Path("erp.sqlite"),
        help="SQLite file holding the ERP tables (default ./erp.sqlite)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every command and write")
    return p


def _adapters(args: argparse.Namespace, controls: Controls, chosen: list[str]) -> list[Adapter]:
    adapters: list[Adapter] = []
    for name in chosen:
        if name == "modbus":
            from plantwire.sim.modbus_server import ModbusAdapter

            adapters.append(ModbusAdapter(controls, args.host, args.modbus_port))
        elif name == "opcua":
            from plantwire.sim.opcua_server import OpcUaAdapter

            adapters.append(
                OpcUaAdapter(
                    controls,
                    args.host,
                    args.opcua_port,
                    security=args.opcua_security,
                    cert_dir=args.opcua_cert_dir,
                )
            )
        elif name == "s7":
            from plantwire.sim.s7_server import S7Adapter

            adapters.append(S7Adapter(controls, args.host, args.s7_port))
        elif name == "erp":
            if args.erp_port is None:
                adapters.append(ErpAdapter(args.host, 8090, args.erp_db, required=False))
            elif args.erp_port:
                adapters.append(ErpAdapter(args.host, args.erp_port, args.erp_db))
        else:
            from plantwire.sim.enip_server import EnipAdapter

            adapters.append(EnipAdapter(controls, args.host, args.enip_port))
    return adapters


class ErpAdapter:
    """The ERP/CMMS web service run next to the protocol servers (it ignores the plant)."""

    name = "erp"

    def __init__(self, host: str, port: int, db_path: Path, required: bool = True) -> None:
        self.host, self.port, self.db_path = host, port, db_path
        self.required = required
        self.service: ErpService | None = None
        self.problem = ""

    async def start(self) -> None:
        try:
            sock = socket.create_server((self.host, self.port))
        except OSError as exc:
            if self.required:
                raise
            self.problem = str(exc)  # the default port is taken: run without the ERP
            print(f"plantwire sim: ERP service left out: {exc}", file=sys.stderr)
            return
        sock.close()
        service = ErpService(self.db_path)
        try:
            await service.start(self.host, self.port)
        except OSError:
            service.db.close()
            raise
        self.service = service

    async def publish(self, snap: Snapshot) -> None:
        return None

    async def stop(self) -> None:
        service, self.service = self.service, None
        if service is not None:
            await service.stop()

    def endpoint(self) -> str:
        if self.problem:
            return f"erp not started ({self.problem}); use --erp-port"
        port = self.service.port if self.service else self.port
        return f"erp http://{self.host}:{port}{V2_ROOT} (v4 {V4_ROOT}, REST /api/cmms)"


def _print(line: str) -> None:
    print(line, flush=True)


async def _run(args: argparse.Namespace, chosen: list[str]) -> int:
    plant = Plant(seed=args.seed)
    if args.start:
        plant.command(Command.START)
    controls = Controls(plant)
    engine = Engine(
        plant,
        _adapters(args, controls, chosen),
        speed=args.speed,
        tick=args.tick,
        summary_every=args.summary_every,
        printer=None if args.quiet else _print,
    )
    try:
        await engine.start()
    except OSError as exc:
        print(f"plantwire sim: {exc}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.request_stop)
    for adapter in engine.adapters:
        _print(f"listening: {adapter.endpoint()}")
    _print(f"plant running at speed x{args.speed:g}, seed {args.seed}; Ctrl+C or SIGTERM stops")
    await engine.run()
    _print("stopped")
    return 0


def main(argv: list[str]) -> int:
    """Entry point of ``plantwire sim``; returns the exit code."""
    if argv[:1] == ["--"]:  # `plantwire sim -- --only modbus` (see the note in docs/sim.md)
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    chosen = [s.strip().lower() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SERVERS]
    if unknown or not chosen:
        print(
            f"plantwire sim: --only takes {','.join(SERVERS)}; got {args.only!r}", file=sys.stderr
        )
        return 2
    if args.speed <= 0 or args.tick <= 0:
        print("plantwire sim: --speed and --tick must be positive", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("asyncua", "pymodbus", "snap7"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    logging.getLogger("plantwire.sim").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return asyncio.run(_run(args, list(dict.fromkeys(chosen))))
    except KeyboardInterrupt:
        return 130
