"""The one HTTP server of a runtime that serves every `http in` node (aiohttp web server).

Node-RED serves `http in` routes on its own port under httpNodeRoot; here one aiohttp
server per runtime lives in ``runtime.extensions["http"]``. It starts when the first
route is added and stops when the last one is removed; routes come and go as nodes
start and close without restarting the server. Routes are matched as Express does:
``/items/:id`` parameters, case-insensitive, an optional trailing slash, the first
route added wins.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, unquote

import aiohttp
from aiohttp import web

__all__ = ["HttpNodeServer", "ResponseHandle", "Route", "compile_path", "server_for"]

MAX_BODY = 5 * 1024 * 1024
"""Largest request body accepted (Node-RED's apiMaxLength default, 5 MB)."""

_PARAM = re.compile(r":(\w+)(\?)?")


def compile_path(path: str) -> tuple[re.Pattern[str], list[str]]:
    """Express-style path (``/items/:id``, ``*``) as a regex and its parameter names."""
    names: list[str] = []
    out: list[str] = []
    pos = 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[pos : m.start()]).replace(r"\*", "(.*)"))
        names.append(m.group(1))
        out.append("([^/]+?)" + ("?" if m.group(2) else ""))
        pos = m.end()
    out.append(re.escape(path[pos:].rstrip("/")).replace(r"\*", "(.*)"))
    return re.compile("^" + "".join(out) + "/?$", re.IGNORECASE), names


class ResponseHandle:
    """msg.res: the handle an `http response` node completes (opaque to flows)."""

    def __init__(self, msgid: str) -> None:
        self._msgid = msgid
        self.future: asyncio.Future[web.StreamResponse] = asyncio.get_running_loop().create_future()

    @property
    def done(self) -> bool:
        """True once a response was given (or the request ended)."""
        return self.future.done()

    def respond(self, response: web.StreamResponse) -> bool:
        """Complete the request; False when it was already answered or timed out."""
        if self.future.done():
            return False
        self.future.set_result(response)
        return True

    def __deepcopy__(self, memo: dict[int, Any]) -> ResponseHandle:
        return self

    def __copy__(self) -> ResponseHandle:
        return self

    def __repr__(self) -> str:
        return f"<http response handle {self._msgid}>"


Handler = Callable[[dict[str, Any], ResponseHandle], None]


@dataclass(eq=False)
class Route:
    """One `http in` node's route: method, path and the callback that sends its message."""

    method: str
    path: str
    handler: Handler
    upload: bool = False
    raw_body: bool = False
    on_error: Callable[[str], None] | None = None
    raw: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    """Serve the aiohttp request itself (a websocket upgrade); ``handler`` is not used."""
    pattern: re.Pattern[str] = field(init=False)
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.pattern, self.names = compile_path(self.path)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The route parameters when this route serves ``method path``, else None."""
        if method != self.method and not (method == "HEAD" and self.method == "GET"):
            return None
        m = self.pattern.match(path)
        if m is None:
            return None
        groups = m.groups()
        params: dict[str, str] = {}
        for i, name in enumerate(self.names):
            if i < len(groups) and groups[i] is not None:
                params[name] = unquote(groups[i])
        for j, extra in enumerate(groups[len(self.names) :]):
            params[str(j)] = unquote(extra or "")
        return params


def parse_query(text: str) -> dict[str, Any]:
    """A query string as Express reads it: repeated keys become lists."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key.endswith("[]"):
            key = key[:-2]
            out.setdefault(key, [])
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def _is_text(ctype: str, raw: bytes) -> bool:
    """Node-RED's raw body rule: text/* and xml are text, some application/* too."""
    if not ctype:
        return True
    main, _, sub = ctype.partition("/")
    if main == "text" or sub == "xml" or sub.endswith("+xml"):
        return True
    if main != "application" or sub in ("octet-stream", "cbor", "x-protobuf"):
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _read_body(request: web.Request, route: Route) -> tuple[Any, list[dict[str, Any]]]:
    """The parsed body (as Express's parsers give it) and the uploaded files."""
    files: list[dict[str, Any]] = []
    ctype = request.content_type.lower() if request.headers.get("Content-Type") else ""
    if route.raw_body:
        return await request.read(), files
    if ctype == "multipart/form-data" and route.upload and route.method == "POST":
        fields: dict[str, Any] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            data = await part.read(decode=True)
            if part.filename is not None:
                mime = part.headers.get("Content-Type", "application/octet-stream")
                files.append(
                    {
                        "fieldname": part.name,
                        "originalname": part.filename,
                        "encoding": part.headers.get("Content-Transfer-Encoding", "7bit"),
                        "mimetype": mime,
                        "buffer": bytes(data),
                        "size": len(data),
                    }
                )
            elif part.name:
                fields[part.name] = data.decode(part.get_charset("utf-8"), "replace")
        return fields, files
    raw = await request.read()
    if ctype == "application/json":
        return (json.loads(raw.decode(request.charset or "utf-8")) if raw else {}), files
    if ctype == "application/x-www-form-urlencoded":
        return parse_query(raw.decode(request.charset or "utf-8")), files
    if _is_text(ctype, raw):
        return raw.decode(request.charset or "utf-8", "replace"), files
    return raw, files


def _cookies(request: web.Request) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(request.headers.get("Cookie", ""))
    except Exception:
        return dict(request.cookies)
    return {k: v.value for k, v in jar.items()}


class HttpNodeServer:
    """The aiohttp server of one runtime, with the routes of its `http in` nodes."""

    def __init__(self, host: str, port: int, response_timeout: float) -> None:
        self.host = host
        self.port = port
        self.response_timeout = response_timeout
        self.routes: list[Route] = []
        self._runner: web.AppRunner | None = None
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        """True while the server listens."""
        return self._runner is not None

    async def add(self, route: Route) -> None:
        """Serve ``route``; starts the server with the first route (OSError if it cannot)."""
        async with self._lock:
            if self._runner is None:
                await self._start()
            self.routes.append(route)

    async def remove(self, route: Route) -> None:
        """Stop serving ``route``; the last one stops the server."""
        async with self._lock:
            if route in self.routes:
                self.routes.remove(route)
            if not self.routes and self._runner is not None:
                runner, self._runner = self._runner, None
                await runner.cleanup()

    async def _start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method.upper()
        path = request.path
        for route in list(self.routes):
            params = route.match(method, path)
            if params is not None:
                return await self._serve(request, route, params, method, path)
        text = f"Cannot {method} {path}"
        return web.Response(status=404, text=text, content_type="text/html")

    async def _serve(
        self,
        request: web.Request,
        route: Route,
        params: dict[str, str],
        method: str,
        path: str,
    ) -> web.StreamResponse:
        from plantwire.runtime.message import new_msgid

        if route.raw is not None:
            return await route.raw(request)
        body: Any = {}
        files: list[dict[str, Any]] = []
        if route.method != "GET":
            try:
                body, files = await _read_body(request, route)
            except web.HTTPException:
                raise
            except Exception as exc:
                if route.on_error is not None:
                    route.on_error(f"cannot read the request body of {method} {path}: {exc}")
                return web.Response(status=500, text="Internal Server Error")
        msgid = new_msgid()
        handle = ResponseHandle(msgid)
        peer = request.remote or ""
        req: dict[str, Any] = {
            "method": request.method,
            "url": request.path_qs,
            "originalUrl": request.path_qs,
            "path": request.path,
            "baseUrl": "",
            "params": params,
            "query": parse_query(request.query_string),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "cookies": _cookies(request),
            "body": body,
            "hostname": request.host.split(":")[0],
            "ip": peer,
            "protocol": request.scheme,
            "secure": request.secure,
        }
        if route.upload:
            req["files"] = files
        route.handler(req, handle)
        return await wait_response(handle, self.response_timeout)


async def wait_response(handle: ResponseHandle, timeout: float) -> web.StreamResponse:
    """The response an `http response` node gives, or 504 after ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(asyncio.shield(handle.future), timeout)
    except TimeoutError:
        gateway = web.Response(status=504, text="Gateway Timeout: no http response node replied")
        handle.respond(gateway)
        return gateway


def server_for(runtime: Any) -> HttpNodeServer:
    """The runtime's HTTP server (made on first use, from its settings)."""
    ext: dict[str, Any] = runtime.extensions
    server = ext.get("http")
    if not isinstance(server, HttpNodeServer):
        settings = runtime.settings
        server = HttpNodeServer(
            str(getattr(settings, "http_node_host", "127.0.0.1")),
            int(getattr(settings, "http_node_port", 1880)),
            float(getattr(settings, "http_node_response_timeout", 120.0)),
        )
        ext["http"] = server
    return server
