"""S7 address parsing, value coding and the read plan (no PLC needed)."""

from __future__ import annotations

import pytest

from plantwire.nodes.s7.address_codec import (
    S7AddressError,
    decode,
    encode,
    parse_address,
    plan_reads,
)


@pytest.mark.parametrize(
    ("text", "area", "db", "start", "dtype", "bit", "count", "size"),
    [
        ("DB1,REAL4", "DB", 1, 4, "REAL", 0, 1, 4),
        ("db1,r4", "DB", 1, 4, "REAL", 0, 1, 4),
        ("DB1,INT0", "DB", 1, 0, "INT", 0, 1, 2),
        ("DB1,X2.1", "DB", 1, 2, "BOOL", 1, 1, 1),
        ("DB1,S10.20", "DB", 1, 10, "STRING", 0, 20, 22),
        ("DB1,CHAR8.4", "DB", 1, 8, "CHAR", 0, 4, 4),
        ("DB3,LREAL8", "DB", 3, 8, "LREAL", 0, 1, 8),
        ("DB1,REAL20.5", "DB", 1, 20, "REAL", 0, 5, 20),
        ("DB1,DI4", "DB", 1, 4, "DINT", 0, 1, 4),
        ("M10.0", "M", 0, 10, "BOOL", 0, 1, 1),
        ("MW20", "M", 0, 20, "WORD", 0, 1, 2),
        ("MD24", "M", 0, 24, "DWORD", 0, 1, 4),
        ("MR28", "M", 0, 28, "REAL", 0, 1, 4),
        ("MB3", "M", 0, 3, "BYTE", 0, 1, 1),
        ("I0.1", "I", 0, 0, "BOOL", 1, 1, 1),
        ("IW2", "I", 0, 2, "WORD", 0, 1, 2),
        ("E0.3", "I", 0, 0, "BOOL", 3, 1, 1),
        ("Q0.0", "Q", 0, 0, "BOOL", 0, 1, 1),
        ("QD4", "Q", 0, 4, "DWORD", 0, 1, 4),
        ("A1.2", "Q", 0, 1, "BOOL", 2, 1, 1),
    ],
)
def test_parse(
    text: str, area: str, db: int, start: int, dtype: str, bit: int, count: int, size: int
) -> None:
    a = parse_address(text)
    assert (a.area, a.db, a.start, a.dtype, a.bit, a.count, a.size) == (
        area,
        db,
        start,
        dtype,
        bit,
        count,
        size,
    )
    assert str(a) == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("DB1,RAEL4", "unknown data type 'RAEL'"),
        ("DB1.DBW2", "comma between block and type"),
        ("DB0,INT0", "start at 1"),
        ("DB1,X2", "needs a bit number"),
        ("DB1,X2.8", "bit 8"),
        ("DB1,S10", "maximum length"),
        ("DB1,S10.300", "string length 300"),
        ("M10", "needs one '.<bit>'"),
        ("Z10.0", "not an S7 address"),
        ("DB1,INT2.3.4", "only one"),
    ],
)
def test_parse_errors_name_the_address(text: str, why: str) -> None:
    with pytest.raises(S7AddressError) as info:
        parse_address(text)
    assert why in str(info.value)
    if text:
        assert f"'{text}'" in str(info.value)


def test_values_round_trip() -> None:
    cases = [
        ("DB1,INT0", -1234),
        ("DB1,DINT0", 70000),
        ("DB1,WORD0", 65535),
        ("DB1,BYTE0", 7),
        ("DB1,DWORD0", 0xDEADBEEF),
        ("DB1,REAL0", 3.14),
        ("DB1,LREAL0", 2.718281828459045),
        ("DB1,S0.10", "abc"),
        ("DB1,CHAR0.3", "xyz"),
        ("DB1,INT0.3", [1, -2, 3]),
        ("DB1,X0.5", True),
    ]
    for text, value in cases:
        a = parse_address(text)
        data = encode(a, value)
        if a.dtype == "BOOL":
            data = bytes([data[0] << a.bit])
        assert decode(a, data) == value, text
    with pytest.raises(S7AddressError, match="out of range"):
        encode(parse_address("DB1,INT0"), 40000)
    with pytest.raises(S7AddressError, match="not a whole number"):
        encode(parse_address("DB1,DINT0"), 1.5)
    with pytest.raises(S7AddressError, match="not a number"):
        encode(parse_address("DB1,REAL0"), "fast")
    with pytest.raises(S7AddressError, match="expected 3 values"):
        encode(parse_address("DB1,INT0.3"), [1, 2])
    assert encode(parse_address("DB1,REAL0"), "2.5") == encode(parse_address("DB1,REAL0"), 2.5)
    assert encode(parse_address("DB1,X0.0"), "false") == b"\x00"


def test_plan_merges_neighbours_and_respects_limits() -> None:
    pts = [
        parse_address(t)
        for t in (
            "DB1,INT0",
            "DB1,REAL4",
            "DB1,X2.1",
            "DB1,INT100",
            "MW0",
            "MW2",
            "IW0",
            "DB2,REAL0",
        )
    ]
    plan = plan_reads(pts, pdu_size=480, max_gap=16)
    assert len(plan) == 1
    ranges = [(b.area, b.db, b.start, b.size) for b in plan[0].blocks]
    assert ranges == [
        ("DB", 1, 0, 8),
        ("DB", 1, 100, 2),
        ("DB", 2, 0, 4),
        ("M", 0, 0, 4),
        ("I", 0, 0, 2),
    ]
    assert set(plan[0].points) == set(pts)
    # more than 20 items: a second request
    many = [parse_address(f"DB{n},INT0") for n in range(1, 26)]
    assert [len(r.blocks) for r in plan_reads(many)] == [20, 5]
    # answers bigger than the PDU: split into several requests
    big = [parse_address(f"DB{n},S0.200") for n in range(1, 5)]
    plan = plan_reads(big, pdu_size=480)
    assert len(plan) == 2 and all(len(r.blocks) == 2 for r in plan)
    # a point larger than one answer gets its own request (the library splits it)
    huge = [parse_address("DB1,REAL0.200"), parse_address("DB2,INT0")]
    plan = plan_reads(huge, pdu_size=240)
    assert [len(r.blocks) for r in plan] == [1, 1]
    # the same bytes under two spellings are read once
    assert parse_address("DB1,REAL4") == parse_address("DB1,R4")
