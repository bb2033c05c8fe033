"""The node catalogue: every registered type with its JSON Schema, ports and help.

One source for ``plantwire nodes --json``, the generated docs (docs/nodes/<type>.md)
and, later, the editor's palette and forms.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from plantwire.registry import load_node_types
from plantwire.spec import CREDENTIAL_KINDS

__all__ = ["credential_fields", "node_catalog", "render_node_doc", "write_node_docs"]

_BASE_FIELDS = frozenset({"id", "type", "z", "name", "d", "g", "wires", "x", "y"})


def _help(cls: Any) -> str:
    return inspect.cleandoc(cls.__doc__ or "").strip()


def credential_fields(name: str, cls: Any) -> dict[str, str]:
    """The credentials of a node type: property name -> "text" or "password"."""
    declared = getattr(cls, "credential_fields", None) or {}
    bad = {k: v for k, v in declared.items() if v not in CREDENTIAL_KINDS}
    if bad:
        raise ValueError(f"{name}: credential_fields kinds must be text or password: {bad}")
    return dict(declared)


def _schema(name: str, cls: Any) -> dict[str, Any]:
    schema: dict[str, Any] = cls.config_model.model_json_schema()
    return schema


def node_catalog() -> dict[str, dict[str, Any]]:
    """Metadata of every node type, sorted by type name.

    ``schema`` is the config model's JSON Schema: a property naming a config node carries
    ``"x-config": "<type>"``, one taking fixed words an ``enum``. ``credentials`` maps the
    type's credential properties to ``"text"`` or ``"password"`` (write-only).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, cls in load_node_types().types().items():
        help_text = _help(cls)
        out[name] = {
            "type": name,
            "category": cls.category,
            "inputs": cls.inputs,
            "outputs": cls.outputs,
            "color": cls.color,
            "icon": cls.icon,
            "config": bool(cls.is_config),
            "summary": help_text.splitlines()[0] if help_text else "",
            "help": help_text,
            "module": cls.__module__,
            "schema": _schema(name, cls),
            "credentials": credential_fields(name, cls),
        }
    return out


def _type_text(prop: dict[str, Any]) -> str:
    if "x-config" in prop:
        return f"{prop['x-config']} node id"
    if "enum" in prop and "type" in prop:
        return f"{prop['type']}: " + " / ".join(repr(v) for v in prop["enum"])
    if "type" in prop:
        return str(prop["type"])
    if "anyOf" in prop:
        return " or ".join(_type_text(p) for p in prop["anyOf"])
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "enum" in prop:
        return " / ".join(repr(v) for v in prop["enum"])
    return "any"


def render_node_doc(entry: dict[str, Any]) -> str:
    """The Markdown page of one node type."""
    lines = [f"# {entry['type']}", ""]
    lines += [entry["help"] or "(no description)", ""]
    kind = (
        "config node"
        if entry["config"]
        else f"{entry['inputs']} input(s), {entry['outputs']} output(s)"
    )
    lines += [f"Category: {entry['category']} · {kind}", ""]
    props = entry["schema"].get("properties", {})
    own = {k: v for k, v in props.items() if k not in _BASE_FIELDS}
    required = set(entry["schema"].get("required", []))
    if own:
        lines += [
            "## Properties",
            "",
            "| property | type | default | description |",
            "|---|---|---|---|",
        ]
        for key, prop in own.items():
            default = prop.get("default", "")
            desc = str(prop.get("description", "")).replace("\n", " ").replace("|", "\\|")
            if "default" in prop:
                dflt = repr(default)
            elif key in required:
                dflt = "(required)"
            else:
                dflt = (
                    "[]"
                    if prop.get("type") == "array"
                    else "{}"
                    if prop.get("type") == "object"
                    else ""
                )
            lines.append(f"| `{key}` | {_type_text(prop)} | `{dflt}` | {desc} |")
        lines.append("")
    creds = entry.get("credentials") or {}
    if creds:
        lines += [
            "## Credentials",
            "",
            "Kept in the encrypted credential store, never in flows.json"
            " (password: write-only in the editor).",
            "",
            "| credential | kind |",
            "|---|---|",
        ]
        lines += [f"| `{k}` | {v} |" for k, v in creds.items()]
        lines.append("")
    lines += [
        "Common properties (`id`, `type`, `z`, `name`, `d`, `g`, `wires`, `x`, `y`) are as in",
        "Node-RED's flows.json. This page is generated from the node's spec: run `make docs`.",
        "",
    ]
    return "\n".join(lines)


def write_node_docs(folder: str | Path) -> list[Path]:
    """(Re)write docs/nodes: one page per type plus an index; returns the files written."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    catalog = node_catalog()
    written = []
    index = ["# Node types", "", "| type | category | summary |", "|---|---|---|"]
    for name, entry in catalog.items():
        fname = name.replace(" ", "-") + ".md"
        path = target / fname
        path.write_text(render_node_doc(entry), encoding="utf-8")
        written.append(path)
        index.append(f"| [{name}]({fname}) | {entry['category']} | {entry['summary']} |")
    (target / "README.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    written.append(target / "README.md")
    for stale in target.glob("*.md"):
        if stale not in written:
            stale.unlink()
    return written


INDEX_FILE = Path(__file__).parent / "nodes" / "index.py"


def write_node_index(path: Path = INDEX_FILE) -> Path:
    """Write plantwire/nodes/index.py (built-in type -> package, for lazy imports)."""
    from plantwire.registry import render_index

    path.write_text(render_index(load_node_types()), encoding="utf-8")
    return path


if __name__ == "__main__":
    import sys

    for p in write_node_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/nodes"):
        print(p)
    print(write_node_index())
