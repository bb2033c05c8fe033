"""Stands in for a node while a tab's, group's or subflow's env list is evaluated."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plantwire.runtime.context import NodeContext

if TYPE_CHECKING:
    from plantwire.runtime.flow import Flow

__all__ = ["EnvScope"]


class EnvScope:
    """Stands in for a node while a flow's or group's env list is evaluated."""

    def __init__(self, flow: Flow, partial: dict[str, Any], group_id: str | None) -> None:
        self.id = group_id or flow.id
        self.name = ""
        self.type = "group" if group_id else "tab"
        self.z = flow.id
        self.g: str | None = None
        self.alias = None
        self._flow = flow
        self._partial = partial
        self._group_id = group_id
        self._context: NodeContext | None = None

    def get_env(self, name: str) -> Any:
        if name in self._partial:
            return self._partial[name]
        if self._group_id:
            group = self._flow.groups.get(self._group_id, {})
            parent_g = group.get("g")
            while parent_g:
                genv = self._flow.group_env.get(parent_g, {})
                if name in genv:
                    return genv[name]
                parent_g = self._flow.groups.get(parent_g, {}).get("g")
            return self._flow.get_setting(name)
        if self._flow.parent is not None:
            return self._flow.parent.get_setting(name)
        return self._flow.runtime.get_global_env(name)

    def context(self) -> NodeContext:
        if self._context is None:
            m = self._flow.runtime.contexts
            self._context = NodeContext(
                m, f"{self.id}:{self.z}", self._flow.context_view, m.global_view
            )
        return self._context
