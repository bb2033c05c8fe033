"""amqp out: publish messages to an exchange, with publisher confirms and store-and-forward."""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, DeliveryMode, ExchangeType
from aiormq.exceptions import ChannelInvalidStateError
from pydantic import Field, model_validator

from plantwire.nodes.common.outbox import Outbox, OutboxConfig
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseFloat, choices, config_ref, node_type

from .amqp_codec import EXCHANGE_TYPES, encode_payload, expiration_seconds, header_value
from .broker import AmqpBrokerNode, find_broker

__all__ = ["AmqpOutConfig", "AmqpOutNode"]

log = logging.getLogger("plantwire.amqp")


class AmqpOutConfig(OutboxConfig):
    """The amqp out node as it appears in flows.json."""

    broker: str = config_ref("amqp-broker", "Id of the amqp-broker config node.")
    exchange: str = Field("", description="Exchange to publish to; empty: the default exchange.")
    declare: LooseBool = Field(
        False, description="Declare the exchange (with exchangeType and durable) on connect."
    )
    exchangeType: str = Field(
        "topic",
        description="direct, fanout, topic or headers (with declare).",
        json_schema_extra=choices(*EXCHANGE_TYPES),
    )
    durable: LooseBool = Field(True, description="Declare the exchange durable (with declare).")
    routingKey: str = Field(
        "", description="Routing key; empty: msg.topic (the queue name on the default exchange)."
    )
    persistent: LooseBool = Field(
        True, description="Persistent delivery mode: the server keeps the message on disk."
    )
    mandatory: LooseBool = Field(
        False,
        description="Mandatory: a message no queue takes is returned and reported as an error "
        "instead of being dropped by the server.",
    )
    timeout: LooseFloat = Field(
        10.0, description="Seconds to wait for the server to confirm a message."
    )

    @model_validator(mode="after")
    def _check_out(self) -> AmqpOutConfig:
        if not self.broker:
            raise ValueError("broker: no amqp-broker node is selected")
        if self.exchangeType not in EXCHANGE_TYPES:
            raise ValueError(
                f"exchangeType: '{self.exchangeType}' is not one of {', '.join(EXCHANGE_TYPES)}"
            )
        if self.timeout <= 0:
            raise ValueError("timeout: must be positive")
        return self


@node_type("amqp out")
class AmqpOutNode(Node):
    """Publishes messages to an AMQP 0-9-1 exchange (RabbitMQ).

    The body is `msg.payload`: a Buffer as it is, text as UTF-8 (text/plain), anything
    else as JSON (application/json). The routing key is the node's or `msg.topic`.
    `msg.headers` (an object) become the AMQP headers; `msg.amqp` may set correlationId,
    replyTo, messageId, contentType, expiration (milliseconds), priority, type and appId.

    Every message is confirmed by the server (publisher confirms) and persistent unless
    switched off. With *mandatory* a message that no queue takes is an error (to catch
    nodes) rather than silently dropped. A message the server refuses (unknown exchange,
    too large) reaches catch nodes; while the server is unreachable messages wait on disk
    and are published in order when it is back (store and forward)."""

    config_model = AmqpOutConfig
    category = "network"
    inputs = 1
    outputs = 0
    color = "#FF6600"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: AmqpOutConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.broker: AmqpBrokerNode | None = None
        self.channel: AbstractChannel | None = None
        self.outbox: Outbox | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        broker = find_broker(self, self.cfg.broker)
        if broker is None:
            return
        self.broker = broker
        self.outbox = Outbox(
            self, self.cfg, self._deliver, remote=broker.label, is_transient=self._is_transient
        )
        await self.outbox.start(up=False)
        await broker.register(self)

    # ----- connection state -------------------------------------------------------------

    async def amqp_up(self, connection: AbstractConnection) -> None:
        await self._open_channel(connection)
        if self.outbox is not None:
            self.outbox.remote_up()

    def amqp_down(self, reason: str) -> None:
        self.channel = None
        if self.outbox is not None:
            self.outbox.remote_down()

    async def _open_channel(self, connection: AbstractConnection) -> AbstractChannel:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        if self.cfg.exchange and self.cfg.declare:
            await channel.declare_exchange(
                self.cfg.exchange, ExchangeType(self.cfg.exchangeType), durable=self.cfg.durable
            )
        self.channel = channel
        return channel

    def _is_transient(self, exc: BaseException) -> bool:
        broker = self.broker
        if broker is None or not broker.connected:
            return True  # whatever failed, the server is not there now
        return isinstance(
            exc, ConnectionError | TimeoutError | asyncio.TimeoutError | ChannelInvalidStateError
        )

    # ----- messages ---------------------------------------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.outbox is None:
            raise ValueError(f"broker: amqp-broker node '{self.cfg.broker}' not found")
        await self.outbox.submit(msg)

    def _message(self, msg: Msg) -> tuple[aio_pika.Message, str]:
        cfg = self.cfg
        key = cfg.routingKey or msg.get("topic")
        key = "" if key is None else str(key)
        if not cfg.exchange and not key:
            raise ValueError("routingKey: empty (set it or msg.topic to the queue name)")
        body, content_type = encode_payload(msg.get("payload"))
        props = msg.get("amqp") if isinstance(msg.get("amqp"), dict) else {}
        assert isinstance(props, dict)
        headers_in = msg.get("headers")
        headers = (
            {str(k): header_value(v) for k, v in headers_in.items()}
            if isinstance(headers_in, dict)
            else None
        )

        def text(name: str) -> str | None:
            value = props.get(name)
            return None if value is None or value == "" else str(value)

        priority = props.get("priority")
        message = aio_pika.Message(
            body,
            headers=headers,
            content_type=text("contentType") or content_type,
            delivery_mode=DeliveryMode.PERSISTENT
            if cfg.persistent
            else DeliveryMode.NOT_PERSISTENT,
            priority=int(priority) if priority not in (None, "") else None,
            correlation_id=text("correlationId"),
            reply_to=text("replyTo"),
            expiration=expiration_seconds(props.get("expiration")),
            message_id=text("messageId"),
            timestamp=_dt.datetime.now(_dt.UTC),
            type=text("type"),
            app_id=text("appId"),
        )
        return message, key

    async def _deliver(self, msg: Msg) -> None:
        message, key = self._message(msg)
        broker = self.broker
        if broker is None or not broker.connected or broker.connection is None:
            raise ConnectionError(f"not connected to {broker.label if broker else 'RabbitMQ'}")
        async with self._lock:
            channel = self.channel
            if channel is None or channel.is_closed:
                channel = await self._open_channel(broker.connection)
            if self.cfg.exchange:
                exchange = await channel.get_exchange(self.cfg.exchange, ensure=False)
            else:
                exchange = channel.default_exchange
        try:
            await asyncio.wait_for(
                exchange.publish(message, routing_key=key, mandatory=self.cfg.mandatory),
                timeout=self.cfg.timeout,
            )
        except aio_pika.exceptions.DeliveryError as exc:
            where = f"exchange '{self.cfg.exchange}'" if self.cfg.exchange else "default exchange"
            if exc.frame is not None and hasattr(exc.frame, "reply_text"):
                raise ValueError(
                    f"{where}: message with routing key '{key}' returned: "
                    f"{exc.frame.reply_text} (no queue is bound for it)"
                ) from None
            raise ValueError(f"{where}: message with routing key '{key}' not accepted") from None
        except aio_pika.exceptions.ChannelNotFoundEntity as exc:
            raise ValueError(f"exchange: {exc}") from None

    async def close(self, removed: bool) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
        channel, self.channel = self.channel, None
        if self.broker is not None:
            await self.broker.deregister(self)
        if channel is not None and not channel.is_closed:
            try:
                await asyncio.wait_for(channel.close(), 5)
            except Exception:
                log.debug("amqp out %s: closing the channel failed", self.id, exc_info=True)
