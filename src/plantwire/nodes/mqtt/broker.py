"""mqtt-broker: the config node that owns one MQTT connection shared by its users."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, NodeConfig, OptInt, config_ref, node_type

from .client import MqttConnection, MqttMessage, MqttOptions, Subscription, WillSpec
from .topics import validate_publish_topic

__all__ = ["MqttBrokerConfig", "MqttBrokerNode", "user_properties"]

log = logging.getLogger("plantwire.mqtt")

STATUS = {
    "connected": ("green", "dot", "connected"),
    "connecting": ("yellow", "ring", "connecting"),
    "disconnected": ("red", "ring", "disconnected"),
}


def user_properties(value: Any) -> dict[str, str] | None:
    """Node-RED's userProps (a JSON object text or an object) -> string pairs, or None."""
    if isinstance(value, str):
        if not value.strip().startswith("{"):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    pairs = {str(k): v for k, v in value.items() if isinstance(v, str)}
    return pairs or None


def _qos(value: Any) -> int:
    try:
        q = int(value or 0)
    except (TypeError, ValueError):
        return 0
    return q if q in (0, 1, 2) else 0


class MqttBrokerConfig(NodeConfig):
    """The mqtt-broker node as Node-RED writes it in flows.json."""

    broker: str = Field(
        "", description="Host name or address of the broker (or mqtt:// / mqtts:// URL)."
    )
    port: OptInt = Field(1883, description="TCP port of the broker.")
    tls: str = config_ref("tls-config", "Id of the tls-config node used when usetls is set.")
    clientid: str = Field("", description="Client id; generated when empty.")
    autoConnect: LooseBool = Field(
        True, description="Connect when the first node using this broker starts."
    )
    usetls: LooseBool = Field(False, description="Connect with TLS.")
    verifyservercert: LooseBool = Field(
        False, description="Legacy: check the server certificate (without a tls-config node)."
    )
    compatmode: LooseBool = Field(False, description="Legacy MQTT 3.1 mode (uses 3.1.1 here).")
    protocolVersion: str = Field("4", description="4 = MQTT 3.1.1, 5 = MQTT 5.")
    keepalive: OptInt = Field(60, description="Keep alive time in seconds.")
    cleansession: LooseBool = Field(
        True, description="Clean session (MQTT 5: clean start); off keeps the session."
    )
    autoUnsubscribe: LooseBool = Field(
        True, description="Unsubscribe at the broker when a node is removed or changed."
    )
    birthTopic: str = Field("", description="Topic of the message sent on every connect.")
    birthQos: str = Field("0", description="QoS of the birth message.")
    birthRetain: LooseBool = Field(False, description="Retain the birth message.")
    birthPayload: str = Field("", description="Payload of the birth message.")
    birthMsg: dict[str, Any] = Field(
        default_factory=dict,
        description="MQTT 5 properties of the birth message: contentType, userProps, "
        "respTopic, correl, expiry.",
    )
    closeTopic: str = Field("", description="Topic of the message sent before disconnecting.")
    closeQos: str = Field("0", description="QoS of the close message.")
    closeRetain: LooseBool = Field(False, description="Retain the close message.")
    closePayload: str = Field("", description="Payload of the close message.")
    closeMsg: dict[str, Any] = Field(
        default_factory=dict, description="MQTT 5 properties of the close message."
    )
    willTopic: str = Field(
        "", description="Topic of the will, sent by the broker on an unexpected disconnection."
    )
    willQos: str = Field("0", description="QoS of the will message.")
    willRetain: LooseBool = Field(False, description="Retain the will message.")
    willPayload: str = Field("", description="Payload of the will message.")
    willMsg: dict[str, Any] = Field(
        default_factory=dict,
        description="MQTT 5 properties of the will message (also delay: will delay interval).",
    )
    userProps: str | dict[str, Any] = Field(
        "", description="MQTT 5 user properties sent with CONNECT (a JSON object)."
    )
    sessionExpiry: OptInt = Field(
        0, description="MQTT 5 session expiry interval in seconds (0: ends on disconnect)."
    )
    topicAliasMaximum: OptInt = Field(None, description="MQTT 5 topic alias maximum.")
    maximumPacketSize: OptInt = Field(None, description="MQTT 5 maximum packet size.")
    receiveMaximum: OptInt = Field(None, description="MQTT 5 receive maximum.")

    @field_validator("birthMsg", "closeMsg", "willMsg", mode="before")
    @classmethod
    def _props_dict(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {}

    @model_validator(mode="after")
    def _check(self) -> MqttBrokerConfig:
        if self.protocolVersion not in ("3", "4", "5"):
            raise ValueError(f"protocolVersion: '{self.protocolVersion}' is not 3, 4 or 5")
        scheme = urlsplit(self.broker).scheme if "://" in self.broker else ""
        if scheme in ("ws", "wss"):
            raise ValueError("broker: WebSocket brokers (ws://, wss://) are not supported")
        if scheme and scheme not in ("mqtt", "mqtts", "tcp", "ssl", "tls"):
            raise ValueError(f"broker: unknown URL scheme '{scheme}://'")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port: {self.port} is not a TCP port")
        for part in ("birth", "close", "will"):
            topic = getattr(self, f"{part}Topic")
            if topic and validate_publish_topic(topic):
                raise ValueError(f"{part}Topic: {validate_publish_topic(topic)}")
        return self


@node_type("mqtt-broker")
class MqttBrokerNode(Node):
    """A connection to an MQTT broker, shared by every mqtt in / mqtt out node that
    uses it: one TCP (or TLS) connection, started when the first of them starts and
    closed when the last one stops. It reconnects with backoff and renews the
    subscriptions; the birth message is sent on every connect, the close message before
    a clean disconnect, and the broker sends the will when the connection breaks."""

    credential_fields: ClassVar[dict[str, str] | None] = {"user": "text", "password": "password"}

    config_model = MqttBrokerConfig
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0

    def __init__(self, flow: Any, config: MqttBrokerConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.users: dict[str, Node] = {}
        self.conn: MqttConnection | None = None
        self._listeners: list[Callable[[str, str], None]] = []
        self._overrides: dict[str, Any] = {}
        self.v5 = config.protocolVersion == "5"

    # ----- options --------------------------------------------------------------------

    def _opt(self, name: str) -> Any:
        return self._overrides.get(name, getattr(self.cfg, name))

    def _message(self, part: str) -> WillSpec | None:
        topic = self._opt(f"{part}Topic")
        if not topic:
            return None
        props: dict[str, Any] = {}
        extra = self._opt(f"{part}Msg") or {}
        if self.v5 and isinstance(extra, dict):
            if extra.get("contentType"):
                props["contentType"] = str(extra["contentType"])
            if extra.get("respTopic"):
                props["responseTopic"] = str(extra["respTopic"])
            if extra.get("correl"):
                props["correlationData"] = str(extra["correl"]).encode()
            for key, name in (("expiry", "messageExpiryInterval"), ("delay", "willDelayInterval")):
                if str(extra.get(key, "")).strip().isdigit() and (
                    key == "expiry" or part == "will"
                ):
                    props[name] = int(extra[key])
            up = user_properties(extra.get("userProps"))
            if up:
                props["userProperties"] = up
        payload = str(self._opt(f"{part}Payload") or "").encode()
        qos = _qos(self._opt(f"{part}Qos"))
        retain = self._opt(f"{part}Retain") in (True, "true")
        return WillSpec(topic, payload, qos, retain, props)

    def build_options(self) -> MqttOptions:
        """MqttOptions from the config (and a connect action's overrides)."""
        host, port, tls_wanted = str(self._opt("broker") or "").strip(), self._opt("port"), False
        if "://" in host:
            parts = urlsplit(host)
            tls_wanted = parts.scheme in ("mqtts", "ssl", "tls")
            host, port = parts.hostname or "localhost", parts.port or (8883 if tls_wanted else 1883)
        host = host or "localhost"
        clean = bool(self._opt("cleansession"))
        client_id = str(self._opt("clientid") or "")
        if not clean and not client_id:
            clean = True
            self.warn("No client ID set, using clean session")
        if not client_id:
            client_id = f"plantwire_{uuid.uuid4().hex[:12]}"
        tls_ctx = None
        if self._opt("usetls") or tls_wanted:
            tls_node = self.flow.get_node(self.cfg.tls) if self.cfg.tls else None
            if tls_node is not None and hasattr(tls_node, "ssl_context"):
                tls_ctx = tls_node.ssl_context()
            else:
                import ssl

                tls_ctx = ssl.create_default_context()
                if not self._opt("verifyservercert"):
                    tls_ctx.check_hostname = False
                    tls_ctx.verify_mode = ssl.CERT_NONE
        connect_props: dict[str, Any] = {}
        if self.v5:
            connect_props["requestProblemInformation"] = True
            up = user_properties(self._opt("userProps"))
            if up:
                connect_props["userProperties"] = up
            for src, name in (
                ("sessionExpiry", "sessionExpiryInterval"),
                ("topicAliasMaximum", "topicAliasMaximum"),
                ("maximumPacketSize", "maximumPacketSize"),
                ("receiveMaximum", "receiveMaximum"),
            ):
                value = self._opt(src)
                if value:
                    connect_props[name] = int(value)
        creds = self.credentials or {}
        user = self._overrides.get("username", creds.get("user"))
        password = self._overrides.get("password", creds.get("password"))
        return MqttOptions(
            host=host,
            port=int(port or 1883),
            client_id=client_id,
            protocol_version=5 if self.v5 else 4,
            keepalive=int(self._opt("keepalive") if self._opt("keepalive") is not None else 60),
            clean_session=clean,
            username=str(user) if user else None,
            password=str(password) if password else None,
            tls=tls_ctx,
            will=self._message("will"),
            birth=self._message("birth"),
            close=self._message("close"),
            connect_properties=connect_props,
        )

    def _ensure_conn(self) -> MqttConnection:
        if self.conn is None:
            self.conn = MqttConnection(self.build_options(), name=self.name or self._label())
            self.conn.add_state_listener(self._on_state)
        return self.conn

    def _label(self) -> str:
        cid = self.cfg.clientid
        return f"{cid + '@' if cid else ''}{self.cfg.broker or 'localhost'}:{self.cfg.port or 1883}"

    # ----- users ----------------------------------------------------------------------

    def add_state_listener(self, listener: Callable[[str, str], None]) -> None:
        self._listeners.append(listener)

    def remove_state_listener(self, listener: Callable[[str, str], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _on_state(self, state: str, detail: str) -> None:
        for user in list(self.users.values()):
            user.status(*STATUS.get(state, STATUS["disconnected"]))
        for listener in list(self._listeners):
            listener(state, detail)

    async def register(self, node: Node) -> None:
        """A node starts using the connection; the first one starts it (autoConnect)."""
        conn = self._ensure_conn()
        self.users[node.id] = node
        node.status(*STATUS.get(conn.state, STATUS["disconnected"]))
        if len(self.users) == 1 and self.cfg.autoConnect:
            await conn.start()

    async def deregister(self, node: Node) -> None:
        """A node stops using the connection; after the last one it is closed."""
        self.users.pop(node.id, None)
        if not self.users and self.conn is not None:
            await self.conn.stop()

    def subscribe(
        self, topic: str, qos: int, callback: Callable[[MqttMessage], None], **opts: Any
    ) -> Subscription:
        """Subscribe through the shared connection (MqttError on a bad filter)."""
        return self._ensure_conn().subscribe(topic, qos, callback, **opts)

    def unsubscribe(self, sub: Subscription, removed: bool = True) -> None:
        """Drop a subscription; unsubscribes at the broker when the node was removed or
        autoUnsubscribe is set."""
        if self.conn is not None:
            self.conn.unsubscribe(sub, send_unsubscribe=removed or self.cfg.autoUnsubscribe)

    # ----- connect / disconnect actions (msg.action) ----------------------------------

    async def connect_action(self, overrides: Any = None) -> None:
        """Node-RED's ``connect`` action; ``overrides`` is ``msg.broker`` (with ``force``
        to cycle an active connection). ValueError when already connected."""
        conn = self._ensure_conn()
        active = conn.state in ("connected", "connecting") and conn._task is not None
        if active:
            if not isinstance(overrides, dict):
                return
            if not overrides.get("force"):
                raise ValueError("Disconnect from broker before connecting")
            await conn.stop()
        if isinstance(overrides, dict):
            self._apply_overrides(overrides)
            conn.options = self.build_options()
            conn.name = self.name or self._label()
        await conn.start()

    async def disconnect_action(self) -> None:
        """Node-RED's ``disconnect`` action: close message, disconnect, no reconnect."""
        if self.conn is not None:
            await self.conn.stop()

    def _apply_overrides(self, opts: dict[str, Any]) -> None:
        for key in (
            "broker",
            "port",
            "clientid",
            "autoConnect",
            "usetls",
            "verifyservercert",
            "keepalive",
            "cleansession",
            "autoUnsubscribe",
            "username",
            "password",
            "sessionExpiry",
            "userProps",
        ):
            if key in opts:
                self._overrides[key] = opts[key]
        if "url" in opts:
            self._overrides["broker"] = opts["url"]
        if "protocolVersion" in opts:
            self.v5 = str(opts["protocolVersion"]) == "5"
        for part in ("birth", "close", "will"):
            if part in opts:
                spec = opts[part] if isinstance(opts[part], dict) else {}
                self._overrides[f"{part}Topic"] = spec.get("topic", "")
                self._overrides[f"{part}Payload"] = spec.get("payload", "")
                self._overrides[f"{part}Qos"] = spec.get("qos", 0)
                self._overrides[f"{part}Retain"] = spec.get("retain", False)
                self._overrides[f"{part}Msg"] = spec.get("properties", {})

    async def close(self, removed: bool) -> None:
        if self.conn is not None:
            await self.conn.stop()
            self.conn.remove_state_listener(self._on_state)
        self.users.clear()
