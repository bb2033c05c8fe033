"""Context: node, flow and global scopes kept in named stores.

Stores hold top-level keys per scope; a key such as ``"line.speed"`` or ``"a[0]"`` is a
path into the value stored under its first element. Two stores ship: ``memory`` (the
default) and ``sqlite`` (persistent: survives a restart; Node-RED's module name
``localfilesystem`` maps to it so existing settings keep working).

Access is synchronous: the persistent store keeps every value in memory and writes
changes to SQLite in the background (and on close), as Node-RED's file store does
with its cache.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plantwire.runtime.message import MISSING, clone_value

if TYPE_CHECKING:
    from plantwire.runtime.node import Node

__all__ = [
    "ContextManager",
    "ContextStore",
    "ContextView",
    "MemoryStore",
    "NodeContext",
    "SqliteStore",
]

log = logging.getLogger("plantwire.context")
GLOBAL_SCOPE = "global"


class ContextStore:
    """A context store: top-level values by scope and key."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    async def open(self) -> None:
        """Load what the store keeps."""

    async def close(self) -> None:
        """Write out what is pending."""

    def get(self, scope: str, key: str) -> Any:
        return self._data.get(scope, {}).get(key, MISSING)

    def set(self, scope: str, key: str, value: Any) -> None:
        if value is MISSING:
            bucket = self._data.get(scope)
            if bucket is not None:
                bucket.pop(key, None)
        else:
            self._data.setdefault(scope, {})[key] = value
        self._changed(scope, key)

    def keys(self, scope: str) -> list[str]:
        return list(self._data.get(scope, {}))

    def delete_scope(self, scope: str) -> None:
        for key in list(self._data.pop(scope, {})):
            self._changed(scope, key)

    def _changed(self, scope: str, key: str) -> None:
        """Hook for persistent stores."""


class MemoryStore(ContextStore):
    """Keeps context in memory only; it is lost when the process ends."""


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"__plantwire_bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "__plantwire_bytes__" in value:
            return base64.b64decode(value["__plantwire_bytes__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class SqliteStore(ContextStore):
    """Persistent context in a SQLite file (WAL mode); survives restarts.

    Reads come from memory; changed keys are written in one transaction every
    ``flush_interval`` seconds and when the store closes.
    """

    def __init__(self, path: str | Path, flush_interval: float = 1.0) -> None:
        super().__init__()
        self.path = Path(path)
        self.flush_interval = flush_interval
        self._dirty: set[tuple[str, str]] = set()
        self._db: sqlite3.Connection | None = None
        self._flusher: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS context ("
            " scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
            " PRIMARY KEY (scope, key))"
        )
        for scope, key, value in db.execute("SELECT scope, key, value FROM context"):
            self._data.setdefault(scope, {})[key] = _decode(json.loads(value))
        self._db = db

    def _changed(self, scope: str, key: str) -> None:
        self._dirty.add((scope, key))
        if self._flusher is None and self._db is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flusher = loop.call_later(self.flush_interval, self.flush)

    def flush(self) -> None:
        """Write every changed key now."""
        self._flusher = None
        if self._db is None or not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        db = self._db
        db.execute("BEGIN")
        try:
            for scope, key in dirty:
                value = self._data.get(scope, {}).get(key, MISSING)
                if value is MISSING:
                    db.execute("DELETE FROM context WHERE scope=? AND key=?", (scope, key))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO context(scope, key, value) VALUES (?, ?, ?)",
                        (scope, key, json.dumps(_encode(value), default=str)),
                    )
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            self._dirty |= dirty
            raise

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None


STORE_MODULES: dict[str, type[ContextStore]] = {
    "memory": MemoryStore,
    "sqlite": SqliteStore,
    "localfilesystem": SqliteStore,
}


class ContextManager:
    """Owns the stores and hands out context views for nodes and flows."""

    def __init__(self, stores: dict[str, ContextStore] | None = None, default: str = "") -> None:
        self.stores: dict[str, ContextStore] = stores or {"memory": MemoryStore()}
        self.default = default or next(iter(self.stores))
        if self.default not in self.stores:
            raise ValueError(f"default context store {self.default!r} is not configured")
        self._warned: set[str] = set()
        self.global_view = ContextView(self, GLOBAL_SCOPE)

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None, data_dir: Path) -> ContextManager:
        """Build the stores from Node-RED style ``contextStorage`` settings."""
        if not settings:
            return cls()
        stores: dict[str, ContextStore] = {}
        default = ""
        for name, conf in settings.items():
            if name == "default" and isinstance(conf, str):
                default = conf
                continue
            module = conf.get("module", "memory") if isinstance(conf, dict) else str(conf)
            store_cls = STORE_MODULES.get(module)
            if store_cls is None:
                raise ValueError(f"unknown context store module {module!r} for store {name!r}")
            if store_cls is SqliteStore:
                cfg = conf.get("config", {}) if isinstance(conf, dict) else {}
                path = Path(cfg.get("path", data_dir / f"context-{name}.sqlite"))
                stores[name] = SqliteStore(path, float(cfg.get("flushInterval", 1.0)))
            else:
                stores[name] = store_cls()
        if default and default not in stores:
            raise ValueError(f"default context store {default!r} is not configured")
        return cls(stores, default or next(iter(stores)))

    async def open(self) -> None:
        for store in self.stores.values():
            await store.open()

    async def close(self) -> None:
        for store in self.stores.values():
            await store.close()

    def store(self, name: str | None) -> ContextStore:
        if not name:
            return self.stores[self.default]
        found = self.stores.get(name)
        if found is None:
            if name not in self._warned:
                self._warned.add(name)
                log.warning("unknown context store %r: using %r", name, self.default)
            return self.stores[self.default]
        return found

    def flow_view(self, flow_id: str, parent: ContextView | None) -> ContextView:
        return ContextView(self, flow_id, parent)

    def node_context(self, node: Node) -> NodeContext:
        flow_view = node.flow.context_view
        scope = f"{node.id}:{node.z}"
        return NodeContext(self, scope, flow_view, self.global_view)

    def delete_scope(self, scope: str) -> None:
        for store in self.stores.values():
            store.delete_scope(scope)


class ContextView:
    """One scope of context: ``get``, ``set`` and ``keys``, with an optional store name."""

    def __init__(self, manager: ContextManager, scope: str, parent: ContextView | None = None):
        self._manager = manager
        self.scope = scope
        self.parent = parent

    def get(self, key: str, store: str | None = None) -> Any:
        """Value at ``key`` (a path such as ``a.b[0]``), or MISSING when there is none."""
        if key.startswith("$parent."):
            if self.parent is None or self.scope == GLOBAL_SCOPE:
                return MISSING
            return self.parent.get(key[8:], store)
        from plantwire.expressions.paths import get_property, normalise_path

        parts = normalise_path(key)
        top = self._manager.store(store).get(self.scope, str(parts[0]))
        if len(parts) == 1 or top is MISSING:
            return top
        return get_property({str(parts[0]): top}, key)

    def set(self, key: str, value: Any, store: str | None = None) -> None:
        """Set ``key``; setting MISSING deletes it."""
        if key.startswith("$parent."):
            if self.parent is not None and self.scope != GLOBAL_SCOPE:
                self.parent.set(key[8:], value, store)
            return
        from plantwire.expressions.paths import normalise_path, set_property

        target = self._manager.store(store)
        parts = normalise_path(key)
        first = str(parts[0])
        if len(parts) == 1:
            target.set(self.scope, first, value)
            return
        holder = {first: target.get(self.scope, first)}
        if holder[first] is MISSING:
            del holder[first]
        set_property(holder, key, value, True)
        target.set(self.scope, first, holder.get(first, MISSING))

    def keys(self, store: str | None = None) -> list[str]:
        return self._manager.store(store).keys(self.scope)

    def snapshot(self, store: str | None = None) -> dict[str, Any]:
        """A copy of every key and value of this scope (for the API and tests)."""
        s = self._manager.store(store)
        return {k: clone_value(s.get(self.scope, k)) for k in s.keys(self.scope)}


class NodeContext(ContextView):
    """A node's own context, with ``flow`` and ``global_`` views beside it."""

    def __init__(
        self, manager: ContextManager, scope: str, flow: ContextView, global_: ContextView
    ) -> None:
        super().__init__(manager, scope, None)
        self.flow = flow
        self.global_ = global_
