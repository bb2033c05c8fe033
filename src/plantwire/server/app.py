"""``plantwire serve``: the runtime and its HTTP API in one process (Starlette, ASGI).

The flows part of the API is Node-RED's Admin API (``/flows``, ``/flow/:id``,
``/inject/:id``) so its scripts and tools work unchanged; see docs/api.md. Deployed
flows are written to the flows file in the data folder (credentials go to the runtime's
encrypted credential file) and every deploy is kept in the revision history.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from plantwire import __version__
from plantwire.runtime.errors import FlowFileError, FlowValidationError
from plantwire.runtime.flowset import check_flow_list, load_flows_file
from plantwire.runtime.runtime import DEPLOY_TYPES, Runtime, RuntimeSettings
from plantwire.server.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AuthGuard,
    LoginLimiter,
    cookies_of,
    verify_password,
)
from plantwire.server.openapi import openapi_document
from plantwire.server.store import Store, User
from plantwire.server.ws import CommsHub, CommsLogHandler, comms_endpoint

__all__ = ["ApiError", "PlantwireServer", "ServerConfig", "create_app", "flows_rev"]

log = logging.getLogger("plantwire.server")

_STRUCTURAL = ("tab", "subflow", "group")


@dataclass
class ServerConfig:
    """Settings of ``plantwire serve``."""

    data_dir: Path = Path(".plantwire")
    flows_file: Path | None = None
    """The flows file (default ``<data_dir>/flows.json``); loaded at start, rewritten on
    every deploy."""
    host: str = "127.0.0.1"
    port: int = 1880
    max_body: int = 5 * 1024 * 1024
    """Largest request body accepted, bytes (Node-RED's apiMaxLength, 5 MB)."""
    session_lifetime: float = 7 * 24 * 3600.0
    token_lifetime: float = 7 * 24 * 3600.0
    """Lifetime of tokens issued by ``POST /auth/token`` (``plantwire user token`` ones
    do not expire)."""
    debug_max_length: int = 1000
    """Longest string / array in a debug message sent to the editor (debugMaxLength)."""
    debug_rate: int = 10
    """Debug messages (and log lines) per node and second sent to the editor."""
    allowed_origins: tuple[str, ...] = ()
    """Extra browser origins allowed to send state-changing requests (e.g. a dev server)."""
    static_dir: Path | None = None
    """Folder served at ``/`` (the built editor), if any."""
    credential_secret: str | None = None
    context_storage: dict[str, Any] | None = None
    http_node_port: int | None = None
    """Port of the `http in` nodes' server (default: the API port + 1)."""
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def flows_path(self) -> Path:
        return self.flows_file or self.data_dir / "flows.json"


class ApiError(Exception):
    """An error answered as ``{"code": ..., "message": ..., **extra}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def response(self) -> JSONResponse:
        return JSONResponse({"code": self.code, "message": self.message, **self.extra}, self.status)


def flows_rev(flows: list[dict[str, Any]]) -> str:
    """The revision of a flow configuration: SHA-256 of its compact JSON."""
    text = json.dumps(flows, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _is_config(raw: dict[str, Any]) -> bool:
    t = str(raw.get("type", ""))
    return "wires" not in raw and not t.startswith("subflow:") and t not in _STRUCTURAL


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class PlantwireServer:
    """The runtime, the store of users and revisions, and the comms hub of one server."""

    def __init__(self, config: ServerConfig, runtime: Runtime | None = None) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.data_dir)
        http_port = config.http_node_port
        if http_port is None:
            http_port = config.port + 1 if config.port else 0
        self.runtime = runtime or Runtime(
            RuntimeSettings(
                config.data_dir,
                credential_secret=config.credential_secret,
                context_storage=config.context_storage,
                env=config.env,
                http_node_host=config.host,
                http_node_port=http_port,
            )
        )
        self.hub = CommsHub(max_length=config.debug_max_length, rate=config.debug_rate)
        self.flows: list[dict[str, Any]] = []
        self.rev = flows_rev([])
        self.limiter = LoginLimiter()
        self._lock = asyncio.Lock()
        self._log_handler: CommsLogHandler | None = None
        self._catalog: list[dict[str, Any]] | None = None

    # ----- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Open the runtime and start the flows file (a bad file is logged, not fatal:
        the flows are then shown but not running, so they can be fixed and deployed)."""
        await self.runtime.open()
        self.hub.attach(self.runtime)
        self._log_handler = CommsLogHandler(self.hub)
        logging.getLogger("plantwire").addHandler(self._log_handler)
        path = self.config.flows_path
        flows: list[dict[str, Any]] = []
        if path.exists():
            try:
                flows = load_flows_file(path)
            except FlowFileError as exc:
                log.error("%s", exc)
        if flows:
            try:
                await self.runtime.deploy(copy.deepcopy(flows), "full")
                assert self.runtime.flowset is not None
                flows = copy.deepcopy(self.runtime.flowset.raw)
                log.info("started %d node(s) from %s", len(self.runtime.nodes()), path)
            except FlowValidationError as exc:
                log.error("flows in %s were not started: %s", path, exc)
        self.flows = flows
        self.rev = flows_rev(flows)

    async def stop(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("plantwire").removeHandler(self._log_handler)
            self._log_handler = None
        await self.runtime.stop()
        self.hub.detach()
        self.store.close()

    # ----- deploys -------------------------------------------------------------------

    async def deploy(
        self,
        flows: list[dict[str, Any]],
        mode: str,
        user: User | None,
        expect_rev: Any = None,
        check_rev: bool = False,
    ) -> str:
        """Deploy ``flows`` (refused whole when invalid, the running flows untouched),
        write the flows file, record the revision, tell the comms clients."""
        async with self._lock:
            if check_rev and expect_rev != self.rev:
                raise ApiError(
                    409,
                    "version_mismatch",
                    "the flows were changed since revision "
                    f"{expect_rev!r} was read; the current revision is {self.rev}",
                )
            try:
                diff = await self.runtime.deploy(flows, mode)  # refused: nothing changes
            except FlowValidationError as exc:
                problems = [
                    {"id": p.node_id, "type": p.node_type, "field": p.field, "message": p.message}
                    for p in exc.problems
                ]
                raise ApiError(400, "invalid_flow", str(exc), problems=problems) from None
            assert self.runtime.flowset is not None
            self.flows = copy.deepcopy(self.runtime.flowset.raw)
            self.rev = flows_rev(self.flows)
            self._write_flows_file()
            name = user.name if user else None
            self.store.add_revision(self.rev, self.flows, name, mode)
            log.info("deployed (%s) revision %s by %s", mode, self.rev[:12], name or "anonymous")
            running = {n.id for n in self.runtime.nodes()}
            self.hub.deployed({"rev": self.rev, "type": mode, "user": name, **diff}, running)
            return self.rev

    async def reload(self, user: User | None) -> str:
        """Node-RED's ``reload`` deployment: restart the flows from the flows file."""
        path = self.config.flows_path
        flows = copy.deepcopy(self.flows)
        if path.exists():
            try:
                flows = load_flows_file(path)
            except FlowFileError as exc:
                raise ApiError(400, "invalid_flows_file", str(exc)) from None
        return await self.deploy(flows, "reload", user)

    def _write_flows_file(self) -> None:
        path = self.config.flows_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.flows, indent=4, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    # ----- one flow (Node-RED's /flow/:id) ---------------------------------------------

    def get_flow(self, fid: str) -> dict[str, Any] | None:
        flows = self.flows
        owners = {n["id"] for n in flows if n.get("type") in ("tab", "subflow")}
        if fid == "global":
            result: dict[str, Any] = {"id": "global"}
            configs = [
                copy.deepcopy(n)
                for n in flows
                if _is_config(n) and (not n.get("z") or n.get("z") not in owners)
            ]
            subflows = []
            for sf in (n for n in flows if n.get("type") == "subflow"):
                item = copy.deepcopy(sf)
                inner = [n for n in flows if n.get("z") == sf["id"]]
                item["nodes"] = [copy.deepcopy(n) for n in inner if not _is_config(n)]
                sf_configs = [copy.deepcopy(n) for n in inner if _is_config(n)]
                if sf_configs:
                    item["configs"] = sf_configs
                subflows.append(item)
            if configs:
                result["configs"] = configs
            if subflows:
                result["subflows"] = subflows
            return result
        tab = next((n for n in flows if n.get("type") == "tab" and n.get("id") == fid), None)
        if tab is None:
            return None
        result = {"id": fid}
        if tab.get("label"):
            result["label"] = tab["label"]
        for key in ("disabled", "info", "env"):
            if key in tab:
                result[key] = copy.deepcopy(tab[key])
        members = [n for n in flows if n.get("z") == fid]
        result["nodes"] = [copy.deepcopy(n) for n in members if not _is_config(n)]
        configs = [copy.deepcopy(n) for n in members if _is_config(n)]
        if configs:
            result["configs"] = configs
        return result

    def _tab_node(self, fid: str, body: dict[str, Any]) -> dict[str, Any]:
        tab: dict[str, Any] = {"type": "tab", "id": fid}
        if body.get("label") is not None:
            tab["label"] = body["label"]
        for key in ("info", "disabled", "env", "credentials"):
            if key in body:
                tab[key] = body[key]
        return tab

    @staticmethod
    def _members(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
        items = body.get(key, [])
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(n, dict) for n in items):
            raise ApiError(400, "invalid_flow", f"{key}: expected an array of node objects")
        return [dict(n) for n in items]

    async def add_flow(self, body: Any, user: User | None) -> str:
        if not isinstance(body, dict) or "nodes" not in body:
            raise ApiError(400, "invalid_flow", "missing nodes property")
        fid = secrets.token_hex(8)
        existing = {n["id"] for n in self.flows}
        new_nodes = self._members(body, "nodes") + self._members(body, "configs")
        for node in new_nodes:
            if node.get("id") in existing:
                raise ApiError(400, "invalid_flow", f"duplicate id: {node.get('id')!r}")
            if node.get("type") in ("tab", "subflow"):
                raise ApiError(400, "invalid_flow", f"invalid node type: {node.get('type')}")
            node["z"] = fid
        config = [*copy.deepcopy(self.flows), self._tab_node(fid, body), *new_nodes]
        await self.deploy(self._checked(config), "flows", user)
        return fid

    async def update_flow(self, fid: str, body: Any, user: User | None) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_flow", "expected a flow object")
        tab_ids = {n["id"] for n in self.flows if n.get("type") == "tab"}
        config = copy.deepcopy(self.flows)
        if fid == "global":
            config = [n for n in config if n.get("type") == "tab" or n.get("z") in tab_ids]
            nodes = self._members(body, "configs")
            for sf in self._members(body, "subflows"):
                nodes += self._members(sf, "nodes") + self._members(sf, "configs")
                sf.pop("nodes", None)
                sf.pop("configs", None)
                nodes.append(sf)
        else:
            if fid not in tab_ids:
                raise ApiError(404, "not_found", f"no flow with id {fid!r}")
            config = [n for n in config if n.get("z") != fid and n.get("id") != fid]
            members = self._members(body, "nodes") + self._members(body, "configs")
            for node in members:
                node["z"] = fid
            nodes = [self._tab_node(fid, body), *members]
        await self.deploy(self._checked(config + nodes), "flows", user)

    async def delete_flow(self, fid: str, user: User | None) -> None:
        if fid == "global":
            raise ApiError(400, "invalid_request", "not allowed to remove global")
        if not any(n.get("type") == "tab" and n.get("id") == fid for n in self.flows):
            raise ApiError(404, "not_found", f"no flow with id {fid!r}")
        config = [n for n in copy.deepcopy(self.flows) if n.get("z") != fid and n["id"] != fid]
        await self.deploy(config, "flows", user)

    @staticmethod
    def _checked(flows: Any) -> list[dict[str, Any]]:
        try:
            return check_flow_list(flows, "flows")
        except FlowFileError as exc:
            raise ApiError(400, "invalid_flow", str(exc)) from None

    # ----- catalogue -----------------------------------------------------------------

    def catalog(self) -> list[dict[str, Any]]:
        if self._catalog is None:
            from plantwire.catalog import node_catalog

            self._catalog = list(node_catalog().values())
        return self._catalog


# ----- request helpers ---------------------------------------------------------------------


def _user(request: Request) -> User | None:
    user = request.state.user
    return user if isinstance(user, User) else None


def _api_version(request: Request) -> str:
    version = request.headers.get("node-red-api-version") or "v1"
    if version not in ("v1", "v2"):
        raise ApiError(400, "invalid_api_version", "Invalid API Version requested")
    return version


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 beyond ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise ApiError(400, "invalid_request", "bad Content-Length header") from None
        if too_big:
            raise ApiError(
                413, "request_too_large", f"request body larger than {limit} bytes", limit=limit
            )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(
                413, "request_too_large", f"request body larger than {limit} bytes", limit=limit
            )
    return bytes(body)


async def read_json(request: Request, limit: int, *, optional: bool = False) -> Any:
    """The JSON body: 415 unless sent as application/json, 400 when malformed."""
    body = await read_body(request, limit)
    if optional and not body.strip():
        return None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)"
        )
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None


def _merge_credentials(flows: list[dict[str, Any]], creds: Any) -> list[dict[str, Any]]:
    """The v2 ``credentials`` map (node id -> values) put onto the node objects."""
    if not isinstance(creds, dict) or not creds:
        return flows
    out = []
    for node in flows:
        extra = creds.get(node["id"])
        if isinstance(extra, dict):
            node = dict(node)
            node["credentials"] = {**(node.get("credentials") or {}), **extra}
        out.append(node)
    return out


def _user_json(user: User | None) -> dict[str, str] | None:
    return {"name": user.name, "role": user.role} if user else None


# ----- the application -------------------------------------------------------------------


def create_app(server: PlantwireServer) -> Starlette:
    """The ASGI application of ``server`` (starts and stops it in its lifespan)."""
    cfg = server.config
    limit = cfg.max_body

    async def get_flows(request: Request) -> Response:
        version = _api_version(request)
        if version == "v1":
            return JSONResponse(server.flows)
        return JSONResponse({"rev": server.rev, "flows": server.flows})

    async def post_flows(request: Request) -> Response:
        version = _api_version(request)
        mode = request.headers.get("node-red-deployment-type") or "full"
        if mode not in DEPLOY_TYPES:
            raise ApiError(
                400,
                "invalid_deployment_type",
                f"Node-RED-Deployment-Type must be one of {', '.join(DEPLOY_TYPES)}, not {mode!r}",
            )
        user = _user(request)
        if mode == "reload":
            await read_body(request, limit)
            rev = await server.reload(user)
        else:
            body = await read_json(request, limit)
            expect: Any = None
            check = False
            if version == "v1":
                flows = body
            else:
                if not isinstance(body, dict):
                    raise ApiError(400, "invalid_flow", 'expected {"rev": ..., "flows": [...]}')
                flows = body.get("flows")
                check = "rev" in body
                expect = body.get("rev")
            flows = server._checked(flows)
            if version == "v2" and isinstance(body, dict):
                flows = _merge_credentials(flows, body.get("credentials"))
            rev = await server.deploy(flows, mode, user, expect, check)
        if version == "v1":
            return Response(status_code=204)
        return JSONResponse({"rev": rev})

    async def get_flow(request: Request) -> Response:
        fid = request.path_params["id"]
        flow = server.get_flow(fid)
        if flow is None:
            raise ApiError(404, "not_found", f"no flow with id {fid!r}")
        return JSONResponse(flow)

    async def post_flow(request: Request) -> Response:
        body = await read_json(request, limit)
        return JSONResponse({"id": await server.add_flow(body, _user(request))})

    async def put_flow(request: Request) -> Response:
        fid = request.path_params["id"]
        if fid != "global" and server.get_flow(fid) is None:
            raise ApiError(404, "not_found", f"no flow with id {fid!r}")
        body = await read_json(request, limit)
        await server.update_flow(fid, body, _user(request))
        return JSONResponse({"id": fid})

    async def delete_flow(request: Request) -> Response:
        await server.delete_flow(request.path_params["id"], _user(request))
        return Response(status_code=204)

    async def inject(request: Request) -> Response:
        from plantwire.nodes.core.inject import InjectNode

        nid = request.path_params["id"]
        node = server.runtime.get_node(nid)
        if not isinstance(node, InjectNode):
            raise ApiError(404, "not_found", f"no running inject node with id {nid!r}")
        body = await read_json(request, limit, optional=True)
        if isinstance(body, dict) and "__user_inject_props__" in body:
            node.trigger(body)
        else:
            node.trigger()
        return PlainTextResponse("OK")

    async def get_nodes(request: Request) -> Response:
        return JSONResponse(server.catalog())

    async def get_node_type(request: Request) -> Response:
        name = request.path_params["type"]
        for entry in server.catalog():
            if entry["type"] == name:
                return JSONResponse(entry)
        raise ApiError(404, "not_found", f"no node type {name!r}")

    async def get_credentials(request: Request) -> Response:
        creds = server.runtime.credentials.get(request.path_params["id"])
        return JSONResponse({f"has_{k}": v not in (None, "") for k, v in creds.items()})

    async def get_settings(request: Request) -> Response:
        return JSONResponse(
            {
                "version": __version__,
                "auth": bool(request.state.auth),
                "user": _user_json(_user(request)),
                "apiMaxLength": limit,
                "debugMaxLength": cfg.debug_max_length,
                "debugRate": cfg.debug_rate,
                "httpNodePort": server.runtime.settings.http_node_port,
                "deploymentTypes": list(DEPLOY_TYPES),
            }
        )

    async def get_revisions(request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "rev": r.rev,
                    "deployed": r.deployed,
                    "user": r.user,
                    "type": r.deploy_type,
                }
                for r in server.store.revisions()
            ]
        )

    async def get_revision(request: Request) -> Response:
        rev = request.path_params["rev"]
        flows = server.store.revision_flows(rev)
        if flows is None:
            raise ApiError(404, "not_found", f"no revision {rev!r} in the history")
        return JSONResponse({"rev": rev, "flows": flows})

    # ----- auth --------------------------------------------------------------------

    async def login_prompt(request: Request) -> Response:
        if not request.state.auth:
            return JSONResponse({})
        return JSONResponse(
            {
                "type": "credentials",
                "prompts": [
                    {"id": "username", "type": "text", "label": "Username"},
                    {"id": "password", "type": "password", "label": "Password"},
                ],
            }
        )

    async def check_password(request: Request, name: Any, password: Any) -> User:
        client = request.client.host if request.client else ""
        if not isinstance(name, str) or not isinstance(password, str):
            raise ApiError(400, "invalid_request", "username and password must be strings")
        if server.limiter.blocked(name, client):
            raise ApiError(429, "too_many_attempts", "too many failed logins; wait a minute")
        stored = server.store.password_hash(name)
        ok = await asyncio.to_thread(verify_password, stored, password)
        user = server.store.user(name) if ok else None
        if user is None:
            server.limiter.failed(name, client)
            raise ApiError(401, "unauthorized", "invalid username or password")
        server.limiter.succeeded(name, client)
        return user

    async def login(request: Request) -> Response:
        body = await read_json(request, 64 * 1024)
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", 'expected {"username": ..., "password": ...}')
        user = await check_password(request, body.get("username"), body.get("password"))
        sid, csrf = server.store.create_session(user.name, cfg.session_lifetime)
        response = JSONResponse({"user": _user_json(user), "csrf": csrf})
        secure = request.url.scheme == "https"
        age = int(cfg.session_lifetime)
        response.set_cookie(
            SESSION_COOKIE, sid, max_age=age, httponly=True, samesite="strict", secure=secure
        )
        response.set_cookie(
            CSRF_COOKIE, csrf, max_age=age, httponly=False, samesite="strict", secure=secure
        )
        return response

    async def logout(request: Request) -> Response:
        sid = cookies_of(dict(request.headers)).get(SESSION_COOKIE)
        if sid:
            server.store.end_session(sid)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        response.delete_cookie(CSRF_COOKIE, samesite="strict")
        return response

    async def me(request: Request) -> Response:
        return JSONResponse(
            {
                "auth": bool(request.state.auth),
                "user": _user_json(_user(request)),
                "csrf": request.state.csrf,
            }
        )

    async def token(request: Request) -> Response:
        raw = await read_body(request, 64 * 1024)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fields: dict[str, Any]
        if ctype == "application/x-www-form-urlencoded":
            fields = dict(parse_qsl(raw.decode("utf-8", "replace")))
        else:
            parsed = json.loads(raw) if raw.strip() and ctype == "application/json" else None
            if not isinstance(parsed, dict):
                raise ApiError(400, "invalid_request", "send username, password, grant_type")
            fields = parsed
        if fields.get("grant_type", "password") != "password":
            raise ApiError(400, "unsupported_grant_type", "only grant_type=password is supported")
        user = await check_password(request, fields.get("username"), fields.get("password"))
        issued = server.store.create_token(user.name, "auth/token", cfg.token_lifetime)
        return JSONResponse(
            {
                "access_token": issued,
                "expires_in": int(cfg.token_lifetime),
                "token_type": "Bearer",
            }
        )

    async def revoke(request: Request) -> Response:
        body = await read_json(request, 64 * 1024)
        tok = body.get("token") if isinstance(body, dict) else None
        if not isinstance(tok, str) or not server.store.revoke_token(tok):
            raise ApiError(404, "not_found", "no such token")
        return PlainTextResponse("OK")

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(__version__))

    async def comms(ws: WebSocket) -> None:
        await comms_endpoint(ws, server.hub)

    routes: list[BaseRoute] = [
        Route("/flows", get_flows, methods=["GET"]),
        Route("/flows", post_flows, methods=["POST"]),
        Route("/flow", post_flow, methods=["POST"]),
        Route("/flow/{id}", get_flow, methods=["GET"]),
        Route("/flow/{id}", put_flow, methods=["PUT"]),
        Route("/flow/{id}", delete_flow, methods=["DELETE"]),
        Route("/inject/{id}", inject, methods=["POST"]),
        Route("/nodes", get_nodes, methods=["GET"]),
        Route("/nodes/{type}", get_node_type, methods=["GET"]),
        Route("/credentials/{type}/{id}", get_credentials, methods=["GET"]),
        Route("/settings", get_settings, methods=["GET"]),
        Route("/revisions", get_revisions, methods=["GET"]),
        Route("/revisions/{rev}", get_revision, methods=["GET"]),
        Route("/auth/login", login_prompt, methods=["GET"]),
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
        Route("/auth/me", me, methods=["GET"]),
        Route("/auth/token", token, methods=["POST"]),
        Route("/auth/revoke", revoke, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        WebSocketRoute("/comms", comms),
    ]
    if cfg.static_dir is not None:
        routes.append(Mount("/", StaticFiles(directory=cfg.static_dir, html=True)))

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"code": code, "message": str(exc.detail)}, exc.status_code, headers=exc.headers
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
        return JSONResponse(
            {"code": "unexpected_error", "message": "internal error; see the server log"}, 500
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: api_error,
        HTTPException: http_error,
        Exception: unexpected,
    }
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                AuthGuard,
                store=server.store,
                bind_host=cfg.host,
                allowed_origins=cfg.allowed_origins,
            )
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
