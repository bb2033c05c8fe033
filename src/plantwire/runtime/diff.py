"""What a deploy changes: the node ids it adds, changes (must restart) and removes."""

from __future__ import annotations

from typing import Any

from plantwire.runtime.flowset import FlowSet

__all__ = ["IGNORED_FOR_DIFF", "diff_flowsets"]

IGNORED_FOR_DIFF = frozenset({"x", "y", "wires", "w", "h", "credentials"})
"""Properties whose change needs no restart (positions; wires are updated in place)."""


def diff_flowsets(old: FlowSet, new: FlowSet, mode: str) -> dict[str, list[str]]:
    """Which node ids a deploy adds, changes (must restart) and removes."""
    added = [i for i in new.by_id if i not in old.by_id]
    removed = [i for i in old.by_id if i not in new.by_id]
    changed: set[str] = set(added)
    for nid, raw in new.by_id.items():
        before = old.by_id.get(nid)
        if before is None:
            continue
        if _significant(before) != _significant(raw):
            changed.add(nid)
    # containers: a changed tab / subflow / group changes what is inside it, a changed
    # config node the nodes that reference it, a changed subflow its instances
    members: dict[str, set[str]] = {}
    for nid, raw in new.by_id.items():
        if raw.get("z"):
            members.setdefault(raw["z"], set()).add(nid)
    refs_of: dict[str, set[str]] = {}
    for nid, raw in new.by_id.items():
        refs = {raw.get("z") or "", raw.get("g") or ""}
        if raw["type"].startswith("subflow:"):
            sub = raw["type"][8:]
            refs |= {sub} | members.get(sub, set())
        refs |= {
            v
            for k, v in raw.items()
            if isinstance(v, str) and k not in ("id", "z", "g", "type") and v in new.by_id
        }
        refs_of[nid] = refs
    gone = set(removed)
    grew = True
    while grew:
        grew = False
        for nid, refs in refs_of.items():
            if nid not in changed and (refs & changed or refs & gone):
                changed.add(nid)
                grew = True
    if mode == "flows":
        tabs = {new.by_id[i].get("z") for i in changed if i in new.by_id} | {
            old.by_id[i].get("z") for i in removed
        }
        changed |= {i for i, r in new.by_id.items() if r.get("z") in tabs or i in tabs}
    return {"added": added, "changed": sorted(changed), "removed": removed}


def _significant(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in IGNORED_FOR_DIFF}
