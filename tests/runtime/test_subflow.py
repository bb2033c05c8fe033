"""Subflows: instances with their own node copies, ports, status output, nesting."""

from __future__ import annotations

import asyncio
from typing import Any

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import node_type
from tests.conftest import probe, tab


@node_type("test-slow-close")
class SlowClose(Node):
    async def close(self, removed: bool) -> None:
        await asyncio.sleep(10)


@node_type("test-status-payload")
class StatusPayload(Node):
    """Sends {payload: <text>} on, to drive a subflow's status output."""

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        send({"payload": msg["payload"]})


def subflow(sid: str = "sf", **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "type": "subflow",
        "name": "Doubler",
        "env": [],
        "in": [{"wires": [{"id": "inner"}]}],
        "out": [{"wires": [{"id": "inner", "port": 0}]}, {"wires": [{"id": sid}]}],
        **extra,
    }


async def test_each_instance_has_its_own_nodes_and_outputs(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            subflow(),
            {"id": "inner", "type": "test-probe", "z": "sf", "wires": [[]]},
            {"id": "i1", "type": "subflow:sf", "z": "t1", "wires": [["o1"], ["p1"]]},
            {"id": "i2", "type": "subflow:sf", "z": "t1", "wires": [["o2"], []]},
            probe("o1"),
            probe("o2"),
            probe("p1"),
        ]
    )
    rt.receive_now(rt.get_node("i1"), {"payload": "one"})
    rt.receive_now(rt.get_node("i2"), {"payload": "two"})
    await rt.idle()
    assert [m["payload"] for m in rt.get_node("i1-inner").received] == ["one"]
    assert [m["payload"] for m in rt.get_node("i2-inner").received] == ["two"]
    assert [m["payload"] for m in rt.get_node("o1").received] == ["one"]
    assert [m["payload"] for m in rt.get_node("p1").received] == ["one"]  # input wired straight out
    assert rt.get_node("i1-inner").get_env("NR_NODE_PATH") == "t1/i1/inner"


async def test_status_output_sets_the_instance_status(make_runtime: Any) -> None:
    rt = make_runtime()
    sf = subflow(status={"wires": [{"id": "inner", "port": 0}]})
    sf["in"] = [{"wires": [{"id": "inner"}]}]
    await rt.deploy(
        [
            tab(),
            sf,
            {"id": "inner", "type": "test-status-payload", "z": "sf", "wires": [[]]},
            {"id": "i1", "type": "subflow:sf", "z": "t1", "wires": [[], []]},
        ]
    )
    rt.receive_now(rt.get_node("i1"), {"payload": "running"})
    await rt.idle()
    await rt.idle()
    assert rt.get_node("i1").last_status == {"fill": "grey", "shape": "dot", "text": "running"}


async def test_removed_instance_closes_its_nodes(make_runtime: Any, events: list[Any]) -> None:
    rt = make_runtime()
    flows = [
        tab(),
        subflow(),
        {"id": "inner", "type": "test-probe", "z": "sf", "wires": [[]]},
        {"id": "i1", "type": "subflow:sf", "z": "t1", "wires": [[], []]},
    ]
    await rt.deploy(flows)
    await rt.deploy([f for f in flows if f["id"] != "i1"], "nodes")
    assert ("close-removed", "i1-inner") in events
    assert rt.get_node("i1-inner") is None


async def test_close_timeout_does_not_hang_the_runtime(make_runtime: Any) -> None:
    rt = make_runtime(node_close_timeout=0.2)
    await rt.deploy([tab(), {"id": "s", "type": "test-slow-close", "z": "t1", "wires": [[]]}])
    loop = asyncio.get_running_loop()
    start = loop.time()
    await rt.stop()
    assert loop.time() - start < 5
    assert rt.get_node("s") is None
