"""OData $batch (multipart/mixed, v2 and v4) without I/O: build the request, read the reply."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from .url_codec import entity_path

__all__ = [
    "BatchOp",
    "BatchReply",
    "decode_batch",
    "encode_batch",
    "match_replies",
    "ops_from_payload",
    "split_parts",
]

METHODS = ("GET", "POST", "PUT", "PATCH", "MERGE", "DELETE")


@dataclass
class BatchOp:
    """One operation: method, path relative to the service root, optional JSON body."""

    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchReply:
    """One operation's answer: HTTP status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; text when it is not JSON; None when empty."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", "replace")


def ops_from_payload(payload: Any, version: str) -> list[BatchOp]:
    """msg.payload ``[{method, entitySet, key?, body?}, ...]`` as batch operations."""
    if not isinstance(payload, list) or not payload:
        raise ValueError("batch: msg.payload must be a non-empty list of operations")
    ops: list[BatchOp] = []
    for i, item in enumerate(payload):
        if not isinstance(item, dict):
            raise ValueError(f"batch: operation {i} is not an object")
        method = str(item.get("method") or "GET").upper()
        if method == "PATCH" and version == "v2":
            method = "MERGE"
        if method not in METHODS:
            raise ValueError(f"batch: operation {i}: method '{method}' is not one of {METHODS}")
        try:
            path = entity_path(str(item.get("entitySet") or ""), item.get("key"))
        except ValueError as exc:
            raise ValueError(f"batch: operation {i}: {exc}") from None
        if method in ("PUT", "PATCH", "MERGE", "DELETE") and item.get("key") is None:
            raise ValueError(f"batch: operation {i}: {method} needs a key")
        ops.append(BatchOp(method, path, item.get("body")))
    return ops


def _http_request(op: BatchOp, content_id: int, version: str) -> bytes:
    head = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
    ]
    if op.method != "GET":
        head.append(f"Content-ID: {content_id}")
    lines = [f"{op.method} {op.path} HTTP/1.1", "Accept: application/json"]
    body = b""
    if op.body is not None and op.method != "GET":
        body = json.dumps(op.body, separators=(",", ":"), default=str).encode()
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    lines.extend(f"{k}: {v}" for k, v in op.headers.items())
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode() + body


def encode_batch(ops: list[BatchOp], version: str, boundary: str = "") -> tuple[str, bytes]:
    """(content type, body) of a $batch request.

    Consecutive modifying operations go into one changeset (all or nothing); a GET
    stands alone between changesets.
    """
    boundary = boundary or f"batch_{uuid.uuid4()}"
    out = b""
    i = 0
    while i < len(ops):
        op = ops[i]
        if op.method == "GET":
            out += f"--{boundary}\r\n".encode() + _http_request(op, i + 1, version) + b"\r\n"
            i += 1
            continue
        changeset = f"changeset_{uuid.uuid4()}"
        inner = b""
        while i < len(ops) and ops[i].method != "GET":
            inner += f"--{changeset}\r\n".encode() + _http_request(ops[i], i + 1, version)
            inner += b"\r\n"
            i += 1
        inner += f"--{changeset}--\r\n".encode()
        out += (
            f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        ).encode()
        out += inner + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/mixed; boundary={boundary}", out


def _boundary(content_type: str) -> str:
    m = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not m:
        raise ValueError(f"batch reply: no boundary in content type '{content_type}'")
    return m.group(1)


def _head_body(raw: bytes) -> tuple[list[str], bytes]:
    for blank in (b"\r\n", b"\n"):
        if raw.startswith(blank):  # no headers at all
            return [], raw[len(blank) :]
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            return raw[:idx].decode("utf-8", "replace").splitlines(), raw[idx + len(sep) :]
    return raw.decode("utf-8", "replace").splitlines(), b""


def _headers(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def split_parts(content_type: str, body: bytes) -> list[bytes]:
    """The raw parts (headers + content) of a multipart body."""
    delim = b"--" + _boundary(content_type).encode()
    parts: list[bytes] = []
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(chunk)
    return parts


def _http_response(raw: bytes) -> BatchReply:
    lines, body = _head_body(raw)
    if not lines:
        raise ValueError("batch reply: an empty HTTP response")
    m = re.match(r"HTTP/\d\.\d\s+(\d{3})", lines[0])
    if not m:
        raise ValueError(f"batch reply: '{lines[0][:60]}' is not an HTTP status line")
    return BatchReply(int(m.group(1)), _headers(lines[1:]), body)


def decode_batch(content_type: str, body: bytes) -> list[list[BatchReply]]:
    """The replies of a $batch response, one list per part (a changeset has several).

    A failed changeset is answered by one error reply instead of the changeset.
    """
    groups: list[list[BatchReply]] = []
    for part in split_parts(content_type, body):
        head, content = _head_body(part)
        headers = _headers(head)
        ctype = headers.get("content-type", "")
        if ctype.lower().startswith("multipart/mixed"):
            groups.append([_http_response(_head_body(p)[1]) for p in split_parts(ctype, content)])
        else:
            groups.append([_http_response(content)])
    return groups


def match_replies(ops: list[BatchOp], groups: list[list[BatchReply]]) -> list[BatchReply]:
    """One reply per operation, in order; every op of a failed changeset gets its error."""
    out: list[BatchReply] = []
    i = 0
    for group in groups:
        if i >= len(ops):
            break
        if ops[i].method == "GET":
            out.append(group[0])
            i += 1
            continue
        size = 0
        while i + size < len(ops) and ops[i + size].method != "GET":
            size += 1
        if len(group) == size:
            out.extend(group)
        elif len(group) == 1:  # the changeset failed: one error answers all of it
            out.extend([group[0]] * size)
        else:
            raise ValueError(f"batch reply: {len(group)} answers for a changeset of {size}")
        i += size
    if len(out) != len(ops):
        raise ValueError(f"batch reply: {len(out)} answers for {len(ops)} operations")
    return out
