"""Topic rules, payload conversions and deploy-time checks (no broker needed)."""

from __future__ import annotations

import pytest

from plantwire.nodes.mqtt.broker import MqttBrokerConfig
from plantwire.nodes.mqtt.client import topic_matches
from plantwire.nodes.mqtt.input import MqttInConfig, convert_payload
from plantwire.nodes.mqtt.output import decode_item, encode_item, js_json, payload_bytes
from plantwire.nodes.mqtt.topics import validate_filter, validate_publish_topic


@pytest.mark.parametrize(
    ("flt", "topic", "ok"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "x/y", True),
        ("#", "$SYS/x", False),
        ("+/b", "a/b", True),
        ("$share/g/a/+", "a/b", True),
        ("$share/g/a/+", "b/b", False),
        ("a/+/c", "a//c", True),
    ],
)
def test_topic_matches(flt: str, topic: str, ok: bool) -> None:
    assert topic_matches(flt, topic) is ok


def test_topic_validation() -> None:
    assert validate_publish_topic("a/b") == ""
    for bad in ("", "a/+", "a/#", "a\0b", "x" * 65536):
        assert validate_publish_topic(bad).startswith("Invalid topic specified")
    assert validate_filter("a/+/#") == ""
    assert validate_filter("$share/g/a/#") == ""
    for bad in ("", "a/#/b", "a/b+", "$share//a", "$share/g"):
        assert validate_filter(bad), bad


def test_convert_payload_v5_content_type() -> None:
    assert convert_payload("auto-detect", b'{"a":1}', {"contentType": "application/json"}) == {
        "a": 1
    }
    assert convert_payload("auto", b'{"a":1}', {"contentType": "application/json"}) == '{"a":1}'
    assert convert_payload("auto-detect", b"12", {"contentType": "text/plain"}) == "12"
    assert convert_payload("auto-detect", b"abc", {"contentType": "image/png"}) == b"abc"


def test_js_json_and_payload_bytes() -> None:
    assert js_json({"a": 1.0, "b": 1e21, "c": 0.1, "d": float("nan"), "e": b"\x01"}) == (
        '{"a":1,"b":1e+21,"c":0.1,"d":null,"e":{"type":"Buffer","data":[1]}}'
    )
    assert payload_bytes(3.0) == b"3" and payload_bytes(False) == b"false"
    item = encode_item("t/x", b"\x00p", 1, True, {"correlationData": b"\x01", "contentType": "c"})
    assert decode_item(item) == (
        "t/x",
        b"\x00p",
        1,
        True,
        {"correlationData": b"\x01", "contentType": "c"},
    )


def test_deploy_time_checks() -> None:
    with pytest.raises(ValueError, match="topic"):
        MqttInConfig(id="i", type="mqtt in", topic="a/#/b", broker="b")
    with pytest.raises(ValueError, match="broker"):
        MqttInConfig(id="i", type="mqtt in", topic="a")
    MqttInConfig(id="i", type="mqtt in", topic="", inputs=1, broker="b")  # dynamic: no topic
    with pytest.raises(ValueError, match="WebSocket"):
        MqttBrokerConfig(id="b", type="mqtt-broker", broker="ws://x:9001")
    with pytest.raises(ValueError, match="birthTopic"):
        MqttBrokerConfig(id="b", type="mqtt-broker", broker="h", birthTopic="a/+")
    cfg = MqttBrokerConfig(id="b", type="mqtt-broker", broker="h", port="", protocolVersion=5)
    assert cfg.port is None and cfg.protocolVersion == "5"
