"""Certificates for OPC UA: our own application certificate, trust lists, rejected certs.

Layout under ``<data_dir>/pki/opcua/`` (the client and server keep separate folders,
``client/`` and ``server/``)::

    own/cert.der    own/key.pem     the application instance certificate (generated)
    trusted/        peer certificates (PEM or DER) and CAs that are trusted
    rejected/       certificates that were refused, named by thumbprint: move one to
                    trusted/ to trust that peer
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "TrustList",
    "UntrustedCertificate",
    "describe",
    "ensure_own_certificate",
    "load_cert",
    "thumbprint",
]

log = logging.getLogger("plantwire.opcua")


class UntrustedCertificate(Exception):
    """A peer presented a certificate that is not in the trust list."""


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 thumbprint as OPC UA tools show it (hex, upper case)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def describe(cert: x509.Certificate) -> str:
    """``subject CN=..., thumbprint 4F3A...`` for messages."""
    return f"subject '{cert.subject.rfc4514_string()}', thumbprint {thumbprint(cert)}"


def load_cert(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _pem_blocks(text: str) -> list[x509.Certificate]:
    certs = []
    marker = "-----BEGIN CERTIFICATE-----"
    for chunk in text.split(marker)[1:]:
        certs.append(x509.load_pem_x509_certificate((marker + chunk).encode()))
    return certs


@dataclass
class TrustList:
    """Trusted certificates from a folder and/or PEM text; CAs sign trusted peers."""

    folders: list[Path] = field(default_factory=list)
    pem: str = ""
    certs: list[x509.Certificate] = field(default_factory=list)

    def load(self) -> None:
        """(Re)read the folders and the PEM text; bad files are logged and skipped."""
        certs = _pem_blocks(self.pem) if self.pem.strip() else []
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in (".der", ".pem", ".crt", ".cer"):
                    continue
                try:
                    data = path.read_bytes()
                    certs.extend(_pem_blocks(data.decode()) if b"-----BEGIN" in data else [])
                    if b"-----BEGIN" not in data:
                        certs.append(x509.load_der_x509_certificate(data))
                except Exception as exc:
                    log.warning("trust list: cannot read certificate %s: %s", path, exc)
        self.certs = certs

    def is_trusted(self, cert: x509.Certificate) -> bool:
        """True when ``cert`` itself is in the list or was issued by a CA in it."""
        der = cert.public_bytes(serialization.Encoding.DER)
        for trusted in self.certs:
            if trusted.public_bytes(serialization.Encoding.DER) == der:
                return True
        for trusted in self.certs:
            if trusted.subject != cert.issuer:
                continue
            try:
                constraints = trusted.extensions.get_extension_for_class(x509.BasicConstraints)
            except x509.ExtensionNotFound:
                continue
            if not constraints.value.ca:
                continue
            try:
                cert.verify_directly_issued_by(trusted)
            except Exception:
                continue
            return True
        return False

    def check(self, cert: x509.Certificate, who: str, rejected: Path | None) -> None:
        """Raise UntrustedCertificate (saving the certificate to ``rejected``) unless
        ``cert`` is trusted and valid now."""
        now = datetime.datetime.now(datetime.UTC)
        if cert.not_valid_after_utc < now or cert.not_valid_before_utc > now:
            raise UntrustedCertificate(
                f"{who} presented a certificate that is not valid now "
                f"(valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d}; {describe(cert)})"
            )
        self.load()
        if self.is_trusted(cert):
            return
        hint = ""
        if rejected is not None:
            try:
                rejected.mkdir(parents=True, exist_ok=True)
                path = rejected / f"{thumbprint(cert)}.der"
                path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
                hint = f"; it was saved as {path}: move it to the trust list to trust it"
            except OSError:
                pass
        raise UntrustedCertificate(
            f"{who} presented an untrusted certificate ({describe(cert)}){hint}"
        )


def ensure_own_certificate(
    folder: Path, application_uri: str, common_name: str, *, server: bool
) -> tuple[Path, Path]:
    """``(cert.der, key.pem)`` in ``folder``, generated (self-signed, 2048-bit RSA,
    SHA-256, the application URI and host name in the subject alternative name, valid
    for 10 years) when missing or made for another application URI."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.der", folder / "key.pem"
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_der_x509_certificate(cert_path.read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
            if application_uri in uris and cert.not_valid_after_utc > datetime.datetime.now(
                datetime.UTC
            ):
                return cert_path, key_path
        except Exception as exc:
            log.warning("own certificate %s is unusable (%s); making a new one", cert_path, exc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    host = socket.gethostname()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Plantwire"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usage.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(application_uri), x509.DNSName(host)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    log.info("made OPC UA application certificate %s (%s)", cert_path, describe(cert))
    return cert_path, key_path
