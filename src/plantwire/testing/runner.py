"""Flow tests: given a flow, when messages arrive at nodes, these messages leave nodes.

The case format is described in docs/flow-tests.md (the same as the recorded Node-RED
conformance cases). Use :func:`run_case` from pytest, or ``plantwire test`` from the
shell::

    from plantwire.testing import load_case, run_case

    async def test_my_flow():
        result = await run_case(load_case("tests/flows/my_case.json"))
        assert result.passed, result.detail
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from plantwire.registry import load_node_types
from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.message import MISSING, Msg, new_msgid
from plantwire.runtime.node import Node
from plantwire.runtime.runtime import Runtime, RuntimeSettings

__all__ = [
    "Case",
    "CaseResult",
    "find_case_files",
    "load_case",
    "matches",
    "run_case",
    "to_json_value",
]

IMPLICIT_TAB = "__plantwire_test_tab__"


@dataclass
class Case:
    """One flow test case."""

    name: str
    flow: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    expect: dict[str, list[list[Any]]]
    settle_ms: float = 200
    ordered: bool = True
    path: str = ""
    timeout_ms: float = 5000


@dataclass
class CaseResult:
    name: str
    passed: bool
    skipped: bool = False
    detail: str = ""
    actual: dict[str, list[list[Any]]] = field(default_factory=dict)


def load_case(path: str | Path) -> Case:
    """Read one case file; a clear error when it is not a case."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlantwireError(f"{p}: not a readable JSON case file: {exc}") from exc
    return case_from_dict(data, str(p))


def case_from_dict(data: Any, where: str = "case") -> Case:
    if not isinstance(data, dict):
        raise PlantwireError(f"{where}: a case is a JSON object")
    for key in ("flow", "expect"):
        if key not in data:
            raise PlantwireError(f"{where}: missing {key!r}")
    return Case(
        name=str(data.get("name") or where),
        flow=data["flow"],
        steps=list(data.get("steps") or []),
        expect=data["expect"],
        settle_ms=float(data.get("settle_ms", 200)),
        ordered=data.get("ordered", True) is not False,
        path=where,
        timeout_ms=float(data.get("timeout_ms", 5000)),
    )


def find_case_files(paths: list[str]) -> list[Path]:
    """Expand files and folders (recursively, ``*.json``) into a sorted list of files."""
    found: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            found.extend(sorted(p.rglob("*.json")))
        else:
            found.append(p)
    return found


def to_json_value(value: Any, top: bool = False) -> Any:
    """What JSON.stringify would make of ``value`` (Buffers as Node-RED writes them)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, bytes | bytearray):
        return {"type": "Buffer", "data": list(value)}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is MISSING or (callable(v) and not isinstance(v, dict | list)):
                continue
            if top and isinstance(k, str) and k.startswith("_"):
                continue
            out[str(k)] = to_json_value(v)
        return out
    if isinstance(value, list | tuple):
        return [None if v is MISSING else to_json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, re.Pattern):
        return {}
    if isinstance(value, set | frozenset):
        return {}
    if value is MISSING:
        return None
    return str(value)


def matches(expected: Any, actual: Any, path: str = "msg") -> str | None:
    """None when ``actual`` matches ``expected`` (subset rule for objects), else the difference."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {json.dumps(actual)[:200]}"
        for k, v in expected.items():
            if k.startswith("_"):
                continue
            if k not in actual:
                return f"{path}.{k}: missing (expected {json.dumps(v)[:200]})"
            diff = matches(v, actual[k], f"{path}.{k}")
            if diff:
                return diff
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected {json.dumps(expected)[:200]}, got {json.dumps(actual)[:200]}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            diff = _equal(e, a, f"{path}[{i}]")
            if diff:
                return diff
        return None
    return _equal(expected, actual, path)


def _equal(expected: Any, actual: Any, path: str) -> str | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            return f"{path}: keys differ: expected {sorted(expected)}, got {sorted(actual)}"
        for k in expected:
            diff = _equal(expected[k], actual[k], f"{path}.{k}")
            if diff:
                return diff
        return None
    if isinstance(expected, list):
        return matches(expected, actual, path)
    if isinstance(expected, bool) or isinstance(actual, bool):
        ok = type(expected) is type(actual) and expected == actual
    elif isinstance(expected, int | float) and isinstance(actual, int | float):
        ok = expected == actual
    else:
        ok = type(expected) is type(actual) and expected == actual
    if ok:
        return None
    return f"{path}: expected {json.dumps(expected)[:200]}, got {json.dumps(actual)[:200]}"


def _prepare_flow(flow: list[dict[str, Any]]) -> list[dict[str, Any]]:
    registry = load_node_types()
    out = []
    needs_tab = False
    for raw in flow:
        raw = dict(raw)
        t = raw.get("type", "")
        is_config = t in registry and getattr(registry.get(t), "is_config", False)
        if t not in ("tab", "subflow") and not raw.get("z") and not is_config and t != "group":
            raw["z"] = IMPLICIT_TAB
            needs_tab = True
        elif t == "group" and not raw.get("z"):
            raw["z"] = IMPLICIT_TAB
        out.append(raw)
    if needs_tab:
        out.insert(0, {"id": IMPLICIT_TAB, "type": "tab", "label": "Flow 1"})
    return out


def _compare(case: Case, recorded: dict[str, list[list[Any]]]) -> str | None:
    for nid, ports in case.expect.items():
        got = recorded.get(nid, [])
        for port, expected_msgs in enumerate(ports):
            actual_msgs = got[port] if port < len(got) else []
            where = f"{nid} port {port}"
            if len(actual_msgs) != len(expected_msgs):
                return (
                    f"{where}: expected {len(expected_msgs)} message(s), got {len(actual_msgs)}: "
                    f"{json.dumps(actual_msgs)[:300]}"
                )
            if case.ordered:
                for i, (e, a) in enumerate(zip(expected_msgs, actual_msgs, strict=True)):
                    diff = matches(e, a, f"{where} msg {i}")
                    if diff:
                        return diff
            else:
                remaining = list(actual_msgs)
                for i, e in enumerate(expected_msgs):
                    hit = next((a for a in remaining if matches(e, a) is None), MISSING)
                    if hit is MISSING:
                        return f"{where}: no message matches expected #{i} {json.dumps(e)[:200]}"
                    remaining.remove(hit)
    return None


def _short_of(case: Case, recorded: dict[str, list[list[Any]]]) -> bool:
    """True while some port has fewer messages than the case expects on it."""
    for nid, ports in case.expect.items():
        got = recorded.get(nid, [])
        for i, expected in enumerate(ports):
            if len(got[i] if i < len(got) else []) < len(expected):
                return True
    return False


async def _wait_for_expected(case: Case, recorded: dict[str, list[list[Any]]]) -> None:
    """After ``settle_ms``: wait up to ``timeout_ms`` more while expected messages are still
    missing (a slow or busy machine), then once more ``settle_ms`` for extra messages."""
    if not _short_of(case, recorded):
        return
    loop = asyncio.get_running_loop()
    end = loop.time() + case.timeout_ms / 1000
    while _short_of(case, recorded) and loop.time() < end:
        await asyncio.sleep(0.02)
    await asyncio.sleep(case.settle_ms / 1000)


async def run_case(case: Case, settings: RuntimeSettings | None = None) -> CaseResult:
    """Run ``case`` in a fresh runtime and compare what left the recorded ports."""
    registry = load_node_types()
    missing = sorted(
        {
            r.get("type", "")
            for r in case.flow
            if r.get("type") not in registry
            and r.get("type") not in ("tab", "subflow", "group")
            and not str(r.get("type", "")).startswith("subflow:")
        }
    )
    if missing:
        return CaseResult(case.name, False, True, f"needs node type(s) {', '.join(missing)}")
    recorded: dict[str, list[list[Any]]] = {nid: [] for nid in case.expect}

    def record(node: Node, port: int, msg: Msg) -> None:
        ports = recorded.get(node.id)
        if ports is None:
            return
        while len(ports) <= port:
            ports.append([])
        ports[port].append(to_json_value(msg, top=True))

    with tempfile.TemporaryDirectory(prefix="plantwire-case-") as tmp:
        rt = Runtime(settings or RuntimeSettings(tmp, credential_secret="flow-test"), registry)
        rt.send_recorder = record
        try:
            await rt.deploy(_prepare_flow(case.flow))
            for step in case.steps:
                if "inject" in step:
                    node = rt.get_node(step["inject"])
                    if node is None:
                        return CaseResult(
                            case.name, False, detail=f"no running node {step['inject']!r}"
                        )
                    msg = json.loads(json.dumps(step.get("msg", {})))
                    msg.setdefault("_msgid", new_msgid())
                    rt.receive_now(node, msg)
                elif "wait_ms" in step:
                    await asyncio.sleep(float(step["wait_ms"]) / 1000)
            await asyncio.sleep(case.settle_ms / 1000)
            await _wait_for_expected(case, recorded)
        except PlantwireError as exc:
            return CaseResult(case.name, False, detail=str(exc))
        finally:
            await rt.stop()
    diff = _compare(case, recorded)
    return CaseResult(case.name, diff is None, detail=diff or "", actual=recorded)
