"""opcua-server: publish flow values as an OPC UA address space (asyncua Server)."""

from __future__ import annotations

import hmac
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, cast

from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.validator import CertificateValidatorOptions
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError
from cryptography import x509
from pydantic import Field, field_validator, model_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, node_type

from . import convert_codec as cc
from ._pki import TrustList, UntrustedCertificate, ensure_own_certificate
from ._space import ServerVariable, build_address_space

__all__ = ["OpcUaServerConfig", "OpcUaServerNode"]

log = logging.getLogger("plantwire.opcua")

POLICIES = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Basic256Sha256_Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "Basic256Sha256_SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}


class OpcUaServerConfig(NodeConfig):
    """The opcua-server node as it appears in flows.json."""

    endpoint: str = Field(
        "opc.tcp://0.0.0.0:4840/plantwire/", description="Endpoint URL to listen on."
    )
    serverName: str = Field("Plantwire OPC UA Server", description="Server name clients see.")
    namespace: str = Field("urn:plantwire:opcua", description="Namespace URI of the variables.")
    applicationUri: str = Field(
        "", description="Application URI (empty: urn:plantwire:<host name>:server)."
    )
    securityPolicies: list[str] = Field(
        default_factory=lambda: ["Basic256Sha256_SignAndEncrypt"],
        description="Endpoints offered: None, Basic256Sha256_Sign, Basic256Sha256_SignAndEncrypt.",
    )
    certFile: str = Field(
        "",
        description="Server certificate (empty: generated under <data dir>/pki/opcua/server/own/).",
    )
    keyFile: str = Field("", description="Private key of the server certificate (PEM).")
    trustList: str = Field(
        "",
        description="Trusted client certificates: a folder or PEM text; "
        "<data dir>/pki/opcua/server/trusted/ is always trusted as well.",
    )
    allowAnonymous: LooseBool = Field(
        True, description="Accept anonymous users (the certificate check still applies)."
    )
    variables: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The address space: each {path: 'Area/Line/Tag', dataType, unit, value, "
        "writable, description, min, max}; folders are made from the path.",
    )

    @field_validator("securityPolicies", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> OpcUaServerConfig:
        if not self.endpoint.startswith("opc.tcp://"):
            raise ValueError(f"endpoint: '{self.endpoint}' is not an opc.tcp:// URL")
        if not self.securityPolicies:
            raise ValueError("securityPolicies: choose at least one")
        for p in self.securityPolicies:
            if p not in POLICIES:
                raise ValueError(f"securityPolicies: '{p}' is not one of {', '.join(POLICIES)}")
        paths: set[str] = set()
        for n, spec in enumerate(self.variables, start=1):
            try:
                var = ServerVariable.from_config(spec)
            except ValueError as exc:
                raise ValueError(f"variables[{n}]: {exc}") from None
            if var.path in paths:
                raise ValueError(f"variables[{n}]: '{var.path}' is defined twice")
            paths.add(var.path)
        return self


class _Users(UserManager):
    """Anonymous (when allowed), the configured user name, or a trusted user certificate."""

    def __init__(self, node: OpcUaServerNode) -> None:
        self.node = node

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        creds = self.node.credentials or {}
        if username:
            want_user, want_pw = str(creds.get("user") or ""), str(creds.get("password") or "")
            if (
                want_user
                and hmac.compare_digest(username, want_user)
                and hmac.compare_digest(password or "", want_pw)
            ):
                return User(role=UserRole.User, name=username)
            self.node.warn(f"login of user '{username}' refused (wrong user name or password)")
            return None
        if certificate:
            cert = certificate if isinstance(certificate, x509.Certificate) else None
            if cert is None and isinstance(certificate, bytes):
                try:
                    cert = x509.load_der_x509_certificate(certificate)
                except ValueError:
                    return None
            if cert is not None and self.node.trust.is_trusted(cert):
                return User(role=UserRole.User, name=cert.subject.rfc4514_string())
            return None
        if self.node.cfg.allowAnonymous:
            return User(role=UserRole.User)
        return None


@node_type("opcua-server")
class OpcUaServerNode(Node):
    """An OPC UA server whose variables are set by the flow. Configure a folder tree of
    variables (path, data type, engineering unit, initial value, writable); a message
    with ``msg.topic`` = a variable path and ``msg.payload`` = its value sets it
    (converted to the variable's data type; a payload object without topic sets several).
    When an OPC UA client writes a writable variable, a message goes out with the path
    in ``msg.topic``, the value in ``msg.payload`` and ``msg.nodeId``.

    Security: the endpoints offer the configured policies. A client that connects with a
    certificate must be trusted: its certificate (or the CA that issued it) must be in
    ``<data dir>/pki/opcua/server/trusted/`` or the trust list; an untrusted one is
    refused with BadCertificateUntrusted and saved to ``pki/opcua/server/rejected/``."""

    config_model = OpcUaServerConfig
    credential_fields: ClassVar[dict[str, str]] = {"user": "text", "password": "password"}
    category = "industrial"
    color = "#9fd3e6"
    icon = "bridge.svg"
    inputs = 1
    outputs = 1

    def __init__(self, flow: Any, config: OpcUaServerConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.variables = [ServerVariable.from_config(v) for v in config.variables]
        self.server: Server | None = None
        self.nodes: dict[str, tuple[ua.NodeId, ua.VariantType, bool]] = {}
        self.paths: dict[ua.NodeId, str] = {}
        self.trust = TrustList()

    @property
    def pki_dir(self) -> Path:
        return Path(self.flow.runtime.settings.data_dir) / "pki" / "opcua" / "server"

    async def start(self) -> None:
        self.status("yellow", "ring", "starting")
        try:
            await self._start_server()
        except Exception as exc:
            self.server = None
            text = str(exc) or type(exc).__name__
            if isinstance(exc, OSError):
                text = f"cannot listen on {self.cfg.endpoint}: {exc.strerror or exc}"
            self.status("red", "ring", "not running")
            self.error(f"OPC UA server did not start: {text}")
            return
        self.status("green", "dot", f"listening on {self.cfg.endpoint}")

    async def _start_server(self) -> None:
        cfg = self.cfg
        app_uri = cfg.applicationUri or f"urn:plantwire:{socket.gethostname()}:server"
        self.trust = TrustList(folders=[self.pki_dir / "trusted"])
        (self.pki_dir / "trusted").mkdir(parents=True, exist_ok=True)
        text = cfg.trustList.strip()
        if text.startswith("-----BEGIN"):
            self.trust.pem = text
        elif text:
            self.trust.folders.append(Path(text).expanduser())
        self.trust.load()
        server = Server(user_manager=_Users(self))
        await server.init()
        server.set_endpoint(cfg.endpoint)
        server.set_server_name(cfg.serverName)
        await server.set_application_uri(app_uri)
        server.set_security_policy([POLICIES[p] for p in cfg.securityPolicies])
        tokens: list[type] = [ua.X509IdentityToken]
        if cfg.allowAnonymous:
            tokens.append(ua.AnonymousIdentityToken)
        if (self.credentials or {}).get("user"):
            tokens.append(ua.UserNameIdentityToken)
        server.set_identity_tokens(tokens)
        if cfg.certFile:
            cert, key = Path(cfg.certFile).expanduser(), Path(cfg.keyFile).expanduser()
        else:
            cert, key = ensure_own_certificate(
                self.pki_dir / "own",
                app_uri,
                f"Plantwire server {socket.gethostname()}",
                server=True,
            )
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        server.set_certificate_validator(self._validate)
        idx = await server.register_namespace(cfg.namespace)
        self.nodes = await build_address_space(server, idx, self.variables)
        self.paths = {nid: path for path, (nid, _, _) in self.nodes.items()}
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_write)
        await server.start()
        self.server = server

    async def _validate(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        """The certificate check asyncua leaves to us: valid now, and trusted."""
        from asyncua.common.utils import ServiceError

        who = f"OPC UA client '{app.ApplicationUri}'"
        try:
            self.trust.check(cert, who, self.pki_dir / "rejected")
        except UntrustedCertificate as exc:
            self.warn(f"refused: {exc}")
            self.status("yellow", "dot", "refused an untrusted client")
            raise ServiceError(StatusCodes.BadCertificateUntrusted) from None
        _ = CertificateValidatorOptions  # URI / usage checks stay lenient, trust is enforced

    def _on_write(self, event: ServerItemCallback, dispatcher: Any = None) -> None:
        if not event.is_external:
            return
        results = event.response_params or []
        for n, wv in enumerate(event.request_params.NodesToWrite):
            path = self.paths.get(wv.NodeId)
            if path is None or wv.AttributeId != AttributeIds.Value:
                continue
            if n < len(results) and not results[n].is_good():
                continue
            dv = wv.Value
            user = getattr(event.user, "name", None)
            self.send(
                {
                    "topic": path,
                    "payload": cc.to_plain(dv.Value.Value if dv.Value else None),
                    "nodeId": wv.NodeId.to_string(),
                    "sourceTimestamp": cc.to_plain(dv.SourceTimestamp or datetime.now(UTC)),
                    "user": user,
                }
            )

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.server is None:
            raise RuntimeError("the OPC UA server is not running")
        topic, payload = str(msg.get("topic") or ""), msg.get("payload")
        if topic:
            updates = {topic: payload}
        elif isinstance(payload, dict):
            updates = payload
        else:
            raise ValueError("set msg.topic to a variable path (or send an object of path: value)")
        problems = []
        for path, value in updates.items():
            info = self.nodes.get(path.strip("/"))
            if info is None:
                problems.append(f"'{path}' is not a variable of this server")
                continue
            nid, vtype, is_array = info
            try:
                converted = cc.coerce(value, vtype, array=is_array)
            except ValueError as exc:
                problems.append(f"'{path}': {exc}")
                continue
            now = datetime.now(UTC)
            dv = ua.DataValue(
                ua.Variant(converted, vtype),
                SourceTimestamp=cast(Any, now),
                ServerTimestamp=cast(Any, now),
            )
            try:
                await self.server.write_attribute_value(nid, dv)
            except UaError as exc:
                problems.append(f"'{path}': {exc}")
        if problems:
            raise ValueError("; ".join(problems))

    async def close(self, removed: bool) -> None:
        server, self.server = self.server, None
        if server is not None:
            try:
                await server.stop()
            except Exception as exc:
                log.debug("opcua-server stop: %s", exc)
