"""Errors: exceptions become catchable errors; catch scopes; loop guard; never a crash."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import node_type
from tests.conftest import probe, tab


def catch(
    cid: str, scope: Any = None, uncaught: bool = False, wires: Any = None, **kw: Any
) -> dict[str, Any]:
    return {
        "id": cid,
        "type": "catch",
        "z": kw.pop("z", "t1"),
        "scope": scope,
        "uncaught": uncaught,
        "wires": wires if wires is not None else [[cid + "-out"]],
        **kw,
    }


async def test_exception_reaches_catch_with_error_shape(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy([tab(), probe("bad", fail=True, name="Bad one"), catch("c"), probe("c-out")])
    rt.receive_now(rt.get_node("bad"), {"payload": 5, "topic": "t"})
    await rt.idle()
    [got] = rt.get_node("c-out").received
    assert got["payload"] == 5 and got["topic"] == "t"
    assert got["error"]["message"] == "probe bad failed"
    assert got["error"]["source"] == {
        "id": "bad",
        "type": "test-probe",
        "name": "Bad one",
        "count": 1,
    }


async def test_scope_list_group_and_uncaught(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            {"id": "g1", "type": "group", "z": "t1", "nodes": ["in-group", "cg"]},
            probe("in-group", fail=True, g="g1"),
            probe("listed", fail=True),
            probe("other", fail=True),
            catch("cg", scope="group", g="g1"),
            catch("cl", scope=["listed"]),
            catch("cu", uncaught=True),
            probe("cg-out"),
            probe("cl-out"),
            probe("cu-out"),
        ]
    )
    for nid in ("in-group", "listed", "other"):
        rt.receive_now(rt.get_node(nid), {"payload": nid})
    await rt.idle()
    assert [m["payload"] for m in rt.get_node("cg-out").received] == ["in-group"]
    assert [m["payload"] for m in rt.get_node("cl-out").received] == ["listed"]
    assert [m["payload"] for m in rt.get_node("cu-out").received] == ["other"]


async def test_catch_only_sees_its_own_tab(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [tab(), tab("t2"), probe("bad", fail=True), catch("c2", z="t2"), probe("c2-out", z="t2")]
    )
    rt.receive_now(rt.get_node("bad"), {"payload": 1})
    await rt.idle()
    assert rt.get_node("c2-out").received == []


async def test_error_loop_is_stopped(make_runtime: Any, caplog: pytest.LogCaptureFixture) -> None:
    rt = make_runtime()
    # the catch node feeds the failing node again: Node-RED stops after 9 rounds
    await rt.deploy([tab(), probe("bad", fail=True), catch("c", wires=[["bad"]])])
    with caplog.at_level(logging.WARNING):
        rt.receive_now(rt.get_node("bad"), {"payload": 1})
        await rt.idle()
    assert len(rt.get_node("bad").received) == 10
    assert "maximum number of catches" in caplog.text


async def test_previous_error_moves_to_underscore_error(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            probe("a", fail=True),
            catch("c", scope=["a"], wires=[["b"]]),
            probe("b", fail=True),
            catch("c2", scope=["b"]),
            probe("c2-out"),
        ]
    )
    rt.receive_now(rt.get_node("a"), {"payload": 1})
    await rt.idle()
    [got] = rt.get_node("c2-out").received
    assert got["error"]["source"]["id"] == "b"
    assert got["_error"]["source"]["id"] == "a"


@node_type("test-async-fail")
class AsyncFail(Node):
    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        raise RuntimeError("async boom")


async def test_async_node_exception_is_caught_and_runtime_keeps_running(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            {"id": "f", "type": "test-async-fail", "z": "t1", "wires": [[]]},
            catch("c"),
            probe("c-out"),
            probe("ok", [["ok2"]]),
            probe("ok2"),
        ]
    )
    rt.receive_now(rt.get_node("f"), {"payload": 1})
    rt.receive_now(rt.get_node("f"), {"payload": 2})
    for _ in range(20):
        await rt.idle()
        if len(rt.get_node("c-out").received) == 2:
            break
    assert [m["error"]["message"] for m in rt.get_node("c-out").received] == ["async boom"] * 2
    rt.receive_now(rt.get_node("ok"), {"payload": "still alive"})
    await rt.idle()
    assert rt.get_node("ok2").received[0]["payload"] == "still alive"


async def test_uncaught_error_is_logged_with_node(
    make_runtime: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime()
    await rt.deploy([tab(), probe("bad", fail=True, name="Filler")])
    with caplog.at_level(logging.ERROR):
        rt.receive_now(rt.get_node("bad"), {"payload": 1})
        await rt.idle()
    assert "[test-probe:Filler] probe bad failed" in caplog.text
