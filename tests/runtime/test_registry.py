"""The registry refuses duplicates and loads entry points; the catalogue feeds the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantwire.catalog import node_catalog, render_node_doc
from plantwire.registry import Registry, load_node_types
from plantwire.runtime.errors import DuplicateNodeTypeError, UnknownNodeTypeError
from plantwire.runtime.node import Node


def test_duplicate_type_is_refused() -> None:
    reg = Registry()

    class A(Node):
        pass

    class B(Node):
        pass

    reg.register("x", A)
    reg.register("x", A)  # the same class again is harmless (re-import)
    with pytest.raises(DuplicateNodeTypeError, match="'x' is already registered"):
        reg.register("x", B)
    with pytest.raises(UnknownNodeTypeError):
        reg.get("y")


def test_builtins_come_through_the_entry_point_group() -> None:
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="plantwire.nodes")}
    assert "plantwire.nodes.core" in names
    assert "catch" in load_node_types()


def test_catalogue_has_schema_and_help_for_every_type() -> None:
    catalog = node_catalog()
    for name, entry in catalog.items():
        if name.startswith("test-"):
            continue
        assert entry["schema"]["type"] == "object", name
        assert entry["help"], f"node type {name} has no help text"
    assert catalog["catch"]["schema"]["properties"]["uncaught"]["type"] == "boolean"


def test_generated_docs_are_up_to_date() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "nodes"
    stale = []
    for name, entry in node_catalog().items():
        if name.startswith("test-"):
            continue
        page = docs / (name.replace(" ", "-") + ".md")
        if not page.exists() or page.read_text(encoding="utf-8") != render_node_doc(entry):
            stale.append(name)
    assert not stale, f"docs/nodes is stale for {stale}: run `make docs`"


def test_generated_node_index_is_up_to_date() -> None:
    from plantwire.catalog import INDEX_FILE
    from plantwire.registry import load_node_types, render_index

    assert INDEX_FILE.read_text(encoding="utf-8") == render_index(load_node_types()), (
        "src/plantwire/nodes/index.py is stale: run `make docs`"
    )


def test_a_lazy_registry_imports_a_package_when_a_flow_uses_its_type() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from plantwire.registry import load_node_types\n"
        "r = load_node_types(lazy=True)\n"
        "assert 'plantwire.nodes.opcua' not in sys.modules\n"
        "assert 'inject' in r and 'opcua-read' in r\n"
        "assert 'plantwire.nodes.opcua' in sys.modules\n"
        "assert 'plantwire.nodes.amqp' not in sys.modules\n"
        "assert 'no-such-type' not in r\n"
        "assert len(r.types()) > 80 and 'plantwire.nodes.amqp' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
