"""tls-config: certificates and TLS options shared by connection nodes (Node-RED's type)."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, NodeConfig, node_type

__all__ = ["NamedSSLContext", "TlsConfig", "TlsConfigNode", "build_context"]


class TlsConfig(NodeConfig):
    """The tls-config node as Node-RED writes it in flows.json."""

    cert: str = Field("", description="Path of the client certificate file (PEM).")
    key: str = Field("", description="Path of the private key file of the client certificate.")
    ca: str = Field("", description="Path of the CA certificate file used to check the server.")
    certname: str = Field("", description="Name of an uploaded client certificate (display).")
    keyname: str = Field("", description="Name of an uploaded private key (display).")
    caname: str = Field("", description="Name of an uploaded CA certificate (display).")
    certType: str = Field(
        "files", description="files (paths or uploaded PEM), env (PEM in env variables) or pfx."
    )
    p12: str = Field("", description="Path of a PKCS#12 (.pfx/.p12) file (certType pfx).")
    p12name: str = Field("", description="Name of an uploaded PKCS#12 file (display).")
    certEnv: str = Field("", description="Environment variable holding the certificate PEM.")
    keyEnv: str = Field("", description="Environment variable holding the private key PEM.")
    caEnv: str = Field("", description="Environment variable holding the CA certificate PEM.")
    servername: str = Field(
        "", description="Server name for SNI and certificate checks (default: the host)."
    )
    verifyservercert: LooseBool = Field(
        True, description="Check the server's certificate against the CA and its name."
    )
    alpnprotocol: str = Field("", description="ALPN protocol to offer (e.g. x-amzn-mqtt-ca).")


class NamedSSLContext(ssl.SSLContext):
    """An SSLContext that presents ``server_name`` (SNI and name check) whatever host
    the connection was opened to — Node-RED's ``servername``."""

    server_name: str | None = None

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        if self.server_name:
            kwargs["server_hostname"] = self.server_name
        return super().wrap_bio(*args, **kwargs)


def _read(path: str) -> bytes:
    try:
        return Path(path.strip()).expanduser().read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror or exc}") from exc


def build_context(
    cfg: TlsConfig, credentials: dict[str, Any], env: dict[str, str] | None = None
) -> ssl.SSLContext:
    """The client SSLContext a tls-config node describes; ValueError names what is wrong."""
    ctx = NamedSSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.server_name = cfg.servername.strip() or None
    env = env if env is not None else dict(os.environ)
    cert: bytes | None = None
    key: bytes | None = None
    ca: bytes | None = None
    if cfg.certType == "pfx" and cfg.p12.strip():
        cert, key = _from_pkcs12(_read(cfg.p12), credentials.get("passphrase"))
    elif cfg.certType == "env":
        cert = env.get(cfg.certEnv, "").encode() or None if cfg.certEnv else None
        key = env.get(cfg.keyEnv, "").encode() or None if cfg.keyEnv else None
        ca = env.get(cfg.caEnv, "").encode() or None if cfg.caEnv else None
    elif cfg.cert.strip() or cfg.key.strip() or cfg.ca.strip():
        if bool(cfg.cert.strip()) != bool(cfg.key.strip()):
            raise ValueError("TLS: a certificate needs its private key (and the key its cert)")
        cert = _read(cfg.cert) if cfg.cert.strip() else None
        key = _read(cfg.key) if cfg.key.strip() else None
        ca = _read(cfg.ca) if cfg.ca.strip() else None
    else:
        cert = str(credentials.get("certdata") or "").encode() or None
        key = str(credentials.get("keydata") or "").encode() or None
        ca = str(credentials.get("cadata") or "").encode() or None
        if bool(cert) != bool(key):
            raise ValueError("TLS: a certificate needs its private key (and the key its cert)")
    if cfg.verifyservercert:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        if ca:
            _load_ca(ctx, ca)
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert and key:
        _load_chain(ctx, cert, key, credentials.get("passphrase"))
    if cfg.alpnprotocol.strip():
        ctx.set_alpn_protocols([cfg.alpnprotocol.strip()])
    return ctx


def _load_ca(ctx: ssl.SSLContext, ca: bytes) -> None:
    try:
        ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"TLS: the CA certificate is not valid PEM ({exc})") from exc


def _load_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes, passphrase: Any) -> None:
    # ssl only loads certificates from files: write them to a private temporary folder
    with tempfile.TemporaryDirectory(prefix="plantwire-tls-") as tmp:
        cert_path, key_path = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path, password=str(passphrase or "") or None)
        except ssl.SSLError as exc:
            raise ValueError(
                f"TLS: the client certificate or key is not valid, or they do not match, "
                f"or the passphrase is wrong ({exc.reason or exc})"
            ) from exc


def _from_pkcs12(data: bytes, passphrase: Any) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    pw = str(passphrase).encode() if passphrase else None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, pw)
    except ValueError as exc:
        raise ValueError(f"TLS: cannot open the PKCS#12 file ({exc})") from exc
    if key is None or cert is None:
        raise ValueError("TLS: the PKCS#12 file holds no certificate with its key")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    for other in extra or []:
        pem += other.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, key_pem


@node_type("tls-config")
class TlsConfigNode(Node):
    """TLS settings: client certificate and key, CA certificate (as files or uploaded
    PEM text kept in the credentials), server name, ALPN and whether to check the
    server's certificate. Used by the mqtt-broker node (and other connection nodes)."""

    credential_fields: ClassVar[dict[str, str] | None] = {
        "certdata": "text",
        "keydata": "password",
        "cadata": "text",
        "passphrase": "password",
    }

    config_model = TlsConfig
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0

    def __init__(self, flow: Any, config: TlsConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self._ssl: ssl.SSLContext | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """The SSLContext (built once); ValueError names a missing or invalid file."""
        if self._ssl is None:
            env: dict[str, str] = {}
            for name in (self.cfg.certEnv, self.cfg.keyEnv, self.cfg.caEnv):
                if name:
                    value = self.get_env(name)
                    if isinstance(value, str):
                        env[name] = value
            self._ssl = build_context(self.cfg, self.credentials or {}, env)
        return self._ssl
