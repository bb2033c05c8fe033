"""The ``plantwire`` command: run flows, test flows, list node types."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
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
        http_node_host=args.http_host,
        http_node_port=args.http_port,
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
        tune_gc()
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


GC_THRESHOLDS = (20_000, 20, 100)
"""Collector thresholds of a running flow (Python's defaults: 700, 10, 10)."""


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for a long-running flow.

    Everything that exists once the flows are deployed (modules, node objects, pydantic
    models) lives until the process ends: ``gc.freeze()`` moves it out of the collector's
    sight, so a full collection no longer walks it (that walk was the 100 ms tail of
    the HTTP benchmark). The higher first threshold lets short-lived message objects die
    by reference counting between collections instead of being scanned by them; cyclic
    garbage is still collected, after 20,000 allocations instead of 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _cmd_serve(args: argparse.Namespace) -> int:
    from plantwire.server.auth import is_loopback
    from plantwire.server.store import DB_FILE, Store

    data = Path(args.data)
    if not is_loopback(args.host):
        has_admin = False
        if (data / DB_FILE).exists():
            store = Store(data)
            has_admin = store.has_admin()
            store.close()
        if not has_admin:
            print(
                f"error: refusing to listen on {args.host}: no admin user in {data}. Anyone "
                "who can reach this address could change the flows. Create one first: "
                f"plantwire user add NAME --role admin --data {data}",
                file=sys.stderr,
            )
            return 2

    import uvicorn

    from plantwire.server.app import PlantwireServer, ServerConfig, create_app

    config = ServerConfig(
        data_dir=data,
        flows_file=Path(args.flows) if args.flows else None,
        host=args.host,
        port=args.port,
        max_body=args.max_body,
        allowed_origins=tuple(args.allow_origin or ()),
        static_dir=Path(args.editor) if args.editor else None,
        credential_secret=args.credential_secret,
        context_storage=dict(CONTEXT_STORAGE),
        http_node_port=args.http_node_port,
    )
    server = PlantwireServer(config)
    try:
        server.runtime.credentials.load()  # a wrong secret: say so before listening
    except PlantwireError as exc:
        print(f"error: {exc}", file=sys.stderr)
        server.store.close()
        return 2
    auth = "on" if server.store.has_users() or not is_loopback(args.host) else "off (no users)"
    log.info(
        "serving the API on http://%s:%d (flows: %s, authentication %s)",
        args.host,
        args.port,
        config.flows_path,
        auth,
    )
    uv_config = uvicorn.Config(
        create_app(server),
        host=args.host,
        port=args.port,
        lifespan="on",
        log_level="debug" if args.verbose else "warning",
        access_log=bool(args.verbose),
        ws_max_size=1024 * 1024,
        proxy_headers=False,
        server_header=False,
    )
    uv_server = uvicorn.Server(uv_config)
    tune_gc()
    # uvicorn stops gracefully on SIGINT/SIGTERM and then re-raises the signal to the
    # handler that was installed before it: make that one a no-op so the exit code is 0
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uv_server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not uv_server.started:
        print("error: the server did not start (see the log above)", file=sys.stderr)
        return 1
    log.info("stopped")
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    import getpass

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return None
    if len(password) < 8:
        print("error: the password must have at least 8 characters", file=sys.stderr)
        return None
    return password


def _cmd_user(args: argparse.Namespace) -> int:
    from plantwire.server.auth import hash_password
    from plantwire.server.store import Store

    store = Store(args.data)
    try:
        if args.user_command == "list":
            for user in store.users():
                tokens = len(store.tokens(user.name))
                print(f"{user.name:24} {user.role:8} {tokens} token(s)")
            return 0
        if args.user_command == "remove":
            if not store.remove_user(args.name):
                print(f"error: no user {args.name!r}", file=sys.stderr)
                return 1
            print(f"removed {args.name} (its sessions and tokens too)")
            return 0
        if args.user_command == "token":
            try:
                token = store.create_token(args.name, args.label)
            except KeyError:
                print(f"error: no user {args.name!r}", file=sys.stderr)
                return 1
            print(token)
            return 0
        password = _read_password(args)
        if password is None:
            return 1
        if args.user_command == "passwd":
            try:
                store.set_password(args.name, hash_password(password))
            except KeyError:
                print(f"error: no user {args.name!r}", file=sys.stderr)
                return 1
            print(f"password of {args.name} changed (its sessions ended)")
            return 0
        role = args.role or ("editor" if store.has_users() else "admin")
        try:
            store.add_user(args.name, role, hash_password(password))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"added {args.name} ({role})")
        return 0
    finally:
        store.close()


CONTEXT_STORAGE: dict[str, Any] = {
    "default": "memory",
    "memory": {"module": "memory"},
    "file": {"module": "sqlite"},
}
"""The context stores of ``plantwire run``: memory by default, and a persistent ``file``
store (SQLite in the data folder) that flows name where state must survive a restart."""


def _context_settings(args: argparse.Namespace) -> dict[str, Any] | None:
    return dict(CONTEXT_STORAGE)


def _built_editor() -> str | None:
    """The editor bundle: frontend/dist in a checkout (`make editor`), else the copy the
    package build put in plantwire/server/editor (setup.py); None when neither exists."""
    here = Path(__file__).resolve()
    for folder in (here.parents[2] / "frontend" / "dist", here.parent / "server" / "editor"):
        if (folder / "index.html").is_file():
            return str(folder)
    return None


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
    p.add_argument(
        "--http-port", type=int, default=1880, help="port of the `http in` nodes (default 1880)"
    )
    p.add_argument(
        "--http-host",
        default="127.0.0.1",
        help="address the `http in` nodes listen on (default 127.0.0.1; 0.0.0.0 for all)",
    )
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

    p = sub.add_parser("serve", help="run the runtime with its HTTP API (docs/api.md)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=1880, help="port (default 1880)")
    p.add_argument("--data", default=".plantwire", help="state folder (default .plantwire)")
    p.add_argument("--flows", help="flows file (default DATA/flows.json)")
    p.add_argument("--credential-secret", help="secret that encrypts credentials")
    p.add_argument(
        "--max-body", type=int, default=5 * 1024 * 1024, help="largest request body, bytes"
    )
    p.add_argument(
        "--http-node-port", type=int, help="port of the `http in` nodes (default PORT + 1)"
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        help="extra browser origin allowed to change things (repeatable)",
    )
    p.add_argument(
        "--editor",
        default=_built_editor(),
        help="folder of the built editor, served at / (default: frontend/dist of a "
        "checkout once built, else the editor shipped in the package)",
    )
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("user", help="manage the users of `plantwire serve`")
    user_sub = p.add_subparsers(dest="user_command", required=True)
    for name, text in (
        ("add", "add a user (the first one is an admin)"),
        ("passwd", "set a user's password"),
    ):
        u = user_sub.add_parser(name, help=text)
        u.add_argument("name")
        if name == "add":
            u.add_argument("--role", choices=("admin", "editor", "viewer"))
        u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    u = user_sub.add_parser("list", help="list users")
    u = user_sub.add_parser("remove", help="remove a user, its sessions and tokens")
    u.add_argument("name")
    u = user_sub.add_parser("token", help="create an API token (printed once)")
    u.add_argument("name")
    u.add_argument("--label", default="cli", help="what the token is for")
    for u in user_sub.choices.values():
        u.add_argument("--data", default=".plantwire", help="state folder (default .plantwire)")
    p.set_defaults(func=_cmd_user)

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
    try:
        result: int = args.func(args)
    except BrokenPipeError:  # `plantwire nodes | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
