"""http in / http response: serve HTTP endpoints from a flow (Node-RED's types)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import CIMultiDict
from pydantic import Field, field_validator

from plantwire.expressions.fastjson import js_json_fast
from plantwire.nodes.core.parsers_json_codec import js_stringify
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, node_type

from ._headers import request_node_hash
from ._server import ResponseHandle, Route, server_for

__all__ = ["HttpInConfig", "HttpInNode", "HttpResponseConfig", "HttpResponseNode", "to_response"]

METHODS = ("get", "post", "put", "delete", "patch")


class HttpInConfig(NodeConfig):
    """The http in node as Node-RED writes it in flows.json."""

    url: str = Field("", description="Path served, e.g. /items/:id (params in msg.req.params).")
    method: str = Field("get", description="HTTP method: get, post, put, delete or patch.")
    upload: LooseBool = Field(
        False, description="POST: accept multipart file uploads (files in msg.req.files)."
    )
    skipBodyParsing: LooseBool = Field(
        False, description="Keep the request body as raw bytes instead of parsing it."
    )
    swaggerDoc: str | None = Field(
        None, description="Id of a swagger-doc node (Node-RED's add-on; ignored)."
    )

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.lower() not in METHODS:
            raise ValueError(f"method: '{value}' is not one of {', '.join(METHODS)}")
        return value.lower()


@node_type("http in")
class HttpInNode(Node):
    """Creates an HTTP endpoint. Each request becomes a message with ``msg.req`` (method,
    url, path, params, query, headers, cookies, body, files on upload), ``msg.res`` (the
    handle an `http response` node needs to answer) and ``msg.payload`` (GET: the query
    object; other methods: the body, JSON and form bodies parsed to objects, text as a
    string, anything else as bytes). The endpoints are served on the runtime's HTTP port
    (setting ``http_node_port``, default 1880); a request that no `http response` node
    answers within ``http_node_response_timeout`` seconds (default 120) gets 504."""

    config_model = HttpInConfig
    category = "network"
    color = "rgb(231, 231, 174)"
    icon = "white-globe.svg"
    inputs = 0

    def __init__(self, flow: Any, config: HttpInConfig) -> None:
        super().__init__(flow, config)
        url = config.url
        if url and not url.startswith("/"):
            url = "/" + url
        self.url = url
        self.method = config.method
        self.route: Route | None = None
        if url:
            self.route = Route(
                config.method,
                url,
                self._on_request,
                upload=config.upload,
                raw_body=config.skipBodyParsing,
                on_error=self.warn,
            )

    async def start(self) -> None:
        if self.route is None:
            self.warn("missing path")
            return
        server = server_for(self.flow.runtime)
        try:
            await server.add(self.route)
        except OSError as exc:
            where = f"{server.host}:{server.port}"
            self.status("red", "ring", f"cannot listen on {where}")
            self.error(f"cannot serve {self.url}: cannot listen on {where} ({exc.strerror or exc})")
            self.route = None

    def _on_request(self, req: dict[str, Any], res: ResponseHandle) -> None:
        msg: Msg = {"_msgid": res._msgid, "req": req, "res": res}
        if self.method == "get":
            msg["payload"] = req["query"]
        else:
            msg["payload"] = req["body"]
        self.send(msg)

    async def close(self, removed: bool) -> None:
        if self.route is not None:
            await server_for(self.flow.runtime).remove(self.route)
            self.route = None


class HttpResponseConfig(NodeConfig):
    """The http response node as Node-RED writes it in flows.json."""

    statusCode: str = Field(
        "", description="Status code of the reply; empty: msg.statusCode, else 200."
    )
    headers: dict[str, Any] = Field(
        default_factory=dict,
        description="Headers of the reply; they win over msg.headers with the same name.",
    )

    @field_validator("statusCode", mode="before")
    @classmethod
    def _status(cls, value: Any) -> str:
        text = "" if value is None else str(value).strip()
        if text and not text.isdigit():
            raise ValueError(f"statusCode: '{value}' is not a number")
        return text

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}


def _js_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cookie(resp: web.StreamResponse, name: str, spec: Any) -> None:
    if spec is None or (isinstance(spec, dict) and spec.get("value", MISSING) is None):
        opts = spec if isinstance(spec, dict) else {}
        resp.del_cookie(name, path=str(opts.get("path", "/")), domain=opts.get("domain"))
        return
    if not isinstance(spec, dict):
        resp.set_cookie(name, _js_text(spec), path="/")
        return
    kwargs: dict[str, Any] = {"path": str(spec.get("path", "/"))}
    if spec.get("domain"):
        kwargs["domain"] = str(spec["domain"])
    if spec.get("maxAge") is not None:  # Express: milliseconds
        kwargs["max_age"] = int(float(spec["maxAge"]) / 1000)
        stamp = datetime.now(UTC).timestamp() + float(spec["maxAge"]) / 1000
        kwargs["expires"] = datetime.fromtimestamp(stamp, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    elif spec.get("expires"):
        kwargs["expires"] = str(spec["expires"])
    if spec.get("httpOnly"):
        kwargs["httponly"] = True
    if spec.get("secure"):
        kwargs["secure"] = True
    if spec.get("sameSite"):
        same = spec["sameSite"]
        kwargs["samesite"] = "Strict" if same is True else str(same).capitalize()
    resp.set_cookie(name, _js_text(spec.get("value", "")), **kwargs)


def to_response(status: int, payload: Any, headers: dict[str, Any], cookies: Any) -> web.Response:
    """The reply Express's res.send/res.jsonp makes of a payload, headers and cookies."""
    hdrs: CIMultiDict[str] = CIMultiDict()
    for key, value in headers.items():
        if value is None or value is MISSING:
            continue
        if isinstance(value, list):
            for item in value:
                hdrs.add(str(key), _js_text(item))
        else:
            hdrs[str(key)] = _js_text(value)
    body: bytes
    if isinstance(payload, bytes | bytearray):
        body = bytes(payload)
        hdrs.setdefault("Content-Type", "application/octet-stream")
    elif isinstance(payload, str | int | float) and not isinstance(payload, bool):
        body = _js_text(payload).encode("utf-8")
        hdrs.setdefault("Content-Type", "text/html; charset=utf-8")
    elif payload is MISSING:
        body = b""
    else:  # objects, arrays, null and booleans: JSON
        # JSON.stringify, as Express's res.send: orjson where it gives the same bytes
        fast = js_json_fast(payload, js_key_order=True)
        body = fast if fast is not None else str(js_stringify(payload)).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json; charset=utf-8")
    hdrs.pop("Content-Length", None)
    resp = web.Response(status=status, body=body, headers=hdrs)
    if isinstance(cookies, dict):
        for name, spec in cookies.items():
            _cookie(resp, str(name), spec)
    return resp


@node_type("http response")
class HttpResponseNode(Node):
    """Sends the reply to the request an `http in` node received (``msg.res``). The body
    is ``msg.payload``: objects and arrays as JSON (application/json), bytes as they are,
    text and numbers as text. The status code is the node's, else ``msg.statusCode``,
    else 200; the node's headers are merged with ``msg.headers`` (the node's win);
    ``msg.cookies`` sets cookies (``{name: value}`` or ``{name: {value, maxAge, path,
    domain, httpOnly, secure, sameSite}}``; ``null`` clears one)."""

    config_model = HttpResponseConfig
    category = "network"
    color = "rgb(231, 231, 174)"
    icon = "white-globe.svg"
    outputs = 0

    def __init__(self, flow: Any, config: HttpResponseConfig) -> None:
        super().__init__(flow, config)
        self.status_code = int(config.statusCode) if config.statusCode else 0
        self.headers = dict(config.headers)

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        res = msg.get("res")
        if not isinstance(res, ResponseHandle):
            self.warn("No response object")
            return
        headers = dict(self.headers)
        msg_headers = msg.get("headers")
        if isinstance(msg_headers, dict):
            marker = msg_headers.pop("x-node-red-request-node", None)
            if marker is not None and marker == request_node_hash(msg_headers):
                msg_headers = None  # headers of an http request node's reply: not ours
        if isinstance(msg_headers, dict):
            have = {k.lower() for k in headers}
            for key, value in msg_headers.items():
                if str(key).lower() not in have:
                    headers[str(key)] = value
        status = self.status_code or _int(msg.get("statusCode")) or 200
        try:
            resp = to_response(status, msg.get("payload", MISSING), headers, msg.get("cookies"))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"cannot build the http response: {exc}") from exc
        if not res.respond(resp):
            self.warn("the request was already answered (or timed out) before this response")


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0
