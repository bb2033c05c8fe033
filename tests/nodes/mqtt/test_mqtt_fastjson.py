"""The orjson fast paths give exactly what the pure-Python JavaScript-compatible paths give.

Randomised (seeded) property tests: for many generated values, ``js_json_fast`` either
gives up (None) or returns the bytes of mqtt out's pure-Python ``JSON.stringify``; the
same for the json node's ``js_stringify``; and mqtt in's payload parsing gives the value
(and the error) of the ``json.loads`` path it replaces.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import struct
from typing import Any

import pytest

from plantwire.expressions.fastjson import NOT_FAST, js_json_fast, js_parse_fast
from plantwire.nodes.core.parsers_json_codec import JSParseError, js_parse, js_stringify
from plantwire.nodes.mqtt.input import _JsonError, convert_payload
from plantwire.nodes.mqtt.output import _js_json, js_json, payload_bytes
from plantwire.runtime.message import MISSING

_SPECIAL_FLOATS = [
    0.0, -0.0, 1.0, -1.0, 0.5, 1e-7, 1e-6, 1.5e-6, 1e-5, 123e-9, 1e15, 1e16, 1.5e16,
    9007199254740993.0, 1e20, 1e21, 1.5e21, 1e22, 1e300, 5e-324, 2.2250738585072014e-308,
    1.7976931348623157e308, math.nan, math.inf, -math.inf, 0.1, 0.3, 100.0, 49.5,
    123456789.125, 1.0000000000000002, 4.35, 2**53 + 0.0,
]  # fmt: skip
_SPECIAL_INTS = [0, -1, 7, 2**31, 2**53, 2**53 + 1, -(2**53), 2**63 - 1, -(2**63), 2**63,
                 2**64 - 1, 2**64, -(2**63) - 1, 10**21, 10**30, -(10**25)]  # fmt: skip
_CHARS = 'aZ09 e.E+-"\\/\b\f\n\r\t\x00\x01\x1f\x7f\u00e9\u2028\u20ac\U0001f600{}[]:,'


def _float(rng: random.Random) -> float:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(_SPECIAL_FLOATS)
    if kind == 1:  # any bit pattern: subnormals, huge, tiny
        value: float = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        return value
    if kind == 2:  # integral floats
        return float(rng.randrange(-(10**6), 10**6)) * rng.choice([1, 1, 10**10, 10**17])
    if kind == 3:  # readings with few decimals
        return round(rng.uniform(-1000, 1000), rng.randrange(0, 4))
    if kind == 4:  # around the exponent boundaries
        return rng.choice([1, -1]) * rng.random() * 10.0 ** rng.randrange(-9, 24)
    return rng.random()


def _string(rng: random.Random) -> str:
    text = "".join(rng.choice(_CHARS) for _ in range(rng.randrange(0, 12)))
    if rng.random() < 0.03:
        text += "\ud800"  # a lone surrogate
    return text


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(14 if depth < 4 else 9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice(_SPECIAL_INTS) if rng.random() < 0.5 else rng.randrange(-9999, 9999)
    if kind in (3, 4):
        return _float(rng)
    if kind in (5, 6):
        return _string(rng)
    if kind == 7:
        return rng.choice(
            [b"\x00\xff", bytearray(b"ab"), dt.datetime(2024, 1, 2, 3, 4, 5, 678000), MISSING]
        )
    if kind == 8:
        return rng.choice([str(rng.randrange(100)), "1e+5", "v1.0", "3e-7"])
    if kind in (9, 10, 11):
        out: dict[Any, Any] = {}
        for _ in range(rng.randrange(0, 6)):
            key: Any = _string(rng)
            if rng.random() < 0.15:
                key = str(rng.randrange(0, 30))
            elif rng.random() < 0.03:
                key = rng.randrange(5)
            out[key] = _value(rng, depth + 1)
        return out
    items = [_value(rng, depth + 1) for _ in range(rng.randrange(0, 6))]
    return tuple(items) if kind == 12 and rng.random() < 0.3 else items


def _slow_mqtt(value: Any) -> bytes | str:
    try:
        return js_json(value).encode("utf-8")
    except UnicodeEncodeError:
        return "UnicodeEncodeError"


def test_mqtt_out_fast_path_is_byte_identical() -> None:
    rng = random.Random(20261130)
    fast_count = 0
    for _ in range(30_000):
        value = _value(rng)
        fast = js_json_fast(value)
        if fast is not None:
            fast_count += 1
            assert fast == _slow_mqtt(value), value
        if isinstance(value, dict | list):
            try:
                expected: Any = _js_json(value)
                expected = "null" if expected is None else expected
                expected = expected.encode("utf-8")
            except UnicodeEncodeError:
                with pytest.raises(UnicodeEncodeError):
                    payload_bytes(value)
            else:
                assert payload_bytes(value) == expected
    assert fast_count > 10_000  # the fast path is taken for most plain values


def test_every_float_renders_as_javascript_or_falls_back() -> None:
    rng = random.Random(7)
    floats = [*_SPECIAL_FLOATS, *(_float(rng) for _ in range(50_000))]
    for number in floats:
        for value in ([number], {"t": number}):
            fast = js_json_fast(value)
            if fast is not None:
                assert fast == js_json(value).encode(), number


def test_common_readings_take_the_fast_path() -> None:
    reading = {"run": "plantwire-1-5000", "machine": "m3", "seq": 12, "temp": 71.5, "alarm": True}
    assert js_json_fast(reading) == json.dumps(reading, separators=(",", ":")).encode()
    assert js_json_fast({"temp": 50.0}) is None  # JavaScript writes 50
    assert js_json_fast({"t": dt.datetime(2024, 1, 1)}) is None
    assert js_json_fast({"b": b"x"}) is None
    assert js_json_fast({"1": 1}, js_key_order=True) is None


def test_json_node_stringify_fast_path_is_identical() -> None:
    rng = random.Random(99)
    for _ in range(20_000):
        value = _value(rng)
        fast = js_json_fast(value, js_key_order=True)
        if fast is None:
            continue
        assert fast.decode("utf-8") == js_stringify(value), value


def _json_texts(rng: random.Random) -> list[bytes]:
    texts: list[bytes] = [
        b"12345678901234567890", b"123456789012345678901234567890", b"-9223372036854775809",
        b"18446744073709551616", b"1E400", b"-1e400", b"1e-400", b'{"a":1,"b":2,"a":3}',
        b"\xef\xbb\xbf{}", b'"\\ud800"', b'"\\ud83d\\ude00"', b"NaN", b"-Infinity",
        b"[1,]", b" \n\t\r1 ", b"\x0c1", b"1.0", b"-0", b"-0.0", b'"a\x00"', b'"\x7f"',
        b"[" * 300 + b"]" * 300, b'{"\\u0031":1,"0":2}', b"\xff", b'"\xed\xa0\x80"',
        b"", b"   ", b"tru", b"true", b"null", b"0123", b"1.", b".5", b"9007199254740993",
        b'{"10":1,"2":2,"a":3}', b"[1e5, 2.50, -0E0]", b'"\\/\\b"', b"{} x",
    ]  # fmt: skip
    for _ in range(3000):
        value = _value(rng)
        try:
            text = json.dumps(value, ensure_ascii=rng.random() < 0.5, default=str)
        except (TypeError, ValueError):
            continue
        raw = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.2 and raw:  # damage it
            cut = rng.randrange(len(raw))
            raw = raw[:cut] + rng.choice([b"", b",", b"}", b"x", b"\xc3"]) + raw[cut + 1 :]
        texts.append(raw)
    return texts


def _reference_parse(data: bytes) -> Any:
    def reject(name: str) -> Any:
        raise ValueError(name)

    return json.loads(data.decode("utf-8"), parse_constant=reject)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        result = fn(*args)
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", repr(result))


def test_parse_fast_path_is_identical() -> None:
    for raw in _json_texts(random.Random(3)):
        fast = js_parse_fast(raw)
        if fast is not NOT_FAST:
            assert repr(fast) == repr(_reference_parse(raw)), raw
            assert [type(x) for x in _walk(fast)] == [type(x) for x in _walk(_reference_parse(raw))]


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(k for k in value), *(x for v in value.values() for x in _walk(v))]
    if isinstance(value, list):
        return [value, *(x for v in value for x in _walk(v))]
    return [value]


@pytest.mark.parametrize("datatype", ["json", "auto-detect", "auto", "utf8"])
def test_mqtt_in_payloads_convert_as_before(datatype: str) -> None:
    def before(data: bytes, props: dict[str, Any]) -> Any:
        # mqtt in's conversion as it was: stdlib json with NaN / Infinity refused
        if datatype == "json":
            text = data.decode("utf-8", "replace") if props else None
            if text is None:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise _JsonError("Invalid JSON string") from None
            try:
                return json.loads(text, parse_constant=_raise)
            except ValueError:
                raise _JsonError("Failed to parse JSON string") from None
        if datatype == "utf8":
            return data.decode("utf-8", errors="replace")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        if datatype == "auto-detect":
            try:
                return json.loads(text, parse_constant=_raise)
            except ValueError:
                return text
        return text

    for raw in _json_texts(random.Random(11)):
        for props in ({}, {"payloadFormatIndicator": True}):
            if props and datatype != "json":
                continue
            assert _outcome(convert_payload, datatype, raw, props) == _outcome(
                before, raw, props
            ), raw


def _raise(name: str) -> Any:
    raise ValueError(name)


def test_json_node_parse_fast_path_is_identical() -> None:
    from plantwire.nodes.core import parsers_json_codec as codec

    for raw in _json_texts(random.Random(5)):
        text = raw.decode("utf-8", "replace")
        try:
            expected: Any = ("ok", repr(json.loads(text, **codec._DECODER_ARGS)))
        except JSParseError as exc:
            expected = ("error", "JSParseError", str(exc))
        except RecursionError as exc:
            expected = ("error", "RecursionError", str(exc))
        except ValueError:
            expected = "error"
        for given in (text, raw):
            got = _outcome(js_parse, given)
            assert (got[0] if expected == "error" else got) == expected, raw


def test_qos0_publish_packet_is_what_gmqtt_builds() -> None:
    import gmqtt  # type: ignore[import-untyped]
    from gmqtt.mqtt.package import PublishPacket  # type: ignore[import-untyped]

    from plantwire.nodes.mqtt._support import publish_packet_qos0

    class Protocol:
        proto_ver = 4

    rng = random.Random(1)
    for size in (0, 1, 121, 122, 127, 128, 16383, 16384, 2_097_152):
        payload = rng.randbytes(size)
        for retain in (False, True):
            message = gmqtt.Message("plant/line-1/temp", payload, qos=0, retain=retain)
            _, expected = PublishPacket.build_package(message, Protocol())
            assert publish_packet_qos0("plant/line-1/temp", payload, retain) == bytes(expected)
    # a non-ASCII topic: the length fields count its UTF-8 bytes
    packet = publish_packet_qos0("käse/°C", b"1", False)
    assert packet == b"\x30\x0c\x00\x09k\xc3\xa4se/\xc2\xb0C1"
