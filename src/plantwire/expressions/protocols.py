"""The shape of the node object that expressions are evaluated for.

Plantwire's runtime ``Node`` satisfies :class:`NodeLike`; tests use small fakes.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["ContextView", "NodeContext", "NodeLike"]


class ContextView(Protocol):
    """One context scope (node, flow or global): dict-like access by key path."""

    def get(self, key: str, store: str | None = None) -> Any:
        """Return the value at ``key`` (a path such as ``a.b[0]``), or MISSING."""
        ...

    def set(self, key: str, value: Any, store: str | None = None) -> None:
        """Set the value at ``key``; MISSING deletes it."""
        ...

    def keys(self, store: str | None = None) -> list[str]:
        """Return the top-level keys held in ``store``."""
        ...


class NodeContext(ContextView, Protocol):
    """A node's own context, with views of its flow and the global context."""

    @property
    def flow(self) -> ContextView:
        """The flow (tab or subflow instance) context."""
        ...

    @property
    def global_(self) -> ContextView:
        """The global context."""
        ...


class NodeLike(Protocol):
    """What expression evaluation needs from a node."""

    @property
    def id(self) -> str:
        """The node id."""
        ...

    @property
    def name(self) -> str:
        """The node name (may be empty)."""
        ...

    @property
    def type(self) -> str:
        """The node type name."""
        ...

    @property
    def z(self) -> str:
        """The id of the flow (tab or subflow) holding the node."""
        ...

    def get_env(self, name: str) -> Any:
        """Return the environment variable ``name`` as seen by this node, or MISSING."""
        ...

    def context(self) -> NodeContext:
        """Return the node's context."""
        ...
