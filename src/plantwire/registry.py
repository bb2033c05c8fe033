"""The node type registry: built-in types and those of installed packages.

Third-party packages add node types by declaring an entry point in the group
``plantwire.nodes`` whose value is a module; importing that module registers its
node classes with :func:`plantwire.spec.node_type`.
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from plantwire.runtime.errors import DuplicateNodeTypeError, UnknownNodeTypeError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Registry",
    "default_registry",
    "import_node_modules",
    "load_node_types",
]

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

NOT_NODE_MODULES = frozenset({"client", "sparkplug_b_pb2", "model"})
"""Module names in a node package that hold no node types (connections, generated code)."""


def import_node_modules(package: str, path: Iterable[str]) -> None:
    """Import every node module of a node package (its ``__init__`` calls this with its
    ``__name__`` and ``__path__``), which registers their node types. Modules whose name
    starts with ``_`` or ends with ``_codec`` (pure helpers) and ``NOT_NODE_MODULES`` are
    left out. A module that fails to import is logged and skipped, so one broken node
    type never stops the runtime (its flows then load that node as an unknown type)."""
    for info in pkgutil.iter_modules(path):
        name = info.name
        if name.startswith("_") or name.endswith("_codec") or name in NOT_NODE_MODULES:
            continue
        try:
            importlib.import_module(f"{package}.{name}")
        except Exception as exc:
            log.error("node module %s.%s failed to import: %s", package, name, exc)


class Registry:
    """Maps node type names to node classes; refuses a second class for a name.

    With :meth:`defer`, types are known by name only and their package is imported the
    first time a flow asks for one of them (``get``, ``in``): a flow of core nodes then
    never pays for importing OPC UA, AMQP or SQLAlchemy."""

    def __init__(self) -> None:
        self._types: dict[str, Any] = {}
        self._deferred: dict[str, str] = {}  # type name -> package not imported yet

    def defer(self, index: dict[str, str]) -> None:
        """Know the types of ``index`` (type name -> package) without importing them."""
        for type_name, package in index.items():
            if type_name not in self._types:
                self._deferred[type_name] = package

    def _resolve(self, type_name: object) -> None:
        package = self._deferred.get(type_name) if isinstance(type_name, str) else None
        if package is None:
            return
        for name in [n for n, p in self._deferred.items() if p == package]:
            del self._deferred[name]
        try:
            importlib.import_module(package)
        except Exception as exc:  # a broken package must not stop the runtime
            log.error("node package %s failed to import: %s", package, exc)

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
        if type_name not in self._types:
            self._resolve(type_name)
        try:
            return self._types[type_name]
        except KeyError:
            raise UnknownNodeTypeError(f"unknown node type {type_name!r}") from None

    def __contains__(self, type_name: object) -> bool:
        if type_name not in self._types:
            self._resolve(type_name)
        return type_name in self._types

    def types(self) -> dict[str, Any]:
        """Every type, deferred packages imported first."""
        while self._deferred:
            self._resolve(next(iter(self._deferred)))
        return dict(sorted(self._types.items()))


default_registry = Registry()
_loaded = False
_plugins_loaded = False


def load_node_types(lazy: bool = False) -> Registry:
    """The registry with every node type: the built-in packages and every
    ``plantwire.nodes`` entry point. ``lazy``: built-in packages are imported when a flow
    first uses one of their types (from the generated index ``plantwire.nodes.index``);
    a later call without ``lazy`` imports them all."""
    global _loaded
    if _loaded:
        return default_registry
    if lazy:
        from plantwire.nodes.index import NODE_PACKAGES

        default_registry.defer(NODE_PACKAGES)
    else:
        _loaded = True
        for name in BUILTIN_PACKAGES:
            importlib.import_module(name)
        default_registry.types()  # anything deferred earlier
    _load_plugins()
    return default_registry


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in BUILTIN_PACKAGES:
            continue
        try:
            ep.load()
        except Exception as exc:  # a broken plug-in must not stop the runtime
            log.error("could not load node package %s (%s): %s", ep.name, ep.value, exc)


def render_index(registry: Registry) -> str:
    """The source of ``plantwire/nodes/index.py``: built-in type -> package."""
    lines = [
        '"""Generated by `make docs` (python -m plantwire.catalog): which package defines',
        "each built-in node type, so a runtime imports only the packages its flows use.",
        'tests/runtime/test_registry.py fails when it is stale."""',
        "",
        "NODE_PACKAGES: dict[str, str] = {",
    ]
    for name, cls in registry.types().items():
        package = next((p for p in BUILTIN_PACKAGES if cls.__module__.startswith(p + ".")), None)
        if package is not None:
            lines.append(f"    {json.dumps(name)}: {json.dumps(package)},")
    lines.append("}")
    return "\n".join(lines) + "\n"
