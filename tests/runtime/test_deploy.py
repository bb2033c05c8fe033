"""Deploy: full / flows / nodes restart only what changed; bad flows are refused whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowFileError, FlowValidationError
from plantwire.runtime.flowset import load_flows_file
from tests.conftest import probe, tab


def base() -> list[dict[str, Any]]:
    return [
        tab("t1"),
        tab("t2"),
        probe("a", [["b"]]),
        probe("b"),
        probe("c", z="t2"),
        probe("d", z="t2"),
    ]


def changed(flows: list[dict[str, Any]], nid: str, **props: Any) -> list[dict[str, Any]]:
    return [dict(n, **props) if n["id"] == nid else n for n in flows]


@pytest.mark.parametrize(
    ("mode", "restarted"),
    [("full", {"a", "b", "c", "d"}), ("flows", {"a", "b"}), ("nodes", {"a"})],
)
async def test_only_what_changed_restarts(
    make_runtime: Any, events: list[Any], mode: str, restarted: set[str]
) -> None:
    rt = make_runtime()
    await rt.deploy(base())
    events.clear()
    await rt.deploy(changed(base(), "a", label="new"), mode)
    assert {nid for ev, nid in events if ev == "close"} == restarted
    assert {nid for ev, nid in events if ev == "start"} == restarted
    assert rt.get_node("a").config.label == "new"


async def test_rewire_without_restart_and_removed_nodes_close_as_removed(
    make_runtime: Any, events: list[Any]
) -> None:
    rt = make_runtime()
    await rt.deploy(base())
    events.clear()
    flows = [n for n in changed(base(), "b", wires=[["e"]]) if n["id"] != "d"] + [probe("e")]
    await rt.deploy(flows, "nodes")
    assert events == [("close-removed", "d"), ("start", "e")]
    rt.receive_now(rt.get_node("a"), {"payload": 1})
    await rt.idle()
    assert len(rt.get_node("e").received) == 1


async def test_config_node_change_restarts_its_users(make_runtime: Any, events: list[Any]) -> None:
    rt = make_runtime()
    flows = [*base(), {"id": "cfg", "type": "tls-config", "name": "site CA", "servername": "a"}]
    flows = changed(flows, "c", server="cfg")
    await rt.deploy(flows)
    events.clear()
    await rt.deploy(changed(flows, "cfg", servername="b"), "nodes")
    assert {nid for ev, nid in events if ev == "start"} == {"c"}


async def test_invalid_deploy_is_refused_and_running_flows_untouched(
    make_runtime: Any, events: list[Any]
) -> None:
    rt = make_runtime()
    await rt.deploy(base())
    events.clear()
    bad = [
        *base(),
        probe("e", [["nowhere"]]),
        {"id": "f", "type": "test-probe", "z": "t1", "fail": "very", "wires": [[]]},
    ]
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy(bad, "full")
    text = str(info.value)
    assert (
        "node 'e' (test-probe), field 'wires[0]': wire to node 'nowhere', which does not exist"
        in text
    )
    assert "node 'f' (test-probe), field 'fail'" in text
    assert events == []
    rt.receive_now(rt.get_node("a"), {"payload": "still running"})
    await rt.idle()
    assert rt.get_node("b").received[0]["payload"] == "still running"


async def test_flow_structure_problems_named(make_runtime: Any) -> None:
    rt = make_runtime()
    flows = [
        tab(),
        probe("a"),
        probe("a"),
        probe("x", z="no-such-tab"),
        {"id": "i", "type": "subflow:missing", "z": "t1", "wires": []},
    ]
    with pytest.raises(FlowValidationError) as info:
        await rt.deploy(flows)
    problems = {(p.node_id, p.field) for p in info.value.problems}
    assert {("a", "id"), ("x", "z"), ("i", "type")} <= problems


async def test_disabled_nodes_and_tabs_do_not_run(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            tab("t2", disabled=True),
            probe("a", [["b"]]),
            probe("b", d=True),
            probe("c", z="t2"),
        ]
    )
    assert rt.get_node("a") is not None
    assert rt.get_node("b") is None
    assert rt.get_node("c") is None
    rt.receive_now(rt.get_node("a"), {"payload": 1})
    await rt.idle()


async def test_unknown_type_loads_and_does_nothing(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            probe("a", [["u"]]),
            {"id": "u", "type": "some-vendor-node", "z": "t1", "custom": 5, "wires": [[]]},
        ]
    )
    node = rt.get_node("u")
    assert node.type == "some-vendor-node"
    assert node.last_status["text"] == "type not installed: some-vendor-node"
    assert rt.flowset.by_id["u"]["custom"] == 5  # the node object is kept as written
    rt.receive_now(rt.get_node("a"), {"payload": 1})
    await rt.idle()


def test_flows_file_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "flows.json"
    bad.write_text('[{"id": "a", "type": "inject",}]')
    with pytest.raises(FlowFileError, match=r"not valid JSON: .* line 1"):
        load_flows_file(bad)
    bad.write_text('{"not": "a list"}')
    with pytest.raises(FlowFileError, match="expected a JSON array"):
        load_flows_file(bad)
    bad.write_text('[{"type": "inject"}]')
    with pytest.raises(FlowFileError, match="item 0 has no string 'id'"):
        load_flows_file(bad)
    with pytest.raises(FlowFileError, match="cannot read"):
        load_flows_file(tmp_path / "missing.json")
    good = tmp_path / "v2.json"
    good.write_text('{"rev": "abc", "flows": [{"id": "t", "type": "tab"}]}')
    assert load_flows_file(good) == [{"id": "t", "type": "tab"}]


async def test_deploy_type_checked(make_runtime: Any) -> None:
    with pytest.raises(ValueError, match="unknown deployment type"):
        await make_runtime().deploy([], "partial")


async def test_changed_global_env_restarts_everything(make_runtime: Any, events: list[Any]) -> None:
    rt = make_runtime()
    gc = {
        "id": "gc",
        "type": "global-config",
        "env": [{"name": "SITE", "value": "A", "type": "str"}],
    }
    await rt.deploy([*base(), gc])
    assert rt.get_node("c").get_env("SITE") == "A"
    events.clear()
    gc2 = dict(gc, env=[{"name": "SITE", "value": "B", "type": "str"}])
    await rt.deploy([*base(), gc2], "nodes")
    assert {nid for ev, nid in events if ev == "start"} == {"a", "b", "c", "d"}
    assert rt.get_node("c").get_env("SITE") == "B"
