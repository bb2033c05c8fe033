"""Shared test doubles for the expressions tests: a dict-backed fake node."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

try:
    import plantwire.expressions  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from plantwire.expressions import get_property, set_property
from plantwire.runtime.message import MISSING


class FakeView:
    """A context scope backed by one dict per store."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.stores: dict[str | None, dict[str, Any]] = {None: dict(data or {})}

    def _store(self, store: str | None) -> dict[str, Any]:
        return self.stores.setdefault(store, {})

    def get(self, key: str, store: str | None = None) -> Any:
        return get_property(self._store(store), key)

    def set(self, key: str, value: Any, store: str | None = None) -> None:
        set_property(self._store(store), key, value)

    def keys(self, store: str | None = None) -> list[str]:
        return list(self._store(store))


class FakeContext(FakeView):
    """A node context with flow and global views."""

    def __init__(self, flow: FakeView, global_: FakeView) -> None:
        super().__init__()
        self.flow = flow
        self.global_ = global_


class FakeNode:
    """Just enough of a node for expression evaluation."""

    def __init__(self, env: dict[str, Any] | None = None) -> None:
        self.id = "n1"
        self.name = "My Node"
        self.type = "change"
        self.z = "tab1"
        self.env = dict(env or {})
        self._context = FakeContext(FakeView(), FakeView())

    def get_env(self, name: str) -> Any:
        return self.env.get(name, MISSING)

    def context(self) -> FakeContext:
        return self._context


@pytest.fixture
def node() -> FakeNode:
    """A fresh fake node with env vars and empty contexts."""
    return FakeNode({"HOST": "alpha", "PORT": 1880, "RATIO": 2.5, "FLAG": True, "NUL": None})
