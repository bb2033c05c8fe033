"""UNS model: level names, topics, timestamps, quality and the JSON encoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from plantwire.nodes.uns.model import (
    UnsEncodeError,
    UnsNamespace,
    UnsPathError,
    check_level,
    check_prefix,
    encode_payload,
    expand_allowed,
    format_timestamp,
    make_payload,
    normalise_quality,
    parse_paths,
)
from plantwire.runtime.message import MISSING


@pytest.mark.parametrize("bad", ["a/b", "a+b", "#", "x\x00"])
def test_level_with_separator_or_wildcard_is_refused_naming_the_level(bad: str) -> None:
    with pytest.raises(UnsPathError, match=r"^area name .* contains"):
        check_level("area", bad)


def test_empty_missing_and_padded_names_are_refused() -> None:
    with pytest.raises(UnsPathError, match="line name is empty"):
        check_level("line", "")
    with pytest.raises(UnsPathError, match=r"point name is missing \(from msg.topic\)"):
        check_level("point", MISSING, where="msg.topic")
    with pytest.raises(UnsPathError, match="cell name ' c1' starts or ends with a space"):
        check_level("cell", " c1")
    with pytest.raises(UnsPathError, match="must be a string"):
        check_level("point", {"a": 1})


def test_numbers_are_names() -> None:
    assert check_level("cell", 7) == "7"


def test_prefix_levels() -> None:
    assert check_prefix("") == ()
    assert check_prefix("v1/uns") == ("v1", "uns")
    for bad in ("uns/", "/uns", "a//b"):
        with pytest.raises(UnsPathError, match="empty level"):
            check_prefix(bad)
    with pytest.raises(UnsPathError, match="prefix level 2 name 'u#' contains"):
        check_prefix("v1/u#")
    with pytest.raises(UnsPathError, match=r"reserved"):
        check_prefix("$SYS")


def test_compact_paths() -> None:
    assert parse_paths("packaging/line1/filler, packaging/line2\nutilities") == [
        ("packaging", "line1", "filler"),
        ("packaging", "line2"),
        ("utilities",),
    ]
    with pytest.raises(UnsPathError, match="the line level is empty"):
        parse_paths("packaging//filler")
    with pytest.raises(UnsPathError, match="at most area/line/cell"):
        parse_paths("a/b/c/d")
    with pytest.raises(UnsPathError, match=r"cell name 'f\+' \(from path"):
        parse_paths("a/b/f+")


def test_namespace_topics() -> None:
    ns = UnsNamespace("acme", "plant1", prefix=("uns",))
    assert ns.root == "uns"
    assert ns.browse_filter == "uns/#"
    assert ns.topic("packaging", "line1", "filler", "temp") == (
        "uns/acme/plant1/packaging/line1/filler/temp"
    )
    assert ns.topic("packaging", "", None, "power") == "uns/acme/plant1/packaging/power"
    assert UnsNamespace("acme", "plant1").browse_filter == "acme/#"
    with pytest.raises(UnsPathError, match="without a line"):
        ns.topic("packaging", "", "filler", "temp")
    with pytest.raises(UnsPathError, match=r"^area name is missing"):
        ns.topic(MISSING, "", "", "temp")
    with pytest.raises(UnsPathError, match="enterprise name 'a/b'"):
        UnsNamespace("a/b", "s")


def test_strict_model_refuses_unlisted_paths_naming_the_level() -> None:
    allowed = expand_allowed([("packaging", "line1", "filler"), ("utilities",)])
    ns = UnsNamespace("acme", "plant1", allowed=allowed)
    assert ns.topic("packaging", "line1", "", "speed").endswith("packaging/line1/speed")
    assert ns.topic("utilities", "", "", "power").endswith("utilities/power")
    with pytest.raises(UnsPathError, match=r"line 'line9' is not in the UNS model .*line1"):
        ns.topic("packaging", "line9", "", "speed")
    with pytest.raises(UnsPathError, match=r"area 'shipping' is not in the UNS model"):
        ns.topic("shipping", "", "", "x")
    with pytest.raises(UnsPathError, match=r"cell 'capper' is not in the UNS model"):
        ns.topic("packaging", "line1", "capper", "x")
    loose = UnsNamespace("acme", "plant1", allowed=allowed, strict=False)
    assert loose.topic("shipping", "", "", "x") == "acme/plant1/shipping/x"


def test_timestamps_are_utc_iso_with_milliseconds() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert format_timestamp(1714564800123) == "2024-05-01T12:00:00.123Z"
    assert format_timestamp("2024-05-01T14:00:00.5+02:00") == "2024-05-01T12:00:00.500Z"
    assert format_timestamp("2024-05-01T12:00:00Z") == "2024-05-01T12:00:00.000Z"
    assert format_timestamp("2024-05-01 12:00:00") == "2024-05-01T12:00:00.000Z"
    tz = timezone(timedelta(hours=-5))
    assert format_timestamp(datetime(2024, 5, 1, 7, 0, 0, 42000, tz)) == (
        "2024-05-01T12:00:00.042Z"
    )
    now = datetime.now(UTC)
    stamp = datetime.fromisoformat(format_timestamp(None))
    assert abs((stamp - now).total_seconds()) < 5
    for bad in ("yesterday", True, [1], float("nan")):
        with pytest.raises(ValueError, match=r"msg\.timestamp"):
            format_timestamp(bad)


def test_quality() -> None:
    assert normalise_quality(MISSING) == "good"
    assert normalise_quality("BAD") == "bad"
    assert normalise_quality("UncertainLastUsableValue") == "uncertain"
    assert normalise_quality("BadNotConnected") == "bad"
    assert normalise_quality(False) == "bad"
    with pytest.raises(ValueError, match=r"msg.quality 'excellent' is not"):
        normalise_quality("excellent")


def test_payload_shape_and_encoding() -> None:
    p = make_payload({"a": [1, 2]}, timestamp=0, quality="good", unit="degC", source="plc1")
    assert p == {
        "value": {"a": [1, 2]},
        "timestamp": "1970-01-01T00:00:00.000Z",
        "quality": "good",
        "unit": "degC",
        "source": "plc1",
    }
    assert json.loads(encode_payload(p)) == p
    assert "source" not in make_payload(1)
    assert make_payload(1)["unit"] == ""
    assert encode_payload(make_payload("°C", timestamp=0)).decode().count("°C") == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x01\x02", "binary data"),
        (float("nan"), "NaN and Infinity"),
        ({1, 2}, "a set has no JSON form"),
        ({(1, 2): 3}, "object key"),
    ],
)
def test_values_without_json_form_are_refused_with_the_reason(value: object, reason: str) -> None:
    with pytest.raises(UnsEncodeError, match=reason):
        encode_payload(make_payload(value))


def test_circular_value_is_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(UnsEncodeError, match="circular"):
        encode_payload(make_payload(loop))
