"""Each protocol server answers on loopback with the model's values, and writes reach the plant.

The servers run in-process (the test's event loop); the clients are each protocol's own
library: pymodbus, asyncua, python-snap7, pylogix.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import snap7
from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import UaStatusCodeError
from pylogix import PLC  # type: ignore[import-untyped]
from pymodbus.client import AsyncModbusTcpClient
from snap7.type import Area

from plantwire.sim.engine import Controls
from plantwire.sim.enip_server import EnipAdapter
from plantwire.sim.modbus_server import ModbusAdapter
from plantwire.sim.opcua_server import NAMESPACE_URI, OpcUaAdapter
from plantwire.sim.plant import Command, FaultCode, MachineState, Plant
from plantwire.sim.s7_server import S7Adapter

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def running_plant() -> Plant:
    plant = Plant(seed=42)
    plant.command(Command.START)
    plant.step(600)
    return plant


async def until(
    check: Callable[[], bool], publish: Callable[[], Any], timeout: float = 10.0
) -> None:
    """Publish and wait until ``check()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "the write did not reach the plant"
        await publish()
        await asyncio.sleep(0.05)


def f32(words: list[int]) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", *words))[0])


def u32(words: list[int]) -> int:
    return int((words[0] << 16) | words[1])


# ------------------------------------------------------------------ Modbus
@pytest.fixture
async def modbus() -> AsyncIterator[tuple[Plant, ModbusAdapter, AsyncModbusTcpClient]]:
    plant = running_plant()
    adapter = ModbusAdapter(Controls(plant), HOST, free_port())
    await adapter.start()
    await adapter.publish(plant.snapshot())
    client = AsyncModbusTcpClient(HOST, port=adapter.port, timeout=5)
    assert await client.connect()
    yield plant, adapter, client
    client.close()
    await adapter.stop()


async def test_modbus_values_match_the_model(modbus: Any) -> None:
    plant, _, client = modbus
    snap = plant.snapshot()
    ir = (await client.read_input_registers(0, count=25)).registers
    assert f32(ir[0:2]) == pytest.approx(snap.silo_level, abs=1e-4)
    assert f32(ir[2:4]) == pytest.approx(300.0)
    assert f32(ir[4:6]) == pytest.approx(snap.motor_temp, abs=1e-4)
    assert f32(ir[6:8]) == pytest.approx(snap.vibration, rel=1e-5)
    assert u32(ir[14:16]) == snap.bottle_count > 0
    assert u32(ir[16:18]) + u32(ir[18:20]) == snap.bottle_count
    assert u32(ir[20:22]) == snap.energy_wh
    assert ir[22] == MachineState.RUNNING
    hr = (await client.read_holding_registers(0, count=6)).registers
    assert [f32(hr[0:2]), f32(hr[2:4]), f32(hr[4:6])] == [300.0, 95.0, 60.0]
    bits = (await client.read_discrete_inputs(0, count=5)).bits[:5]
    assert bits == [True, False, False, False, False]
    assert (await client.read_coils(0, count=6)).bits[:6] == [False] * 6


async def test_modbus_writes_change_the_plant(modbus: Any) -> None:
    plant, adapter, client = modbus
    words = list(struct.unpack(">HH", struct.pack(">f", 450.0)))
    assert not (await client.write_registers(0, words)).isError()
    assert plant.line_speed_sp == 450.0
    await adapter.publish(plant.snapshot())
    assert f32((await client.read_holding_registers(0, count=2)).registers) == 450.0
    words = list(struct.unpack(">HH", struct.pack(">f", 9999.0)))
    await client.write_registers(0, words)
    await adapter.publish(plant.snapshot())
    assert f32((await client.read_holding_registers(0, count=2)).registers) == 600.0  # clamped
    assert not (await client.write_coil(1, True)).isError()  # stop
    assert plant.state is MachineState.IDLE
    assert (await client.read_coils(1, count=1)).bits[0] is False  # one-shot
    await client.write_coil(3, True)  # order delivery
    await client.write_coil(5, True)  # reset counters
    assert plant.snapshot().delivery_active
    assert plant.bottle_count == 0
    await client.write_coil(0, True)
    assert plant.snapshot().running
    await adapter.publish(plant.snapshot())
    ir = (await client.read_input_registers(22, count=3)).registers
    assert ir == [MachineState.RUNNING, 0, 1]
    # input registers are read-only
    assert (await client.write_register(100, 1)).isError()


# ------------------------------------------------------------------ S7
@pytest.fixture
async def s7() -> AsyncIterator[tuple[Plant, S7Adapter, snap7.Client]]:
    plant = running_plant()
    adapter = S7Adapter(Controls(plant), HOST, free_port())
    await adapter.start()
    await adapter.publish(plant.snapshot())
    client = snap7.Client()
    await asyncio.to_thread(client.connect, HOST, 0, 1, adapter.port)
    yield plant, adapter, client
    client.disconnect()
    await adapter.stop()


async def test_s7_values_match_the_model(s7: Any) -> None:
    plant, _, client = s7
    snap = plant.snapshot()
    db1 = await asyncio.to_thread(client.db_read, 1, 0, 52)
    level, speed, temp = struct.unpack(">fff", db1[0:12])
    assert level == pytest.approx(snap.silo_level, abs=1e-4)
    assert speed == 300.0
    assert temp == pytest.approx(snap.motor_temp, abs=1e-4)
    assert struct.unpack(">i", db1[28:32])[0] == snap.bottle_count
    assert struct.unpack(">h", db1[44:46])[0] == MachineState.RUNNING
    assert db1[50] & 1 == 1  # DBX50.0 running
    db2 = await asyncio.to_thread(client.db_read, 2, 0, 12)
    assert struct.unpack(">fff", db2) == (300.0, 95.0, 60.0)


async def test_s7_writes_change_the_plant(s7: Any) -> None:
    plant, adapter, client = s7
    await asyncio.to_thread(client.db_write, 2, 4, bytearray(struct.pack(">f", 80.0)))
    await adapter.publish(plant.snapshot())
    assert plant.max_motor_temp == 80.0
    assert plant.line_speed_sp == 300.0  # untouched
    await asyncio.to_thread(client.write_area, Area.MK, 0, 0, bytearray([0b10]))  # M0.1 stop
    await adapter.publish(plant.snapshot())
    assert plant.state is MachineState.IDLE
    mk = await asyncio.to_thread(client.read_area, Area.MK, 0, 0, 1)
    assert mk[0] == 0  # the simulator cleared the command bit
    await asyncio.to_thread(
        client.write_area, Area.MK, 0, 0, bytearray([0b11000])
    )  # repair+delivery
    await adapter.publish(plant.snapshot())
    assert plant.wear == 0.0
    await adapter.publish(plant.snapshot())
    db1 = await asyncio.to_thread(client.db_read, 1, 0, 52)
    assert struct.unpack(">h", db1[48:50])[0] == 1  # delivery ordered


# ------------------------------------------------------------------ OPC UA
@pytest.fixture
async def opcua() -> AsyncIterator[tuple[Plant, OpcUaAdapter, Client, int]]:
    plant = running_plant()
    adapter = OpcUaAdapter(Controls(plant), HOST, free_port())
    await adapter.start()
    await adapter.publish(plant.snapshot())
    client = Client(adapter.url, timeout=10)
    await client.connect()
    ns = await client.get_namespace_index(NAMESPACE_URI)
    yield plant, adapter, client, ns
    await client.disconnect()
    await adapter.stop()


def line(ns: int, path: str) -> str:
    return f"ns={ns};s=Plantwire.Site1.Bottling.Line1.{path}"


async def test_opcua_address_space_and_values(opcua: Any) -> None:
    plant, _, client, ns = opcua
    snap = plant.snapshot()
    node = await client.nodes.objects.get_child(
        [f"{ns}:Plantwire", f"{ns}:Site1", f"{ns}:Bottling", f"{ns}:Line1"]
    )
    machines = {(await c.read_browse_name()).Name for c in await node.get_children()}
    assert machines == {"Silo", "Filler", "Motor", "EnergyMeter"}
    level = client.get_node(line(ns, "Silo.Level"))
    assert await level.read_value() == pytest.approx(snap.silo_level)
    eu = await (await level.get_child(["0:EngineeringUnits"])).read_value()
    assert eu.DisplayName.Text == "%"
    temp_eu = client.get_node(line(ns, "Motor.Temperature.EngineeringUnits"))
    assert (await temp_eu.read_value()).UnitId == 4408652  # UNECE "CEL"
    assert await client.get_node(line(ns, "Filler.BottleCount")).read_value() == snap.bottle_count
    assert await client.get_node(line(ns, "Filler.StateText")).read_value() == "RUNNING"
    count = client.get_node(line(ns, "Filler.BottleCount"))
    assert await count.read_data_type_as_variant_type() == ua.VariantType.UInt32


async def test_opcua_writes_and_methods(opcua: Any) -> None:
    plant, adapter, client, ns = opcua
    sp = client.get_node(line(ns, "Filler.LineSpeedSetpoint"))
    await sp.write_value(ua.Variant(420.0, ua.VariantType.Double))
    await until(lambda: plant.line_speed_sp == 420.0, lambda: adapter.publish(plant.snapshot()))
    filler = client.get_node(line(ns, "Filler"))
    assert await filler.call_method(f"{ns}:Stop") is True
    assert plant.state is MachineState.IDLE
    assert await filler.call_method(f"{ns}:ResetCounters") is True
    assert plant.bottle_count == 0
    silo = client.get_node(line(ns, "Silo"))
    assert await silo.call_method(f"{ns}:OrderDelivery") is True
    assert await silo.call_method(f"{ns}:OrderDelivery") is False  # one at a time
    plant.state, plant.fault_code = MachineState.FAULT, FaultCode.JAM
    assert await filler.call_method(f"{ns}:ResetFault") is True
    assert plant.state is MachineState.IDLE
    with pytest.raises(UaStatusCodeError):  # process values are read-only
        await client.get_node(line(ns, "Silo.Level")).write_value(1.0)


# ------------------------------------------------------------------ EtherNet/IP
@pytest.fixture
async def enip() -> AsyncIterator[tuple[Plant, EnipAdapter]]:
    plant = running_plant()
    adapter = EnipAdapter(Controls(plant), HOST, free_port())
    await adapter.start()
    await adapter.publish(plant.snapshot())
    yield plant, adapter
    await adapter.stop()


def logix(port: int, op: Callable[[PLC], Any]) -> Any:
    with PLC(HOST) as plc:
        plc.Port = port
        plc.SocketTimeout = 5.0
        return op(plc)


async def test_enip_tags_match_the_model_and_writes_take_effect(enip: Any) -> None:
    plant, adapter = enip
    await asyncio.sleep(0.3)  # the child applies the first update
    snap = plant.snapshot()
    names = ["Silo_Level", "Bottle_Count", "Machine_State", "Line_Speed_SP", "Cmd_Stop"]
    results = await asyncio.to_thread(logix, adapter.port, lambda p: p.Read(names))
    values = {r.TagName: r.Value for r in results}
    assert all(r.Status == "Success" for r in results)
    assert values["Silo_Level"] == pytest.approx(snap.silo_level, abs=1e-4)
    assert values["Bottle_Count"] == snap.bottle_count
    assert values["Machine_State"] == MachineState.RUNNING
    assert values["Line_Speed_SP"] == 300.0
    assert values["Cmd_Stop"] in (0, False)
    write = await asyncio.to_thread(logix, adapter.port, lambda p: p.Write("Line_Speed_SP", 250.0))
    assert write.Status == "Success"
    await until(lambda: plant.line_speed_sp == 250.0, lambda: adapter.publish(plant.snapshot()))
    await asyncio.to_thread(logix, adapter.port, lambda p: p.Write("Cmd_Stop", True))
    await until(lambda: plant.state is MachineState.IDLE, lambda: adapter.publish(plant.snapshot()))
    await adapter.publish(plant.snapshot())
    await asyncio.sleep(0.3)
    after = await asyncio.to_thread(
        logix, adapter.port, lambda p: p.Read(["Cmd_Stop", "Machine_State", "Line_Speed_SP"])
    )
    assert [r.Value for r in after] == [False, 0, 250.0]
