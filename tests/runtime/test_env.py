"""Environment: ${VAR} in properties, flow / group / global env, NR_* built-ins."""

from __future__ import annotations

from typing import Any

from plantwire.runtime.message import MISSING
from tests.conftest import probe, tab


async def test_whole_value_env_substitution_in_node_properties(
    make_runtime: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("PW_TEST_LABEL", "line-7")
    rt = make_runtime()
    await rt.deploy(
        [
            tab(env=[{"name": "FLOWVAR", "value": "42", "type": "num"}]),
            probe("a", label="${PW_TEST_LABEL}", other="x ${PW_TEST_LABEL}", num="${FLOWVAR}"),
        ]
    )
    cfg = rt.get_node("a").config
    assert cfg.label == "line-7"
    assert cfg.other == "x ${PW_TEST_LABEL}"  # only whole values are replaced, as in Node-RED
    assert cfg.num == 42


async def test_env_lookup_order_group_tab_global(make_runtime: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PW_ONLY_OS", "os")
    rt = make_runtime(env={"SETTINGS_VAR": "settings"})
    await rt.deploy(
        [
            tab(
                env=[
                    {"name": "V", "value": "tab", "type": "str"},
                    {"name": "T", "value": "t", "type": "str"},
                ]
            ),
            {
                "id": "g",
                "type": "group",
                "z": "t1",
                "name": "Cell A",
                "env": [{"name": "V", "value": "group", "type": "str"}],
            },
            probe("in-group", g="g", name="Filler"),
            probe("plain"),
            {
                "id": "gc",
                "type": "global-config",
                "env": [{"name": "GLOBAL_V", "value": "gv", "type": "str"}],
            },
        ]
    )
    node, plain = rt.get_node("in-group"), rt.get_node("plain")
    assert node.get_env("V") == "group"
    assert node.get_env("T") == "t"
    assert plain.get_env("V") == "tab"
    assert node.get_env("NR_GROUP_NAME") == "Cell A"
    assert node.get_env("NR_NODE_NAME") == "Filler"
    assert node.get_env("NR_FLOW_ID") == "t1"
    assert node.get_env("NR_NODE_PATH") == "t1/in-group"
    assert plain.get_env("GLOBAL_V") == "gv"
    assert plain.get_env("SETTINGS_VAR") == "settings"
    assert plain.get_env("PW_ONLY_OS") == "os"
    assert plain.get_env("PW_NOT_SET_ANYWHERE") is MISSING


async def test_subflow_env_instance_overrides_definition(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            {
                "id": "sf",
                "type": "subflow",
                "name": "S",
                "in": [{"wires": [{"id": "n"}]}],
                "out": [],
                "env": [
                    {"name": "A", "value": "def", "type": "str"},
                    {"name": "B", "value": "defB", "type": "str"},
                ],
            },
            {"id": "n", "type": "test-probe", "z": "sf", "wires": [[]]},
            {
                "id": "i",
                "type": "subflow:sf",
                "z": "t1",
                "name": "Inst",
                "wires": [],
                "env": [{"name": "A", "value": "inst", "type": "str"}],
            },
        ]
    )
    inner = rt.get_node("i-n")
    assert inner.get_env("A") == "inst"
    assert inner.get_env("B") == "defB"
    assert inner.get_env("NR_SUBFLOW_NAME") == "Inst"
    assert inner.get_env("NR_FLOW_ID") == "t1"
