"""MQTT topic rules and the MQTT 5 property names (Node-RED's <-> gmqtt's)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "from_wire_properties",
    "split_shared",
    "to_wire_properties",
    "topic_matches",
    "validate_filter",
    "validate_publish_topic",
]

MAX_TOPIC_BYTES = 65535

# Node-RED (MQTT.js) property name -> gmqtt property name
NAMES: dict[str, str] = {
    "payloadFormatIndicator": "payload_format_id",
    "messageExpiryInterval": "message_expiry_interval",
    "contentType": "content_type",
    "responseTopic": "response_topic",
    "correlationData": "correlation_data",
    "subscriptionIdentifier": "subscription_identifier",
    "sessionExpiryInterval": "session_expiry_interval",
    "assignedClientIdentifier": "assigned_client_identifier",
    "serverKeepAlive": "server_keep_alive",
    "authenticationMethod": "auth_method",
    "requestProblemInformation": "request_problem_info",
    "willDelayInterval": "will_delay_interval",
    "requestResponseInformation": "request_response_info",
    "responseInformation": "response_info",
    "serverReference": "server_reference",
    "reasonString": "reason_string",
    "receiveMaximum": "receive_maximum",
    "topicAliasMaximum": "topic_alias_maximum",
    "topicAlias": "topic_alias",
    "maximumQoS": "max_qos",
    "retainAvailable": "retain_available",
    "userProperties": "user_property",
    "maximumPacketSize": "maximum_packet_size",
    "wildcardSubscriptionAvailable": "wildcard_subscription_available",
    "subscriptionIdentifiersAvailable": "sub_id_available",
    "sharedSubscriptionAvailable": "shared_subscription_available",
}
WIRE_NAMES = {wire: nr for nr, wire in NAMES.items()}
_BOOLS = {
    "payloadFormatIndicator",
    "requestProblemInformation",
    "requestResponseInformation",
    "retainAvailable",
    "wildcardSubscriptionAvailable",
    "subscriptionIdentifiersAvailable",
    "sharedSubscriptionAvailable",
}
_BAD_PUBLISH_CHARS = set("+#\b\f\n\r\t\v\0")


def split_shared(topic_filter: str) -> tuple[str | None, str]:
    """``$share/<group>/<filter>`` -> (group, filter); (None, filter) otherwise."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) == 3:
            return parts[1], parts[2]
        return parts[1] if len(parts) > 1 else "", ""
    return None, topic_filter


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching with ``+`` and ``#``; ``$share/<group>/`` prefixes are ignored."""
    _, topic_filter = split_shared(topic_filter)
    if topic_filter == topic:
        return True
    f_levels = topic_filter.split("/")
    t_levels = topic.split("/")
    if topic.startswith("$") and f_levels[0] in ("+", "#"):
        return False  # wildcards at the first level never match $SYS-style topics
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels):
            return False
        if level != "+" and level != t_levels[i]:
            return False
    return len(t_levels) == len(f_levels)


_VALID_TOPICS: set[str] = set()  # topics found valid (checked once, not per message)


def validate_publish_topic(topic: Any) -> str:
    """Why ``topic`` cannot be published to ("" when it can)."""
    if topic.__class__ is str and topic in _VALID_TOPICS:
        return ""
    reason = _publish_topic_problem(topic)
    if not reason and topic.__class__ is str and len(_VALID_TOPICS) < 10_000:
        _VALID_TOPICS.add(topic)
    return reason


def _publish_topic_problem(topic: Any) -> str:
    if not isinstance(topic, str) or topic == "":
        return "Invalid topic specified: the topic is empty"
    bad = _BAD_PUBLISH_CHARS.intersection(topic)
    if bad:
        shown = ", ".join(sorted(repr(c) for c in bad))
        return f"Invalid topic specified: {topic!r} contains {shown} (not allowed when publishing)"
    if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
        return f"Invalid topic specified: longer than {MAX_TOPIC_BYTES} bytes"
    return ""


def validate_filter(topic_filter: Any) -> str:
    """Why ``topic_filter`` cannot be subscribed to ("" when it can)."""
    if not isinstance(topic_filter, str) or topic_filter == "":
        return "Invalid topic specified: the topic is empty"
    if "\0" in topic_filter:
        return "Invalid topic specified: contains a NUL character"
    if len(topic_filter.encode("utf-8")) > MAX_TOPIC_BYTES:
        return f"Invalid topic specified: longer than {MAX_TOPIC_BYTES} bytes"
    group, rest = split_shared(topic_filter)
    if group is not None:
        if not group or set("+#").intersection(group):
            return f"Invalid topic specified: bad share name in {topic_filter!r}"
        if not rest:
            return f"Invalid topic specified: no filter after the share name in {topic_filter!r}"
    levels = rest.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return f"Invalid topic specified: '#' must be the whole last level in {topic_filter!r}"
        if "+" in level and level != "+":
            return f"Invalid topic specified: '+' must be a whole level in {topic_filter!r}"
    return ""


def to_wire_properties(props: dict[str, Any]) -> dict[str, Any]:
    """Node-RED's MQTT 5 property names and values -> gmqtt keyword arguments."""
    out: dict[str, Any] = {}
    for name, value in props.items():
        wire = NAMES.get(name)
        if wire is None or value is None:
            continue
        if name == "userProperties":
            if isinstance(value, dict):
                pairs = []
                for key, val in value.items():
                    for item in val if isinstance(val, list) else [val]:
                        pairs.append((str(key), str(item)))
                if pairs:
                    out[wire] = pairs
            continue
        if name == "correlationData":
            out[wire] = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        elif name in _BOOLS:
            out[wire] = 1 if value in (True, "true", 1) else 0
        elif isinstance(value, str) and name not in ("contentType", "responseTopic"):
            if name in ("authenticationMethod",):
                out[wire] = value
            else:
                out[wire] = int(value)
        else:
            out[wire] = value
    return out


def from_wire_properties(props: dict[str, Any]) -> dict[str, Any]:
    """gmqtt's received properties (lists of values) -> Node-RED's names and values."""
    out: dict[str, Any] = {}
    for wire, values in props.items():
        name = WIRE_NAMES.get(wire)
        if name is None:
            continue
        vals = values if isinstance(values, list) else [values]
        if not vals:
            continue
        if name == "userProperties":
            user: dict[str, Any] = {}
            for pair in vals:
                key, val = pair
                if key in user:
                    prev = user[key]
                    user[key] = [*prev, val] if isinstance(prev, list) else [prev, val]
                else:
                    user[key] = val
            out[name] = user
        elif name == "subscriptionIdentifier":
            out[name] = vals[0] if len(vals) == 1 else list(vals)
        elif name in _BOOLS:
            out[name] = bool(vals[0])
        else:
            out[name] = vals[0]
    return out
