"""modbus-write against a real pymodbus server; modbus-server against a real pymodbus client."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from plantwire.runtime.runtime import Runtime
from tests.conftest import tab
from tests.nodes.modbus.helpers import client, flow, get, hp, latest, reader, until
from tests.nodes.modbus.peer import CountingStore, Device, free_port, serve, stop
from tests.nodes.modbus.test_codec import arrange, regs_of


@pytest.fixture
async def device() -> AsyncIterator[tuple[int, Device, CountingStore]]:
    port = free_port()
    dev = Device(100)
    server, store = await serve({1: dev}, port)
    yield port, dev, store
    await stop(server)


def writer(**extra: Any) -> dict[str, Any]:
    return {"id": "wr", "type": "modbus-write", "z": "t1", "server": "mc", "wires": [["out"]],
            **extra}  # fmt: skip


async def test_write_by_point_name_address_and_fixed_target(
    device: tuple[int, Device, CountingStore], make_runtime: Callable[..., Runtime]
) -> None:
    port, dev, _store = device
    points = [
        hp("setpoint", 10, "float32", wordOrder="little", scale=0.5),
        {"name": "run", "table": "coil", "address": 4},
        hp("temp", 20, "int16", scale=0.1, offset=-40),
    ]
    rt = make_runtime()
    await rt.deploy(
        flow(client(port), writer(points=points, dataType="MHoldingRegisters", adr="50"))
    )
    node, out, errs = get(rt, "wr"), get(rt, "out"), get(rt, "errs")
    await until(lambda: get(rt, "mc").coordinator.state == "connected", what="connected")
    send = rt.deliver
    send(node, {"topic": "setpoint", "payload": 61.5})  # raw 123.0, word swapped
    send(node, {"topic": "run", "payload": True})
    send(node, {"payload": {"temp": 25}})  # object of named values
    send(node, {"payload": -2, "table": "holding", "address": 30, "type": "int32"})
    send(node, {"payload": [1, 2, 3]})  # the fixed contrib target: FC16 at 50
    await until(lambda: len(out.received) == 5, what="five writes")
    regs = regs_of(arrange(struct.pack(">f", 123.0), "big", "little"))
    assert dev.tables["holding"][10:12] == regs
    assert dev.tables["coil"][4] is True
    assert dev.tables["holding"][20] == 650
    assert dev.tables["holding"][30:32] == [0xFFFF, 0xFFFE]
    assert dev.tables["holding"][50:53] == [1, 2, 3]
    assert errs.received == []


async def test_write_errors_name_the_point(
    device: tuple[int, Device, CountingStore], make_runtime: Callable[..., Runtime]
) -> None:
    port, _dev, _store = device
    points = [hp("beyond", 99, "uint32"), hp("small", 1, "uint16")]
    rt = make_runtime()
    await rt.deploy(flow(client(port), writer(points=points)))
    node, errs = get(rt, "wr"), get(rt, "errs")
    await until(lambda: get(rt, "mc").coordinator.state == "connected", what="connected")
    rt.deliver(node, {"topic": "beyond", "payload": 1})
    rt.deliver(node, {"topic": "small", "payload": 70000})
    rt.deliver(node, {"topic": "nothing", "payload": 1})
    await until(lambda: len(errs.received) == 3, what="three errors")
    texts = [e["error"]["message"] for e in errs.received]
    assert "point 'beyond' (holding 99, uint32)" in texts[0]
    assert "illegal data address" in texts[0]
    assert "point 'small'" in texts[1] and "outside uint16 range" in texts[1]
    assert "no point named 'nothing'" in texts[2]


async def test_write_uses_the_points_of_a_read_node_and_interleaves_with_polls(
    device: tuple[int, Device, CountingStore], make_runtime: Callable[..., Runtime]
) -> None:
    port, dev, _store = device
    rt = make_runtime()
    read = reader([hp("speed", 5, "int32")], rate="50")
    await rt.deploy(flow(client(port), read, writer(pointsFrom="rd", wires=[[]])))
    out = get(rt, "out")
    await until(lambda: out.received, what="first reading")
    for value in (1000, -1000, 70000):
        rt.deliver(get(rt, "wr"), {"topic": "speed", "payload": value})
        want: dict[str, Any] = {"speed": value}
        await until(lambda w=want: latest(out.received) == w, what=str(want))  # type: ignore[misc]
    assert any(r == ("holding", 5, 2) for r in dev.reads)


async def test_modbus_server_serves_flow_values_and_reports_client_writes(
    make_runtime: Callable[..., Runtime],
) -> None:
    port = free_port()
    points = [hp("level", 0, "float32"), {"name": "pump", "table": "coil", "address": 3},
              hp("mode", 5, "uint16")]  # fmt: skip
    node = {"id": "srv", "type": "modbus-server", "z": "t1", "hostname": "127.0.0.1",
            "serverPort": str(port), "points": points, "wires": [["out"]]}  # fmt: skip
    rt = make_runtime()
    await rt.deploy([tab(), node, {"id": "out", "type": "test-probe", "z": "t1", "wires": [[]]}])
    srv, out = get(rt, "srv"), get(rt, "out")
    rt.deliver(srv, {"topic": "level", "payload": 12.25})
    rt.deliver(srv, {"topic": "pump", "payload": True})
    rt.deliver(srv, {"payload": {"register": "input", "address": 7, "value": [4, 5]}})
    mb = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2)
    assert await mb.connect()
    try:
        await until(lambda: srv.store.tables["input"][7] == 4, what="flow values stored")
        rr = await mb.read_holding_registers(0, count=2, device_id=1)
        assert struct.unpack(">f", struct.pack(">HH", *rr.registers))[0] == 12.25
        assert (await mb.read_coils(3, count=1, device_id=1)).bits[0] is True
        assert (await mb.read_input_registers(7, count=2, device_id=1)).registers == [4, 5]
        assert (await mb.read_holding_registers(20000, count=1, device_id=1)).isError()
        await mb.write_register(5, 3, device_id=1)
        await mb.write_registers(40, [9, 8], device_id=1)
        await until(lambda: len(out.received) == 2, what="client writes as messages")
        assert out.received[0]["topic"] == "mode" and out.received[0]["payload"] == 3
        assert out.received[1]["topic"] == "holding/40"
        assert out.received[1]["payload"] == [9, 8]
    finally:
        mb.close()
