"""Parse and validate a flows.json document into tabs, subflows, groups and nodes.

Validation happens here, before anything starts: every node object is checked against
its type's config model, every wire must name an existing node, and every problem is
reported with the node id, type and field. A flow with problems is refused whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from plantwire.registry import Registry
from plantwire.runtime.errors import FlowFileError, FlowValidationError, Problem
from plantwire.spec import NodeConfig

__all__ = ["FlowDef", "FlowSet", "load_flows_file", "parse_flows"]

STRUCTURAL_TYPES = frozenset({"tab", "subflow", "group"})
UNKNOWN_TYPE = "unknown"


@dataclass
class FlowDef:
    """One tab or one subflow definition and the nodes that belong to it."""

    id: str
    kind: str  # "tab" | "subflow" | "global"
    raw: dict[str, Any]
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.raw.get("label") or self.raw.get("name") or "")

    @property
    def disabled(self) -> bool:
        return self.raw.get("disabled") is True


@dataclass
class FlowSet:
    """A whole deployment: global config nodes, tabs and subflow definitions."""

    raw: list[dict[str, Any]]
    tabs: dict[str, FlowDef]
    subflows: dict[str, FlowDef]
    global_flow: FlowDef
    configs: dict[str, NodeConfig]
    """Validated config model of every node object (tabs, subflows and groups excluded)."""
    by_id: dict[str, dict[str, Any]]
    unknown_types: set[str]

    def owner_of(self, node_id: str) -> FlowDef | None:
        raw = self.by_id.get(node_id)
        if raw is None:
            return None
        z = raw.get("z") or ""
        return self.tabs.get(z) or self.subflows.get(z) or self.global_flow


def load_flows_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a flows.json file; a clear FlowFileError when it is missing or not JSON."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowFileError(f"cannot read flows file {str(p)!r}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise FlowFileError(
            f"flows file {str(p)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from exc
    if isinstance(data, dict) and isinstance(data.get("flows"), list):
        data = data["flows"]  # the v2 Admin API form {rev, flows}
    return check_flow_list(data, str(p))


def check_flow_list(data: Any, where: str = "flows") -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise FlowFileError(
            f"{where}: expected a JSON array of node objects, got {type(data).__name__}"
        )
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise FlowFileError(f"{where}: item {i} is not a node object")
        if not isinstance(item.get("id"), str) or not item.get("id"):
            raise FlowFileError(f"{where}: item {i} has no string 'id'")
        if not isinstance(item.get("type"), str) or not item.get("type"):
            raise FlowFileError(f"{where}: node {item.get('id')!r} has no string 'type'")
    return data


def _model_problems(raw: dict[str, Any], exc: ValidationError) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if "input" in err and err["type"] not in ("missing",):
            msg = f"{msg} (got {err['input']!r})"
        out.append(Problem(raw["id"], raw["type"], loc, msg))
    return out


def parse_flows(data: list[dict[str, Any]], registry: Registry) -> FlowSet:
    """Split and validate ``data``; raise FlowValidationError listing every problem."""
    data = check_flow_list(data)
    problems: list[Problem] = []
    by_id: dict[str, dict[str, Any]] = {}
    for raw in data:
        if raw["id"] in by_id:
            problems.append(Problem(raw["id"], raw["type"], "id", "duplicate node id"))
        by_id[raw["id"]] = raw

    tabs = {r["id"]: FlowDef(r["id"], "tab", r) for r in data if r["type"] == "tab"}
    subflows = {r["id"]: FlowDef(r["id"], "subflow", r) for r in data if r["type"] == "subflow"}
    global_flow = FlowDef("global", "global", {"id": "global", "type": "global"})
    configs: dict[str, NodeConfig] = {}
    unknown: set[str] = set()

    for raw in data:
        ntype = raw["type"]
        if ntype in ("tab", "subflow"):
            continue
        owner = tabs.get(raw.get("z") or "") or subflows.get(raw.get("z") or "")
        if ntype == "group":
            (owner or global_flow).groups[raw["id"]] = raw
            continue
        if ntype.startswith("subflow:"):
            if ntype[8:] not in subflows:
                problems.append(
                    Problem(raw["id"], ntype, "type", f"subflow {ntype[8:]!r} is not defined")
                )
                continue
            cls = None
        elif ntype in registry:
            cls = registry.get(ntype)
        else:
            unknown.add(ntype)
            cls = registry.get(UNKNOWN_TYPE) if UNKNOWN_TYPE in registry else None
        model = cls.config_model if cls is not None else NodeConfig
        try:
            configs[raw["id"]] = model.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_model_problems(raw, exc))
            continue
        if ntype in unknown or cls is None:
            is_config = "wires" not in raw and not ntype.startswith("subflow:")
        else:
            is_config = bool(getattr(cls, "is_config", False))
        if is_config:
            (owner or global_flow).configs[raw["id"]] = raw
        elif owner is None:
            if raw.get("z"):
                problems.append(
                    Problem(raw["id"], ntype, "z", f"tab or subflow {raw['z']!r} does not exist")
                )
            else:
                global_flow.nodes[raw["id"]] = raw
        else:
            owner.nodes[raw["id"]] = raw

    for raw in data:
        wires = raw.get("wires")
        if not isinstance(wires, list):
            continue
        for port, targets in enumerate(wires):
            if not isinstance(targets, list):
                continue
            for target in targets:
                if target not in by_id:
                    problems.append(
                        Problem(
                            raw["id"],
                            raw["type"],
                            f"wires[{port}]",
                            f"wire to node {target!r}, which does not exist",
                        )
                    )
    for sf in subflows.values():
        for port in list(sf.raw.get("in") or []) + list(sf.raw.get("out") or []):
            for w in port.get("wires") or []:
                if w.get("id") not in sf.nodes and w.get("id") != sf.id:
                    problems.append(
                        Problem(
                            sf.id,
                            "subflow",
                            "in/out",
                            f"port wired to node {w.get('id')!r}, which is not in the subflow",
                        )
                    )

    if problems:
        raise FlowValidationError(problems)
    return FlowSet(data, tabs, subflows, global_flow, configs, by_id, unknown)
