"""Credentials: kept apart from the flow file, encrypted at rest, never logged.

Node objects may carry a ``credentials`` property when a flow is deployed (as Node-RED's
editor sends them); the runtime takes it out of the node object before the flow is
stored, keeps it in ``flows_cred.json`` in the data folder, encrypted with a key
derived from the credential secret (Fernet: AES-128-CBC with HMAC-SHA256). When no
secret is given, one is generated and kept in ``.config.json`` (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from plantwire.runtime.errors import CredentialsError

__all__ = ["CredentialStore", "Secret"]

CRED_FILE = "flows_cred.json"
CONFIG_FILE = ".config.json"


class Secret(str):
    """A string whose repr never shows its value (so a log line cannot leak it)."""

    def __repr__(self) -> str:
        return "Secret('**********')"


class CredentialStore:
    """Encrypted credentials by node id."""

    def __init__(self, data_dir: str | Path, secret: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self._secret = secret
        self._creds: dict[str, dict[str, Any]] = {}
        self._fernet: Fernet | None = None
        self._dirty = False

    def _key(self) -> Fernet:
        if self._fernet is None:
            secret = self._secret or self._stored_secret()
            digest = hashlib.sha256(secret.encode()).digest()
            self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        return self._fernet

    def _stored_secret(self) -> str:
        path = self.data_dir / CONFIG_FILE
        conf: dict[str, Any] = {}
        if path.exists():
            conf = json.loads(path.read_text())
            if conf.get("credentialSecret"):
                return str(conf["credentialSecret"])
        conf["credentialSecret"] = secrets.token_hex(32)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(conf, indent=2))
        os.chmod(path, 0o600)
        return str(conf["credentialSecret"])

    def load(self) -> None:
        path = self.data_dir / CRED_FILE
        if not path.exists():
            return
        blob = json.loads(path.read_text()).get("$", "")
        try:
            plain = self._key().decrypt(blob.encode())
        except InvalidToken:
            raise CredentialsError(
                f"cannot decrypt {path}: the credential secret is not the one they were "
                "encrypted with"
            ) from None
        self._creds = json.loads(plain)

    def save(self) -> None:
        if not self._dirty:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        token = self._key().encrypt(json.dumps(self._creds).encode()).decode()
        path = self.data_dir / CRED_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"$": token}))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
        self._dirty = False

    def get(self, node_id: str) -> dict[str, Any]:
        return {
            k: Secret(v) if isinstance(v, str) else v
            for k, v in self._creds.get(node_id, {}).items()
        }

    def set(self, node_id: str, values: dict[str, Any]) -> None:
        self._creds[node_id] = dict(values)
        self._dirty = True

    def snapshot(self) -> tuple[dict[str, Any], bool]:
        """The current credentials, to :meth:`restore` when a deploy is refused."""
        return {k: dict(v) for k, v in self._creds.items()}, self._dirty

    def restore(self, snap: tuple[dict[str, Any], bool]) -> None:
        """Undo every change since :meth:`snapshot` (nothing was saved in between)."""
        self._creds, self._dirty = snap

    def extract(self, flows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Move ``credentials`` out of node objects into the store; drop those of removed nodes."""
        out = []
        ids = set()
        for raw in flows:
            if not isinstance(raw, dict):
                out.append(raw)
                continue
            ids.add(raw.get("id"))
            if "credentials" in raw:
                raw = dict(raw)
                creds = raw.pop("credentials")
                if isinstance(creds, dict):
                    merged = dict(self._creds.get(raw["id"], {}))
                    merged.update({k: v for k, v in creds.items() if v is not None})
                    self.set(raw["id"], merged)
            out.append(raw)
        for nid in [n for n in self._creds if n not in ids]:
            del self._creds[nid]
            self._dirty = True
        return out
