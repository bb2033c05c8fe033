"""The node type registry: built-in types and those of installed packages.

Third-party packages add node types by declaring an entry point in the group
``plantwire.nodes`` whose value is a module; importing that module registers its
node classes with :func:`plantwire.spec.node_type`.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points
from typing import Any

from plantwire.runtime.errors import DuplicateNodeTypeError, UnknownNodeTypeError

__all__ = ["ENTRY_POINT_GROUP", "Registry", "default_registry", "load_node_types"]

ENTRY_POINT_GROUP = "plantwire.nodes"
BUILTIN_PACKAGES = (
    "plantwire.nodes.core",
    "plantwire.nodes.mqtt",
    "plantwire.nodes.sparkplug",
    "plantwire.nodes.uns",
    "plantwire.nodes.modbus",
    "plantwire.nodes.opcua",
    "plantwire.nodes.s7",
    "plantwire.nodes.enip",
    "plantwire.nodes.http",
    "plantwire.nodes.sql",
    "plantwire.nodes.email",
    "plantwire.nodes.amqp",
    "plantwire.nodes.nats",
    "plantwire.nodes.redis",
    "plantwire.nodes.odata",
    "plantwire.nodes.files",
    "plantwire.nodes.websocket",
    "plantwire.nodes.analytics",
)

log = logging.getLogger("plantwire.registry")


class Registry:
    """Maps node type names to node classes; refuses a second class for a name."""

    def __init__(self) -> None:
        self._types: dict[str, Any] = {}

    def register(self, type_name: str, cls: Any) -> None:
        existing = self._types.get(type_name)
        if existing is not None and existing is not cls:
            raise DuplicateNodeTypeError(
                f"node type {type_name!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        cls.type_name = type_name
        self._types[type_name] = cls

    def get(self, type_name: str) -> Any:
        try:
            return self._types[type_name]
        except KeyError:
            raise UnknownNodeTypeError(f"unknown node type {type_name!r}") from None

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def types(self) -> dict[str, Any]:
        return dict(sorted(self._types.items()))


default_registry = Registry()
_loaded = False


def load_node_types() -> Registry:
    """Import the built-in node packages and every ``plantwire.nodes`` entry point once."""
    global _loaded
    if _loaded:
        return default_registry
    _loaded = True
    for name in BUILTIN_PACKAGES:
        importlib.import_module(name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in BUILTIN_PACKAGES:
            continue
        try:
            ep.load()
        except Exception as exc:  # a broken plug-in must not stop the runtime
            log.error("could not load node package %s (%s): %s", ep.name, ep.value, exc)
    return default_registry
