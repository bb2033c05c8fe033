"""Header helpers shared by the http nodes (no I/O)."""

from __future__ import annotations

import hashlib
import json
from http.cookies import CookieError, SimpleCookie
from typing import Any

__all__ = ["MARKER", "extract_cookies", "request_node_hash"]

MARKER = "x-node-red-request-node"
"""Header an http request node adds to msg.headers so that an http response node can
tell a reply's headers from headers meant for it (Node-RED's marker)."""


def request_node_hash(headers: dict[str, Any]) -> str:
    """A short hash of ``headers`` (without the marker)."""
    plain = {str(k): v for k, v in headers.items() if k != MARKER}
    text = json.dumps(plain, sort_keys=True, default=str)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]


def extract_cookies(set_cookie: list[str]) -> dict[str, dict[str, Any]]:
    """Set-Cookie headers as Node-RED's msg.responseCookies: {name: {value, path, ...}}."""
    out: dict[str, dict[str, Any]] = {}
    for line in set_cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        for name, morsel in jar.items():
            entry: dict[str, Any] = {"value": morsel.value}
            for key, value in morsel.items():
                if value:
                    entry[_ATTR.get(key, key)] = value
            out[name] = entry
    return out


_ATTR = {"max-age": "Max-Age", "httponly": "HttpOnly", "samesite": "SameSite"}
_ATTR.update({"path": "Path", "domain": "Domain", "expires": "Expires", "secure": "Secure"})
