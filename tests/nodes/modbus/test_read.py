"""modbus-client + modbus-read against a real pymodbus server on loopback."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime
from tests.nodes.modbus.helpers import client, flow, get, hp, latest, reader, until
from tests.nodes.modbus.peer import CountingStore, Device, free_port, serve, stop
from tests.nodes.modbus.test_codec import CASES, arrange, regs_of


@pytest.fixture
async def device() -> AsyncIterator[tuple[int, Device, CountingStore]]:
    port = free_port()
    dev = Device(200)
    server, store = await serve({1: dev}, port)
    yield port, dev, store
    await stop(server)


async def test_every_data_type_and_byte_word_order(
    device: tuple[int, Device, CountingStore], make_runtime: Callable[..., Runtime]
) -> None:
    port, dev, _store = device
    points: list[dict[str, Any]] = []
    expect: dict[str, Any] = {}
    address = 0
    for dtype, fmt, value in CASES:
        for bo in ("big", "little"):
            for wo in ("big", "little"):
                name = f"{dtype}_{bo}_{wo}"
                regs = regs_of(arrange(struct.pack(fmt, value), bo, wo))
                dev.tables["holding"][address : address + len(regs)] = regs
                points.append(hp(name, address, dtype, byteOrder=bo, wordOrder=wo))
                expect[name] = value
                address += len(regs)
    dev.tables["holding"][address : address + 3] = [0x5061, 0x6D70, 0x0000]
    points.append(hp("label", address, "string", length=6))
    expect["label"] = "Pamp"
    dev.tables["holding"][address + 3] = 1
    points.append(hp("flag", address + 3, "bool"))
    expect["flag"] = True
    dev.tables["input"][5] = 650
    points.append({"name": "temp", "table": "input", "address": 5, "type": "int16",
                   "scale": 0.1, "offset": -40, "unit": "°C"})  # fmt: skip
    expect["temp"] = pytest.approx(25.0)
    dev.tables["coil"][7] = True
    dev.tables["discrete"][8] = True
    points.append({"name": "run", "table": "coil", "address": 7})
    points.append({"name": "door", "table": "discrete", "address": 8})
    expect.update(run=True, door=True)
    total_regs = address + 4

    rt = make_runtime()
    await rt.deploy(flow(client(port), reader(points, outputMode="object")))
    out = get(rt, "out")
    msg = (await until(lambda: out.received, what="first reading"))[0]
    assert msg["payload"] == expect
    assert msg["topic"] == "pump"
    assert msg["quality"] == {"status": "good"}
    assert msg["sourceTimestamp"] and msg["receiveTimestamp"]
    # packed: all 34 holding-register points in one request; input, coil, discrete one each
    assert total_regs == 84
    assert dev.reads[:4] == [
        ("coil", 7, 1),
        ("discrete", 8, 1),
        ("holding", 0, total_regs),
        ("input", 5, 1),
    ]
    assert ("input", 5, 1) in dev.reads and ("coil", 7, 1) in dev.reads
    assert ("discrete", 8, 1) in dev.reads


async def test_packing_uses_max_gap_and_max_registers(
    device: tuple[int, Device, CountingStore], make_runtime: Callable[..., Runtime]
) -> None:
    port, dev, _store = device
    points = [hp(f"r{i}", i) for i in range(10)]
    points += [hp("near", 15), hp("far", 150)]
    points += [{"name": f"c{i}", "table": "coil", "address": i} for i in range(3)]
    rt = make_runtime()
    await rt.deploy(flow(client(port), reader(points, reportByException="false")))
    await until(lambda: len(dev.reads) >= 9, what="three cycles")
    assert set(dev.reads) == {("holding", 0, 16), ("holding", 150, 1), ("coil", 0, 3)}
    out = get(rt, "out")
    await until(lambda: len(latest(out.received)) == 15, what="all points")

    dev.reads.clear()
    await rt.deploy(
        flow(client(port, maxGap="2", maxRegisters="8"), reader(points, reportByException="false"))
    )
    await until(lambda: len(dev.reads) >= 8, what="a cycle")
    assert set(dev.reads) == {
        ("holding", 0, 8),
        ("holding", 8, 2),
        ("holding", 15, 1),
        ("holding", 150, 1),
        ("coil", 0, 3),
    }


async def test_report_by_exception_and_deadband(
    device: tuple[int, Device, CountingStore], make_runtime: Callable[..., Runtime]
) -> None:
    port, dev, _store = device
    dev.tables["holding"][0] = 100
    dev.tables["holding"][1] = 7
    points = [hp("level", 0, deadband=5, unit="%"), hp("count", 1)]
    rt = make_runtime()
    await rt.deploy(flow(client(port), reader(points, topic="plant/{name}/{point}")))
    out = get(rt, "out")
    await until(lambda: len(out.received) == 2, what="first readings")
    first = {m["point"]: m for m in out.received}
    assert first["level"]["payload"] == 100 and first["level"]["unit"] == "%"
    assert first["level"]["topic"] == "plant/pump/level"
    reads = len(dev.reads)
    await until(lambda: len(dev.reads) >= reads + 5, what="more polls")
    assert len(out.received) == 2  # nothing changed: nothing sent
    dev.tables["holding"][0] = 104  # within the deadband of the last sent value
    reads = len(dev.reads)
    await until(lambda: len(dev.reads) >= reads + 5, what="more polls")
    assert len(out.received) == 2
    dev.tables["holding"][0] = 106  # beyond it
    dev.tables["holding"][1] = 8  # any change of a point without deadband
    await until(lambda: len(out.received) == 4, what="changes")
    assert latest(out.received) == {"level": 106, "count": 8}


async def test_bad_address_names_the_point_and_others_keep_updating(
    device: tuple[int, Device, CountingStore], make_runtime: Callable[..., Runtime]
) -> None:
    port, dev, _store = device
    # 'broken' (199..200) crosses the end of the table and is packed with 'ok'
    points = [hp("ok", 197), hp("broken", 199, "uint32"), hp("far", 5000)]
    rt = make_runtime()
    await rt.deploy(flow(client(port), reader(points)))
    out, errs = get(rt, "out"), get(rt, "errs")
    await until(lambda: len(errs.received) >= 2, what="errors")
    texts = sorted(e["error"]["message"] for e in errs.received)
    assert "point 'broken' (holding 199, uint32)" in texts[0]
    assert "illegal data address" in texts[0]
    assert "point 'far'" in texts[1]
    bad = [m for m in out.received if m["quality"]["status"] == "bad"]
    assert {m["point"] for m in bad} == {"broken", "far"}
    reader_node = get(rt, "rd")
    assert reader_node.last_status["fill"] == "yellow"
    assert "2 of 3 bad" in reader_node.last_status["text"]
    dev.tables["holding"][197] = 42
    await until(lambda: latest(out.received).get("ok") == 42, what="the good point updating")
    await asyncio.sleep(0.5)
    assert len(errs.received) == 2  # reported once, not every poll


async def test_dead_unit_on_a_shared_bus_does_not_stall_the_others(
    make_runtime: Callable[..., Runtime],
) -> None:
    port = free_port()
    units = {1: Device(50), 2: Device(50)}
    server, _store = await serve(units, port)
    try:
        points = [hp("u1", 0, unitId=1), hp("u2", 0, unitId=2), hp("u3", 0, unitId=3)]
        rt = make_runtime()
        await rt.deploy(flow(client(port), reader(points)))
        out, errs = get(rt, "out"), get(rt, "errs")
        await until(lambda: errs.received, what="the dead unit's error")
        assert "point 'u3'" in errs.received[0]["error"]["message"]
        assert "unit 3 did not answer" in errs.received[0]["error"]["message"]
        for step in range(1, 4):
            units[1].tables["holding"][0] = step
            units[2].tables["holding"][0] = step * 10
            want = {"u1": step, "u2": step * 10}
            await until(lambda w=want: latest(out.received) == w, timeout=5)  # type: ignore[misc]
        assert get(rt, "mc").coordinator.state == "connected"
    finally:
        await stop(server)


async def test_rtu_over_tcp(make_runtime: Callable[..., Runtime]) -> None:
    port = free_port()
    dev = Device(20)
    dev.tables["holding"][3:5] = regs_of(struct.pack(">f", 1.5))
    server, _store = await serve({5: dev}, port, rtu=True)
    try:
        rt = make_runtime()
        cfg = client(port, tcpType="TPC-RTU-BUFFERED", unit_id="5")
        await rt.deploy(flow(cfg, reader([hp("f", 3, "float32")])))
        out = get(rt, "out")
        await until(lambda: out.received, what="a reading over RTU framing")
        assert out.received[0]["payload"] == 1.5
        assert dev.reads[0] == ("holding", 3, 2)
    finally:
        await stop(server)


async def test_points_from_csv_text_and_file(
    device: tuple[int, Device, CountingStore],
    make_runtime: Callable[..., Runtime],
    tmp_path: Path,
) -> None:
    port, dev, _store = device
    dev.tables["holding"][0:3] = [1, 2, 3]
    (tmp_path / "points.csv").write_text("name,table,address,scale\nc,holding,2,10\n")
    csv_text = "a,holding,0,uint16\nb,holding,1,int16,big,big,1,0.5,bar,0\n"
    rt = make_runtime(data_dir=tmp_path)
    await rt.deploy(flow(client(port), reader([], pointsCsv=csv_text, pointsFile="points.csv")))
    out = get(rt, "out")
    await until(lambda: len(out.received) == 3, what="three points")
    assert latest(out.received) == {"a": 1, "b": 2.5, "c": 30.0}


async def test_bad_point_definitions_are_refused_at_deploy(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = make_runtime()
    with pytest.raises(FlowValidationError, match=r"point 'speed': address: 70000"):
        await rt.deploy(flow(client(502), reader([hp("speed", 70000)])))
    with pytest.raises(FlowValidationError, match=r"pointsCsv line 2: point 'x': type: 'dword2'"):
        await rt.deploy(flow(client(502), reader([], pointsCsv="a,hr,1\nx,hr,2,dword2\n")))
    with pytest.raises(FlowValidationError, match="maxRegisters: 200"):
        await rt.deploy(flow(client(502, maxRegisters="200"), reader([hp("a", 1)])))


async def test_contrib_style_read_sends_the_array(
    device: tuple[int, Device, CountingStore], make_runtime: Callable[..., Runtime]
) -> None:
    port, dev, _store = device
    dev.tables["holding"][10:13] = [7, 8, 9]
    node = reader([], dataType="HoldingRegister", adr="10", quantity="3", topic="raw")
    node["wires"] = [["out"], ["errs"]]
    rt = make_runtime()
    await rt.deploy(flow(client(port), node))
    out, second = get(rt, "out"), get(rt, "errs")
    await until(lambda: out.received and second.received, what="both outputs")
    assert out.received[0]["payload"] == [7, 8, 9] and out.received[0]["topic"] == "raw"
    assert second.received[0]["payload"] == bytes([0, 7, 0, 8, 0, 9])
