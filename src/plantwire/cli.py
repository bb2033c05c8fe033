"""The ``plantwire`` command: run flows, test flows, list node types."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from plantwire import __version__
from plantwire.runtime.errors import FlowFileError, FlowValidationError, PlantwireError

log = logging.getLogger("plantwire")


def _cmd_sim(args: argparse.Namespace) -> int:
    from plantwire.sim.cli import main as sim_main

    return sim_main(list(args.sim_args))


def _cmd_version(args: argparse.Namespace) -> int:
    print(f"plantwire {__version__}")
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    from plantwire.testing import find_case_files, load_case, run_case

    files = find_case_files(args.paths)
    if not files:
        print("no case files found", file=sys.stderr)
        return 2
    passed = failed = skipped = 0

    async def run_all() -> None:
        nonlocal passed, failed, skipped
        for f in files:
            try:
                case = load_case(f)
            except PlantwireError as exc:
                failed += 1
                print(f"FAIL {f}: {exc}")
                continue
            result = await run_case(case)
            if result.skipped:
                skipped += 1
                print(f"SKIP {result.name}: {result.detail}")
            elif result.passed:
                passed += 1
                if not args.quiet:
                    print(f"PASS {result.name}")
            else:
                failed += 1
                print(f"FAIL {result.name} ({f}): {result.detail}")

    asyncio.run(run_all())
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    return 1 if failed else 0


def _cmd_nodes(args: argparse.Namespace) -> int:
    from plantwire.catalog import node_catalog

    catalog = node_catalog()
    if args.json:
        print(json.dumps(catalog, indent=2, sort_keys=True))
    else:
        for name, entry in catalog.items():
            print(f"{name:24} {entry['category']:10} {entry['summary']}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from plantwire.runtime.flowset import load_flows_file
    from plantwire.runtime.runtime import Runtime, RuntimeSettings

    try:
        flows = load_flows_file(args.flows)
    except FlowFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = RuntimeSettings(
        args.data or Path(args.flows).resolve().parent / ".plantwire",
        credential_secret=args.credential_secret,
        context_storage=_context_settings(args),
    )

    async def main() -> int:
        runtime = Runtime(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await runtime.deploy(flows)
        except FlowValidationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            await runtime.stop()
            return 2
        log.info("running %d node(s) from %s; Ctrl-C stops", len(runtime.nodes()), args.flows)
        if args.for_seconds:
            try:
                await asyncio.wait_for(stop.wait(), args.for_seconds)
            except TimeoutError:
                pass
        else:
            await stop.wait()
        log.info("stopping: closing every node")
        await runtime.stop()
        log.info("stopped")
        return 0

    return asyncio.run(main())


CONTEXT_STORAGE: dict[str, Any] = {
    "default": "memory",
    "memory": {"module": "memory"},
    "file": {"module": "sqlite"},
}
"""The context stores of ``plantwire run``: memory by default, and a persistent ``file``
store (SQLite in the data folder) that flows name where state must survive a restart."""


def _context_settings(args: argparse.Namespace) -> dict[str, Any] | None:
    return dict(CONTEXT_STORAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plantwire", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug lines too")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a flows.json file headless (logs to stdout)")
    p.add_argument("flows", help="path of a Node-RED flows.json file")
    p.add_argument(
        "--data", help="folder for context, credentials (default: .plantwire beside the file)"
    )
    p.add_argument("--credential-secret", help="secret that encrypts credentials")
    p.add_argument("--for-seconds", type=float, help="stop after this many seconds")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("test", help="run flow test cases (files or folders of *.json)")
    p.add_argument("paths", nargs="+")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    p.set_defaults(func=_cmd_test)

    p = sub.add_parser("nodes", help="list node types")
    p.add_argument("--json", action="store_true", help="JSON Schema and metadata of every type")
    p.set_defaults(func=_cmd_nodes)

    p = sub.add_parser(
        "sim", help="run the virtual factory on loopback (plantwire sim --help)", add_help=False
    )
    p.add_argument("sim_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_sim)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sim":
        # the simulator has its own options; hand them over untouched
        from plantwire.sim.cli import main as sim_main

        return sim_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    if not args.verbose:
        # libraries that narrate every connection step at INFO
        for noisy in ("transitions", "amqtt", "asyncua", "snap7", "pymodbus", "cpppo"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
