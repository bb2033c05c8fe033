"""enip-endpoint / enip-read / enip-write through runtime flows against cpppo's simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pylogix import PLC  # type: ignore[import-untyped]

from plantwire.nodes.enip.tag_codec import LogixTag, TagError, parse_tag, plan_tag_reads
from plantwire.runtime.runtime import Runtime
from tests.nodes.s7.conftest import wait_for

from .conftest import Simulator

TAB = {"id": "t1", "type": "tab", "label": "enip"}


def endpoint(port: int, **extra: Any) -> dict[str, Any]:
    node = {
        "id": "ctl",
        "type": "enip-endpoint",
        "name": "filler",
        "host": "127.0.0.1",
        "port": str(port),
        "slot": "0",
        "timeout": "1000",
    }
    node.update(extra)
    return node


def enip_read(nid: str, points: Any, wires: list[str], **extra: Any) -> dict[str, Any]:
    node = {
        "id": nid,
        "type": "enip-read",
        "z": "t1",
        "endpoint": "ctl",
        "points": points,
        "interval": "100",
        "wires": [wires],
    }
    node.update(extra)
    return node


def probe(nid: str, wires: list[str] | None = None) -> dict[str, Any]:
    return {"id": nid, "type": "test-probe", "z": "t1", "wires": [wires or []]}


def catch(nid: str, wires: list[str]) -> dict[str, Any]:
    return {"id": nid, "type": "catch", "z": "t1", "scope": None, "wires": [wires]}


def received(rt: Runtime, nid: str) -> list[dict[str, Any]]:
    node: Any = rt.get_node(nid)
    return node.received  # type: ignore[no-any-return]


def latest(rt: Runtime, nid: str) -> dict[str, dict[str, Any]]:
    return {m["point"]: m for m in received(rt, nid)}


def preset(port: int, *pairs: tuple[str, Any]) -> None:
    with PLC("127.0.0.1", port=port, timeout=5) as plc:
        for tag, value in pairs:
            assert plc.Write(tag, value).Status == "Success"


def test_tag_names_and_plan() -> None:
    for good in (
        "Speed",
        "Count[3]",
        "M[1,2]",
        "Motor.Speed",
        "Motors[2].Speed",
        "Program:Main.Step",
        "Flags.5",
    ):
        assert parse_tag(good).name == good
    for bad, why in (
        ("", "empty"),
        ("Two words", "spaces"),
        ("Count[x]", "array index"),
        ("3abc", "not a Logix tag"),
    ):
        with pytest.raises(TagError, match=why):
            parse_tag(bad)
    tags = [LogixTag(f"T{i}") for i in range(45)]
    assert [len(r.points) for r in plan_tag_reads(tags, 20)] == [20, 20, 5]


async def test_reads_and_multi_reads(
    make_runtime: Callable[..., Runtime], enip_sim: Simulator
) -> None:
    preset(enip_sim.port, ("Speed", 12.5), ("Count[3]", 42), ("Flag", True), ("Small", -7))
    rt = make_runtime()
    points = [
        {"name": "speed", "address": "Speed", "unit": "rpm"},
        "count3=Count[3]",
        "Flag",
        "Small",
    ] + [f"c{i}=Count[{i}]" for i in range(10)]
    await rt.deploy(
        [
            TAB,
            endpoint(enip_sim.port, maxTagsPerRequest="4"),
            enip_read("r", points, ["p"]),
            probe("p"),
        ]
    )
    await wait_for(lambda: len(latest(rt, "p")) == 14, what="every tag")
    got = latest(rt, "p")
    assert got["speed"]["payload"] == 12.5 and got["speed"]["unit"] == "rpm"
    assert got["count3"]["payload"] == 42 and got["c3"]["payload"] == 42
    assert got["Flag"]["payload"] is True and got["Small"]["payload"] == -7
    assert all(m["quality"] == {"status": "good"} for m in got.values())
    coord = rt.get_node("ctl").coordinator  # type: ignore[union-attr]
    assert len(coord._plans[0.1]) == 4  # 14 tags, 4 per multi-read
    assert rt.get_node("r").last_status["text"] == "connected"  # type: ignore[union-attr]


async def test_writes(make_runtime: Callable[..., Runtime], enip_sim: Simulator) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            endpoint(enip_sim.port),
            probe("src", ["w"]),
            {"id": "w", "type": "enip-write", "z": "t1", "endpoint": "ctl", "wires": [["done"]]},
            probe("src2", ["w2"]),
            {
                "id": "w2",
                "type": "enip-write",
                "z": "t1",
                "endpoint": "ctl",
                "address": "Speed",
                "wires": [["done"]],
            },
            probe("done"),
            catch("c", ["errs"]),
            probe("errs"),
        ]
    )
    await wait_for(lambda: rt.get_node("w").last_status.get("text") == "connected")  # type: ignore[union-attr]
    src: Any = rt.get_node("src")
    await src.send_async({"payload": 99, "address": "Count[5]"})
    await src.send_async({"payload": {"Small": 300, "Flag": True}})
    await rt.get_node("src2").send_async({"payload": 3.75})  # type: ignore[union-attr]
    await src.send_async({"payload": 1, "address": "NoSuchTag"})
    await src.send_async({"payload": 1, "address": "Bad Tag"})
    await wait_for(lambda: len(received(rt, "done")) == 3 and len(received(rt, "errs")) == 2)
    errors = [m["error"]["message"] for m in received(rt, "errs")]
    assert "NoSuchTag" in errors[0] and "no such tag" in errors[0]
    assert "Bad Tag" in errors[1]
    with PLC("127.0.0.1", port=enip_sim.port, timeout=5) as plc:
        assert plc.Read("Count[5]").Value == 99
        assert plc.Read("Small").Value == 300
        assert plc.Read("Flag").Value is True
        assert plc.Read("Speed").Value == 3.75


async def test_unknown_tag_keeps_others_updating(
    make_runtime: Callable[..., Runtime], enip_sim: Simulator
) -> None:
    rt = make_runtime()
    points = ["Speed", "ghost=NoSuchTag", "Count[2]", "far=Count[99]"]
    await rt.deploy(
        [
            TAB,
            endpoint(enip_sim.port),
            enip_read("r", points, ["p"]),
            probe("p"),
            catch("c", ["errs"]),
            probe("errs"),
        ]
    )
    await wait_for(lambda: len(received(rt, "errs")) >= 2, what="two errors")
    errors = [m["error"]["message"] for m in received(rt, "errs")]
    assert any("ghost" in e and "NoSuchTag" in e and "no such tag" in e for e in errors)
    assert any("far" in e and "Count[99]" in e for e in errors)
    await wait_for(lambda: "ghost" in latest(rt, "p"), what="the bad-quality message")
    assert latest(rt, "p")["ghost"]["quality"]["status"] == "bad"
    status = rt.get_node("r").last_status  # type: ignore[union-attr]
    assert status["fill"] == "red" and "ghost" in status["text"]
    preset(enip_sim.port, ("Speed", 7.25), ("Count[2]", 5))
    await wait_for(
        lambda: (
            latest(rt, "p")["Speed"]["payload"] == 7.25
            and latest(rt, "p")["Count[2]"]["payload"] == 5
        ),
        what="good tags updating",
    )
    await asyncio.sleep(0.3)
    assert len(received(rt, "errs")) == 2


async def test_simulator_killed_and_restarted(
    make_runtime: Callable[..., Runtime], enip_sim: Simulator
) -> None:
    preset(enip_sim.port, ("Speed", 1.5))
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            endpoint(enip_sim.port),
            enip_read("r", ["Speed"], ["p"]),
            probe("p"),
            catch("c", ["errs"]),
            probe("errs"),
        ]
    )
    await wait_for(lambda: any(m["payload"] == 1.5 for m in received(rt, "p")))
    enip_sim.kill()
    await wait_for(lambda: received(rt, "p")[-1]["quality"]["status"] == "bad", what="bad")
    await wait_for(lambda: rt.get_node("r").last_status["fill"] == "red")  # type: ignore[union-attr]
    assert any("filler" in m["error"]["message"] for m in received(rt, "errs"))
    await asyncio.sleep(1.0)
    enip_sim.start()
    preset(enip_sim.port, ("Speed", 2.5))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await wait_for(lambda: received(rt, "p")[-1]["payload"] == 2.5, timeout=10, what="resume")
    assert loop.time() - t0 < 5.0
    assert rt.get_node("r").last_status["fill"] == "green"  # type: ignore[union-attr]
