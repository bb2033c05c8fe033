"""``plantwire sim`` as a user runs it: a subprocess that serves, summarises, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from asyncua.client.client import Client
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID
from pymodbus.client import AsyncModbusTcpClient

from plantwire.sim.cli import main
from plantwire.sim.opcua_server import NAMESPACE_URI

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def plantwire_command() -> list[str]:
    exe = Path(sys.executable).with_name("plantwire")
    if exe.exists():
        return [str(exe), "sim", "--"]
    found = shutil.which("plantwire")
    return [found, "sim", "--"] if found else [sys.executable, "-m", "plantwire.sim"]


async def read_until(proc: asyncio.subprocess.Process, text: str, timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    seen = ""
    async with asyncio.timeout(timeout):
        while text not in seen:
            line = await proc.stdout.readline()
            assert line, f"process ended before printing {text!r}: {seen}"
            seen += line.decode()
    return seen


async def test_sim_serves_all_protocols_and_stops_on_sigterm(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("modbus", "opcua", "s7", "enip", "erp")}
    proc = await asyncio.create_subprocess_exec(
        *plantwire_command(),
        "--modbus-port", str(ports["modbus"]), "--opcua-port", str(ports["opcua"]),
        "--s7-port", str(ports["s7"]), "--enip-port", str(ports["enip"]),
        "--erp-port", str(ports["erp"]), "--erp-db", str(tmp_path / "erp.sqlite"),
        "--speed", "60", "--start", "--summary-every", "0.5", "--seed", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        banner = await read_until(proc, "plant running")
        for name, port in ports.items():
            assert f"{HOST}:{port}" in banner, name
        summary = await read_until(proc, "RUNNING speed")
        assert "bottles" in summary
        client = AsyncModbusTcpClient(HOST, port=ports["modbus"], timeout=5)
        assert await client.connect()
        first = (await client.read_input_registers(14, count=2)).registers
        await asyncio.sleep(1.0)
        second = (await client.read_input_registers(14, count=2)).registers
        client.close()
        assert (second[0] << 16) + second[1] > (first[0] << 16) + first[1] > 0  # bottles fill
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            rest, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "stopped" in rest.decode()
    for port in ports.values():  # every server let its port go, the ENIP child is gone
        assert port_free(port)


async def test_opcua_basic256sha256(tmp_path: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plantwire.sim", "--only", "opcua", "--opcua-port", str(port),
        "--opcua-security", "basic256sha256", "--opcua-cert-dir", str(tmp_path / "pki"),
        "--quiet", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await read_until(proc, "plant running")
        key, cert = tmp_path / "client-key.pem", tmp_path / "client-cert.der"
        await setup_self_signed_certificate(
            key, cert, "urn:plantwire:test:client", "localhost",
            [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "test client"},
        )  # fmt: skip
        client = Client(f"opc.tcp://{HOST}:{port}/plantwire/sim", timeout=10)
        client.application_uri = "urn:plantwire:test:client"
        await client.set_security_string(f"Basic256Sha256,SignAndEncrypt,{cert},{key}")
        async with client:
            ns = await client.get_namespace_index(NAMESPACE_URI)
            node = client.get_node(f"ns={ns};s=Plantwire.Site1.Bottling.Line1.Silo.Level")
            assert await node.read_value() == pytest.approx(80.0)
        assert (tmp_path / "pki" / "server-cert.der").exists()
        plain = Client(f"opc.tcp://{HOST}:{port}/plantwire/sim", timeout=5)
        with pytest.raises(Exception):  # noqa: B017 - no unsecured endpoint is offered
            async with plain:
                await plain.get_namespace_index(NAMESPACE_URI)
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await proc.communicate()
    assert proc.returncode == 0


def test_bad_options_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "modbus,profibus"]) == 2
    assert "--only" in capsys.readouterr().err
    assert main(["--speed", "0"]) == 2


def test_port_in_use_is_reported() -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "plantwire.sim", "--only", "modbus", "--modbus-port", str(port)],
            capture_output=True, text=True, timeout=60, env={**os.environ},
        )  # fmt: skip
    assert result.returncode == 1
    assert f"{port}" in result.stderr
