"""odata-service: the config node that owns the HTTP session to one OData service."""

from __future__ import annotations

import asyncio
import base64
import errno
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, model_validator
from yarl import URL

from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseFloat, NodeConfig, choices, node_type

from .url_codec import VERSIONS, join_url, odata_error, query_string

__all__ = ["ODataReply", "ODataRequestError", "ODataServiceConfig", "ODataServiceNode"]

AUTH_TYPES = ("none", "basic", "bearer", "apikey")
MODIFYING = ("POST", "PUT", "PATCH", "MERGE", "DELETE")


class ODataRequestError(Exception):
    """A request that failed: the text names the method, URL, status and OData message."""

    def __init__(
        self, text: str, status: int = 0, code: str = "", message: str = "", retry: bool = False
    ) -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.message = message
        self.retry = retry


@dataclass
class ODataReply:
    """An HTTP answer: status, headers, body and the URL asked."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str


class ODataServiceConfig(NodeConfig):
    """The odata-service node as it appears in flows.json (secrets are credentials)."""

    url: str = Field(
        "",
        description="Service root, e.g. https://s4.example.com/sap/opu/odata/sap/"
        "API_PURCHASEORDER_PROCESS_SRV/ (v2) or https://host/odata/v4/plant/ (v4).",
    )
    version: str = Field(
        "v2", description="OData protocol version: v2 or v4.", json_schema_extra=choices(*VERSIONS)
    )
    authType: str = Field(
        "none",
        json_schema_extra=choices(*AUTH_TYPES),
        description="none; basic (credentials user + password); bearer (credential token); "
        "apikey (credential token sent in the apiKeyHeader header).",
    )
    apiKeyHeader: str = Field("APIKey", description="Header carrying the key (authType apikey).")
    sapClient: str = Field(
        "", description="SAP client (Mandant), e.g. 100: adds sap-client=100 to every request."
    )
    timeout: LooseFloat = Field(30, description="Seconds a request may take before it fails.")
    tlsVerify: LooseBool = Field(
        True, description="Check the server's TLS certificate (turn off only for test systems)."
    )
    csrf: LooseBool = Field(
        True,
        description="Fetch an X-CSRF-Token (GET with 'X-CSRF-Token: Fetch' on the service "
        "root, once, keeping the session cookie) and send it with every change; a 403 "
        "'Required' fetches a new one and repeats the request once.",
    )

    @model_validator(mode="after")
    def _check(self) -> ODataServiceConfig:
        url = self.url.strip()
        if not url:
            raise ValueError("url: the service root URL is empty")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url: '{url}' is not an http(s) URL")
        if parts.password:
            raise ValueError("url: put the password in the credentials, not in the URL")
        if self.version not in VERSIONS:
            raise ValueError(f"version: '{self.version}' is not one of v2, v4")
        if self.authType not in AUTH_TYPES:
            raise ValueError(f"authType: '{self.authType}' is not one of {', '.join(AUTH_TYPES)}")
        if self.sapClient and not self.sapClient.strip().isdigit():
            raise ValueError(f"sapClient: '{self.sapClient}' is not a number like 100")
        if self.timeout <= 0:
            raise ValueError("timeout: must be positive")
        return self


@node_type("odata-service")
class ODataServiceNode(Node):
    """An OData v2 or v4 service (SAP S/4HANA, SAP Gateway, any OData server), shared by
    the odata nodes that use it.

    One HTTP session per service node, opened by the first user and closed after the
    last one: it keeps the cookies of the session, so a CSRF token fetched once
    (``X-CSRF-Token: Fetch`` on the service root) is sent with every change. When the
    server answers a change with 403 and ``X-CSRF-Token: Required`` (the token expired),
    a new token is fetched and the request repeated once. With ``sapClient`` set every
    request carries ``sap-client=NNN``. Passwords, tokens and API keys are credentials
    (``user``, ``password``, ``token``): they are kept encrypted apart from the flow and
    never shown in a status, log line or error message.
    """

    config_model = ODataServiceConfig
    credential_fields: ClassVar[dict[str, str]] = {
        "user": "text",
        "password": "password",
        "token": "password",
    }
    is_config = True
    category = "config"
    color = "#A6BBCF"
    icon = "white-globe.svg"

    def __init__(self, flow: Any, config: ODataServiceConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.root = config.url.strip().rstrip("/") + "/"
        self.version = config.version
        self.users: dict[str, Node] = {}
        self.session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_lock = asyncio.Lock()

    # ----- users ----------------------------------------------------------------------

    def register(self, node: Node) -> None:
        """A node starts using the service."""
        self.users[node.id] = node

    async def deregister(self, node: Node) -> None:
        """A node stops using the service; after the last one the session is closed."""
        self.users.pop(node.id, None)
        if not self.users:
            await self._close_session()

    async def close(self, removed: bool) -> None:
        self.users.clear()
        await self._close_session()

    async def _close_session(self) -> None:
        session, self.session = self.session, None
        self._token = None
        if session is not None:
            await session.close()

    # ----- secrets ----------------------------------------------------------------------

    @property
    def secrets(self) -> list[str]:
        """Texts never to be shown (password, token, the basic auth header)."""
        creds = self.credentials or {}
        out = [str(creds.get(k) or "") for k in ("password", "token")]
        header = self._auth_header()
        if header:
            out.append(header[1].split(" ", 1)[-1])
        return [s for s in out if s]

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def label(self) -> str:
        return self.name or self.root

    def _auth_header(self) -> tuple[str, str] | None:
        creds = self.credentials or {}
        kind = self.cfg.authType
        if kind == "basic":
            user = str(creds.get("user") or "")
            pw = str(creds.get("password") or "")
            if user or pw:
                raw = base64.b64encode(f"{user}:{pw}".encode()).decode()
                return "Authorization", f"Basic {raw}"
        elif kind == "bearer" and creds.get("token"):
            return "Authorization", f"Bearer {creds['token']}"
        elif kind == "apikey" and creds.get("token"):
            return self.cfg.apiKeyHeader or "APIKey", str(creds["token"])
        return None

    # ----- requests ---------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                connector=aiohttp.TCPConnector(ssl=bool(self.cfg.tlsVerify)),
            )
        return self.session

    def url(self, path: str, pairs: list[tuple[str, str]]) -> str:
        """The full URL of ``path`` (relative to the root) with ``sap-client`` added."""
        return join_url(self.root, path, self._with_client(pairs))

    def _with_client(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        client = self.cfg.sapClient.strip()
        if client and all(name != "sap-client" for name, _ in pairs):
            return [*pairs, ("sap-client", client)]
        return pairs

    def absolute(self, link: str) -> str:
        """A next link from the server as a full URL (with ``sap-client``)."""
        if "://" not in link:
            link = self.root + link.lstrip("/")
        client = self.cfg.sapClient.strip()
        if client and "sap-client=" not in link:
            link += ("&" if "?" in link else "?") + query_string([("sap-client", client)])
        return link

    async def _csrf_token(self, refresh: bool) -> str:
        async with self._token_lock:
            if self._token is not None and not refresh:
                return self._token
            reply = await self._send(
                "GET", self.url("", []), None, {"X-CSRF-Token": "Fetch"}, modifying=False
            )
            if reply.status >= 400:
                raise self._failure("GET (CSRF token fetch)", reply)
            self._token = reply.headers.get("x-csrf-token", "")
            return self._token

    async def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        retries: int = 0,
        retry_delay: float = 0.5,
    ) -> ODataReply:
        """Send one request, with CSRF handling and retries; raise on an error status."""
        attempt = 0
        while True:
            try:
                reply = await self._with_csrf(method, url, body, dict(headers or {}))
                if reply.status >= 400:
                    raise self._failure(method, reply)
                return reply
            except ODataRequestError as exc:
                if not exc.retry or attempt >= retries:
                    raise
                attempt += 1
                await asyncio.sleep(retry_delay * (2 ** (attempt - 1)))

    async def _with_csrf(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> ODataReply:
        modifying = method.upper() in MODIFYING
        if not (modifying and self.cfg.csrf):
            return await self._send(method, url, body, headers, modifying)
        headers["X-CSRF-Token"] = await self._csrf_token(refresh=False)
        reply = await self._send(method, url, body, headers, modifying)
        if reply.status == 403 and reply.headers.get("x-csrf-token", "").lower() == "required":
            headers["X-CSRF-Token"] = await self._csrf_token(refresh=True)
            reply = await self._send(method, url, body, headers, modifying)
        return reply

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        modifying: bool,
    ) -> ODataReply:
        all_headers = {"Accept": "application/json", **headers}
        if body is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/json"
        auth = self._auth_header()
        if auth:
            all_headers[auth[0]] = auth[1]
        timeout = self.cfg.timeout
        try:
            async with self._client().request(
                method,
                URL(url, encoded=True),
                data=body,
                headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                data = await resp.read()
                reply_headers = {k.lower(): v for k, v in resp.headers.items()}
                return ODataReply(resp.status, reply_headers, data, url)
        except TimeoutError as exc:
            text = f"no answer within {timeout:g} s: {method} {url}"
            raise ODataRequestError(self.mask(text), retry=not modifying) from exc
        except aiohttp.ClientConnectorError as exc:
            if exc.os_error.errno == errno.ECONNREFUSED:
                text = f"connection refused by {exc.host}:{exc.port}: {method} {url}"
            else:
                text = f"cannot connect to {exc.host}:{exc.port} ({exc.os_error}): {method} {url}"
            raise ODataRequestError(self.mask(text), retry=True) from exc
        except aiohttp.ClientError as exc:
            text = f"{type(exc).__name__}: {exc}: {method} {url}"
            raise ODataRequestError(self.mask(text), retry=True) from exc

    def _failure(self, method: str, reply: ODataReply) -> ODataRequestError:
        code, message = odata_error(reply.body)
        if not message and reply.body and len(reply.body) < 300:
            message = reply.body.decode("utf-8", "replace").strip()
        text = f"HTTP {reply.status} from {method} {reply.url}"
        if code or message:
            text += ": " + ": ".join(s for s in (code, message) if s)
        if reply.status == 401:
            text += " (check the credentials of the odata-service node)"
        return ODataRequestError(
            self.mask(text), reply.status, code, self.mask(message), retry=reply.status >= 500
        )
