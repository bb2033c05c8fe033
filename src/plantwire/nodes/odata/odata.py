"""odata: read, create, change and delete entities of an OData v2/v4 service, $batch."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from plantwire.nodes.common.outbox import Outbox, OutboxConfig
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseInt, OptInt, choices, config_ref, node_type

from .batch_codec import decode_batch, encode_batch, match_replies, ops_from_payload
from .service import ODataRequestError, ODataServiceNode
from .url_codec import (
    ODATA_OPTIONS,
    entity_path,
    format_literal,
    function_path,
    query_pairs,
    unwrap_collection,
    unwrap_entity,
)

__all__ = ["ODataConfig", "ODataNode"]

OPERATIONS = ("read", "get", "create", "update", "delete", "batch", "function")


class ODataConfig(OutboxConfig):
    """The odata node as it appears in flows.json."""

    service: str = config_ref("odata-service", "Id of the odata-service config node.")
    operation: str = Field(
        "read",
        json_schema_extra=choices(*OPERATIONS),
        description="read (a collection), get (one entity by key), create, update, delete, "
        "batch (msg.payload = list of operations, one atomic changeset) or function "
        "(call a function import / action).",
    )
    entitySet: str = Field(
        "", description="Entity set, e.g. A_PurchaseOrder; msg.entitySet overrides it."
    )
    key: str = Field(
        "",
        description="Key for get/update/delete: a value ('4500000001') or a JSON object for "
        'a composite key ({"PurchaseOrder": "45", "Item": "10"}); msg.key overrides it.',
    )
    filter: str = Field("", description="$filter, e.g. Status eq 'Open' and Quantity gt 10.")
    select: str = Field("", description="$select: comma-separated properties.")
    expand: str = Field("", description="$expand: navigation properties, e.g. Items.")
    orderby: str = Field("", description="$orderby, e.g. CreatedAt desc.")
    top: OptInt = Field(None, description="$top: at most this many entities (empty: no limit).")
    skip: OptInt = Field(None, description="$skip: leave out this many entities first.")
    count: LooseBool = Field(
        False,
        description="read: ask for the total count ($inlinecount v2 / $count v4) -> msg.count.",
    )
    pages: LooseInt = Field(
        1,
        description="read: follow the server's next links up to this many pages "
        "(0 = all pages); msg.nextLink is set when more are left.",
    )
    keepMetadata: LooseBool = Field(
        False, description="Keep __metadata (v2) / @odata annotations (v4) in the entities."
    )
    function: str = Field(
        "", description="function: name of the function import / action; msg.function overrides."
    )
    functionMethod: str = Field(
        "POST", description="function: GET (a function) or POST (an action / SAP function import)."
    )
    retries: LooseInt = Field(
        2, description="Retries after a connection error, a read timeout or a 5xx answer."
    )
    retryDelay: LooseInt = Field(
        500, description="First retry delay in ms (doubles with every retry)."
    )

    @model_validator(mode="after")
    def _check(self) -> ODataConfig:
        if not self.service:
            raise ValueError("service: no odata-service config node is selected")
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation: '{self.operation}' is not one of {', '.join(OPERATIONS)}")
        if self.functionMethod.upper() not in ("GET", "POST"):
            raise ValueError(f"functionMethod: '{self.functionMethod}' is not GET or POST")
        if self.pages < 0:
            raise ValueError("pages: must be 0 (all) or more")
        if self.retries < 0:
            raise ValueError("retries: must not be negative")
        if self.retryDelay < 0:
            raise ValueError("retryDelay: must not be negative")
        if self.key.strip().startswith("{"):
            try:
                json.loads(self.key)
            except ValueError:
                raise ValueError(f"key: '{self.key}' is not a JSON object") from None
        return self


@node_type("odata")
class ODataNode(Node):
    """Reads and writes entities of an OData v2 or v4 service (SAP S/4HANA, SAP Gateway,
    any OData server) through an odata-service config node.

    * **read**: ``GET EntitySet`` with $filter, $select, $expand, $orderby, $top and
      $skip from the node, overridden per message by ``msg.query`` (an object such as
      ``{"$filter": "Status eq 'Open'", "$top": 10}``). ``msg.payload`` = the list of
      entities (v2: taken out of ``d.results``; ``__metadata`` removed unless
      keepMetadata; ``/Date(ms)/`` as ISO 8601 text), ``msg.count`` = the total when
      count is on. Server paging is followed up to ``pages`` pages (0 = all).
    * **get**: one entity by key (``msg.key`` or the node's key; an object for a
      composite key) -> ``msg.payload`` = the entity.
    * **create**: ``POST`` with ``msg.payload`` as the body -> the created entity.
    * **update**: v2 ``MERGE`` / v4 ``PATCH`` with ``msg.payload`` -> the entity as it is
      afterwards.
    * **delete**: ``DELETE`` the entity.
    * **batch**: ``msg.payload`` = ``[{method, entitySet, key?, body?}, ...]`` sent as one
      $batch; the changes form one changeset (all or nothing) ->
      ``msg.payload = [{status, body}, ...]``.
    * **function**: call a function import or action with ``msg.payload`` (an object) as
      its parameters.

    ``msg.entitySet`` overrides the entity set. Changes carry the CSRF token of the
    service. An HTTP error (with the OData error's code and message), a timeout or a
    refused connection reaches catch nodes naming the URL; ``msg.statusCode`` and
    ``msg.odataError`` = ``{code, message}`` are set on the message. Connection errors,
    5xx answers and read timeouts are retried ``retries`` times with a growing delay.

    Changes are never lost to an outage of the ERP: with ``spool`` on (the default),
    create, update, delete and batch requests that get no answer, or a 5xx / 408 / 429,
    wait on disk in the store-and-forward queue and are sent again in order until the
    service takes them (also after a restart); the result message follows then. The
    first failure of an outage reaches catch nodes saying the change waits. Give each
    change an idempotency field the ERP checks (such as an external reference) so that
    a change sent twice after a lost answer is refused, not doubled.
    """

    config_model = ODataConfig
    category = "network"
    color = "#A6BBCF"
    icon = "white-globe.svg"

    def __init__(self, flow: Any, config: ODataConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.svc: ODataServiceNode | None = None
        self.outbox: Outbox | None = None

    async def start(self) -> None:
        svc = self.flow.get_node(self.cfg.service)
        if not isinstance(svc, ODataServiceNode):
            self.status("red", "ring", "no service")
            self.error(f"odata-service config node '{self.cfg.service}' not found")
            return
        self.svc = svc
        svc.register(self)
        if self.cfg.operation in WRITE_OPERATIONS:
            self.outbox = Outbox(
                self,
                self.cfg,
                self._queued,
                remote=f"OData service {svc.cfg.url}",
                is_transient=_transient,
            )
            await self.outbox.start(up=True)
        self.status({})

    async def close(self, removed: bool) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
            self.outbox = None
        if self.svc is not None:
            await self.svc.deregister(self)
            self.svc = None

    # ----- messages -------------------------------------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        svc = self.svc
        if svc is None:
            self.error("no odata-service config node", msg)
            return
        if self.outbox is not None and self.cfg.operation in WRITE_OPERATIONS:
            await self.outbox.submit(msg)
            return
        try:
            await self._run(svc, msg)
        except (ODataRequestError, ValueError) as exc:
            self.error(self._failed(svc, msg, exc), msg)

    async def _queued(self, msg: Msg) -> None:
        """Run one change from the store-and-forward queue (raises when it failed)."""
        svc = self.svc
        if svc is None:
            raise ODataRequestError("no odata-service config node")
        try:
            await self._run(svc, msg)
        except (ODataRequestError, ValueError) as exc:
            if not _transient(exc):  # the outbox shows what waits; report only refusals
                self._failed(svc, msg, exc)
            raise

    def _failed(self, svc: ODataServiceNode, msg: Msg, exc: Exception) -> str:
        """Mark ``msg`` and the status for a failed operation; the text for catch nodes."""
        op = self.cfg.operation
        if isinstance(exc, ODataRequestError):
            msg["statusCode"] = exc.status or None
            msg["odataError"] = {"code": exc.code, "message": exc.message}
            self.status("red", "ring", f"HTTP {exc.status}" if exc.status else "failed")
            return f"odata {op}: {exc}"
        self.status("red", "ring", "bad request")
        return f"odata {op}: {svc.mask(str(exc))}"

    async def _run(self, svc: ODataServiceNode, msg: Msg) -> None:
        op = self.cfg.operation
        self.status("blue", "dot", op)
        if op == "read":
            await self._read(svc, msg)
        elif op == "get":
            await self._get(svc, msg)
        elif op == "create":
            await self._create(svc, msg)
        elif op == "update":
            await self._update(svc, msg)
        elif op == "delete":
            await self._delete(svc, msg)
        elif op == "batch":
            await self._batch(svc, msg)
        else:
            await self._function(svc, msg)
        self.status("green", "dot", op)
        self.send(msg)

    # ----- helpers ----------------------------------------------------------------------

    def _entity_set(self, msg: Msg) -> str:
        value = msg.get("entitySet")
        if isinstance(value, str) and value.strip():
            return value.strip()
        return self.cfg.entitySet.strip()

    def _key(self, msg: Msg) -> Any:
        if "key" in msg and msg["key"] not in (None, ""):
            return msg["key"]
        text = self.cfg.key.strip()
        if text.startswith("{"):
            return json.loads(text)
        return text or None

    def _options(self, msg: Msg, names: tuple[str, ...]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for name in names:
            value = getattr(self.cfg, name)
            if value not in (None, ""):
                options["$" + name] = value
        extra = msg.get("query")
        if isinstance(extra, dict):
            for name, value in extra.items():
                bare = str(name).lstrip("$")
                options["$" + bare if bare in ODATA_OPTIONS else str(name)] = value
        elif extra is not None:
            raise ValueError("msg.query must be an object of query options")
        return options

    async def _call(
        self,
        svc: ODataServiceNode,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        data = None if body is None else json.dumps(body, default=str).encode()
        reply = await svc.request(
            method,
            url,
            data,
            headers,
            retries=self.cfg.retries,
            retry_delay=self.cfg.retryDelay / 1000.0,
        )
        if reply.status == 204 or not reply.body.strip():
            return None
        try:
            return json.loads(reply.body)
        except ValueError:
            raise ODataRequestError(
                svc.mask(f"the answer of {method} {url} is not JSON"), reply.status
            ) from None

    # ----- operations -------------------------------------------------------------------

    async def _read(self, svc: ODataServiceNode, msg: Msg) -> None:
        entity_set = self._entity_set(msg)
        options = self._options(msg, ("filter", "select", "expand", "orderby", "top", "skip"))
        pairs = query_pairs(options, svc.version, count=self.cfg.count)
        url = svc.url(entity_path(entity_set), pairs)
        entities: list[Any] = []
        count: int | None = None
        pages = 0
        next_link = ""
        while True:
            body = await self._call(svc, "GET", url)
            got, total, next_link = unwrap_collection(body, svc.version, self.cfg.keepMetadata)
            entities.extend(got)
            if total is not None and count is None:
                count = total
            pages += 1
            if not next_link or (self.cfg.pages and pages >= self.cfg.pages):
                break
            url = svc.absolute(next_link)
        msg["payload"] = entities
        if count is not None:
            msg["count"] = count
        if next_link:
            msg["nextLink"] = svc.absolute(next_link)
        else:
            msg.pop("nextLink", None)

    def _entity_url(self, svc: ODataServiceNode, msg: Msg, pairs: list[tuple[str, str]]) -> str:
        key = self._key(msg)
        if key is None:
            raise ValueError("key: no key given (field key or msg.key)")
        return svc.url(entity_path(self._entity_set(msg), key), pairs)

    async def _get(self, svc: ODataServiceNode, msg: Msg) -> None:
        options = self._options(msg, ("select", "expand"))
        url = self._entity_url(svc, msg, query_pairs(options, svc.version))
        body = await self._call(svc, "GET", url)
        msg["payload"] = unwrap_entity(body, svc.version, self.cfg.keepMetadata)

    def _body(self, msg: Msg) -> dict[str, Any]:
        payload = msg.get("payload")
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                raise ValueError("msg.payload is text that is not a JSON object") from None
        if not isinstance(payload, dict):
            raise ValueError("msg.payload must be an object (the entity's properties)")
        return payload

    async def _create(self, svc: ODataServiceNode, msg: Msg) -> None:
        body = self._body(msg)
        url = svc.url(entity_path(self._entity_set(msg)), [])
        result = await self._call(svc, "POST", url, body)
        msg["payload"] = unwrap_entity(result, svc.version, self.cfg.keepMetadata)

    async def _update(self, svc: ODataServiceNode, msg: Msg) -> None:
        body = self._body(msg)
        url = self._entity_url(svc, msg, [])
        method = "MERGE" if svc.version == "v2" else "PATCH"
        headers = {"Prefer": "return=representation"} if svc.version == "v4" else {}
        result = await self._call(svc, method, url, body, headers)
        if result is None:  # 204: read the entity as it is now
            result = await self._call(svc, "GET", url)
        msg["payload"] = unwrap_entity(result, svc.version, self.cfg.keepMetadata)

    async def _delete(self, svc: ODataServiceNode, msg: Msg) -> None:
        url = self._entity_url(svc, msg, [])
        await self._call(svc, "DELETE", url)
        msg["payload"] = {
            "deleted": True,
            "entitySet": self._entity_set(msg),
            "key": self._key(msg),
        }

    async def _batch(self, svc: ODataServiceNode, msg: Msg) -> None:
        ops = ops_from_payload(msg.get("payload"), svc.version)
        content_type, body = encode_batch(ops, svc.version)
        url = svc.url("$batch", [])
        reply = await svc.request(
            "POST",
            url,
            body,
            {"Content-Type": content_type, "Accept": "multipart/mixed"},
            retries=self.cfg.retries,
            retry_delay=self.cfg.retryDelay / 1000.0,
        )
        groups = decode_batch(reply.headers.get("content-type", ""), reply.body)
        replies = match_replies(ops, groups)
        results = []
        for reply_one in replies:
            data = reply_one.json()
            results.append(
                {
                    "status": reply_one.status,
                    "body": unwrap_entity(data, svc.version, self.cfg.keepMetadata)
                    if reply_one.status < 400 and data is not None
                    else data,
                }
            )
        msg["payload"] = results
        failed = [(i, r) for i, r in enumerate(replies) if r.status >= 400]
        if failed:
            index, bad = failed[0]
            code, message = _error_of(bad.json())
            raise ODataRequestError(
                f"operation {index} ({ops[index].method} {ops[index].path}) got "
                f"HTTP {bad.status} from {url}: {': '.join(s for s in (code, message) if s)}",
                bad.status,
                code,
                message,
            )

    async def _function(self, svc: ODataServiceNode, msg: Msg) -> None:
        name = msg.get("function")
        if not isinstance(name, str) or not name.strip():
            name = self.cfg.function
        payload = msg.get("payload")
        params: dict[str, Any] = payload if isinstance(payload, dict) else {}
        method = self.cfg.functionMethod.upper()
        path = function_path(name, params, svc.version, method)
        body: Any = None
        pairs: list[tuple[str, str]] = []
        if svc.version == "v2":
            pairs = [(k, format_literal(v)) for k, v in params.items()]
        elif method == "POST":
            body = params
        result = await self._call(svc, method, svc.url(path, pairs), body)
        msg["payload"] = unwrap_entity(result, svc.version, self.cfg.keepMetadata)


WRITE_OPERATIONS = frozenset({"create", "update", "delete", "batch"})
"""Operations that change the ERP: with spool on they wait out an outage."""


def _transient(exc: BaseException) -> bool:
    """No answer (refused, timeout), a 5xx, 408 or 429: worth sending again later."""
    if not isinstance(exc, ODataRequestError):
        return False
    return exc.status == 0 or exc.status >= 500 or exc.status in (408, 429)


def _error_of(data: Any) -> tuple[str, str]:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        message = err.get("message", "")
        if isinstance(message, dict):
            message = message.get("value", "")
        return str(err.get("code") or ""), str(message or "")
    return "", str(data or "")
