"""amqp_codec: body <-> payload mapping without a server."""

from __future__ import annotations

import datetime as dt

import pytest

from plantwire.nodes.amqp.amqp_codec import (
    decode_body,
    encode_payload,
    expiration_seconds,
    header_value,
    plain,
    routing_keys,
    timestamp_ms,
)


def test_decode_body_by_content_type_and_json_flag() -> None:
    assert decode_body(b'{"a": 1}', "application/json", False) == {"a": 1}
    assert decode_body(b'{"a": 1}', "application/vnd.x+json; charset=utf-8", False) == {"a": 1}
    assert decode_body(b"[1]", None, True) == [1]
    assert decode_body("héllo".encode(), "text/plain", False) == "héllo"
    assert decode_body(b"\xff\xfe", "text/plain", False) == b"\xff\xfe"  # not UTF-8
    assert decode_body(b"plain", None, False) == b"plain"  # no type: bytes
    with pytest.raises(ValueError, match="not valid JSON"):
        decode_body(b"nope", "application/json", False)


def test_encode_payload() -> None:
    assert encode_payload(b"\x00") == (b"\x00", None)
    assert encode_payload("tëxt") == ("tëxt".encode(), "text/plain")
    assert encode_payload({"a": [1, 2.5]}) == (b'{"a":[1,2.5]}', "application/json")
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert encode_payload({"t": when})[0] == b'{"t":"2026-01-02T03:04:05"}'
    assert encode_payload(7) == (b"7", "application/json")


def test_routing_keys_headers_and_times() -> None:
    assert routing_keys(" a.b , c.*,, #") == ["a.b", "c.*", "#"]
    assert routing_keys("") == []
    assert header_value({"n": [1, object.__name__], "x": None}) == {"n": [1, "object"], "x": None}
    assert isinstance(header_value(object()), str)
    assert plain({"b": b"text", "l": [b"\xff"]}) == {"b": "text", "l": [b"\xff"]}
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert timestamp_ms(when) == 1767225600000
    assert timestamp_ms(when.replace(tzinfo=None)) == 1767225600000
    assert timestamp_ms(None) is None


def test_expiration_is_milliseconds() -> None:
    assert expiration_seconds("1500") == 1.5
    assert expiration_seconds(None) is None and expiration_seconds("") is None
    with pytest.raises(ValueError, match="expiration"):
        expiration_seconds("soon")
    with pytest.raises(ValueError, match="negative"):
        expiration_seconds(-1)
