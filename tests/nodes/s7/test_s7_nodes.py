"""s7-endpoint / s7-read / s7-write through runtime flows against python-snap7's server."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import pytest

from plantwire.runtime.runtime import Runtime

from .conftest import PlcProcess, S7Plc, wait_for

TAB = {"id": "t1", "type": "tab", "label": "s7"}

ALL_TYPES = {
    "int": ("DB1,INT0", -1234),
    "bit1": ("DB1,X2.1", True),
    "bit0": ("DB1,X2.0", False),
    "real": ("DB1,REAL4", 3.14),
    "dint": ("DB1,DINT8", -100000),
    "word": ("DB1,WORD12", 0xBEEF),
    "dword": ("DB1,DWORD14", 0xDEADBEEF),
    "byte": ("DB1,BYTE18", 0x7F),
    "lreal": ("DB1,LREAL20", 2.718281828),
    "chars": ("DB1,CHAR28.2", "AB"),
    "text": ("DB1,S30.20", "hello"),
    "reals": ("DB1,REAL60.3", [1.5, -2.5, 100.0]),
    "short": ("DB1,R4", 3.14),
    "m_bit": ("M10.0", True),
    "mw": ("MW20", 500),
    "md": ("MD24", 123456),
    "mr": ("MR28", 1.5),
    "in_bit": ("I0.1", True),
    "iw": ("IW2", 42),
    "out_bit": ("Q0.0", True),
    "qd": ("QD4", 7),
}


def endpoint(port: int, **extra: Any) -> dict[str, Any]:
    node = {
        "id": "plc",
        "type": "s7-endpoint",
        "name": "press",
        "host": "127.0.0.1",
        "port": str(port),
        "rack": "0",
        "slot": "1",
        "timeout": "2000",
    }
    node.update(extra)
    return node


def s7_read(nid: str, points: Any, wires: list[str], **extra: Any) -> dict[str, Any]:
    node = {
        "id": nid,
        "type": "s7-read",
        "z": "t1",
        "endpoint": "plc",
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
    """The last message per point."""
    out: dict[str, dict[str, Any]] = {}
    for msg in received(rt, nid):
        out[msg["point"]] = msg
    return out


async def test_every_data_type_bits_and_strings(
    make_runtime: Callable[..., Runtime], s7plc: S7Plc
) -> None:
    rt = make_runtime()
    points = [{"name": n, "address": a} for n, (a, _) in ALL_TYPES.items()]
    await rt.deploy([TAB, endpoint(s7plc.port), s7_read("r", points, ["p"]), probe("p")])
    await wait_for(lambda: len(latest(rt, "p")) == len(ALL_TYPES), what="every point")
    got = latest(rt, "p")
    for name, (address, value) in ALL_TYPES.items():
        msg = got[name]
        assert msg["payload"] == value, name
        assert msg["quality"] == {"status": "good"}
        assert msg["address"] == address
        assert msg["topic"] == name
        assert msg["sourceTimestamp"].endswith("Z")
    assert rt.get_node("r").last_status == {"fill": "green", "shape": "dot", "text": "connected"}  # type: ignore[union-attr]


async def test_one_request_per_cycle_for_neighbouring_points(
    make_runtime: Callable[..., Runtime], s7plc: S7Plc
) -> None:
    rt = make_runtime()
    points = [{"name": n, "address": a} for n, (a, _) in ALL_TYPES.items()]
    await rt.deploy(
        [
            TAB,
            endpoint(s7plc.port),
            s7_read("r1", points[:10], ["p"]),
            s7_read("r2", points[10:], ["p"]),
            probe("p"),
        ]
    )
    ep: Any = rt.get_node("plc")
    coord = ep.coordinator
    await wait_for(lambda: coord.cycles >= 2, what="two cycles")
    # DB1 (one range), M, I and Q: four items in one multi-read request
    plan = ep.plan(list({p for s in coord._subs for p in s.points}))
    assert len(plan) == 1 and len(plan[0].blocks) == 4
    cycles0, sent0, server0 = coord.cycles, coord.requests_sent, s7plc.server.requests
    await wait_for(lambda: coord.cycles >= cycles0 + 10, what="ten more cycles")
    cycles, sent, server = coord.cycles, coord.requests_sent, s7plc.server.requests
    assert sent - sent0 <= cycles - cycles0 + 1
    assert server - server0 <= cycles - cycles0 + 1


async def test_group_output_and_on_change(
    make_runtime: Callable[..., Runtime], s7plc: S7Plc
) -> None:
    rt = make_runtime()
    points = [{"name": "speed", "address": "DB1,REAL4", "unit": "m/s"}, "level=MW20"]
    await rt.deploy(
        [
            TAB,
            endpoint(s7plc.port),
            s7_read("g", points, ["p"], output="group", onChange="true", topic="line/{name}"),
            s7_read(
                "e",
                [{"name": "speed", "address": "DB1,REAL4", "unit": "m/s"}],
                ["q"],
                onChange=True,
                topic="plc/{device}/{point}/{unit}",
            ),
            probe("p"),
            probe("q"),
        ],
    )
    await wait_for(lambda: received(rt, "p") and received(rt, "q"), what="first values")
    await asyncio.sleep(0.5)  # several cycles: nothing changed, nothing more sent
    assert len(received(rt, "p")) == 1 and len(received(rt, "q")) == 1
    msg = received(rt, "p")[0]
    assert msg["payload"] == {"speed": 3.14, "level": 500}
    assert msg["quality"] == {"status": "good"}
    assert received(rt, "q")[0]["topic"] == "plc/press/speed/m/s"
    assert received(rt, "q")[0]["unit"] == "m/s"
    struct.pack_into(">H", s7plc.mk, 20, 501)
    await wait_for(lambda: len(received(rt, "p")) == 2, what="changed group")
    assert received(rt, "p")[1]["payload"] == {"speed": 3.14, "level": 501}
    assert len(received(rt, "q")) == 1


async def test_writes_every_type(make_runtime: Callable[..., Runtime], s7plc: S7Plc) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            endpoint(s7plc.port),
            probe("src", ["w"]),
            probe("src2", ["w2"]),
            {"id": "w", "type": "s7-write", "z": "t1", "endpoint": "plc", "wires": [["done"]]},
            {
                "id": "w2",
                "type": "s7-write",
                "z": "t1",
                "endpoint": "plc",
                "address": "DB2,REAL0",
                "wires": [["done"]],
            },
            probe("done"),
        ]
    )
    await wait_for(lambda: rt.get_node("w").last_status.get("text") == "connected")  # type: ignore[union-attr]
    src: Any = rt.get_node("src")
    writes = [
        ("DB2,INT0", -5),
        ("DB2,X2.3", True),
        ("DB2,DINT4", 70000),
        ("DB2,WORD8", 65535),
        ("DB2,DWORD10", 1 << 31),
        ("DB2,BYTE14", 200),
        ("DB2,LREAL16", 1.25),
        ("DB2,CHAR24.3", "xyz"),
        ("DB2,S30.10", "abc"),
        ("MW40", 9),
        ("Q1.7", True),
        ("DB2,REAL60.2", [0.5, 4.0]),
    ]
    for address, value in writes:
        await src.send_async({"payload": value, "address": address})
    await wait_for(lambda: len(received(rt, "done")) == len(writes), what="writes done")
    db2 = s7plc.db2
    assert struct.unpack_from(">h", db2, 0)[0] == -5
    assert db2[2] == 0b1000
    assert struct.unpack_from(">i", db2, 4)[0] == 70000
    assert struct.unpack_from(">H", db2, 8)[0] == 65535
    assert struct.unpack_from(">I", db2, 10)[0] == 1 << 31
    assert db2[14] == 200
    assert struct.unpack_from(">d", db2, 16)[0] == 1.25
    assert db2[24:27] == b"xyz"
    assert db2[30:35] == bytes([10, 3]) + b"abc"
    assert struct.unpack_from(">H", s7plc.mk, 40)[0] == 9
    assert s7plc.pa[1] == 0x80 and s7plc.pa[0] == 1  # other bits untouched
    assert struct.unpack_from(">2f", db2, 60) == (0.5, 4.0)
    # the configured address wins; a payload object writes several addresses
    src2: Any = rt.get_node("src2")
    await src2.send_async({"payload": 7.5, "address": "DB2,INT0"})
    await wait_for(lambda: len(received(rt, "done")) == len(writes) + 1)
    assert struct.unpack_from(">f", db2, 0)[0] == 7.5
    await src.send_async({"payload": {"DB2,BYTE50": 1, "DB2,BYTE51": 2}})
    await wait_for(lambda: db2[50:52] == b"\x01\x02", what="object write")


async def test_bad_writes_name_the_address(
    make_runtime: Callable[..., Runtime], s7plc: S7Plc
) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            endpoint(s7plc.port),
            probe("src", ["w"]),
            {"id": "w", "type": "s7-write", "z": "t1", "endpoint": "plc", "wires": [["done"]]},
            probe("done"),
            catch("c", ["errs"]),
            probe("errs"),
        ]
    )
    await wait_for(lambda: rt.get_node("w").last_status.get("text") == "connected")  # type: ignore[union-attr]
    src: Any = rt.get_node("src")
    cases = [
        ({"payload": 1, "address": "DB2,FOO0"}, "DB2,FOO0", "unknown data type"),
        ({"payload": 40000, "address": "DB2,INT0"}, "DB2,INT0", "out of range"),
        ({"payload": "x" * 11, "address": "DB2,S0.10"}, "DB2,S0.10", "do not fit"),
        ({"payload": 1, "address": "DB9,INT0"}, "DB9,INT0", "DB9"),
        ({"payload": 1}, "", "no address"),
    ]
    for msg, _, _ in cases:
        await src.send_async(msg)
    await wait_for(lambda: len(received(rt, "errs")) == len(cases), what="errors")
    for got, (_, address, why) in zip(received(rt, "errs"), cases, strict=True):
        text = got["error"]["message"]
        assert address in text and why in text, text
    assert received(rt, "done") == []
    assert s7plc.db2[:4] == bytes(4)


async def test_bad_addresses_keep_other_points_updating(
    make_runtime: Callable[..., Runtime], s7plc: S7Plc
) -> None:
    rt = make_runtime()
    points = [
        {"name": "speed", "address": "DB1,REAL4"},
        {"name": "typo", "address": "DB1,RAEL8"},
        {"name": "nodb", "address": "DB9,INT0"},
        {"name": "beyond", "address": "DB1,INT99"},
        {"name": "level", "address": "MW20"},
    ]
    await rt.deploy(
        [
            TAB,
            endpoint(s7plc.port),
            s7_read("r", points, ["p"]),
            probe("p"),
            catch("c", ["errs"]),
            probe("errs"),
        ]
    )
    await wait_for(lambda: len(received(rt, "errs")) >= 3, what="three errors")
    errors = {m["error"]["message"] for m in received(rt, "errs")}
    assert any("typo" in e and "DB1,RAEL8" in e and "unknown data type" in e for e in errors)
    assert any("nodb" in e and "DB9,INT0" in e and "DB9 does not exist" in e for e in errors)
    assert any("beyond" in e and "DB1,INT99" in e and "out of range" in e for e in errors)
    await asyncio.sleep(0.5)
    assert len(received(rt, "errs")) == 3  # once each, not every cycle
    got = latest(rt, "p")  # sent before the errors were counted (one cycle ago at least)
    assert got["typo"]["quality"]["status"] == "bad"
    assert "DB9 does not exist" in got["nodb"]["quality"]["reason"]
    assert got["nodb"]["payload"] is None
    status = rt.get_node("r").last_status  # type: ignore[union-attr]
    assert status["fill"] == "red" and "typo" in status["text"]
    struct.pack_into(">f", s7plc.db1, 4, 9.5)
    struct.pack_into(">H", s7plc.mk, 20, 77)
    await wait_for(
        lambda: (
            latest(rt, "p")["speed"]["payload"] == 9.5 and latest(rt, "p")["level"]["payload"] == 77
        ),
        what="good points still updating",
    )


async def test_unreachable_plc_then_restart_resumes(
    make_runtime: Callable[..., Runtime], plc_process: PlcProcess
) -> None:
    rt = make_runtime()
    plc_process.start(1.5)
    await rt.deploy(
        [
            TAB,
            endpoint(plc_process.port),
            s7_read("r", [{"name": "v", "address": "DB1,REAL0"}], ["p"]),
            probe("p"),
            catch("c", ["errs"]),
            probe("errs"),
        ]
    )
    await wait_for(lambda: any(m["payload"] == 1.5 for m in received(rt, "p")))
    plc_process.kill()
    await wait_for(lambda: any(m["quality"]["status"] == "bad" for m in received(rt, "p")))
    await wait_for(lambda: rt.get_node("r").last_status["fill"] == "red")  # type: ignore[union-attr]
    assert received(rt, "errs"), "the connection loss reaches catch nodes"
    assert "press" in received(rt, "errs")[0]["error"]["message"]
    await asyncio.sleep(1.0)
    plc_process.start(2.5)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await wait_for(lambda: received(rt, "p")[-1]["payload"] == 2.5, timeout=10, what="resume")
    assert loop.time() - t0 < 5.0
    assert received(rt, "p")[-1]["quality"] == {"status": "good"}
    assert rt.get_node("r").last_status["fill"] == "green"  # type: ignore[union-attr]


async def test_no_plc_at_all_reports_and_keeps_trying(
    make_runtime: Callable[..., Runtime], plc_process: PlcProcess
) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            TAB,
            endpoint(plc_process.port),
            s7_read("r", ["DB1,REAL0"], ["p"]),
            probe("p"),
            catch("c", ["errs"]),
            probe("errs"),
        ]
    )
    await wait_for(lambda: received(rt, "errs"), what="an error")
    assert "cannot connect" in received(rt, "errs")[0]["error"]["message"]
    assert "reconnecting" in rt.get_node("r").last_status["text"]  # type: ignore[union-attr]
    plc_process.start(4.0)
    await wait_for(lambda: received(rt, "p")[-1]["payload"] == 4.0, timeout=10, what="connect")


async def test_deploy_rejects_a_bad_endpoint(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    with pytest.raises(Exception, match="slot"):
        await rt.deploy([TAB, endpoint(102, slot="40")])
    with pytest.raises(Exception, match="connectionType"):
        await rt.deploy([TAB, endpoint(102, connectionType="XX")])
    with pytest.raises(Exception, match="points"):
        await rt.deploy([TAB, endpoint(102), s7_read("r", [{"name": "a"}], [])])
