"""Status changes reach status nodes; done() reaches complete nodes."""

from __future__ import annotations

from typing import Any

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import node_type
from tests.conftest import probe, tab


@node_type("test-status")
class StatusSetter(Node):
    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        self.status("green", "dot", msg["payload"])


@node_type("test-manual-done")
class ManualDone(Node):
    manual_done = True

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if msg.get("finish"):
            done()
        elif msg.get("err"):
            done("went wrong")


async def test_status_node_gets_status_with_source_and_text_as_string(make_runtime: Any) -> None:
    rt = make_runtime()
    seen: list[tuple[str, dict[str, Any]]] = []
    rt.status_listeners.append(lambda node, st: seen.append((node.id, dict(st))))
    await rt.deploy(
        [
            tab(),
            {"id": "s", "type": "test-status", "z": "t1", "name": "Setter", "wires": [[]]},
            {"id": "st", "type": "status", "z": "t1", "scope": ["s"], "wires": [["out"]]},
            probe("out"),
        ]
    )
    rt.receive_now(rt.get_node("s"), {"payload": 42})
    await rt.idle()
    [got] = rt.get_node("out").received
    assert got["status"] == {
        "fill": "green",
        "shape": "dot",
        "text": "42",
        "source": {"id": "s", "type": "test-status", "name": "Setter"},
    }
    assert seen == [("s", {"fill": "green", "shape": "dot", "text": "42"})]


async def test_complete_fires_on_done_only_for_scoped_nodes(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            {"id": "m", "type": "test-manual-done", "z": "t1", "wires": [[]]},
            {"id": "c", "type": "complete", "z": "t1", "scope": ["m"], "wires": [["out"]]},
            catch_all := {
                "id": "k",
                "type": "catch",
                "z": "t1",
                "scope": None,
                "wires": [["kout"]],
            },
            probe("out"),
            probe("kout"),
        ]
    )
    assert catch_all["id"] == "k"
    node = rt.get_node("m")
    rt.receive_now(node, {"payload": "pending"})
    rt.receive_now(node, {"payload": "finished", "finish": True})
    rt.receive_now(node, {"payload": "failed", "err": True})
    await rt.idle()
    assert [m["payload"] for m in rt.get_node("out").received] == ["finished"]
    assert [m["error"]["message"] for m in rt.get_node("kout").received] == ["went wrong"]


async def test_auto_done_after_handler_returns(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            probe("p"),
            {"id": "c", "type": "complete", "z": "t1", "scope": ["p"], "wires": [["out"]]},
            probe("out"),
        ]
    )
    rt.receive_now(rt.get_node("p"), {"payload": 1})
    rt.receive_now(rt.get_node("p"), {"payload": 2, "fail": True})
    await rt.idle()
    assert [m["payload"] for m in rt.get_node("out").received] == [1]
