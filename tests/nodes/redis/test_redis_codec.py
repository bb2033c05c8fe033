"""redis_codec: payload <-> stored value mapping without a server."""

from __future__ import annotations

import pytest

from plantwire.nodes.redis.redis_codec import (
    decode_value,
    encode_value,
    names,
    plain,
    stream_fields,
)


def test_encode_and_decode_values() -> None:
    assert encode_value(b"\x00\xff") == b"\x00\xff"
    assert encode_value("tëxt") == "tëxt".encode()
    assert encode_value({"a": 1}) == b'{"a":1}'
    assert encode_value(3.5) == b"3.5" and encode_value(None) == b"null"
    assert decode_value(b"text", False) == "text"
    assert decode_value(b"\xff", False) == b"\xff"
    assert decode_value(b'{"a": [1]}', True) == {"a": [1]}
    with pytest.raises(ValueError, match="not valid JSON"):
        decode_value(b"{", True)


def test_stream_fields() -> None:
    assert stream_fields({"a": 1}, "payload", False) == {"payload": b'{"a":1}'}
    assert stream_fields({"a": 1, "b": "x"}, "payload", True) == {"a": b"1", "b": b"x"}
    assert stream_fields("v", "value", True) == {"value": b"v"}  # not an object
    with pytest.raises(ValueError, match="empty object"):
        stream_fields({}, "payload", True)


def test_plain_replies_and_names() -> None:
    assert plain([b"a", [b"b", 1], {b"k": b"\xff"}]) == ["a", ["b", 1], {"k": b"\xff"}]
    assert names(" a, b ,,c ") == ["a", "b", "c"]
