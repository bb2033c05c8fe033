"""nats in: core subscriptions (optionally in a queue group) and JetStream pull consumers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg as NatsMsg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from pydantic import Field, model_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import Node
from plantwire.spec import (
    LooseBool,
    LooseFloat,
    LooseInt,
    NodeConfig,
    choices,
    config_ref,
    node_type,
)

from .nats_codec import check_subject, decode_payload
from .server import NatsServerNode, find_server

__all__ = ["NatsInConfig", "NatsInNode", "ensure_stream"]

DELIVER = {"all": DeliverPolicy.ALL, "new": DeliverPolicy.NEW, "last": DeliverPolicy.LAST}
FETCH_WAIT = 1.0  # seconds one pull request waits for messages

TRANSIENT = (
    OSError,
    asyncio.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
)


class NatsInConfig(NodeConfig):
    """The nats in node as it appears in flows.json."""

    server: str = config_ref("nats-server", "Id of the nats-server config node.")
    subject: str = Field(
        "", description="Subject to subscribe to; * matches one token, > the rest."
    )
    queue: str = Field(
        "",
        description="Queue group (core mode): the nodes of one group share the messages, "
        "each message goes to one of them. In JetStream mode it names the shared durable "
        "consumer when durable is empty.",
    )
    mode: str = Field(
        "core",
        description="core (subscription) or jetstream (pull consumer).",
        json_schema_extra=choices("core", "jetstream"),
    )
    stream: str = Field(
        "", description="JetStream: stream name; found from the subject when empty."
    )
    durable: str = Field(
        "",
        description="JetStream: durable consumer name. It keeps its position on the server, "
        "so messages published while the flow was stopped are delivered when it starts "
        "again. Empty: an ephemeral consumer removed when the node stops.",
    )
    deliverPolicy: str = Field(
        "all",
        json_schema_extra=choices(*DELIVER),
        description="JetStream, when the consumer is created: all (from the first stored "
        "message), new (only messages published after), last (the last stored one on).",
    )
    ackWait: LooseFloat = Field(
        30.0,
        description="JetStream: seconds the server waits for the ack before it delivers "
        "the message again.",
    )
    maxInFlight: LooseInt = Field(
        64,
        description="JetStream: most messages fetched and not yet acknowledged (the pull "
        "batch size and the consumer's max ack pending).",
    )
    parse_json: LooseBool = Field(
        False, alias="json", description="Parse the message data as JSON."
    )
    createStream: LooseBool = Field(
        False,
        description="JetStream: create the stream (named stream, with this subject) when "
        "it does not exist.",
    )

    @model_validator(mode="after")
    def _check(self) -> NatsInConfig:
        if not self.server:
            raise ValueError("server: choose a nats-server config node")
        check_subject(self.subject)
        if self.mode not in ("core", "jetstream"):
            raise ValueError(f"mode: '{self.mode}' is not core or jetstream")
        if self.deliverPolicy not in DELIVER:
            raise ValueError(f"deliverPolicy: '{self.deliverPolicy}' is not all, new or last")
        if self.ackWait <= 0:
            raise ValueError("ackWait: must be positive")
        if self.maxInFlight < 1:
            raise ValueError("maxInFlight: must be at least 1")
        for field in ("stream", "durable", "queue"):
            value = getattr(self, field)
            if any(c in value for c in " .*>\t"):
                raise ValueError(f"{field}: '{value}' may not contain spaces, dots, * or >")
        if self.mode == "jetstream" and self.createStream and not self.stream:
            raise ValueError("stream: createStream needs the name of the stream to create")
        return self


async def ensure_stream(js: JetStreamContext, stream: str, subject: str) -> bool:
    """Create stream ``stream`` holding ``subject`` unless it exists; True when created."""
    try:
        await js.stream_info(stream)
        return False
    except nats.js.errors.NotFoundError:
        await js.add_stream(name=stream, subjects=[subject])
        return True


def js_metadata(m: NatsMsg) -> tuple[str | None, int | None, bool]:
    """(stream, stream sequence, redelivered) of a JetStream message."""
    try:
        meta = m.metadata
    except Exception:
        return None, None, False
    return meta.stream, meta.sequence.stream, meta.num_delivered > 1


@node_type("nats in")
class NatsInNode(Node):
    """Receives NATS messages on a subject (wildcards ``*`` and ``>``) and sends each on.

    ``msg.payload`` is the data: JSON parsed when *json* is set, text when it is UTF-8,
    else bytes. ``msg.topic`` is the subject, ``msg.nats`` holds ``subject``, ``reply``
    (the reply subject of a request, for a nats out node with no subject to answer),
    ``headers``, and for JetStream ``stream``, ``sequence`` and ``redelivered``.

    Core mode subscribes (in a queue group when *queue* is set: the group's members share
    the messages). JetStream mode reads from a pull consumer: a *durable* one keeps its
    position on the server, so messages published while the flow was stopped arrive when
    it starts again, in order. A message is acknowledged once it was handed on and the
    nodes downstream had room for it; at most *maxInFlight* messages are unacknowledged,
    and one not acknowledged within *ackWait* seconds (the flow was stopped) is delivered
    again, with ``msg.nats.redelivered`` true."""

    config_model = NatsInConfig
    category = "network"
    color = "#7CB9E8"
    icon = "bridge.svg"
    inputs = 0
    outputs = 1

    def __init__(self, flow: Any, config: NatsInConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.subject = config.subject.strip()
        self.server: NatsServerNode | None = None
        self._sub: Subscription | None = None
        self._psub: JetStreamContext.PullSubscription | None = None
        self._ephemeral: tuple[JetStreamContext, str, str] | None = None
        self._reported = ""
        self._task: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        server = find_server(self, self.cfg.server)
        if server is None:
            return
        self.server = server
        server.register(self)
        if self.cfg.mode == "jetstream":
            self._task = self.create_task(self._consume())
        else:
            self._task = self.create_task(self._subscribe())

    def nats_state(self, state: str) -> None:
        """A new client after the old one closed needs a new subscription."""
        if state == "connected" and self._sub is not None and self._sub._conn.is_closed:
            self._sub = None
            self.create_task(self._subscribe())

    # ----- core -----------------------------------------------------------------------

    async def _subscribe(self) -> None:
        assert self.server is not None
        nc = await self.server.client()
        self._sub = await nc.subscribe(self.subject, queue=self.cfg.queue, cb=self._on_core)

    async def _on_core(self, m: NatsMsg) -> None:
        msg = self._to_msg(m)
        msg["nats"]["reply"] = m.reply or None
        await self.send_async(msg)

    def _to_msg(self, m: NatsMsg) -> Msg:
        return {
            "payload": decode_payload(m.data, self.cfg.parse_json),
            "topic": m.subject,
            "nats": {
                "subject": m.subject,
                "reply": None,
                "headers": dict(m.headers) if m.headers else {},
                "stream": None,
                "sequence": None,
                "redelivered": False,
            },
        }

    # ----- JetStream ------------------------------------------------------------------

    def _report(self, text: str) -> None:
        """Report a consumer problem once (until it changes or is solved)."""
        if text != self._reported:
            self._reported = text
            self.error(text)
            self.status("red", "ring", text[:60])

    async def _bind(self, nc: NATS) -> JetStreamContext.PullSubscription:
        cfg = self.cfg
        js = nc.jetstream()
        stream = cfg.stream or None
        if cfg.createStream and cfg.stream and await ensure_stream(js, cfg.stream, self.subject):
            self.log(f"created stream {cfg.stream} for subject {self.subject}")
        durable = cfg.durable or cfg.queue or None
        config = ConsumerConfig(
            deliver_policy=DELIVER[cfg.deliverPolicy],
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=cfg.ackWait,
            max_ack_pending=cfg.maxInFlight,
        )
        if stream is None:
            try:
                stream = await js.find_stream_name_by_subject(self.subject)
            except nats.js.errors.NotFoundError:
                raise LookupError(
                    f"no JetStream stream holds subject '{self.subject}' (set stream, or "
                    "createStream with a stream name)"
                ) from None
        psub = await js.pull_subscribe(self.subject, durable=durable, stream=stream, config=config)
        if durable is None:
            info = await psub.consumer_info()
            self._ephemeral = (js, stream, info.name)
        return psub

    async def _consume(self) -> None:
        assert self.server is not None
        server = self.server
        delay = 0.5
        while True:
            nc = await server.client()
            try:
                self._psub = await self._bind(nc)
            except (LookupError, nats.js.errors.APIError) as exc:
                if isinstance(exc, nats.js.errors.ServiceUnavailableError):
                    await asyncio.sleep(delay)
                    continue
                self._report(f"{server.remote}: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            except TRANSIENT:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if self._reported:
                self._reported = ""
                server._show(self)
            delay = 0.5
            await self._fetch_loop(nc, self._psub)

    async def _fetch_loop(self, nc: NATS, psub: JetStreamContext.PullSubscription) -> None:
        batch = self.cfg.maxInFlight
        while not nc.is_closed:
            if not nc.is_connected:
                await asyncio.sleep(0.1)
                continue
            try:
                msgs = await psub.fetch(batch=batch, timeout=FETCH_WAIT)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.js.errors.NotFoundError as exc:
                self._report(f"consumer lost: {exc}")
                return  # bind again
            except TRANSIENT:
                await asyncio.sleep(0.2)
                continue
            except nats.errors.Error as exc:
                self._report(f"fetch failed: {exc}")
                await asyncio.sleep(0.5)
                continue
            for i, m in enumerate(msgs):
                stream, seq, redelivered = js_metadata(m)
                msg = self._to_msg(m)
                msg["nats"].update(stream=stream, sequence=seq, redelivered=redelivered)
                try:
                    await self.send_async(msg)
                except asyncio.CancelledError:
                    # stopped while waiting for room: this one was handed on; the rest
                    # was not and is delivered again at once
                    with contextlib.suppress(Exception):
                        await m.ack()
                    for rest in msgs[i + 1 :]:
                        with contextlib.suppress(Exception):
                            await rest.nak()
                    raise
                with contextlib.suppress(nats.errors.Error):
                    await m.ack()
            with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError):
                await nc.flush(timeout=5)  # the acks reached the server
        return

    async def close(self, removed: bool) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        psub, self._psub = self._psub, None
        if psub is not None:
            with contextlib.suppress(Exception):
                await psub.unsubscribe()
        eph, self._ephemeral = self._ephemeral, None
        if eph is not None:
            js, stream, name = eph
            with contextlib.suppress(Exception):
                await asyncio.wait_for(js.delete_consumer(stream, name), 2.0)
        if self.server is not None:
            await self.server.deregister(self)
