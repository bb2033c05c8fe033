"""amqp in: consume a queue bound to an exchange; one message per delivery."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    ExchangeType,
)
from pydantic import Field, field_validator, model_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseInt, NodeConfig, choices, config_ref, node_type

from .amqp_codec import EXCHANGE_TYPES, decode_body, plain, routing_keys, timestamp_ms
from .broker import AmqpBrokerNode, find_broker

__all__ = ["AmqpInConfig", "AmqpInNode"]

log = logging.getLogger("plantwire.amqp")


class AmqpInConfig(NodeConfig):
    """The amqp in node as it appears in flows.json."""

    broker: str = config_ref("amqp-broker", "Id of the amqp-broker config node.")
    queue: str = Field(
        "", description="Queue to consume; empty: a server-named exclusive queue for this node."
    )
    declare: LooseBool = Field(
        True,
        description="Declare the queue and exchange (off: use them as they are on the server; "
        "they must exist).",
    )
    durable: LooseBool = Field(
        True, description="Declare the queue and exchange durable (they survive a restart)."
    )
    exchange: str = Field(
        "", description="Exchange the queue is bound to; empty: no binding (default exchange)."
    )
    exchangeType: str = Field(
        "topic",
        description="direct, fanout, topic or headers.",
        json_schema_extra=choices(*EXCHANGE_TYPES),
    )
    routingKey: str = Field(
        "#", description="Binding key(s), comma-separated (topic patterns for a topic exchange)."
    )
    bindHeaders: dict[str, Any] | str = Field(
        "",
        description="Headers exchange: the binding arguments as a JSON object, e.g. "
        '{"x-match": "all", "line": "3"}.',
    )
    ack: str = Field(
        "done",
        json_schema_extra=choices("auto", "done"),
        description="auto: acknowledge as the message is taken; done: acknowledge after the "
        "message was sent on (a crash before that redelivers it).",
    )
    prefetch: LooseInt = Field(
        0, description="Unacknowledged messages held at once; 0: the broker node's prefetch."
    )
    json_: LooseBool = Field(
        False, alias="json", description="Parse every body as JSON (else only application/json)."
    )

    @field_validator("bindHeaders", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ValueError("bindHeaders: not a JSON object") from None
            if not isinstance(parsed, dict):
                raise ValueError("bindHeaders: not a JSON object")
            return parsed
        return value if value is not None else ""

    @model_validator(mode="after")
    def _check(self) -> AmqpInConfig:
        if not self.broker:
            raise ValueError("broker: no amqp-broker node is selected")
        if self.exchangeType not in EXCHANGE_TYPES:
            raise ValueError(
                f"exchangeType: '{self.exchangeType}' is not one of {', '.join(EXCHANGE_TYPES)}"
            )
        if self.ack not in ("auto", "done"):
            raise ValueError(f"ack: '{self.ack}' is not auto or done")
        if self.prefetch < 0 or self.prefetch > 65535:
            raise ValueError("prefetch: must be between 0 and 65535")
        if not self.declare and not self.queue:
            raise ValueError("queue: a queue name is needed when declare is off")
        return self


@node_type("amqp in")
class AmqpInNode(Node):
    """Receives messages from an AMQP 0-9-1 queue (RabbitMQ).

    The queue is declared (or, with declare off, used as it is) and bound to the exchange
    with each routing key of the comma-separated list. An empty queue name makes a
    server-named exclusive queue that lives as long as the connection.

    `msg.payload` is the body: parsed JSON with *json* set or content type
    application/json, text for text content types, else a Buffer (bytes). `msg.topic`
    is the routing key; `msg.amqp` holds exchange, routingKey, headers, deliveryTag,
    redelivered, messageId, correlationId, replyTo, contentType and timestamp (ms).

    Acknowledgement *auto* acks a message when the node takes it, *done* after it was
    sent on and the next nodes had room for it. The prefetch bounds the messages the
    server hands over before they are acked, so a slow flow slows the consumer down
    instead of filling memory. After a lost connection the queue, bindings and consumer
    are set up again."""

    config_model = AmqpInConfig
    category = "network"
    inputs = 0
    outputs = 1
    color = "#FF6600"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: AmqpInConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.broker: AmqpBrokerNode | None = None
        self.channel: AbstractChannel | None = None
        self.queue_name = ""
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    async def start(self) -> None:
        broker = find_broker(self, self.cfg.broker)
        if broker is None:
            return
        self.broker = broker
        self.create_task(self._work())
        await broker.register(self)

    async def amqp_up(self, connection: AbstractConnection) -> None:
        assert self.broker is not None
        cfg = self.cfg
        channel = await connection.channel(publisher_confirms=False)
        self.channel = channel
        prefetch = cfg.prefetch or self.broker.cfg.prefetch
        if prefetch:
            await channel.set_qos(prefetch_count=prefetch)
        if not cfg.queue:
            queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        elif cfg.declare:
            queue = await channel.declare_queue(cfg.queue, durable=cfg.durable)
        else:
            queue = await channel.declare_queue(cfg.queue, passive=True)
        self.queue_name = queue.name
        if cfg.exchange:
            if cfg.declare:
                exchange = await channel.declare_exchange(
                    cfg.exchange, ExchangeType(cfg.exchangeType), durable=cfg.durable
                )
            else:
                exchange = await channel.get_exchange(cfg.exchange, ensure=True)
            if cfg.exchangeType == "headers":
                args = cfg.bindHeaders if isinstance(cfg.bindHeaders, dict) else {}
                await queue.bind(exchange, "", arguments=args)
            elif cfg.exchangeType == "fanout":
                await queue.bind(exchange, "")
            else:
                for key in routing_keys(cfg.routingKey) or [""]:
                    await queue.bind(exchange, key)
        await queue.consume(self._on_message, no_ack=False)
        self.status("green", "dot", "connected")

    def amqp_down(self, reason: str) -> None:
        self.channel = None
        # unacked deliveries of the lost channel are redelivered by the server
        while not self._inbox.empty():
            self._inbox.get_nowait()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        await self._inbox.put(message)

    async def _work(self) -> None:
        while True:
            message = await self._inbox.get()
            try:
                await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("amqp in %s: %s", self.id, exc, exc_info=True)
                self.error(f"{self.cfg.queue or self.queue_name}: {exc}")

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        if message.channel.is_closed:
            return  # its channel is gone: the server delivers it again
        if self.cfg.ack == "auto":
            await message.ack()
        msg = self._to_msg(message)
        if msg is not None:
            await self.send_async(msg)
        if self.cfg.ack == "done" and not message.channel.is_closed:
            await message.ack()

    def _to_msg(self, message: AbstractIncomingMessage) -> Msg | None:
        headers = plain(dict(message.headers or {}))
        amqp = {
            "exchange": message.exchange or "",
            "routingKey": message.routing_key or "",
            "headers": headers,
            "deliveryTag": message.delivery_tag,
            "redelivered": bool(message.redelivered),
            "messageId": message.message_id,
            "correlationId": message.correlation_id,
            "replyTo": message.reply_to,
            "contentType": message.content_type,
            "timestamp": timestamp_ms(message.timestamp),
            "persistent": message.delivery_mode == 2,
            "queue": self.queue_name,
        }
        msg: Msg = {"topic": message.routing_key or "", "amqp": amqp}
        try:
            msg["payload"] = decode_body(message.body, message.content_type, self.cfg.json_)
        except ValueError as exc:
            msg["payload"] = message.body
            self.error(f"{message.routing_key}: {exc}", msg)
            return None
        return msg

    async def close(self, removed: bool) -> None:
        channel, self.channel = self.channel, None
        if self.broker is not None:
            await self.broker.deregister(self)
        if channel is not None and not channel.is_closed:
            try:
                await asyncio.wait_for(channel.close(), 5)
            except Exception:
                log.debug("amqp in %s: closing the channel failed", self.id, exc_info=True)
