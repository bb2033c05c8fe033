"""Who is asking: passwords, sessions with CSRF tokens, API tokens, and the guard.

Authentication is on as soon as one user exists, and always when the server listens
on an address other than loopback (``plantwire serve`` refuses to start there without
an admin). With no user on loopback it is off: anyone on this machine may use the API,
so the guard then checks the ``Host`` header (against DNS rebinding) and, as always, the
``Origin`` of state-changing requests (against cross-site requests from a browser).

A browser logs in with ``POST /auth/login`` and gets two cookies: the session
(``pw_session``: HttpOnly, SameSite=Strict) and its CSRF token (``pw_csrf``, readable by
the page). Every request that is not GET/HEAD/OPTIONS and is authenticated by the cookie
must repeat the token in the ``X-CSRF-Token`` header. Scripts use API tokens instead
(``Authorization: Bearer ...``), which need no CSRF token.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from plantwire.server.store import Store, User

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AuthGuard",
    "LoginLimiter",
    "hash_password",
    "is_loopback",
    "verify_password",
]

SESSION_COOKIE = "pw_session"
CSRF_COOKIE = "pw_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PUBLIC_POSTS = frozenset({"/auth/login", "/auth/token"})
"""State-changing paths that need no prior authentication (they authenticate)."""

PROTECTED_PREFIXES = (
    "/flows",
    "/flow/",
    "/flow",
    "/nodes",
    "/inject/",
    "/comms",
    "/credentials/",
    "/revisions",
    "/settings",
)
"""Paths that need a user when authentication is on, whatever the method. Every other
GET (the OpenAPI document, /auth/*, the editor's static files) is public."""

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("plantwire-timing-equaliser")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; takes as long for an unknown user."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LoginLimiter:
    """At most ``attempts`` failed logins per user name and client in ``window`` seconds."""

    def __init__(self, attempts: int = 5, window: float = 60.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def blocked(self, name: str, client: str) -> bool:
        fails = self._failures.get((name, client))
        if not fails:
            return False
        now = time.monotonic()
        while fails and now - fails[0] > self.window:
            fails.popleft()
        return len(fails) >= self.attempts

    def failed(self, name: str, client: str) -> None:
        if len(self._failures) > 10000:
            self._failures.clear()
        self._failures.setdefault((name, client), deque()).append(time.monotonic())

    def succeeded(self, name: str, client: str) -> None:
        self._failures.pop((name, client), None)


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[name] = f"{out[name]}; {text}" if name == "cookie" and name in out else text
    return out


def cookies_of(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:
        return {}
    return {k: m.value for k, m in jar.items()}


class AuthGuard:
    """ASGI middleware: identifies the user (bearer token or session cookie), checks the
    CSRF token, the Origin and (auth off) the Host, and the role; puts the user into
    ``scope["state"]``: ``user`` (User or None), ``auth`` (bool), ``via``
    ("token", "session" or None)."""

    def __init__(
        self,
        app: ASGIApp,
        store: Store,
        *,
        bind_host: str,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.store = store
        self.bind_host = bind_host
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    def auth_enabled(self) -> bool:
        return self.store.has_users() or not is_loopback(self.bind_host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._check(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, message = refusal
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": code})
            return
        body = json.dumps({"code": code, "message": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="plantwire"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _check(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = _headers(scope)
        method = "GET" if scope["type"] == "websocket" else str(scope.get("method", "GET"))
        path = str(scope.get("path", "/"))
        state = scope.setdefault("state", {})
        enabled = self.auth_enabled()
        state.update(user=None, auth=enabled, via=None, csrf=None)

        changing = method not in SAFE_METHODS or scope["type"] == "websocket"
        origin = headers.get("origin")
        if changing and origin and not self._origin_ok(origin, headers.get("host", "")):
            return 403, "forbidden_origin", f"requests from origin {origin!r} are not accepted"
        if not enabled:
            host = headers.get("host", "")
            if host and not is_loopback(urlsplit("//" + host).hostname or ""):
                return (
                    403,
                    "forbidden_host",
                    (
                        f"host {host!r} refused: without users the API answers "
                        "on loopback names only"
                    ),
                )
            return None

        user, via, csrf = self._identify(headers)
        state.update(user=user, via=via, csrf=csrf)
        needs_user = (method not in SAFE_METHODS and path not in PUBLIC_POSTS) or any(
            path == p.rstrip("/") or path.startswith(p) for p in PROTECTED_PREFIXES
        )
        if user is None:
            if needs_user:
                return 401, "unauthorized", "log in (POST /auth/login) or send a bearer token"
            return None
        csrf_needed = method not in SAFE_METHODS and path not in PUBLIC_POSTS
        if via == "session" and csrf_needed and scope["type"] == "http":
            sent = headers.get(CSRF_HEADER, "")
            if not csrf or not hmac.compare_digest(sent.encode(), csrf.encode()):
                return 403, "csrf_failed", "missing or wrong X-CSRF-Token header"
        if (
            user.role == "viewer"
            and method not in SAFE_METHODS
            and path not in ("/auth/logout", *PUBLIC_POSTS)
        ):
            return 403, "forbidden", f"user {user.name!r} (viewer) may not change anything"
        return None

    def _identify(self, headers: dict[str, str]) -> tuple[User | None, str | None, str | None]:
        authz = headers.get("authorization", "")
        if authz[:7].lower() == "bearer ":
            user = self.store.token_user(authz[7:].strip())
            return (user, "token", None) if user else (None, None, None)
        sid = cookies_of(headers).get(SESSION_COOKIE)
        if sid:
            found = self.store.session(sid)
            if found:
                return found[0], "session", found[1]
        return None, None, None

    def _origin_ok(self, origin: str, host: str) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc == host.lower()
