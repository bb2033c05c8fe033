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


def test_catalogue_exports_credentials_config_refs_and_choices() -> None:
    catalog = node_catalog()
    # credentials: what goes to the encrypted store, and which are write-only
    assert catalog["amqp-broker"]["credentials"] == {"user": "text", "password": "password"}
    assert catalog["sql-database"]["credentials"]["password"] == "password"
    assert catalog["nats-server"]["credentials"]["token"] == "password"
    assert catalog["e-mail"]["credentials"] == {"userid": "text", "password": "password"}
    assert catalog["change"]["credentials"] == {}
    for name, entry in catalog.items():
        assert set(entry["credentials"].values()) <= {"text", "password"}, name
    # config references name the type of the config node
    props = catalog["sql-query"]["schema"]["properties"]
    assert props["database"]["x-config"] == "sql-database"
    assert catalog["redis-config"]["schema"]["properties"]["tls"]["x-config"] == "tls-config"
    assert catalog["websocket in"]["schema"]["properties"]["client"]["x-config"] == (
        "websocket-client"
    )
    assert "x-config" not in catalog["e-mail"]["schema"]["properties"]["server"]
    for name, entry in catalog.items():
        for key, prop in entry["schema"].get("properties", {}).items():
            if "x-config" in prop:
                assert catalog[prop["x-config"]]["config"], f"{name}.{key}"
    # fixed words are an enum
    assert catalog["sql-query"]["schema"]["properties"]["mode"]["enum"] == [
        "query",
        "batch",
        "upsert",
    ]
    assert "deliverPolicy" in catalog["nats in"]["schema"]["properties"]
    assert catalog["nats in"]["schema"]["properties"]["deliverPolicy"]["enum"] == [
        "all",
        "new",
        "last",
    ]
    rule = catalog["change"]["schema"]["$defs"]["ChangeRule"]["properties"]
    assert rule["t"]["enum"] == ["set", "change", "delete", "move"]


def test_enum_hints_keep_values_nodes_accepted_before() -> None:
    """Values a node accepted before the enum hints still validate, and are in the enum."""
    types = load_node_types()
    catalog = node_catalog()
    link = types.get("link out").config_model
    link.model_validate({"id": "a", "type": "link out", "mode": ""})  # "" means link
    assert "" in catalog["link out"]["schema"]["properties"]["mode"]["enum"]
    change = types.get("change").config_model
    change.model_validate(
        {"id": "c", "type": "change", "rules": [{"t": "set", "p": "x", "pt": "", "to": "1"}]}
    )
    assert "" in catalog["change"]["schema"]["$defs"]["ChangeRule"]["properties"]["pt"]["enum"]
    delay = types.get("delay").config_model
    for word in catalog["delay"]["schema"]["properties"]["pauseType"]["enum"]:
        delay.model_validate({"id": "d", "type": "delay", "pauseType": word})
    with pytest.raises(ValueError, match="pauseType"):
        delay.model_validate({"id": "d", "type": "delay", "pauseType": "sometimes"})


def test_generated_doc_lists_credentials_and_config_types() -> None:
    catalog = node_catalog()
    page = render_node_doc(catalog["amqp-broker"])
    assert "## Credentials" in page and "| `password` | password |" in page
    assert "| `database` | sql-database node id |" in render_node_doc(catalog["sql-query"])
    assert "## Credentials" not in render_node_doc(catalog["change"])
