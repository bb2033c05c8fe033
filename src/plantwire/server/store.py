"""The server's SQLite file: users, sessions, API tokens and the revision history.

One small database (``server.db`` in the data folder, WAL mode). Every call is short;
the server calls it from the event loop except password hashing, which runs in a
thread. Secrets are never stored as given: passwords as argon2 hashes, session ids and
API tokens as SHA-256 digests (they are long random strings, so a fast hash is enough).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ROLES", "Revision", "Store", "User", "digest"]

DB_FILE = "server.db"
ROLES = ("admin", "editor", "viewer")
"""admin: everything; editor: read and deploy; viewer: read only."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL
);
CREATE TABLE IF NOT EXISTS revisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    rev TEXT NOT NULL,
    deployed REAL NOT NULL,
    user TEXT,
    deploy_type TEXT NOT NULL,
    flows TEXT NOT NULL
);
"""


def digest(secret: str) -> str:
    """SHA-256 hex digest of a session id or API token."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: str


@dataclass(frozen=True)
class Revision:
    seq: int
    rev: str
    deployed: float
    user: str | None
    deploy_type: str


class Store:
    """Users, sessions, tokens and revisions in ``<data_dir>/server.db``."""

    def __init__(self, data_dir: str | Path, keep_revisions: int = 100) -> None:
        self.path = Path(data_dir) / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if new:
            os.chmod(self.path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(_SCHEMA)
        self.keep_revisions = keep_revisions

    def close(self) -> None:
        self.db.close()

    # ----- users ----------------------------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role: must be one of {', '.join(ROLES)}, not {role!r}")
        if not name or any(c.isspace() for c in name):
            raise ValueError("name: must be non-empty and contain no spaces")
        try:
            self.db.execute(
                "INSERT INTO users (name, role, password_hash, created) VALUES (?, ?, ?, ?)",
                (name, role, password_hash, time.time()),
            )
        except sqlite3.IntegrityError:
            raise ValueError(f"user {name!r} already exists") from None

    def set_password(self, name: str, password_hash: str) -> None:
        cur = self.db.execute(
            "UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name)
        )
        if cur.rowcount == 0:
            raise KeyError(name)
        self.db.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def remove_user(self, name: str) -> bool:
        cur = self.db.execute("DELETE FROM users WHERE name = ?", (name,))
        return cur.rowcount > 0

    def users(self) -> list[User]:
        rows = self.db.execute("SELECT name, role FROM users ORDER BY name").fetchall()
        return [User(n, r) for n, r in rows]

    def user(self, name: str) -> User | None:
        row = self.db.execute("SELECT name, role FROM users WHERE name = ?", (name,)).fetchone()
        return User(row[0], row[1]) if row else None

    def password_hash(self, name: str) -> str | None:
        row = self.db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def has_users(self) -> bool:
        return self.db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def has_admin(self) -> bool:
        row = self.db.execute("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").fetchone()
        return row is not None

    # ----- sessions -------------------------------------------------------------------

    def create_session(self, user: str, lifetime: float) -> tuple[str, str]:
        """A new session for ``user``: (session id, CSRF token)."""
        sid = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = time.time()
        self.db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
        self.db.execute(
            "INSERT INTO sessions (id_hash, user, csrf, expires) VALUES (?, ?, ?, ?)",
            (digest(sid), user, csrf, now + lifetime),
        )
        return sid, csrf

    def session(self, sid: str) -> tuple[User, str] | None:
        """The user and CSRF token of a live session."""
        row = self.db.execute(
            "SELECT u.name, u.role, s.csrf FROM sessions s JOIN users u ON u.name = s.user "
            "WHERE s.id_hash = ? AND s.expires >= ?",
            (digest(sid), time.time()),
        ).fetchone()
        return (User(row[0], row[1]), str(row[2])) if row else None

    def end_session(self, sid: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE id_hash = ?", (digest(sid),))

    # ----- API tokens -----------------------------------------------------------------

    def create_token(self, user: str, label: str, lifetime: float | None = None) -> str:
        if self.user(user) is None:
            raise KeyError(user)
        token = "pwt_" + secrets.token_urlsafe(32)
        now = time.time()
        self.db.execute(
            "INSERT INTO tokens (token_hash, user, label, created, expires) VALUES (?, ?, ?, ?, ?)",
            (digest(token), user, label, now, None if lifetime is None else now + lifetime),
        )
        return token

    def token_user(self, token: str) -> User | None:
        row = self.db.execute(
            "SELECT u.name, u.role FROM tokens t JOIN users u ON u.name = t.user "
            "WHERE t.token_hash = ? AND (t.expires IS NULL OR t.expires >= ?)",
            (digest(token), time.time()),
        ).fetchone()
        return User(row[0], row[1]) if row else None

    def revoke_token(self, token: str) -> bool:
        cur = self.db.execute("DELETE FROM tokens WHERE token_hash = ?", (digest(token),))
        return cur.rowcount > 0

    def tokens(self, user: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT label, created, expires FROM tokens WHERE user = ? ORDER BY created", (user,)
        ).fetchall()
        return [{"label": r[0], "created": r[1], "expires": r[2]} for r in rows]

    # ----- revisions ------------------------------------------------------------------

    def add_revision(
        self, rev: str, flows: list[dict[str, Any]], user: str | None, deploy_type: str
    ) -> None:
        self.db.execute(
            "INSERT INTO revisions (rev, deployed, user, deploy_type, flows) "
            "VALUES (?, ?, ?, ?, ?)",
            (rev, time.time(), user, deploy_type, json.dumps(flows)),
        )
        self.db.execute(
            "DELETE FROM revisions WHERE seq <= (SELECT MAX(seq) FROM revisions) - ?",
            (self.keep_revisions,),
        )

    def revisions(self, limit: int = 50) -> list[Revision]:
        rows = self.db.execute(
            "SELECT seq, rev, deployed, user, deploy_type FROM revisions ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [Revision(*r) for r in rows]

    def revision_flows(self, rev: str) -> list[dict[str, Any]] | None:
        row = self.db.execute(
            "SELECT flows FROM revisions WHERE rev = ? ORDER BY seq DESC LIMIT 1", (rev,)
        ).fetchone()
        return list(json.loads(row[0])) if row else None
