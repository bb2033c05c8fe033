"""send(): Node-RED's message semantics, delivery order and per-node counters."""

from __future__ import annotations

from typing import Any

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, node_type
from tests.conftest import probe, tab


class EmitConfig(NodeConfig):
    mode: str = "single"


@node_type("test-emit")
class EmitNode(Node):
    """Sends in the form its ``mode`` names."""

    config_model = EmitConfig

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        mode = self.config.mode  # type: ignore[attr-defined]
        if mode == "single":
            send(msg)
        elif mode == "per-port":
            send([msg, {"payload": "second"}])
        elif mode == "multi":
            send([[{"payload": 1}, {"payload": 2}], {"payload": 3}])
        elif mode == "none":
            send(None)
        elif mode == "skip-first":
            send([None, msg])


def flows(mode: str) -> list[dict[str, Any]]:
    return [
        tab(),
        {"id": "e", "type": "test-emit", "z": "t1", "mode": mode, "wires": [["a", "b"], ["c"]]},
        probe("a"),
        probe("b"),
        probe("c"),
    ]


async def run(make_runtime: Any, mode: str, msg: Msg) -> Any:
    rt = make_runtime()
    await rt.deploy(flows(mode))
    rt.receive_now(rt.get_node("e"), msg)
    await rt.idle()
    return rt


async def test_first_wire_gets_the_original_others_a_deep_copy(make_runtime: Any) -> None:
    original = {"payload": {"deep": [1, 2]}}
    rt = await run(make_runtime, "single", original)
    a, b = rt.get_node("a").received[0], rt.get_node("b").received[0]
    assert a is original
    assert b is not original and b == original
    assert b["payload"] is not original["payload"]
    assert b["payload"]["deep"] is not original["payload"]["deep"]


async def test_list_sends_one_message_per_output(make_runtime: Any) -> None:
    rt = await run(make_runtime, "per-port", {"payload": "first"})
    assert [m["payload"] for m in rt.get_node("a").received] == ["first"]
    assert [m["payload"] for m in rt.get_node("c").received] == ["second"]


async def test_list_of_lists_sends_several_messages_on_one_output_in_order(
    make_runtime: Any,
) -> None:
    rt = await run(make_runtime, "multi", {"payload": 0})
    assert [m["payload"] for m in rt.get_node("a").received] == [1, 2]
    assert [m["payload"] for m in rt.get_node("b").received] == [1, 2]
    assert [m["payload"] for m in rt.get_node("c").received] == [3]


async def test_none_sends_nothing_and_none_entries_skip_outputs(make_runtime: Any) -> None:
    rt = await run(make_runtime, "none", {"payload": 0})
    assert rt.get_node("a").received == [] and rt.get_node("c").received == []
    rt2 = await run(make_runtime, "skip-first", {"payload": 9})
    assert rt2.get_node("a").received == []
    assert [m["payload"] for m in rt2.get_node("c").received] == [9]


async def test_msgid_is_added_and_kept(make_runtime: Any) -> None:
    rt = await run(make_runtime, "multi", {"payload": 0})
    ids = [m["_msgid"] for m in rt.get_node("a").received]
    assert all(isinstance(i, str) and len(i) == 16 for i in ids)
    assert len(set(ids)) == 2


async def test_delivery_is_asynchronous_and_fifo(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy([tab(), probe("p", [["q"]]), probe("q")])
    node = rt.get_node("p")
    for i in range(5):
        rt.receive_now(node, {"payload": i})
    assert rt.get_node("q").received == []  # nothing delivered synchronously
    await rt.idle()
    assert [m["payload"] for m in rt.get_node("q").received] == [0, 1, 2, 3, 4]


async def test_counters_per_node(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy([tab(), probe("p", [["q", "r"]]), probe("q"), probe("r", fail=True)])
    for i in range(3):
        rt.receive_now(rt.get_node("p"), {"payload": i})
    await rt.idle()
    stats = rt.stats()
    assert stats["p"] == {"in": 3, "out": 6, "errors": 0, "queued": 0}
    assert stats["q"]["in"] == 3
    assert stats["r"]["errors"] == 3


async def test_send_rejects_a_non_message(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy([tab(), probe("p")])
    node = rt.get_node("p")
    try:
        node.send("text")
    except TypeError as exc:
        assert "message dict" in str(exc)
    else:
        raise AssertionError("send('text') must raise")
