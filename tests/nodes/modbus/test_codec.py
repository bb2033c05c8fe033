"""Pure Modbus logic: request planning, value coding, point validation, CSV, deadband."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from plantwire.nodes.modbus.plan_codec import decode_response, plan
from plantwire.nodes.modbus.points_codec import (
    Point,
    PointError,
    changed,
    decode_registers,
    encode_value,
    make_point,
    make_points,
    parse_points_csv,
)


def pt(name: str, address: int, dtype: str = "uint16", table: str = "holding", **kw: Any) -> Point:
    return make_point({"name": name, "table": table, "address": address, "type": dtype, **kw})


# ----- plan ---------------------------------------------------------------------------


def test_contiguous_points_share_one_request() -> None:
    points = [pt("a", 0), pt("b", 1, "float32"), pt("c", 3, "int64")]
    reqs = plan(points)
    assert [(r.address, r.count) for r in reqs] == [(0, 7)]
    assert {p.name for p in reqs[0].points} == {"a", "b", "c"}


def test_gap_up_to_max_gap_is_bridged_and_larger_gap_splits() -> None:
    points = [pt("a", 0), pt("b", 11), pt("c", 30)]  # gap 10 then 18
    assert [(r.address, r.count) for r in plan(points, max_gap=10)] == [(0, 12), (30, 1)]
    assert [(r.address, r.count) for r in plan(points, max_gap=9)] == [(0, 1), (11, 1), (30, 1)]
    assert [(r.address, r.count) for r in plan(points, max_gap=0)] == [(0, 1), (11, 1), (30, 1)]
    assert len(plan([pt("a", 0), pt("b", 1)], max_gap=0)) == 1  # adjacent: no gap


def test_max_registers_limits_a_request_and_a_point_is_never_cut() -> None:
    points = [pt(f"p{i}", i) for i in range(300)]
    reqs = plan(points)
    assert [(r.address, r.count) for r in reqs] == [(0, 125), (125, 125), (250, 50)]
    # a float32 at 124 does not fit into the first request of 125: it starts the next
    reqs = plan([pt(f"p{i}", i) for i in range(124)] + [pt("f", 124, "float32")])
    assert [(r.address, r.count) for r in reqs] == [(0, 124), (124, 2)]
    assert [(r.address, r.count) for r in plan(points, max_registers=100)][:2] == [
        (0, 100),
        (100, 100),
    ]


def test_bits_use_max_bits() -> None:
    coils = [pt(f"c{i}", i, "bool", "coil") for i in range(2500)]
    assert [(r.address, r.count) for r in plan(coils)] == [(0, 2000), (2000, 500)]
    assert [r.count for r in plan(coils, max_bits=1000)] == [1000, 1000, 500]


def test_tables_and_units_never_share_a_request_and_order_is_stable() -> None:
    points = [
        pt("ir", 0, table="input"),
        pt("hr", 0),
        pt("co", 0, "bool", "coil"),
        pt("di", 0, "bool", "discrete"),
        pt("u2", 1, unitId=2),
        pt("hr1", 1),
    ]
    reqs = plan(points, default_unit=1)
    assert [(r.unit_id, r.table, r.address, r.count) for r in reqs] == [
        (1, "coil", 0, 1),
        (1, "discrete", 0, 1),
        (1, "holding", 0, 2),
        (1, "input", 0, 1),
        (2, "holding", 1, 1),
    ]
    assert [r.function_code for r in reqs] == [1, 2, 3, 4, 3]
    assert plan([pt("x", 0)], default_unit=7)[0].unit_id == 7


def test_overlapping_and_unsorted_points() -> None:
    points = [pt("hi", 1, "uint16"), pt("whole", 0, "uint32"), pt("lo", 0)]
    reqs = plan(points)
    assert [(r.address, r.count) for r in reqs] == [(0, 2)]
    values = decode_response(reqs[0], [0x0001, 0x0002])
    assert {p.name: v for p, v in values.items()} == {"hi": 2, "whole": 0x10002, "lo": 1}


def test_plan_empty_and_bad_limits() -> None:
    assert plan([]) == []
    with pytest.raises(ValueError):
        plan([pt("a", 0)], max_registers=0)


def test_short_answer_marks_points_bad() -> None:
    req = plan([pt("a", 0), pt("b", 1)])[0]
    out = decode_response(req, [1])
    assert all(isinstance(v, PointError) for v in out.values())


# ----- coding -------------------------------------------------------------------------


def regs_of(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def arrange(data: bytes, byte_order: str, word_order: str) -> bytes:
    """How a device lays out big-endian ``data`` in its registers (independent of the codec)."""
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    if byte_order == "little":
        words = [w[::-1] for w in words]
    if word_order == "little":
        words.reverse()
    return b"".join(words)


CASES = [
    ("int16", ">h", -1234),
    ("uint16", ">H", 54321),
    ("int32", ">i", -123456789),
    ("uint32", ">I", 4000000000),
    ("int64", ">q", -1234567890123456789),
    ("uint64", ">Q", 18000000000000000000),
    ("float32", ">f", 123.5),
    ("float64", ">d", -98765.4321),
]


@pytest.mark.parametrize(("dtype", "fmt", "value"), CASES)
@pytest.mark.parametrize("byte_order", ["big", "little"])
@pytest.mark.parametrize("word_order", ["big", "little"])
def test_every_type_and_order_round_trips(
    dtype: str, fmt: str, value: Any, byte_order: str, word_order: str
) -> None:
    p = pt("v", 0, dtype, byteOrder=byte_order, wordOrder=word_order)
    regs = regs_of(arrange(struct.pack(fmt, value), byte_order, word_order))
    assert decode_registers(p, regs) == value
    assert encode_value(p, value) == regs


def test_float32_word_orders_by_example() -> None:
    # 123.456 as IEEE 754 is 42 F6 E9 79: ABCD, CDAB (word swap), BADC (byte swap), DCBA
    expect = {
        ("big", "big"): [0x42F6, 0xE979],
        ("big", "little"): [0xE979, 0x42F6],
        ("little", "big"): [0xF642, 0x79E9],
        ("little", "little"): [0x79E9, 0xF642],
    }
    for (bo, wo), regs in expect.items():
        p = pt("f", 0, "float32", byteOrder=bo, wordOrder=wo)
        assert decode_registers(p, regs) == pytest.approx(123.456, rel=1e-6)


def test_scale_offset_and_inverse() -> None:
    p = pt("t", 0, "int16", scale=0.1, offset=-40)
    assert decode_registers(p, [650]) == pytest.approx(25.0)
    assert encode_value(p, 25.0) == [650]
    assert encode_value(p, -41) == [(-10) & 0xFFFF]
    with pytest.raises(ValueError, match="outside int16 range"):
        encode_value(p, 5000)
    u = pt("u", 0, "uint16")
    with pytest.raises(ValueError, match="outside uint16"):
        encode_value(u, -1)
    with pytest.raises(ValueError, match="not a number"):
        encode_value(u, "abc")


def test_string_and_bool() -> None:
    s = pt("s", 0, "string", length=5)
    assert s.count == 3
    assert decode_registers(s, [0x4142, 0x4344, 0x4500]) == "ABCDE"
    assert decode_registers(s, [0x4142, 0x0000, 0x0000]) == "AB"
    assert encode_value(s, "ABC") == [0x4142, 0x4300, 0x0000]
    sl = pt("s", 0, "string", length=4, byteOrder="little")
    assert decode_registers(sl, [0x4241, 0x4443]) == "ABCD"
    assert encode_value(sl, "ABCD") == [0x4241, 0x4443]
    with pytest.raises(ValueError, match="longer than 5"):
        encode_value(s, "TOOLONG")
    b = pt("b", 0, "bool")
    assert decode_registers(b, [2]) is True
    assert encode_value(b, "true") == [1]
    coil = pt("c", 0, "bool", "coil")
    assert encode_value(coil, 0) == [False]
    with pytest.raises(ValueError):
        encode_value(coil, "maybe")


# ----- validation and CSV ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"name": "p", "table": "holding"}, "point 'p': address: missing"),
        ({"name": "p", "table": "holding", "address": 70000}, "point 'p': address: 70000"),
        ({"name": "p", "table": "registers", "address": 1}, "point 'p': 'registers' is not"),
        ({"name": "p", "table": "hr", "address": 1, "type": "int33"}, "point 'p': type: 'int33'"),
        ({"name": "p", "table": "coil", "address": 1, "type": "int16"}, "type: a coil holds"),
        ({"name": "p", "table": "hr", "address": 1, "type": "string"}, "point 'p': length"),
        ({"name": "p", "table": "hr", "address": 1, "byteOrder": "middle"}, "byteOrder"),
        ({"name": "p", "table": "hr", "address": 1, "scale": "x"}, "point 'p': scale: 'x'"),
        ({"name": "p", "table": "hr", "address": 1, "scale": 0}, "scale: must not be 0"),
        ({"name": "p", "table": "hr", "address": 1, "deadband": -1}, "deadband"),
        ({"name": "p", "table": "hr", "address": 65535, "type": "float32"}, "passes 65535"),
        ({"name": "p", "table": "hr", "address": 1, "unitId": 300}, "unitId: 300"),
        ({"table": "hr", "address": 1}, "name: every point needs a name"),
    ],
)
def test_bad_point_names_point_and_field(spec: dict[str, Any], text: str) -> None:
    with pytest.raises(ValueError, match=text.replace("(", r"\(")):
        make_point(spec)


def test_table_aliases_and_defaults() -> None:
    assert pt("a", 1, "", "Coil").type == "bool"
    assert make_point({"name": "x", "table": "HoldingRegister", "address": "7"}).address == 7
    assert make_point({"name": "x", "table": "input register", "address": 1}).table == "input"
    assert make_point({"name": "x", "table": "di", "address": 1}).table == "discrete"
    assert make_point({"name": "x", "table": "hr", "address": 1, "type": "REAL"}).type == (
        "float32"
    )
    with pytest.raises(ValueError, match="point 'a': name: used twice"):
        make_points([{"name": "a", "table": "hr", "address": 1}] * 2)


def test_csv_with_header_default_columns_and_comments() -> None:
    text = (
        "# line 1 is a comment\n"
        "name,table,address,type,byteOrder,wordOrder,scale,offset,unit,deadband\n"
        "level,holding,10,float32,big,little,1,0,%,0.5\n"
        "\n"
        "run,coil,3,bool,,,,,,\n"
    )
    specs = parse_points_csv(text)
    points = make_points(specs)
    assert [(p.name, p.table, p.address, p.type) for p in points] == [
        ("level", "holding", 10, "float32"),
        ("run", "coil", 3, "bool"),
    ]
    assert points[0].word_order == "little" and points[0].unit == "%"
    assert points[0].deadband == 0.5
    # no header: the default column order; a reordered header with extras
    assert parse_points_csv("a,input,5,int16")[0]["table"] == "input"
    specs = parse_points_csv("address,name,table,type,length,unitId\n4,serial,hr,string,8,3\n")
    p = make_point(specs[0])
    assert (p.name, p.length, p.unit_id, p.count) == ("serial", 8, 3, 4)


def test_csv_errors_name_the_line() -> None:
    with pytest.raises(ValueError, match=r"pointsCsv line 3: point 'b': address: 'x'"):
        parse_points_csv("name,table,address\na,hr,1\nb,hr,x\n")
    with pytest.raises(ValueError, match=r"line 3: point 'a' is already defined on line 2"):
        parse_points_csv("name,table,address\na,hr,1\na,hr,2\n")
    with pytest.raises(ValueError, match="line 1: unknown column 'colour'"):
        parse_points_csv("name,colour\n")
    with pytest.raises(ValueError, match=r"my\.csv line 1: 13 cells"):
        parse_points_csv(",".join(["x"] * 13), "my.csv")


def test_deadband() -> None:
    assert changed(10.0, 10.4, 0.5) is False
    assert changed(10.0, 10.6, 0.5) is True
    assert changed(10, 11, 0) is True
    assert changed(10, 10, 0) is False
    assert changed("a", "b", 5) is True
    assert changed(True, False, 5) is True
