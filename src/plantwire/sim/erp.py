"""A small ERP / CMMS service for the simulator: OData v2 (SAP style) and v4 over SQLite.

The SQLite tables *are* the ERP database: ``PurchaseOrders``, ``PurchaseOrderItems``,
``MaintenanceOrders`` and ``Materials``. The same data is served as

* OData v2 the way SAP Gateway does it at ``/sap/opu/odata/sap/API_PLANT_SRV/``
  (``{"d": {"results": [...]}}``, ``__metadata``, ``__next``, ``__count``,
  ``/Date(ms)/``, MERGE), and
* OData v4 at ``/odata/v4/plant/`` (``value``, ``@odata.nextLink``, ``@odata.count``),

with $metadata, $filter, $select, $expand=Items, $orderby, $top, $skip, server paging,
$batch (multipart, a changeset is one SQLite transaction), CSRF tokens like SAP and
optional basic auth; plus a plain REST API for the CMMS at ``/api/cmms/work-orders``
and ``GET /health``.

This module imports nothing of the runtime or the nodes: it is an independent peer.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import re
import secrets
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from aiohttp import web

__all__ = [
    "V2_ROOT",
    "V4_ROOT",
    "ErpService",
    "FilterError",
    "ODataFault",
    "compile_filter",
    "parse_multipart",
]

log = logging.getLogger("plantwire.sim.erp")

V2_ROOT = "/sap/opu/odata/sap/API_PLANT_SRV/"
V4_ROOT = "/odata/v4/plant/"
NAMESPACE = "API_PLANT_SRV"
MODIFYING = ("POST", "PUT", "PATCH", "MERGE", "DELETE")
SESSION_COOKIE = "SAP_SESSIONID_PLT"

# ----- the data model -------------------------------------------------------------------


@dataclass(frozen=True)
class Prop:
    """One property: name and kind (str, dec, date, datetime)."""

    name: str
    kind: str = "str"
    nullable: bool = True


@dataclass(frozen=True)
class EntitySet:
    """An entity set and the table behind it."""

    name: str
    type_name: str
    keys: tuple[str, ...]
    props: tuple[Prop, ...]
    readonly: bool = False
    required: tuple[str, ...] = ()
    nav: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (set, fk column)

    def prop(self, name: str) -> Prop | None:
        return next((p for p in self.props if p.name == name), None)


SETS: dict[str, EntitySet] = {
    s.name: s
    for s in (
        EntitySet(
            "PurchaseOrders",
            "PurchaseOrderType",
            ("PurchaseOrder",),
            (
                Prop("PurchaseOrder", nullable=False),
                Prop("Supplier"),
                Prop("Material"),
                Prop("Quantity", "dec"),
                Prop("Unit"),
                Prop("DeliveryDate", "date"),
                Prop("Status"),
                Prop("CreatedAt", "datetime"),
                Prop("ExternalReference"),
            ),
            required=("Supplier", "Material", "Quantity"),
            nav={"Items": ("PurchaseOrderItems", "PurchaseOrder")},
        ),
        EntitySet(
            "PurchaseOrderItems",
            "PurchaseOrderItemType",
            ("PurchaseOrder", "Item"),
            (
                Prop("PurchaseOrder", nullable=False),
                Prop("Item", nullable=False),
                Prop("Material"),
                Prop("Quantity", "dec"),
            ),
            required=("PurchaseOrder", "Item", "Material"),
        ),
        EntitySet(
            "MaintenanceOrders",
            "MaintenanceOrderType",
            ("MaintenanceOrder",),
            (
                Prop("MaintenanceOrder", nullable=False),
                Prop("Equipment"),
                Prop("Description"),
                Prop("Priority"),
                Prop("Status"),
                Prop("CreatedAt", "datetime"),
                Prop("ExternalReference"),
                Prop("LongText"),
            ),
            required=("Equipment", "Description"),
        ),
        EntitySet(
            "Materials",
            "MaterialType",
            ("Material",),
            (
                Prop("Material", nullable=False),
                Prop("Description"),
                Prop("BaseUnit"),
                Prop("MaterialType"),
            ),
            readonly=True,
        ),
    )
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS PurchaseOrders (
  PurchaseOrder TEXT PRIMARY KEY, Supplier TEXT, Material TEXT, Quantity NUMERIC,
  Unit TEXT, DeliveryDate TEXT, Status TEXT, CreatedAt TEXT, ExternalReference TEXT UNIQUE);
CREATE TABLE IF NOT EXISTS PurchaseOrderItems (
  PurchaseOrder TEXT NOT NULL REFERENCES PurchaseOrders(PurchaseOrder) ON DELETE CASCADE,
  Item TEXT NOT NULL, Material TEXT, Quantity NUMERIC, PRIMARY KEY (PurchaseOrder, Item));
CREATE TABLE IF NOT EXISTS MaintenanceOrders (
  MaintenanceOrder TEXT PRIMARY KEY, Equipment TEXT, Description TEXT, Priority TEXT,
  Status TEXT, CreatedAt TEXT, ExternalReference TEXT UNIQUE, LongText TEXT);
CREATE TABLE IF NOT EXISTS Materials (
  Material TEXT PRIMARY KEY, Description TEXT, BaseUnit TEXT, MaterialType TEXT);
"""

MATERIALS = (
    ("SUGAR-SYRUP", "Sugar syrup 65 Brix", "L", "ROH"),
    ("PREFORM-0.5L", "PET preform for 0.5 L bottle", "PC", "ROH"),
    ("CAP-28MM", "Screw cap 28 mm", "PC", "ROH"),
    ("LABEL-COLA-0.5L", "Label cola 0.5 L", "PC", "VERP"),
    ("CO2", "Carbon dioxide, food grade", "KG", "ROH"),
    ("COLA-0.5L", "Cola 0.5 L bottle", "PC", "FERT"),
)


class ODataFault(Exception):
    """A request the service refuses: HTTP status, OData error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class FilterError(ValueError):
    """A $filter expression that cannot be parsed or names an unknown property."""


# ----- $filter ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<typed>(?:datetimeoffset|datetime|guid|time)'[^']*')
    | (?P<dtm>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_/]*)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)

_COMPARE = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_STRING_FUNCS = ("substringof", "contains", "startswith", "endswith")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"$filter: cannot read '{text[pos:].strip()[:30]}' at {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _parse_datetime(text: str) -> dt.datetime:
    raw = text.strip().replace("Z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise FilterError(f"$filter: '{text}' is not a date/time") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


@dataclass
class _Operand:
    sql: str
    params: list[Any]
    prop: Prop | None = None
    literal: Any = None
    is_literal: bool = False
    is_bool: bool = False


def _storage(value: Any, prop: Prop | None) -> Any:
    """A literal in the storage form of the property it is compared with."""
    if isinstance(value, dt.datetime):
        if prop is not None and prop.kind == "date" and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        if prop is not None and prop.kind == "datetime":
            return f"{value.isoformat()}T00:00:00Z"
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class _FilterParser:
    def __init__(self, text: str, entity: EntitySet) -> None:
        self.toks = _tokens(text)
        self.pos = 0
        self.entity = entity

    def peek(self, value: str | None = None) -> bool:
        if self.pos >= len(self.toks):
            return False
        kind, text = self.toks[self.pos]
        return value is None or (kind in ("name", "punct") and text == value)

    def take(self, value: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.toks):
            raise FilterError(f"$filter: expression ends early (expected {value or 'more'})")
        tok = self.toks[self.pos]
        if value is not None and tok[1] != value:
            raise FilterError(f"$filter: expected '{value}' but found '{tok[1]}'")
        self.pos += 1
        return tok

    def parse(self) -> tuple[str, list[Any]]:
        node = self.or_expr()
        if self.pos != len(self.toks):
            raise FilterError(f"$filter: unexpected '{self.toks[self.pos][1]}'")
        return node.sql, node.params

    def or_expr(self) -> _Operand:
        left = self.and_expr()
        while self.peek("or"):
            self.take()
            right = self.and_expr()
            left = _Operand(
                f"({left.sql} OR {right.sql})", left.params + right.params, is_bool=True
            )
        return left

    def and_expr(self) -> _Operand:
        left = self.not_expr()
        while self.peek("and"):
            self.take()
            right = self.not_expr()
            left = _Operand(
                f"({left.sql} AND {right.sql})", left.params + right.params, is_bool=True
            )
        return left

    def not_expr(self) -> _Operand:
        if self.peek("not"):
            self.take()
            inner = self.not_expr()
            return _Operand(f"(NOT {inner.sql})", inner.params, is_bool=True)
        return self.compare()

    def compare(self) -> _Operand:
        left = self.primary()
        if self.pos < len(self.toks) and self.toks[self.pos][1] in _COMPARE:
            op = self.take()[1]
            right = self.primary()
            return self._compare(left, op, right)
        return left

    def _compare(self, left: _Operand, op: str, right: _Operand) -> _Operand:
        for a, b in ((left, right), (right, left)):
            if b.is_literal and b.literal is None and not a.is_literal:
                if op not in ("eq", "ne"):
                    raise FilterError("$filter: null can only be compared with eq or ne")
                return _Operand(
                    f"({a.sql} IS {'NOT ' if op == 'ne' else ''}NULL)", a.params, is_bool=True
                )
        params: list[Any] = []
        parts: list[str] = []
        for side, other in ((left, right), (right, left)):
            if side.is_literal:
                parts.append("?")
                params.append(_storage(side.literal, other.prop))
            else:
                parts.append(side.sql)
                params.extend(side.params)
        return _Operand(f"({parts[0]} {_COMPARE[op]} {parts[1]})", params, is_bool=True)

    def primary(self) -> _Operand:
        kind, text = self.take()
        if kind == "punct" and text == "(":
            inner = self.or_expr()
            self.take(")")
            return _Operand(f"({inner.sql})", inner.params, is_bool=inner.is_bool)
        if kind == "str":
            return self._lit(text[1:-1].replace("''", "'"))
        if kind == "typed":
            prefix, _, rest = text.partition("'")
            value = rest[:-1]
            if prefix in ("datetime", "datetimeoffset"):
                return self._lit(_parse_datetime(value))
            return self._lit(value)
        if kind == "dtm":
            return self._lit(_parse_datetime(text))
        if kind == "date":
            try:
                return self._lit(dt.date.fromisoformat(text))
            except ValueError:
                raise FilterError(f"$filter: '{text}' is not a date") from None
        if kind == "num":
            digits = text.rstrip("mMdDfFlL")
            return self._lit(int(digits) if re.fullmatch(r"-?\d+", digits) else Decimal(digits))
        if kind == "name":
            if text in ("true", "false"):
                return _Operand("1" if text == "true" else "0", [], is_bool=True)
            if text == "null":
                return self._lit(None)
            if self.peek("("):
                return self.function(text)
            prop = self.entity.prop(text)
            if prop is None:
                raise FilterError(
                    f"$filter: property '{text}' not found in {self.entity.type_name}"
                )
            return _Operand(f'"{prop.name}"', [], prop=prop)
        raise FilterError(f"$filter: unexpected '{text}'")

    @staticmethod
    def _lit(value: Any) -> _Operand:
        return _Operand("?", [value], literal=value, is_literal=True)

    def function(self, name: str) -> _Operand:
        self.take("(")
        args = [self.or_expr()]
        while self.peek(","):
            self.take()
            args.append(self.or_expr())
        self.take(")")

        def sql(arg: _Operand) -> tuple[str, list[Any]]:
            if arg.is_literal:
                return "?", [_storage(arg.literal, None)]
            return arg.sql, arg.params

        if name in ("tolower", "toupper", "trim", "length") and len(args) == 1:
            s, p = sql(args[0])
            fn = {"tolower": "lower", "toupper": "upper", "trim": "trim", "length": "length"}
            return _Operand(f"{fn[name]}({s})", p, prop=args[0].prop)
        if name in _STRING_FUNCS and len(args) == 2:
            hay, needle = (args[1], args[0]) if name == "substringof" else (args[0], args[1])
            hs, hp = sql(hay)
            ns, np = sql(needle)
            if name == "startswith":
                expr = f"(substr({hs}, 1, length({ns})) = {ns})"
                return _Operand(expr, hp + np + np, is_bool=True)
            if name == "endswith":
                expr = f"(length({hs}) >= length({ns}) AND substr({hs}, -length({ns})) = {ns})"
                return _Operand(expr, hp + np + hp + np + np, is_bool=True)
            return _Operand(f"(instr({hs}, {ns}) > 0)", hp + np, is_bool=True)
        raise FilterError(f"$filter: unknown function {name} with {len(args)} argument(s)")


def compile_filter(text: str, entity: EntitySet | str) -> tuple[str, list[Any]]:
    """The SQL condition (with ``?`` parameters) for an OData $filter on ``entity``."""
    ent = SETS[entity] if isinstance(entity, str) else entity
    if not text.strip():
        return "1", []
    return _FilterParser(text, ent).parse()


# ----- multipart ($batch) -----------------------------------------------------------------


def _boundary(content_type: str) -> str:
    m = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not m:
        raise ODataFault(400, "BATCH_FORMAT", "multipart content type without a boundary")
    return m.group(1)


def _split_head(raw: bytes) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) and body of a MIME part / HTTP message."""
    for blank in (b"\r\n", b"\n"):
        if raw.startswith(blank):  # no headers at all
            return {}, raw[len(blank) :]
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            head, body = raw[:idx], raw[idx + len(sep) :]
            break
    else:
        head, body = raw, b""
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").splitlines():
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers, body


def parse_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart body: (headers, content) each."""
    delim = b"--" + _boundary(content_type).encode()
    parts: list[tuple[dict[str, str], bytes]] = []
    chunks = body.split(delim)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        elif chunk.startswith(b"\n"):
            chunk = chunk[1:]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(_split_head(chunk))
    return parts


@dataclass
class _Request:
    method: str
    path: str  # relative to the service root, without query
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _parse_http_request(raw: bytes) -> _Request:
    first, _, head = raw.partition(b"\n")
    parts = first.decode("utf-8", "replace").strip().split(" ")
    if len(parts) < 2:
        raise ODataFault(400, "BATCH_FORMAT", f"bad request line in $batch: {first[:60]!r}")
    method, target = parts[0].upper(), parts[1]
    path, _, qs = target.partition("?")
    for root in (V2_ROOT, V4_ROOT):
        if root in path:
            path = path.split(root, 1)[1]
    headers, body = _split_head(head)
    return _Request(method, unquote(path.lstrip("/")), parse_qsl(qs, keep_blank_values=True),
                    headers, body)  # fmt: skip


def _http_part(resp: _Response, content_id: str = "") -> bytes:
    lines = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
    ]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    inner = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Status')}"]
    if resp.body:
        inner.append(f"Content-Type: {resp.content_type}")
        inner.append(f"Content-Length: {len(resp.body)}")
    for name, value in resp.headers.items():
        inner.append(f"{name}: {value}")
    text = "\r\n".join(lines) + "\r\n\r\n" + "\r\n".join(inner) + "\r\n\r\n"
    return text.encode() + resp.body


def _multipart(parts: list[tuple[str, bytes]], boundary: str) -> bytes:
    """Parts given as (content type of a nested multipart or '', bytes)."""
    out = b""
    for nested_type, payload in parts:
        out += f"--{boundary}\r\n".encode()
        if nested_type:
            out += f"Content-Type: {nested_type}\r\n\r\n".encode() + payload + b"\r\n"
        else:
            out += payload + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


# ----- values -----------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(value: str) -> int:
    text = value.replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text if "T" in text else text + "T00:00:00+00:00")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


_DATE_MS = re.compile(r"^/Date\((-?\d+)(?:[+-]\d+)?\)/$")


def _to_storage(prop: Prop, value: Any) -> Any:
    """A JSON value from a client in the form kept in the table."""
    if value is None:
        return None
    if prop.kind == "dec":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ODataFault(
                400, "INVALID_VALUE", f"{prop.name}: '{value}' is not a number"
            ) from None
        return float(number)
    if prop.kind in ("date", "datetime"):
        text = str(value)
        m = _DATE_MS.match(text)
        try:
            if m:
                moment = dt.datetime.fromtimestamp(int(m.group(1)) / 1000, dt.UTC)
            else:
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
                if moment.tzinfo is not None:
                    moment = moment.astimezone(dt.UTC)
        except ValueError:
            raise ODataFault(400, "INVALID_VALUE", f"{prop.name}: '{text}' is not a date") from None
        if prop.kind == "date":
            return moment.date().isoformat()
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict | list):
        raise ODataFault(400, "INVALID_VALUE", f"{prop.name}: expected a text")
    return str(value)


def _to_json(prop: Prop, value: Any, version: int) -> Any:
    if value is None:
        return None
    if prop.kind == "dec":
        number = Decimal(str(value)).normalize()
        text = format(number, "f")
        if version == 2:
            return text
        return int(number) if number == number.to_integral_value() else float(number)
    if prop.kind in ("date", "datetime") and version == 2:
        return f"/Date({_ms(str(value))})/"
    return value


# ----- the service -------------------------------------------------------------------------


class ErpService:
    """The ERP/CMMS web service on one SQLite file; ``await start()`` serves it."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        page_size: int = 100,
        user: str = "",
        password: str = "",
        api_key: str = "",
        csrf: bool = True,
    ) -> None:
        self.db_path = str(db_path)
        self.page_size = page_size
        self.user = user
        self.password = password
        self.api_key = api_key
        self.csrf = csrf
        self.delay = 0.0
        """Seconds every OData / REST request waits before it is served (a slow ERP)."""
        self.fail_next = 0
        """The next this many OData requests get 503 (an ERP that is briefly down)."""
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every request served, for tests and the console."""
        self._tokens: dict[str, str] = {}  # session id -> token
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0
        self.db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys = ON")
        if self.db_path != ":memory:":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.executescript(SCHEMA)
        self.db.executemany("INSERT OR IGNORE INTO Materials VALUES (?, ?, ?, ?)", MATERIALS)

    # ----- lifecycle ------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/health", self._health)
        app.router.add_route("*", "/api/cmms/work-orders", self._cmms)
        app.router.add_route("*", "/api/cmms/work-orders/{id}", self._cmms)
        app.router.add_route("*", V2_ROOT.rstrip("/") + "{tail:(/.*)?}", self._odata_v2)
        app.router.add_route("*", V4_ROOT.rstrip("/") + "{tail:(/.*)?}", self._odata_v4)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 8090) -> None:
        """Bind and serve (``OSError`` when the port is taken); port 0 picks a free one."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.host = host
        self.port = int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self.db.close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def invalidate_tokens(self) -> None:
        """Forget every CSRF token (as a restarted SAP system would)."""
        self._tokens.clear()

    # ----- plumbing -------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "plantwire-erp"})

    def _authorized(self, request: web.Request) -> bool:
        if not (self.user or self.password):
            return True
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user.encode(), self.user.encode()) and secrets.compare_digest(
            pw.encode(), self.password.encode()
        )

    async def _odata_v2(self, request: web.Request) -> web.StreamResponse:
        return await self._odata(request, 2)

    async def _odata_v4(self, request: web.Request) -> web.StreamResponse:
        return await self._odata(request, 4)

    async def _odata(self, request: web.Request, version: int) -> web.StreamResponse:
        method = request.method.upper()
        if method == "POST" and request.headers.get("X-HTTP-Method"):
            method = request.headers["X-HTTP-Method"].upper()
        tail = request.match_info.get("tail", "").lstrip("/")
        self.requests.append((method, request.path_qs))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next > 0:
            self.fail_next -= 1
            return self._web(_error(version, 503, "SERVICE_UNAVAILABLE", "ERP is busy"))
        if not self._authorized(request):
            resp = self._web(_error(version, 401, "UNAUTHORIZED", "Logon failed"))
            resp.headers["WWW-Authenticate"] = 'Basic realm="SAP NetWeaver Application Server"'
            return resp
        extra: dict[str, str] = {}
        session = request.cookies.get(SESSION_COOKIE, "")
        new_session = ""
        fetch = request.headers.get("X-CSRF-Token", "").lower() == "fetch"
        if fetch and method not in MODIFYING:
            if not session:
                session = new_session = secrets.token_hex(16)
            token = self._tokens.get(session) or base64.b64encode(secrets.token_bytes(18)).decode()
            self._tokens[session] = token
            extra["X-CSRF-Token"] = token
        elif method in MODIFYING and self.csrf:
            sent = request.headers.get("X-CSRF-Token", "")
            expected = self._tokens.get(session)
            if (
                not sent
                or expected is None
                or not secrets.compare_digest(sent.encode(), expected.encode())
            ):
                resp = self._web(
                    _error(
                        version, 403, "CSRF_TOKEN_VALIDATION_FAILED", "CSRF token validation failed"
                    )
                )
                resp.headers["X-CSRF-Token"] = "Required"
                return resp
        body = await request.read()
        req = _Request(
            method,
            unquote(tail),
            parse_qsl(request.query_string, keep_blank_values=True),
            {k.lower(): v for k, v in request.headers.items()},
            body,
        )
        base = f"{request.scheme}://{request.host}{V2_ROOT if version == 2 else V4_ROOT}"
        try:
            if req.path == "$batch":
                if method != "POST":
                    raise ODataFault(405, "METHOD_NOT_ALLOWED", "$batch needs POST")
                result = self._batch(req, version, base)
            else:
                result = self._dispatch(req, version, base, tx=True)
        except ODataFault as fault:
            result = _error(version, fault.status, fault.code, fault.message)
        except Exception as exc:  # an unexpected bug must still answer as OData
            log.exception("erp: %s %s failed", method, request.path)
            result = _error(version, 500, "INTERNAL_ERROR", str(exc))
        resp = self._web(result)
        for name, value in extra.items():
            resp.headers[name] = value
        if new_session:
            resp.set_cookie(SESSION_COOKIE, new_session, path="/", httponly=True)
        return resp

    @staticmethod
    def _web(result: _Response) -> web.Response:
        headers = dict(result.headers)
        headers["DataServiceVersion"] = "2.0"
        headers["OData-Version"] = "4.0"
        if result.status == 204 or not result.body:
            return web.Response(status=result.status, headers=headers)
        headers["Content-Type"] = result.content_type
        return web.Response(status=result.status, body=result.body, headers=headers)

    # ----- OData requests ---------------------------------------------------------------

    def _dispatch(self, req: _Request, version: int, base: str, tx: bool) -> _Response:
        """One OData request; ``tx``: run a modification in its own transaction."""
        path = req.path.strip("/")
        query = dict(req.query)
        if path == "":
            return self._service_document(version, base)
        if path == "$metadata":
            return _Response(200, metadata_xml(version).encode(), "application/xml")
        m = re.fullmatch(r"([A-Za-z]+)(?:\((.*)\))?(?:/(\$count|[A-Za-z]+))?", path)
        if not m:
            raise ODataFault(404, "RESOURCE_NOT_FOUND", f"Resource not found for segment '{path}'")
        name, key_text, sub = m.group(1), m.group(2), m.group(3)
        if name == "ReleaseMaintenanceOrder":
            return self._release(req, version, base, tx)
        entity = SETS.get(name)
        if entity is None:
            raise ODataFault(404, "RESOURCE_NOT_FOUND", f"Resource not found for segment '{name}'")
        if req.method in MODIFYING and entity.readonly:
            raise ODataFault(405, "READ_ONLY", f"{name} is master data and cannot be changed")
        if key_text is None:
            if sub == "$count" and req.method == "GET":
                where, params = compile_filter_fault(query.get("$filter", ""), entity)
                count = self.db.execute(
                    f'SELECT COUNT(*) FROM "{entity.name}" WHERE {where}', params
                ).fetchone()[0]
                return _Response(200, str(count).encode(), "text/plain")
            if sub:
                raise ODataFault(404, "RESOURCE_NOT_FOUND", f"'{sub}' needs a key")
            if req.method == "GET":
                return self._collection(entity, query, version, base, [], [])
            if req.method == "POST":
                return self._in_tx(tx, lambda: self._create(entity, req, version, base))
            raise ODataFault(405, "METHOD_NOT_ALLOWED", f"{req.method} on a collection")
        key = self._key(entity, key_text)
        if sub:
            nav = entity.nav.get(sub)
            if nav is None or req.method != "GET":
                raise ODataFault(404, "RESOURCE_NOT_FOUND", f"no navigation '{sub}' on {name}")
            self._row(entity, key)
            target = SETS[nav[0]]
            return self._collection(
                target, query, version, base, [f'"{nav[1]}" = ?'], [key[entity.keys[0]]]
            )
        if req.method == "GET":
            row = self._row(entity, key)
            data = self._entity_json(
                entity, row, version, base, _expand(query, entity), _select(query, entity)
            )
            return _json(200, _single(data, version, entity, base))
        if req.method in ("PATCH", "MERGE", "PUT"):
            return self._in_tx(tx, lambda: self._update(entity, key, req, version, base))
        if req.method == "DELETE":
            return self._in_tx(tx, lambda: self._delete(entity, key))
        raise ODataFault(405, "METHOD_NOT_ALLOWED", f"{req.method} on an entity")

    def _in_tx(self, tx: bool, work: Callable[[], _Response]) -> _Response:
        if not tx:
            return work()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            result = work()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return result

    def _service_document(self, version: int, base: str) -> _Response:
        names = sorted(SETS)
        if version == 2:
            return _json(200, {"d": {"EntitySets": names}})
        value = [{"name": n, "kind": "EntitySet", "url": n} for n in names]
        return _json(200, {"@odata.context": base + "$metadata", "value": value})

    @staticmethod
    def _key(entity: EntitySet, text: str) -> dict[str, str]:
        pairs = re.findall(r"(?:([A-Za-z_]\w*)\s*=\s*)?('(?:[^']|'')*'|[^,']+)", text)
        values: dict[str, str] = {}
        for i, (name, raw) in enumerate(pairs):
            raw = raw.strip()
            value = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
            if not name:
                if len(entity.keys) != 1 or i:
                    raise ODataFault(
                        400, "INVALID_KEY", f"{entity.name} needs the key {entity.keys}"
                    )
                name = entity.keys[0]
            values[name] = value
        if set(values) != set(entity.keys):
            raise ODataFault(
                400, "INVALID_KEY", f"key ({text}) does not match {', '.join(entity.keys)}"
            )
        return values

    def _row(self, entity: EntitySet, key: dict[str, str]) -> sqlite3.Row:
        where = " AND ".join(f'"{k}" = ?' for k in entity.keys)
        row: sqlite3.Row | None = self.db.execute(
            f'SELECT * FROM "{entity.name}" WHERE {where}', [key[k] for k in entity.keys]
        ).fetchone()
        if row is None:
            shown = ",".join(f"{k}='{key[k]}'" for k in entity.keys)
            raise ODataFault(404, "RESOURCE_NOT_FOUND", f"{entity.name}({shown}) does not exist")
        return row

    def _uri(self, entity: EntitySet, row: sqlite3.Row | dict[str, Any], base: str) -> str:
        if len(entity.keys) == 1:
            inner = "'" + str(row[entity.keys[0]]).replace("'", "''") + "'"
        else:
            inner = ",".join(f"{k}='" + str(row[k]).replace("'", "''") + "'" for k in entity.keys)
        return f"{base}{entity.name}({quote(inner, safe=chr(39) + ',=')})"

    def _entity_json(
        self,
        entity: EntitySet,
        row: sqlite3.Row,
        version: int,
        base: str,
        expand: list[str],
        select: list[str],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        uri = self._uri(entity, row, base)
        if version == 2:
            out["__metadata"] = {"id": uri, "uri": uri, "type": f"{NAMESPACE}.{entity.type_name}"}
        for prop in entity.props:
            if select and prop.name not in select and prop.name not in entity.keys:
                continue
            out[prop.name] = _to_json(prop, row[prop.name], version)
        for nav, (target_name, fk) in entity.nav.items():
            target = SETS[target_name]
            if nav in expand:
                rows = self.db.execute(
                    f'SELECT * FROM "{target.name}" WHERE "{fk}" = ? ORDER BY '
                    + ", ".join(f'"{k}"' for k in target.keys),
                    [row[fk]],
                ).fetchall()
                items = [self._entity_json(target, r, version, base, [], []) for r in rows]
                out[nav] = {"results": items} if version == 2 else items
            elif version == 2 and (not select or nav in select):
                out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
        return out

    def _collection(
        self,
        entity: EntitySet,
        query: dict[str, str],
        version: int,
        base: str,
        extra_where: list[str],
        extra_params: list[Any],
    ) -> _Response:
        where, params = compile_filter_fault(query.get("$filter", ""), entity)
        conditions = [where, *extra_where]
        params = params + extra_params
        order = _orderby(query.get("$orderby", ""), entity)
        skip = _int_option(query, "$skip") or 0
        offset = _int_option(query, "$skiptoken") or 0
        top = _int_option(query, "$top")
        want = top - offset if top is not None else None
        limit = self.page_size if want is None else max(0, min(want, self.page_size))
        sql_where = " AND ".join(conditions)
        rows = self.db.execute(
            f'SELECT * FROM "{entity.name}" WHERE {sql_where} ORDER BY {order} LIMIT ? OFFSET ?',
            [*params, limit + 1, skip + offset],
        ).fetchall()
        more = len(rows) > limit and (want is None or want > limit)
        rows = rows[:limit]
        expand, select = _expand(query, entity), _select(query, entity)
        items = [self._entity_json(entity, r, version, base, expand, select) for r in rows]
        count: int | None = None
        counting = (version == 2 and query.get("$inlinecount") == "allpages") or (
            version == 4 and query.get("$count", "").lower() == "true"
        )
        if counting:
            count = self.db.execute(
                f'SELECT COUNT(*) FROM "{entity.name}" WHERE {sql_where}', params
            ).fetchone()[0]
        next_link = ""
        if more:
            rest = [(k, v) for k, v in query.items() if k != "$skiptoken"]
            rest.append(("$skiptoken", str(offset + limit)))
            next_link = f"{base}{entity.name}?" + urlencode(rest, quote_via=quote, safe="$,'()")
        if version == 2:
            d: dict[str, Any] = {"results": items}
            if count is not None:
                d["__count"] = str(count)
            if next_link:
                d["__next"] = next_link
            return _json(200, {"d": d})
        doc: dict[str, Any] = {"@odata.context": f"{base}$metadata#{entity.name}"}
        if count is not None:
            doc["@odata.count"] = count
        doc["value"] = items
        if next_link:
            doc["@odata.nextLink"] = next_link
        return _json(200, doc)

    def _values(self, entity: EntitySet, body: dict[str, Any], partial: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in body.items():
            if name.startswith("__") or name.startswith("@") or name in entity.nav:
                continue
            prop = entity.prop(name)
            if prop is None:
                raise ODataFault(
                    400, "INVALID_PROPERTY", f"property '{name}' is not part of {entity.type_name}"
                )
            values[name] = _to_storage(prop, value)
        if not partial:
            missing = [n for n in entity.required if values.get(n) in (None, "")]
            if missing:
                raise ODataFault(
                    400, "MISSING_PROPERTY", f"{entity.type_name}: {', '.join(missing)} missing"
                )
        return values

    @staticmethod
    def _body(req: _Request) -> dict[str, Any]:
        try:
            data = json.loads(req.body or b"{}")
        except ValueError:
            raise ODataFault(400, "INVALID_JSON", "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise ODataFault(400, "INVALID_JSON", "the request body must be a JSON object")
        inner = data.get("d")
        return inner if isinstance(inner, dict) else data

    def _next_id(self, table: str, column: str, first: int) -> str:
        row = self.db.execute(f'SELECT MAX(CAST("{column}" AS INTEGER)) FROM "{table}"').fetchone()
        return str(max(int(row[0] or 0) + 1, first))

    def _check_reference(self, entity: EntitySet, ref: Any, own_key: str = "") -> None:
        if ref in (None, ""):
            return
        key = entity.keys[0]
        row = self.db.execute(
            f'SELECT "{key}" FROM "{entity.name}" WHERE ExternalReference = ?', [ref]
        ).fetchone()
        if row is not None and row[0] != own_key:
            raise ODataFault(
                409,
                "DUPLICATE_EXTERNAL_REFERENCE",
                f"ExternalReference '{ref}' is already used by {entity.type_name[:-4]} {row[0]}",
            )

    def insert(self, entity: EntitySet, values: dict[str, Any]) -> dict[str, Any]:
        """Insert one entity (inside the caller's transaction); returns its key."""
        values = dict(values)
        if entity.name == "PurchaseOrders":
            values["PurchaseOrder"] = self._next_id(entity.name, "PurchaseOrder", 4500000001)
            values.setdefault("Status", "Open")
            values.setdefault("Unit", "PC")
            values["CreatedAt"] = _now()
        elif entity.name == "MaintenanceOrders":
            values["MaintenanceOrder"] = self._next_id(entity.name, "MaintenanceOrder", 40000001)
            values.setdefault("Status", "CRTD")
            values.setdefault("Priority", "3")
            values["CreatedAt"] = _now()
        if "ExternalReference" in values:
            self._check_reference(entity, values["ExternalReference"])
        cols = list(values)
        try:
            self.db.execute(
                f'INSERT INTO "{entity.name}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                f"VALUES ({', '.join('?' for _ in cols)})",
                [values[c] for c in cols],
            )
        except sqlite3.IntegrityError as exc:
            raise ODataFault(409, "DUPLICATE", f"{entity.type_name}: {exc}") from None
        return {k: values[k] for k in entity.keys}

    def _create(self, entity: EntitySet, req: _Request, version: int, base: str) -> _Response:
        body = self._body(req)
        values = self._values(entity, body, partial=False)
        for k in entity.keys:
            if entity.name in ("PurchaseOrders", "MaintenanceOrders"):
                values.pop(k, None)  # generated by the ERP
        key = self.insert(entity, values)
        for nav, (target_name, fk) in entity.nav.items():
            items = body.get(nav)
            if isinstance(items, dict):
                items = items.get("results")
            if not isinstance(items, list):
                continue
            target = SETS[target_name]
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ODataFault(400, "INVALID_VALUE", f"{nav}[{i}] is not an object")
                item_values = {k: v for k, v in item.items() if not k.startswith("__")}
                item_values[fk] = key[fk]
                item_values.setdefault("Item", str((i + 1) * 10))
                self.insert(target, self._values(target, item_values, partial=False))
        row = self._row(entity, key)
        data = self._entity_json(entity, row, version, base, list(entity.nav), [])
        result = _json(201, _single(data, version, entity, base))
        result.headers["Location"] = self._uri(entity, row, base)
        return result

    def _update(
        self, entity: EntitySet, key: dict[str, str], req: _Request, version: int, base: str
    ) -> _Response:
        self._row(entity, key)
        body = self._body(req)
        values = self._values(entity, body, partial=req.method != "PUT")
        for k in entity.keys:
            if k in values and values[k] != key[k]:
                raise ODataFault(400, "KEY_CHANGE", f"the key {k} cannot be changed")
            values.pop(k, None)
        values.pop("CreatedAt", None)
        if "ExternalReference" in values:
            self._check_reference(entity, values["ExternalReference"], key[entity.keys[0]])
        if values:
            sets = ", ".join(f'"{c}" = ?' for c in values)
            where = " AND ".join(f'"{k}" = ?' for k in entity.keys)
            self.db.execute(
                f'UPDATE "{entity.name}" SET {sets} WHERE {where}',
                [*values.values(), *(key[k] for k in entity.keys)],
            )
        if "return=representation" in req.headers.get("prefer", ""):
            row = self._row(entity, key)
            data = self._entity_json(entity, row, version, base, [], [])
            return _json(200, _single(data, version, entity, base))
        return _Response(204)

    def _delete(self, entity: EntitySet, key: dict[str, str]) -> _Response:
        self._row(entity, key)
        where = " AND ".join(f'"{k}" = ?' for k in entity.keys)
        params = [key[k] for k in entity.keys]
        for target_name, fk in entity.nav.values():
            self.db.execute(f'DELETE FROM "{target_name}" WHERE "{fk}" = ?', [key[fk]])
        self.db.execute(f'DELETE FROM "{entity.name}" WHERE {where}', params)
        return _Response(204)

    def _release(self, req: _Request, version: int, base: str, tx: bool) -> _Response:
        """Function import / action ReleaseMaintenanceOrder(MaintenanceOrder): Status REL."""
        if req.method != "POST":
            raise ODataFault(405, "METHOD_NOT_ALLOWED", "ReleaseMaintenanceOrder needs POST")
        if version == 2:
            raw = dict(req.query).get("MaintenanceOrder", "")
            number = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
        else:
            number = str(self._body(req).get("MaintenanceOrder", ""))
        entity = SETS["MaintenanceOrders"]

        def work() -> _Response:
            key = {"MaintenanceOrder": number}
            self._row(entity, key)
            self.db.execute(
                "UPDATE MaintenanceOrders SET Status = 'REL' WHERE MaintenanceOrder = ?", [number]
            )
            data = self._entity_json(entity, self._row(entity, key), version, base, [], [])
            return _json(200, _single(data, version, entity, base))

        return self._in_tx(tx, work)

    # ----- $batch -----------------------------------------------------------------------

    def _batch(self, req: _Request, version: int, base: str) -> _Response:
        ctype = req.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/mixed"):
            raise ODataFault(400, "BATCH_FORMAT", "$batch needs a multipart/mixed body")
        out_parts: list[tuple[str, bytes]] = []
        for headers, content in parse_multipart(ctype, req.body):
            part_type = headers.get("content-type", "")
            if part_type.lower().startswith("multipart/mixed"):
                out_parts.append(self._changeset(part_type, content, version, base))
            else:
                inner = _parse_http_request(content)
                if inner.method != "GET":
                    fault = _error(version, 400, "BATCH_FORMAT", "only GET outside a changeset")
                    out_parts.append(("", _http_part(fault)))
                    continue
                try:
                    result = self._dispatch(inner, version, base, tx=False)
                except ODataFault as fault_exc:
                    result = _error(version, fault_exc.status, fault_exc.code, fault_exc.message)
                out_parts.append(("", _http_part(result)))
        boundary = f"batchresponse_{uuid.uuid4()}"
        return _Response(202 if version == 2 else 200, _multipart(out_parts, boundary),
                         f"multipart/mixed; boundary={boundary}")  # fmt: skip

    def _changeset(
        self, content_type: str, content: bytes, version: int, base: str
    ) -> tuple[str, bytes]:
        results: list[bytes] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for headers, part in parse_multipart(content_type, content):
                inner = _parse_http_request(part)
                if inner.method == "GET":
                    raise ODataFault(400, "BATCH_FORMAT", "GET is not allowed in a changeset")
                result = self._dispatch(inner, version, base, tx=False)
                results.append(_http_part(result, headers.get("content-id", "")))
        except ODataFault as fault:
            self.db.execute("ROLLBACK")
            return "", _http_part(_error(version, fault.status, fault.code, fault.message))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        boundary = f"changesetresponse_{uuid.uuid4()}"
        return f"multipart/mixed; boundary={boundary}", _multipart(
            [("", r) for r in results], boundary
        )

    # ----- the CMMS REST API ------------------------------------------------------------

    async def _cmms(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path_qs))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.api_key:
            header = request.headers.get("Authorization", "")
            sent = request.headers.get("X-API-Key", "") or (
                header[7:] if header.lower().startswith("bearer ") else ""
            )
            if not secrets.compare_digest(sent.encode(), self.api_key.encode()):
                return web.json_response({"error": "missing or wrong API key / token"}, status=401)
        entity = SETS["MaintenanceOrders"]
        number = request.match_info.get("id", "")
        if request.method == "GET":
            if number:
                row = self.db.execute(
                    "SELECT * FROM MaintenanceOrders WHERE MaintenanceOrder = ?", [number]
                ).fetchone()
                if row is None:
                    return web.json_response(
                        {"error": f"work order {number} not found"}, status=404
                    )
                return web.json_response(_work_order(row))
            conditions, params = ["1"], []
            for arg, column in (("status", "Status"), ("equipment", "Equipment"),
                                ("externalReference", "ExternalReference")):  # fmt: skip
                if request.query.get(arg):
                    conditions.append(f'"{column}" = ?')
                    params.append(request.query[arg])
            rows = self.db.execute(
                f"SELECT * FROM MaintenanceOrders WHERE {' AND '.join(conditions)} "
                "ORDER BY MaintenanceOrder",
                params,
            ).fetchall()
            return web.json_response([_work_order(r) for r in rows])
        if request.method != "POST" or number:
            return web.json_response({"error": "use GET or POST"}, status=405)
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(data, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        values = {
            column: data.get(arg)
            for arg, column in (
                ("equipment", "Equipment"),
                ("description", "Description"),
                ("priority", "Priority"),
                ("externalReference", "ExternalReference"),
                ("longText", "LongText"),
            )
            if data.get(arg) is not None
        }
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                key = self.insert(entity, self._values(entity, values, partial=False))
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except ODataFault as fault:
            return web.json_response(
                {"error": fault.message, "code": fault.code}, status=fault.status
            )
        row = self._row(entity, key)
        return web.json_response(_work_order(row), status=201)


def _work_order(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["MaintenanceOrder"],
        "equipment": row["Equipment"],
        "description": row["Description"],
        "priority": row["Priority"],
        "status": row["Status"],
        "createdAt": row["CreatedAt"],
        "externalReference": row["ExternalReference"],
        "longText": row["LongText"],
    }


def compile_filter_fault(text: str, entity: EntitySet) -> tuple[str, list[Any]]:
    try:
        return compile_filter(text, entity)
    except FilterError as exc:
        raise ODataFault(400, "INVALID_FILTER", str(exc)) from None


def _int_option(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise ODataFault(400, "INVALID_OPTION", f"{name}: '{raw}' is not a whole number")
    return int(raw)


def _select(query: dict[str, str], entity: EntitySet) -> list[str]:
    names = [s.strip() for s in query.get("$select", "").split(",") if s.strip()]
    for name in names:
        if name != "*" and entity.prop(name) is None and name not in entity.nav:
            raise ODataFault(400, "INVALID_SELECT", f"$select: '{name}' not in {entity.type_name}")
    return [] if "*" in names else names


def _expand(query: dict[str, str], entity: EntitySet) -> list[str]:
    names = [s.strip() for s in query.get("$expand", "").split(",") if s.strip()]
    for name in names:
        if name not in entity.nav:
            raise ODataFault(400, "INVALID_EXPAND", f"$expand: no navigation '{name}'")
    return names


def _orderby(text: str, entity: EntitySet) -> str:
    parts: list[str] = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        name, _, direction = item.partition(" ")
        direction = direction.strip().lower() or "asc"
        if entity.prop(name) is None or direction not in ("asc", "desc"):
            raise ODataFault(400, "INVALID_ORDERBY", f"$orderby: cannot sort by '{item}'")
        parts.append(f'"{name}" {direction.upper()}')
    parts.extend(f'"{k}" ASC' for k in entity.keys)
    return ", ".join(parts)


def _json(status: int, data: Any) -> _Response:
    return _Response(status, json.dumps(data).encode(), "application/json")


def _single(data: dict[str, Any], version: int, entity: EntitySet, base: str) -> dict[str, Any]:
    if version == 2:
        return {"d": data}
    return {"@odata.context": f"{base}$metadata#{entity.name}/$entity", **data}


def _error(version: int, status: int, code: str, message: str) -> _Response:
    if version == 2:
        body: dict[str, Any] = {
            "error": {"code": code, "message": {"lang": "en", "value": message}}
        }
    else:
        body = {"error": {"code": code, "message": message}}
    return _json(status, body)


_EDM = {
    2: {"str": "Edm.String", "dec": "Edm.Decimal", "date": "Edm.DateTime",
        "datetime": "Edm.DateTime"},
    4: {"str": "Edm.String", "dec": "Edm.Decimal", "date": "Edm.Date",
        "datetime": "Edm.DateTimeOffset"},
}  # fmt: skip


def metadata_xml(version: int) -> str:
    """The service's EDMX (v2: DataServiceVersion 2.0; v4: CSDL 4.0)."""
    lines: list[str] = []
    for entity in SETS.values():
        lines.append(f'<EntityType Name="{entity.type_name}">')
        lines.append(
            "<Key>" + "".join(f'<PropertyRef Name="{k}"/>' for k in entity.keys) + "</Key>"
        )
        for prop in entity.props:
            extra = ' Precision="13" Scale="3"' if prop.kind == "dec" else ""
            if prop.kind == "date" and version == 2:
                extra = ' Precision="0" sap:display-format="Date"'
            lines.append(
                f'<Property Name="{prop.name}" Type="{_EDM[version][prop.kind]}" '
                f'Nullable="{str(prop.nullable).lower()}"{extra}/>'
            )
        for nav, (target, _) in entity.nav.items():
            target_type = SETS[target].type_name
            if version == 2:
                lines.append(
                    f'<NavigationProperty Name="{nav}" Relationship="{NAMESPACE}.assoc_{nav}" '
                    f'FromRole="FromRole_{nav}" ToRole="ToRole_{nav}"/>'
                )
            else:
                lines.append(
                    f'<NavigationProperty Name="{nav}" '
                    f'Type="Collection({NAMESPACE}.{target_type})"/>'
                )
        lines.append("</EntityType>")
    container: list[str] = []
    for entity in SETS.values():
        container.append(
            f'<EntitySet Name="{entity.name}" EntityType="{NAMESPACE}.{entity.type_name}"/>'
        )
    if version == 2:
        lines.append(
            f'<Association Name="assoc_Items"><End Type="{NAMESPACE}.PurchaseOrderType" '
            'Multiplicity="1" Role="FromRole_Items"/><End Type="'
            f'{NAMESPACE}.PurchaseOrderItemType" Multiplicity="*" Role="ToRole_Items"/>'
            "</Association>"
        )
        container.append(
            '<FunctionImport Name="ReleaseMaintenanceOrder" ReturnType="'
            f'{NAMESPACE}.MaintenanceOrderType" EntitySet="MaintenanceOrders" '
            'm:HttpMethod="POST"><Parameter Name="MaintenanceOrder" Type="Edm.String" '
            'Mode="In"/></FunctionImport>'
        )
        body = "\n".join(lines)
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" '
            'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
            'xmlns:sap="http://www.sap.com/Protocols/SAPData">\n'
            '<edmx:DataServices m:DataServiceVersion="2.0">\n'
            f'<Schema Namespace="{NAMESPACE}" '
            'xmlns="http://schemas.microsoft.com/ado/2008/09/edm">\n'
            f"{body}\n"
            f'<EntityContainer Name="{NAMESPACE}_Entities" m:IsDefaultEntityContainer="true">\n'
            + "\n".join(container)
            + "\n</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n"
        )
    lines.append(
        '<Action Name="ReleaseMaintenanceOrder"><Parameter Name="MaintenanceOrder" '
        f'Type="Edm.String"/><ReturnType Type="{NAMESPACE}.MaintenanceOrderType"/></Action>'
    )
    container.append(f'<ActionImport Name="ReleaseMaintenanceOrder" Action="{NAMESPACE}.'
                     'ReleaseMaintenanceOrder" EntitySet="MaintenanceOrders"/>')  # fmt: skip
    for i, entity in enumerate(SETS.values()):
        if entity.nav:
            binding = "".join(
                f'<NavigationPropertyBinding Path="{nav}" Target="{target}"/>'
                for nav, (target, _) in entity.nav.items()
            )
            container[i] = container[i].replace("/>", f">{binding}</EntitySet>")
    body = "\n".join(lines)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">\n'
        "<edmx:DataServices>\n"
        f'<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">\n'
        f"{body}\n"
        '<EntityContainer Name="Container">\n'
        + "\n".join(container)
        + "\n</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n"
    )
