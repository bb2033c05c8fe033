"""http request: call an HTTP API from a flow (Node-RED's type, plus retries and API keys)."""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import ssl
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp

from plantwire.expressions.paths import get_msg_property
from plantwire.nodes.common.outbox import Outbox
from plantwire.nodes.core.template_codec import render
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import node_type

from ._headers import MARKER, extract_cookies, request_node_hash
from ._request_config import HttpRequestConfig

__all__ = ["HttpRequestConfig", "HttpRequestError", "HttpRequestNode"]

SPOOLED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Requests that change something remote: with spool on they wait out an outage."""


class HttpRequestError(Exception):
    """A request that got no HTTP response; ``code`` is Node-RED's error code."""

    def __init__(self, text: str, code: str, retry: bool = False) -> None:
        super().__init__(text)
        self.code = code
        self.retry = retry


def _set_header(headers: dict[str, Any], name: str, value: Any) -> None:
    """Node-RED's case-insensitive header update: an empty value removes it."""
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
    if value not in (None, "", MISSING):
        headers[name] = value


def _get_header(headers: dict[str, Any], name: str) -> Any:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _js_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _strip_userinfo(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, "", ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, parts.username or "", parts.password or ""


def _response_headers(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in resp.headers.items():
        name = key.lower()
        if name == "set-cookie":
            out.setdefault(name, []).append(value)
        elif name in out:
            out[name] = f"{out[name]}, {value}"
        else:
            out[name] = value
    return out


@node_type("http request")
class HttpRequestNode(Node):
    """Sends an HTTP request and outputs the response: ``msg.payload`` (text, bytes or
    parsed JSON per *ret*), ``msg.statusCode``, ``msg.headers``, ``msg.responseUrl``,
    ``msg.responseCookies``, ``msg.redirectList`` and ``msg.retry``.

    The URL is the node's (``{{{name}}}`` inserts ``msg.name``) or ``msg.url``; the method
    the node's or, with *use*, ``msg.method``. The body is ``msg.payload`` (objects as
    JSON, or form-encoded / multipart per the content-type header). ``msg.headers``,
    ``msg.cookies``, ``msg.requestTimeout`` (ms), ``msg.followRedirects`` and
    ``msg.rejectUnauthorized`` apply per message. Beyond Node-RED: *retries* with
    exponential backoff after connection errors, timeouts and 5xx replies, and API-key
    authentication. A request that fails reaches catch nodes with a text naming the URL.

    With *spool* on (Plantwire only; off by default), POST, PUT, PATCH and DELETE
    requests that get no answer (connection refused, timeout) or a 5xx reply after the
    retries wait on disk in the store-and-forward queue and are sent again, in order,
    until the server takes them; the response message follows then. The first failure
    of an outage reaches catch nodes saying the request waits.
    """

    credential_fields: ClassVar[dict[str, str] | None] = {"user": "text", "password": "password"}

    config_model = HttpRequestConfig
    category = "network"
    color = "rgb(231, 231, 174)"
    icon = "white-globe.svg"

    def __init__(self, flow: Any, config: HttpRequestConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.templated = "{{" in config.url
        self.timeout = float(getattr(flow.runtime.settings, "http_request_timeout", 120.0))
        self._session: aiohttp.ClientSession | None = None
        self._count = 0
        self.outbox: Outbox | None = None
        if config.spool:
            self.outbox = Outbox(
                self,
                config,
                self._queued,
                remote="the server",
                is_transient=lambda exc: isinstance(exc, HttpRequestError) and exc.retry,
            )

    async def start(self) -> None:
        if self.outbox is not None:
            await self.outbox.start(up=True)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(force_close=not self.cfg.persist)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def close(self, removed: bool) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.status({})

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        self._count += 1
        self.status("blue", "dot", "requesting")
        try:
            await self._handle(msg, send)
        finally:
            self._count -= 1
            if self._count == 0 and self.last_status.get("fill") == "blue":
                self.status({})

    def _url(self, msg: Msg) -> str | None:
        url = self.cfg.url or msg.get("url") or ""
        if msg.get("url") and self.cfg.url and self.cfg.url != msg.get("url"):
            self.warn("Warning: msg properties can no longer override set node properties.")
        if self.templated:
            url = render(self.cfg.url, msg)
        if not isinstance(url, str) or not url:
            return None
        if "://" not in url:
            url = ("https://" if self.cfg.tls else "http://") + url
        return url

    async def _handle(self, msg: Msg, send: SendFn) -> None:
        if self.outbox is not None and self._method(msg) in SPOOLED_METHODS:
            await self.outbox.submit(msg)
            return
        await self._request(msg, send, queued=False)

    async def _queued(self, msg: Msg) -> None:
        """Send one request from the store-and-forward queue; raises HttpRequestError."""
        await self._request(msg, self.send, queued=True)

    def _method(self, msg: Msg) -> str:
        if self.cfg.method == "use":
            return str(msg.get("method") or "GET").upper()
        return (self.cfg.method or "GET").upper()

    async def _request(self, msg: Msg, send: SendFn, queued: bool) -> None:
        url = self._url(msg)
        if url is None:
            if queued:
                raise HttpRequestError("No url specified", "ERR_INVALID_URL")
            self.error("No url specified", msg)
            return
        if not url.startswith(("http://", "https://")):
            self.warn("non-http transport requested")
            self.status("red", "ring", "non-http transport requested")
            return
        method = (self.cfg.method or "GET").upper()
        if msg.get("method") and self.cfg.method != "use":
            self.warn("Warning: msg properties can no longer override set node properties.")
        if self.cfg.method == "use":
            method = str(msg.get("method") or "GET").upper()
        timeout = self.timeout
        req_timeout = msg.get("requestTimeout", MISSING)
        if req_timeout is not MISSING:
            try:
                ms = float(req_timeout)
            except (TypeError, ValueError):
                ms = float("nan")
            if ms != ms:
                self.warn("Timeout value is not a valid number, ignoring")
            elif ms < 1:
                self.warn("Timeout value is negative, ignoring")
            else:
                timeout = ms / 1000.0
        try:
            kwargs, url = self._options(msg, method, url)
        except HttpRequestError as exc:
            if queued:
                raise
            self.error(str(exc), msg)
            return
        attempt = 0
        while True:
            try:
                await self._once(msg, method, url, kwargs, timeout, send, attempt, queued)
                return
            except HttpRequestError as exc:
                if exc.retry and attempt < self.cfg.retries:
                    await asyncio.sleep(self.cfg.retryDelay / 1000.0 * (2**attempt))
                    attempt += 1
                    continue
                self.status("red", "ring", exc.code)
                if queued:
                    raise
                self.error(str(exc), msg)
                msg["payload"] = str(exc)
                msg["statusCode"] = exc.code
                msg["retry"] = attempt
                if not self.cfg.senderr:
                    send(msg)
                return

    def _node_headers(self, msg: Msg, headers: dict[str, Any]) -> None:
        for header in self.cfg.headers:
            name = self._header_part(msg, header.get("keyType"), header.get("keyValue"))
            if not name:
                continue
            value = self._header_part(msg, header.get("valueType"), header.get("valueValue"))
            _set_header(headers, str(name), value)

    @staticmethod
    def _header_part(msg: Msg, kind: Any, value: Any) -> Any:
        if kind == "other":
            return value
        if kind == "msg":
            try:
                return get_msg_property(msg, str(value))
            except Exception:
                return None
        return kind

    def _options(self, msg: Msg, method: str, url: str) -> tuple[dict[str, Any], str]:
        headers: dict[str, Any] = {}
        msg_headers = msg.get("headers")
        if isinstance(msg_headers, dict):
            marker = msg_headers.pop(MARKER, None)
            if marker is not None and marker == request_node_hash(msg_headers):
                del msg["headers"]  # the headers of a previous reply: not for this request
            else:
                for key, value in msg_headers.items():
                    _set_header(headers, str(key), value)
        self._node_headers(msg, headers)
        kwargs: dict[str, Any] = {}
        if "followRedirects" in msg:
            kwargs["allow_redirects"] = bool(msg["followRedirects"])
        self._cookies(msg, headers)
        url, url_user, url_pass = _strip_userinfo(url)
        self._auth(headers, kwargs, url_user, url_pass)
        payload = msg.get("payload", MISSING)
        ctype = str(_get_header(headers, "content-type") or "").lower()
        if method not in ("GET", "HEAD") and payload is not MISSING:
            if ctype == "multipart/form-data" and isinstance(payload, dict):
                form = aiohttp.FormData()
                for key, val in payload.items():
                    if val is None or val is MISSING:
                        continue
                    if isinstance(val, str | bytes):
                        form.add_field(key, val)
                    elif isinstance(val, dict) and "value" in val:
                        opts = val.get("options") or {}
                        form.add_field(
                            key,
                            val["value"],
                            filename=opts.get("filename"),
                            content_type=opts.get("contentType"),
                        )
                    else:
                        form.add_field(key, json.dumps(val))
                _set_header(headers, "content-type", None)
                kwargs["data"] = form
            else:
                kwargs["data"] = self._body(payload, headers, ctype)
        elif method == "GET" and payload is not MISSING and self.cfg.paytoqs == "query":
            if not isinstance(payload, dict):
                raise HttpRequestError("Invalid payload", "EINVAL")
            query = urlencode({k: _qs(v) for k, v in payload.items()}, doseq=True)
            if "?" in url:
                url += ("" if url.endswith("?") else "&") + query
            else:
                url += "?" + query
        elif method == "GET" and payload is not MISSING and self.cfg.paytoqs == "body":
            if isinstance(payload, dict | list):
                kwargs["data"] = json.dumps(payload)
            elif isinstance(payload, str | bytes | int | float):
                kwargs["data"] = payload if isinstance(payload, str | bytes) else _js_text(payload)
        kwargs["headers"] = {k: _js_text(v) for k, v in headers.items()}
        kwargs["ssl"] = self._ssl(msg)
        proxy = self._proxy(url)
        if proxy is not None:
            kwargs["proxy"], proxy_auth = proxy
            if proxy_auth:
                kwargs["proxy_headers"] = {"Proxy-Authorization": proxy_auth}
        return kwargs, url

    @staticmethod
    def _body(payload: Any, headers: dict[str, Any], ctype: str) -> bytes | str:
        if isinstance(payload, str | bytes | bytearray):
            return bytes(payload) if isinstance(payload, bytearray) else payload
        if isinstance(payload, int | float) and not isinstance(payload, bool):
            return _js_text(payload)
        if ctype == "application/x-www-form-urlencoded" and isinstance(payload, dict):
            return urlencode({k: _qs(v) for k, v in payload.items()}, doseq=True)
        if not ctype:
            headers["Content-Type"] = "application/json"
        return json.dumps(payload, separators=(",", ":"), default=str)

    def _cookies(self, msg: Msg, headers: dict[str, Any]) -> None:
        cookies = msg.get("cookies")
        if not isinstance(cookies, dict):
            return
        pairs = [str(_get_header(headers, "cookie"))] if _get_header(headers, "cookie") else []
        for name, spec in cookies.items():
            if spec is None or (isinstance(spec, dict) and spec.get("value") is None):
                continue
            value = spec["value"] if isinstance(spec, dict) else spec
            pairs.append(f"{name}={_js_text(value)}")
        if pairs:
            _set_header(headers, "Cookie", "; ".join(pairs))

    def _auth(self, headers: dict[str, Any], kwargs: dict[str, Any], user: str, pw: str) -> None:
        creds = self.credentials or {}
        user = str(creds.get("user") or user or "")
        pw = str(creds.get("password") or pw or "")
        if not (user or pw):
            return
        kind = self.cfg.authType or "basic"
        if kind == "basic":
            _set_header(headers, "Authorization", _basic(user, pw))
        elif kind == "digest":
            kwargs["middlewares"] = (aiohttp.DigestAuthMiddleware(user, pw),)
        elif kind == "bearer":
            _set_header(headers, "Authorization", f"Bearer {pw}")
        elif kind == "apikey":
            _set_header(headers, self.cfg.apiKeyHeader or "X-API-Key", pw)

    def _ssl(self, msg: Msg) -> ssl.SSLContext | bool:
        if self.cfg.tls:
            tls = self.flow.get_node(self.cfg.tls)
            if tls is None or not hasattr(tls, "ssl_context"):
                raise HttpRequestError(f"tls-config node {self.cfg.tls} not found", "ETLS")
            try:
                ctx: ssl.SSLContext = tls.ssl_context()
            except ValueError as exc:
                raise HttpRequestError(str(exc), "ETLS") from exc
            return ctx
        flag = msg.get("rejectUnauthorized", MISSING)
        if flag is MISSING:
            return True
        if isinstance(flag, str) and flag.lower() in ("true", "false"):
            return flag.lower() == "true"
        if isinstance(flag, bool):
            return flag
        self.warn("msg.rejectUnauthorized should be a boolean")
        return True

    def _proxy(self, url: str) -> tuple[str, str] | None:
        if not self.cfg.proxy:
            return None
        node = self.flow.get_node(self.cfg.proxy)
        proxy_url = str(getattr(node, "url", "") or "")
        if not proxy_url:
            return None
        host = (urlsplit(url).hostname or "").lower()
        for entry in getattr(node, "noproxy", []) or []:
            pattern = str(entry).strip().lower().lstrip("*")
            if pattern and (host == pattern.lstrip(".") or host.endswith(pattern)):
                return None
        if "://" not in proxy_url:
            proxy_url = "http://" + proxy_url
        creds = getattr(node, "credentials", None) or {}
        user, pw = str(creds.get("username") or ""), str(creds.get("password") or "")
        return proxy_url, (_basic(user, pw) if user or pw else "")

    async def _once(
        self,
        msg: Msg,
        method: str,
        url: str,
        kwargs: dict[str, Any],
        timeout: float,
        send: SendFn,
        attempt: int,
        queued: bool = False,
    ) -> None:
        session = self._client()
        try:
            async with session.request(
                method,
                url,
                timeout=aiohttp.ClientTimeout(total=timeout),
                max_redirects=21,
                **kwargs,
            ) as resp:
                body = await resp.read()
                history = list(resp.history)
                status = resp.status
                headers = _response_headers(resp)
                final_url = str(resp.url)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            text = f"No response from server within {timeout:g} s: {method} {url}"
            raise HttpRequestError(text, "ETIMEDOUT", retry=True) from exc
        except aiohttp.ClientConnectorDNSError as exc:
            text = f"cannot resolve host {exc.host}: {method} {url}"
            raise HttpRequestError(text, "ENOTFOUND", retry=True) from exc
        except aiohttp.ClientConnectorError as exc:
            if exc.os_error.errno == errno.ECONNREFUSED:
                text = f"connection refused by {exc.host}:{exc.port}: {method} {url}"
                raise HttpRequestError(text, "ECONNREFUSED", retry=True) from exc
            text = f"cannot connect to {exc.host}:{exc.port} ({exc.os_error}): {method} {url}"
            raise HttpRequestError(text, "ECONNERROR", retry=True) from exc
        except (aiohttp.InvalidURL, ValueError) as exc:
            raise HttpRequestError(f"Invalid url: {url} ({exc})", "ERR_INVALID_URL") from exc
        except aiohttp.TooManyRedirects as exc:
            raise HttpRequestError(
                f"too many redirects: {method} {url}", "ERR_TOO_MANY_REDIRECTS"
            ) from exc
        except aiohttp.ClientError as exc:
            text = f"request failed ({exc or type(exc).__name__}): {method} {url}"
            raise HttpRequestError(text, "ECONNRESET", retry=True) from exc
        if status >= 500 and (queued or attempt < self.cfg.retries):
            reply = body[:200].decode("utf-8", "replace").strip()
            text = f"HTTP {status} from {method} {url}" + (f": {reply}" if reply else "")
            raise HttpRequestError(text, str(status), retry=True)
        self._output(msg, status, headers, final_url, body, history, attempt)
        send(msg)

    def _output(
        self,
        msg: Msg,
        status: int,
        headers: dict[str, Any],
        url: str,
        body: bytes,
        history: list[aiohttp.ClientResponse],
        attempt: int,
    ) -> None:
        msg["statusCode"] = status
        msg["headers"] = headers
        msg["responseUrl"] = url
        msg["redirectList"] = [
            {
                "location": h.headers.get("Location", ""),
                "cookies": extract_cookies(h.headers.getall("Set-Cookie", [])),
            }
            for h in history
        ]
        msg["retry"] = attempt
        if "set-cookie" in headers:
            msg["responseCookies"] = extract_cookies(headers["set-cookie"])
        headers[MARKER] = request_node_hash(headers)
        if self.cfg.ret == "bin":
            msg["payload"] = body
            return
        text = body.decode("utf-8", "replace")
        msg["payload"] = text
        if self.cfg.ret == "obj":
            try:
                msg["payload"] = json.loads("{}" if status == 204 else text)
            except ValueError:
                self.warn("JSON parse error")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _qs(value: Any) -> Any:
    if isinstance(value, list):
        return [_js_text(v) for v in value]
    if value is None or value is MISSING:
        return ""
    return _js_text(value)
