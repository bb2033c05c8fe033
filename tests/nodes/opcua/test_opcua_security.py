"""Certificates: SignAndEncrypt, untrusted server refused, our server enforcing trust."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.uaerrors import UaStatusCodeError

from plantwire.nodes.opcua._pki import thumbprint
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from tests.tcp_proxy import free_port

from .helpers import (
    client_node,
    make_cert,
    node_of,
    probe,
    start_server,
    tab,
    user,
    wait_for,
)

CLIENT_URI = "urn:plantwire:test:client"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = Runtime(RuntimeSettings(tmp_path / "data", credential_secret="x"))
    yield rt
    if rt._started:
        await rt.stop()


def received(rt: Runtime, nid: str = "out") -> list[dict[str, Any]]:
    return node_of(rt, nid).received  # type: ignore[no-any-return]


async def test_sign_and_encrypt_with_trusted_server(tmp_path: Path, runtime: Runtime) -> None:
    port = free_port()
    scert, skey, _ = make_cert(tmp_path / "srv", "server", "urn:plantwire:test:server", server=True)
    ccert, ckey, _ = make_cert(tmp_path / "cli", "client", CLIENT_URI, server=False)
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    shutil.copy(scert, trusted / "server.der")
    server, idx = await start_server(port, cert=(scert, skey))
    try:
        await runtime.deploy(
            [
                tab(),
                client_node(
                    port,
                    securityPolicy="Basic256Sha256",
                    securityMode="SignAndEncrypt",
                    certFile=str(ccert),
                    keyFile=str(ckey),
                    applicationUri=CLIENT_URI,
                    trustList=str(trusted),
                ),
                user("r", "opcua-read", nodeIds=[f"ns={idx};s=Line1.Recipe"], interval="0.3"),
                probe(),
            ]
        )
        await wait_for(lambda: len(received(runtime)) >= 1, what="encrypted read")
        assert received(runtime)[0]["payload"] == "Lager"
        conn = node_of(runtime, "c1").conn
        assert conn.client.security_policy.Mode == ua.MessageSecurityMode.SignAndEncrypt
    finally:
        await server.stop()


async def test_untrusted_server_certificate_refused(tmp_path: Path, runtime: Runtime) -> None:
    port = free_port()
    scert, skey, cert = make_cert(
        tmp_path / "srv", "rogue", "urn:plantwire:test:server", server=True
    )
    server, idx = await start_server(port, cert=(scert, skey))
    errors: list[tuple[str, str]] = []
    runtime.log_listeners.append(lambda n, lvl, text: errors.append((n.id if n else "", text)))
    try:
        await runtime.deploy(
            [
                tab(),
                client_node(port, securityPolicy="Basic256Sha256", securityMode="SignAndEncrypt"),
                user("r", "opcua-read", nodeIds=[f"ns={idx};s=Line1.Recipe"], interval="0.3"),
                probe(),
            ]
        )
        reader = node_of(runtime, "r")
        await wait_for(
            lambda: reader.last_status.get("text") == "untrusted server certificate",
            what="untrusted status",
        )
        await wait_for(lambda: any(nid == "r" for nid, _ in errors), what="error")
        text = next(t for nid, t in errors if nid == "r")
        assert f"127.0.0.1:{port}" in text and "untrusted" in text
        assert thumbprint(cert) in text and "CN=rogue" in text
        assert not [m for m in received(runtime) if m["quality"]["status"] == "good"]
        rejected = tmp_path / "data" / "pki" / "opcua" / "client" / "rejected"
        assert (rejected / f"{thumbprint(cert)}.der").exists()
        # our own client certificate was generated with the application URI in the SAN
        own = tmp_path / "data" / "pki" / "opcua" / "client" / "own" / "cert.der"
        assert own.exists()
        # trusting it (moving it to trusted/) lets the next attempt connect
        trusted = rejected.parent / "trusted"
        shutil.move(str(rejected / f"{thumbprint(cert)}.der"), trusted / "rogue.der")
        await wait_for(
            lambda: any(m["payload"] == "Lager" for m in received(runtime)),
            timeout=15,
            what="values after trusting",
        )
    finally:
        await server.stop()


async def _secure_client(url: str, cert: Path, key: Path) -> Client:
    client = Client(url, timeout=5)
    client.application_uri = CLIENT_URI
    await client.set_security(
        SecurityPolicyBasic256Sha256,
        str(cert),
        str(key),
        mode=ua.MessageSecurityMode.SignAndEncrypt,
    )
    return client


async def test_our_server_enforces_client_trust(tmp_path: Path, runtime: Runtime) -> None:
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}/pw/"
    ccert, ckey, _ = make_cert(tmp_path / "cli", "client", CLIENT_URI, server=False)
    await runtime.deploy(
        [
            tab(),
            {
                "id": "srv",
                "type": "opcua-server",
                "z": "t1",
                "endpoint": url,
                "namespace": "urn:test:pw",
                "securityPolicies": "Basic256Sha256_SignAndEncrypt",
                "variables": [
                    {"path": "Plant/Line1/Temperature", "dataType": "Double", "unit": "°C",
                     "value": "20.5", "min": 0, "max": 150},
                    {"path": "Plant/Line1/Setpoint", "dataType": "Int32", "writable": True},
                ],
                "wires": [["out"]],
            },
            probe(),
        ]
    )  # fmt: skip
    node = node_of(runtime, "srv")
    assert node.last_status["fill"] == "green", node.last_status
    untrusted = await _secure_client(url, ccert, ckey)
    with pytest.raises(Exception) as refused:
        await untrusted.connect()
    assert "Untrusted" in repr(refused.value) or "BadCertificate" in repr(refused.value)
    await untrusted.disconnect()
    trusted_dir = tmp_path / "data" / "pki" / "opcua" / "server" / "trusted"
    shutil.copy(ccert, trusted_dir / "client.der")
    client = await _secure_client(url, ccert, ckey)
    await client.connect()
    try:
        ns = await client.get_namespace_index("urn:test:pw")
        temp = client.get_node(f"ns={ns};s=Plant/Line1/Temperature")
        assert await temp.read_value() == 20.5
        eu = await temp.get_child(f"{ns}:EngineeringUnits")
        assert (await eu.read_value()).DisplayName.Text == "°C"
        runtime.deliver(node, {"topic": "Plant/Line1/Temperature", "payload": "71.25"})
        for _ in range(50):
            if await temp.read_value() == 71.25:
                break
            await asyncio.sleep(0.05)
        assert await temp.read_value() == 71.25
        setpoint = client.get_node(f"ns={ns};s=Plant/Line1/Setpoint")
        await setpoint.write_value(ua.Variant(42, ua.VariantType.Int32))
        await wait_for(lambda: len(received(runtime)) == 1, what="write from client")
        msg = received(runtime)[0]
        assert msg["topic"] == "Plant/Line1/Setpoint" and msg["payload"] == 42
        with pytest.raises(UaStatusCodeError):
            await temp.write_value(1.0)  # not writable
    finally:
        await client.disconnect()
