"""A real asyncua Server for the OPC UA node tests, certificates, flow builders."""

from __future__ import annotations

import asyncio
import datetime
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.methods import uamethod
from asyncua.server.server import Server
from asyncua.ua.object_ids import ObjectIds
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plantwire.nodes.opcua._space import eu_information
from plantwire.runtime.runtime import Runtime

NS = "urn:plantwire:test"

# path -> (python value, variant type)
VARIABLES: dict[str, tuple[Any, ua.VariantType]] = {
    "Line1.Temperature": (21.5, ua.VariantType.Double),
    "Line1.Speed": (1.25, ua.VariantType.Float),
    "Line1.Count": (-42, ua.VariantType.Int32),
    "Line1.Total": (2**40, ua.VariantType.UInt64),
    "Line1.Small": (200, ua.VariantType.Byte),
    "Line1.Running": (True, ua.VariantType.Boolean),
    "Line1.Recipe": ("Lager", ua.VariantType.String),
    "Line1.Stamp": (
        datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        ua.VariantType.DateTime,
    ),
    "Line1.Blob": (b"\x01\x02", ua.VariantType.ByteString),
    "Line1.Levels": ([1.0, 2.0, 3.0], ua.VariantType.Double),
    "Line1.Setpoint": (50.0, ua.VariantType.Double),
    "Line1.Level": (0.0, ua.VariantType.Double),
}


def nid(ident: Any, ns: Any = 0) -> ua.NodeId:
    """A NodeId (asyncua types its constructor with its own aliases)."""
    return ua.NodeId(ident, ns)


def node_of(rt: Runtime, node_id: str) -> Any:
    """A running node by id (test code reaches into its attributes)."""
    node = rt.get_node(node_id)
    assert node is not None, node_id
    return node


def make_cert(
    folder: Path, name: str, app_uri: str, *, server: bool
) -> tuple[Path, Path, x509.Certificate]:
    """A self-signed OPC UA application certificate + key made by the test."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    usage = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(app_uri), x509.DNSName(socket.gethostname())]
            ),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(True, True, True, True, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.der", folder / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, cert


async def start_server(
    port: int,
    *,
    cert: tuple[Path, Path] | None = None,
    app_uri: str = "urn:plantwire:test:server",
) -> tuple[Server, int]:
    """An asyncua Server with a small ISA-95-ish tree: Plant/Area1/Line1 with variables of
    several data types (EngineeringUnits on Temperature) and a method Line1.Add."""
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/test/")
    server.set_server_name("Plantwire test server")
    await server.set_application_uri(app_uri)
    if cert is not None:
        server.set_security_policy(
            [
                ua.SecurityPolicyType.NoSecurity,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        )
        await server.load_certificate(str(cert[0]))
        await server.load_private_key(str(cert[1]))
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(NS)
    plant = await server.nodes.objects.add_object(nid("Plant", idx), f"{idx}:Plant")
    area = await plant.add_object(nid("Area1", idx), f"{idx}:Area1")
    line = await area.add_object(nid("Line1", idx), f"{idx}:Line1")
    for path, (value, vtype) in VARIABLES.items():
        var = await line.add_variable(
            nid(path, idx), f"{idx}:{path.split('.')[1]}", ua.Variant(value, vtype), vtype
        )
        if isinstance(value, list):
            await var.write_value_rank(1)
        await var.set_writable(True)
        if path == "Line1.Temperature":
            await var.add_property(
                idx,
                "EngineeringUnits",
                eu_information("°C"),
                datatype=nid(ObjectIds.EUInformation),
            )

    @uamethod
    def add(parent: Any, a: float, b: float) -> float:
        return a + b

    await line.add_method(
        nid("Line1.Add", idx),
        f"{idx}:Add",
        add,
        [ua.VariantType.Double, ua.VariantType.Double],
        [ua.VariantType.Double],
    )
    await server.start()
    return server, idx


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.05)


def client_node(port: int, cid: str = "c1", **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": cid,
        "type": "opcua-client",
        "endpoint": f"opc.tcp://127.0.0.1:{port}/test/",
        "securityPolicy": "None",
        "securityMode": "None",
        "authType": "anonymous",
        "reconnectMaxDelay": "1",
        "watchdog": "0.5",
    }
    node.update(extra)
    return node


def tab() -> dict[str, Any]:
    return {"id": "t1", "type": "tab", "label": "opcua"}


def probe(nid: str = "out") -> dict[str, Any]:
    return {"id": nid, "type": "test-probe", "z": "t1", "wires": [[]]}


def user(nid: str, type_: str, wires: str = "out", **extra: Any) -> dict[str, Any]:
    node = {"id": nid, "type": type_, "z": "t1", "client": "c1", "wires": [[wires]]}
    node.update(extra)
    return node
