"""TLS with client certificates against a private mosquitto (require_certificate true)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plantwire.runtime.runtime import Runtime
from tests.tcp_proxy import free_port

from .helpers import TAB, Mosquitto, broker, mqtt_in, mqtt_out, probe, uniq, wait_for


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    cn: str, key: Any, issuer: x509.Name, issuer_key: Any, ca: bool = False, server: bool = False
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem_key(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("plantwire test CA", ca_key, _name("plantwire test CA"), ca_key, ca=True)
    files: dict[str, Path] = {}
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(f"{role}.test", key, ca.subject, ca_key, server=role == "server")
        files[f"{role}_cert"] = folder / f"{role}.pem"
        files[f"{role}_key"] = folder / f"{role}.key"
        files[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{role}_key"].write_bytes(_pem_key(key))
    files["ca"] = folder / "ca.pem"
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return files


def received(rt: Runtime, nid: str) -> list[dict[str, Any]]:
    node: Any = rt.get_node(nid)
    return node.received  # type: ignore[no-any-return]


async def test_tls_with_client_certificate(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    port = free_port()
    mosq = Mosquitto(
        tmp_path,
        port,
        f"cafile {pki['ca']}\ncertfile {pki['server_cert']}\nkeyfile {pki['server_key']}\n"
        "require_certificate true\n",
    )
    await mosq.start()
    try:
        base = uniq()
        # certificates as uploaded PEM text (credentials) and as file paths
        tls_creds = {
            "id": "tls1",
            "type": "tls-config",
            "verifyservercert": True,
            "credentials": {
                "certdata": pki["client_cert"].read_text(),
                "keydata": pki["client_key"].read_text(),
                "cadata": pki["ca"].read_text(),
            },
        }
        tls_files = {
            "id": "tls2",
            "type": "tls-config",
            "cert": str(pki["client_cert"]),
            "key": str(pki["client_key"]),
            "ca": str(pki["ca"]),
            "servername": "localhost",
            "verifyservercert": True,
        }
        rt = make_runtime()
        await rt.deploy(
            [
                TAB,
                tls_creds,
                tls_files,
                broker(port=port, usetls=True, tls="tls1"),
                broker("b2", port=port, usetls=True, tls="tls2"),
                probe("src", ["out"]),
                mqtt_out("out", f"{base}/t", qos="1", broker="b2"),
                mqtt_in("in", f"{base}/t", ["got"]),
                probe("got"),
            ]
        )
        node: Any = rt.get_node("in")
        assert await node.broker.conn.wait_connected(10)
        assert await node.broker.conn.wait_subscribed(node.subscription, 10)
        out: Any = rt.get_node("out")
        assert await out.broker.conn.wait_connected(10)
        src: Any = rt.get_node("src")
        await src.send_async({"payload": "secure"})
        await wait_for(lambda: len(received(rt, "got")) == 1)
        assert received(rt, "got")[0]["payload"] == "secure"

        # without a client certificate the broker refuses: status shows it, nothing escapes
        rt2 = make_runtime(data_dir=tmp_path / "rt2")
        no_cert = {"id": "tls3", "type": "tls-config", "ca": str(pki["ca"])}
        await rt2.deploy(
            [TAB, no_cert, broker(port=port, usetls=True, tls="tls3"), mqtt_out("out", "a/b")]
        )
        out2: Any = rt2.get_node("out")
        await wait_for(lambda: out2.broker.conn.detail != "", what="a failed TLS connect")
        assert not out2.broker.conn.connected
        assert out2.last_status["text"] in ("disconnected", "connecting")
        await rt2.stop()
    finally:
        await mosq.stop()
