"""OData URLs and JSON without I/O: keys, query options, v2/v4 unwrapping, error bodies."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import quote

__all__ = [
    "ODATA_OPTIONS",
    "VERSIONS",
    "entity_path",
    "format_key",
    "format_literal",
    "function_path",
    "join_url",
    "odata_error",
    "query_pairs",
    "query_string",
    "strip_entity",
    "unwrap_collection",
    "unwrap_entity",
]

VERSIONS = ("v2", "v4")
ODATA_OPTIONS = ("filter", "select", "expand", "orderby", "top", "skip", "search", "skiptoken")

_SAFE = "$,()'=:/@*;!"  # kept as they are in the query string (OData servers expect them raw)
_DATE_MS = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def format_literal(value: Any) -> str:
    """``value`` as an OData URL literal: 'text' (quotes doubled), numbers, true/false, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def format_key(key: Any) -> str:
    """The key predicate: ``('4500000001')``, ``(PurchaseOrder='45',Item='10')``.

    A text that already starts with ``(`` is used as it is (a hand-written predicate).
    """
    if isinstance(key, dict):
        if not key:
            raise ValueError("key: the key object is empty")
        return "(" + ",".join(f"{name}={format_literal(v)}" for name, v in key.items()) + ")"
    if isinstance(key, list | tuple):
        raise ValueError("key: a list is not a key (use an object for a composite key)")
    if isinstance(key, str) and key.strip().startswith("("):
        return key.strip()
    if key is None or key == "":
        raise ValueError("key: no key given (field key or msg.key)")
    return f"({format_literal(key)})"


def entity_path(entity_set: str, key: Any = None) -> str:
    """``EntitySet`` or ``EntitySet(key)``, percent-encoded for a URL path."""
    name = entity_set.strip().strip("/")
    if not name:
        raise ValueError("entitySet: no entity set given (field entitySet or msg.entitySet)")
    path = name if key is None else name + format_key(key)
    return quote(path, safe="/(),='$@:;!*")


def function_path(name: str, params: dict[str, Any], version: str, method: str) -> str:
    """A function import: v2 and v4 POST: ``Name``; v4 GET: ``Name(p=literal,...)``."""
    fn = name.strip().strip("/")
    if not fn:
        raise ValueError("function: no function name given")
    if version == "v4" and method == "GET":
        inner = ",".join(f"{k}={format_literal(v)}" for k, v in params.items())
        return quote(f"{fn}({inner})", safe="/(),='$@:;!*")
    return quote(fn, safe="/$")


def query_string(pairs: list[tuple[str, str]]) -> str:
    """``a=b&c=d`` with OData's characters left readable."""
    return "&".join(f"{quote(k, safe='$')}={quote(v, safe=_SAFE)}" for k, v in pairs)


def join_url(root: str, path: str, pairs: list[tuple[str, str]]) -> str:
    """The service root + relative path + query."""
    url = root.rstrip("/") + "/" + path.lstrip("/")
    qs = query_string(pairs)
    if not qs:
        return url
    return url + ("&" if "?" in url else "?") + qs


def query_pairs(
    options: dict[str, Any], version: str, count: bool = False, sap_client: str = ""
) -> list[tuple[str, str]]:
    """Query options as (name, value) pairs; names with or without ``$`` are accepted.

    Names that are not system query options (no ``$`` and not one of ``filter``,
    ``select``...) are passed as custom options (e.g. function parameters).
    """
    pairs: list[tuple[str, str]] = []
    for raw_name, value in options.items():
        if value is None or value == "" or value is False:
            continue
        name = raw_name
        bare = name.lstrip("$")
        if bare in ODATA_OPTIONS or bare in ("count", "inlinecount", "format"):
            name = "$" + bare
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if isinstance(value, bool):
            value = "true"
        pairs.append((name, str(value)))
    names = {n for n, _ in pairs}
    if count and not names & {"$count", "$inlinecount"}:
        pairs.append(("$inlinecount", "allpages") if version == "v2" else ("$count", "true"))
    if sap_client and "sap-client" not in names:
        pairs.append(("sap-client", sap_client))
    return pairs


def _v2_value(value: Any) -> Any:
    if isinstance(value, str):
        m = _DATE_MS.match(value)
        if m:
            moment = dt.datetime.fromtimestamp(int(m.group(1)) / 1000, dt.UTC)
            return moment.strftime("%Y-%m-%dT%H:%M:%S") + (
                f".{moment.microsecond // 1000:03d}Z" if moment.microsecond else "Z"
            )
    return value


def strip_entity(entity: Any, version: str, keep_metadata: bool = False) -> Any:
    """An entity as a plain object.

    v2: ``__metadata`` removed (unless kept), deferred navigation removed, expanded
    navigation ``{"results": [...]}`` turned into a list, ``/Date(ms)/`` into ISO 8601 text.
    v4: ``@odata.*`` annotations removed unless kept.
    """
    if isinstance(entity, list):
        return [strip_entity(e, version, keep_metadata) for e in entity]
    if not isinstance(entity, dict):
        return _v2_value(entity) if version == "v2" else entity
    out: dict[str, Any] = {}
    for name, value in entity.items():
        if version == "v2":
            if name == "__metadata":
                if keep_metadata:
                    out[name] = value
                continue
            if isinstance(value, dict) and "__deferred" in value:
                if keep_metadata:
                    out[name] = value
                continue
            if isinstance(value, dict) and isinstance(value.get("results"), list):
                out[name] = strip_entity(value["results"], version, keep_metadata)
                continue
        elif "@odata." in name and not keep_metadata:
            continue
        out[name] = strip_entity(value, version, keep_metadata)
    return out


def unwrap_collection(
    body: Any, version: str, keep_metadata: bool = False
) -> tuple[list[Any], int | None, str]:
    """(entities, total count or None, next link or '') of a collection response."""
    if version == "v2":
        d = body.get("d") if isinstance(body, dict) else None
        if isinstance(d, list):  # OData v1 style
            return strip_entity(d, version, keep_metadata), None, ""
        if not isinstance(d, dict) or not isinstance(d.get("results"), list):
            raise ValueError('the response is not an OData v2 collection ({"d": {"results"}})')
        count = d.get("__count")
        return (
            strip_entity(d["results"], version, keep_metadata),
            int(count) if count is not None else None,
            str(d.get("__next") or ""),
        )
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ValueError('the response is not an OData v4 collection ({"value": [...]})')
    count = body.get("@odata.count")
    return (
        strip_entity(body["value"], version, keep_metadata),
        int(count) if count is not None else None,
        str(body.get("@odata.nextLink") or ""),
    )


def unwrap_entity(body: Any, version: str, keep_metadata: bool = False) -> Any:
    """One entity (or a function's result) of a response."""
    if version == "v2" and isinstance(body, dict) and "d" in body:
        body = body["d"]
        if isinstance(body, dict) and isinstance(body.get("results"), list):
            return strip_entity(body["results"], version, keep_metadata)
    if version == "v4" and isinstance(body, dict) and set(body) - {"@odata.context"} == {"value"}:
        return strip_entity(body["value"], version, keep_metadata)
    return strip_entity(body, version, keep_metadata)


def odata_error(body: bytes | str) -> tuple[str, str]:
    """(code, message) of an OData error body: v2 or v4 JSON, or SAP's XML; ('', '') if none."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        message = err.get("message", "")
        if isinstance(message, dict):
            message = message.get("value", "")
        return str(err.get("code") or ""), str(message or "")
    code = re.search(r"<(?:\w+:)?code>(.*?)</(?:\w+:)?code>", text, re.S)
    message = re.search(r"<(?:\w+:)?message[^>]*>(.*?)</(?:\w+:)?message>", text, re.S)
    if code or message:
        return (code.group(1).strip() if code else ""), (
            message.group(1).strip() if message else ""
        )
    return "", ""
