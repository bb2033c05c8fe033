"""Connection failures: unreachable device, and a device killed and restarted mid-flow."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from plantwire.runtime.runtime import Runtime
from tests.nodes.modbus.helpers import client, flow, get, hp, reader, until
from tests.nodes.modbus.peer import Device, free_port, serve, stop

ROOT = Path(__file__).resolve().parents[3]


async def test_unreachable_host_reconnects_and_recovers(
    make_runtime: Callable[..., Runtime],
) -> None:
    port = free_port()  # nothing listens yet
    rt = make_runtime()
    await rt.deploy(flow(client(port), reader([hp("a", 0)])))
    rd, out, errs = get(rt, "rd"), get(rt, "out"), get(rt, "errs")
    await until(lambda: errs.received, what="an error")
    assert f"cannot connect to 127.0.0.1:{port}" in errs.received[0]["error"]["message"]
    assert "refused" in errs.received[0]["error"]["message"].lower()
    await until(lambda: rd.last_status.get("text", "").startswith("reconnecting"), what="status")
    assert rd.last_status["fill"] == "red"
    await asyncio.sleep(1.0)
    assert len(errs.received) == 1  # one error per outage, not one per retry
    dev = Device(10)
    dev.tables["holding"][0] = 5
    server, _ = await serve({1: dev}, port)
    try:
        await until(
            lambda: [m for m in out.received if m["quality"]["status"] == "good"],
            timeout=5,
            what="recovery",
        )
        assert rd.last_status == {"fill": "green", "shape": "dot", "text": "connected"}
    finally:
        await stop(server)


def _start(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.nodes.modbus.peer", str(port), "--fill", "--size", "20"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


async def test_device_killed_and_restarted_values_resume(
    make_runtime: Callable[..., Runtime],
) -> None:
    port = free_port()
    proc = _start(port)
    try:
        rt = make_runtime()
        await rt.deploy(flow(client(port), reader([hp("tick", 0), hp("five", 5)])))
        rd, out, errs = get(rt, "rd"), get(rt, "out"), get(rt, "errs")
        await until(lambda: len(out.received) >= 2, what="first values")
        proc.kill()
        proc.wait()
        await until(lambda: errs.received, timeout=5, what="the connection error")
        await until(lambda: rd.last_status.get("fill") == "red", what="red status")
        bad = [m for m in out.received if m["quality"]["status"] == "bad"]
        assert {m["point"] for m in bad} == {"tick", "five"}
        await asyncio.sleep(1.0)
        n = len(out.received)
        proc = _start(port)
        restarted = time.monotonic()
        await until(lambda: len(out.received) > n + 1, timeout=5, what="values resuming")
        assert time.monotonic() - restarted < 5
        assert {m["point"] for m in out.received[n:]} == {"tick", "five"}
        assert all(m["quality"]["status"] == "good" for m in out.received[n:])
        assert rd.last_status["fill"] == "green"
        assert rt._started  # the runtime was never touched
    finally:
        proc.kill()
        proc.wait()
