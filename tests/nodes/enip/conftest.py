"""cpppo's EtherNet/IP (Logix) simulator in a subprocess for the enip tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.tcp_proxy import free_port

TAGS = ["Speed=REAL", "Count=DINT[10]", "Flag=BOOL", "Small=INT", "Name=SSTRING"]


class Simulator:
    """``python -m cpppo.server.enip`` on a free loopback port; start/kill like a PLC."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cpppo.server.enip",
                "--no-config",
                "-U",
                "-a",
                f"127.0.0.1:{self.port}",
                *TAGS,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("cpppo's simulator did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def enip_sim() -> Iterator[Simulator]:
    sim = Simulator()
    sim.start()
    yield sim
    sim.kill()
