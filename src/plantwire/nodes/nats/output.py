"""nats out: publish (core, flushed), JetStream publish (waits for the PubAck) through the
store-and-forward outbox, and request/reply."""

from __future__ import annotations

from typing import Any

import nats.errors
import nats.js.errors
from pydantic import Field, model_validator

from plantwire.nodes.common.outbox import Outbox, OutboxConfig
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseFloat, choices, config_ref, node_type

from .input import TRANSIENT, ensure_stream
from .nats_codec import check_publish_subject, decode_payload, encode_headers, encode_payload
from .server import NatsServerNode, find_server

__all__ = ["NatsNotConnected", "NatsOutConfig", "NatsOutNode"]

MODES = ("core", "jetstream", "request")


class NatsNotConnected(ConnectionError):
    """The connection to the server is down (the message waits)."""


class NatsOutConfig(OutboxConfig):
    """The nats out node as it appears in flows.json."""

    server: str = config_ref("nats-server", "Id of the nats-server config node.")
    subject: str = Field(
        "",
        description="Subject to publish to. Empty: msg.nats.reply (answering a request "
        "received by nats in), else msg.topic.",
    )
    mode: str = Field(
        "core",
        json_schema_extra=choices(*MODES),
        description="core: publish and flush (the server has it); jetstream: publish and "
        "wait for the stream's acknowledgement; request: send a request and pass the reply "
        "on (output 1).",
    )
    stream: str = Field(
        "", description="JetStream: the stream expected to store the message (optional)."
    )
    createStream: LooseBool = Field(
        False,
        description="JetStream: create the stream (named stream, with this subject) when "
        "it does not exist.",
    )
    timeout: LooseFloat = Field(
        5.0,
        description="Seconds to wait for the server (flush), the JetStream acknowledgement "
        "or the reply of a request.",
    )
    parse_json: LooseBool = Field(
        False, alias="json", description="Request mode: parse the reply data as JSON."
    )

    @model_validator(mode="after")
    def _check_out(self) -> NatsOutConfig:
        if not self.server:
            raise ValueError("server: choose a nats-server config node")
        if self.mode not in MODES:
            raise ValueError(f"mode: '{self.mode}' is not one of {', '.join(MODES)}")
        if self.subject.strip():
            check_publish_subject(self.subject)
        if self.timeout <= 0:
            raise ValueError("timeout: must be positive")
        if self.mode == "jetstream" and self.createStream:
            if not self.stream:
                raise ValueError("stream: createStream needs the name of the stream to create")
            if not self.subject.strip():
                raise ValueError("subject: createStream needs the subject the stream holds")
        return self


@node_type("nats out")
class NatsOutNode(Node):
    """Publishes ``msg.payload`` to NATS: bytes as they are, text as UTF-8, other values
    as JSON; ``msg.headers`` (an object) becomes the message headers. The subject is the
    node's, else ``msg.nats.reply`` (so a nats in -> ... -> nats out flow answers requests),
    else ``msg.topic``.

    *core* publishes and flushes, so the server has the message when the node is done;
    *jetstream* waits for the stream's acknowledgement (a subject no stream holds is
    reported to catch nodes and not retried). In both modes nothing is lost while the
    server is unreachable: messages wait on disk (store and forward) and are published in
    order when the connection is back; the first message of an outage reaches catch nodes
    saying it waits.

    *request* sends a request and sends the reply on (output 1): ``msg.payload`` is the
    reply data (JSON parsed when *json* is set), ``msg.nats`` its subject and headers. No
    responder or no reply within *timeout* is reported to catch nodes; requests are not
    queued while the server is unreachable."""

    config_model = NatsOutConfig
    category = "network"
    color = "#7CB9E8"
    icon = "bridge.svg"
    outputs = 0

    def __init__(self, flow: Any, config: NatsOutConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.subject = config.subject.strip()
        self.server: NatsServerNode | None = None
        self.outbox: Outbox | None = None
        self._stream_ready = False

    async def start(self) -> None:
        server = find_server(self, self.cfg.server)
        if server is None:
            return
        self.server = server
        if self.cfg.mode != "request":
            outbox = Outbox(
                self,
                self.cfg,
                self._deliver,
                remote=server.remote,
                is_transient=self._is_transient,
            )
            await outbox.start(up=False)
            self.outbox = outbox
        server.register(self)
        self.nats_state(server.state)

    def nats_state(self, state: str) -> None:
        if self.outbox is None:
            return
        if state == "connected":
            self.outbox.remote_up()
        else:
            self.outbox.remote_down()

    def _is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, nats.js.errors.NoStreamResponseError | nats.errors.NoRespondersError):
            # no responder while the connection is being restored is an outage, not a
            # missing stream
            return self.server is None or not self.server.is_connected
        if isinstance(exc, nats.errors.MaxPayloadError | nats.errors.BadSubjectError):
            return False
        if isinstance(exc, nats.js.errors.APIError):
            return isinstance(exc, nats.js.errors.ServiceUnavailableError)
        return isinstance(exc, TRANSIENT)

    # ----- input ----------------------------------------------------------------------

    def _subject(self, msg: Msg) -> str:
        if self.subject:
            return self.subject
        info = msg.get("nats")
        reply = info.get("reply") if isinstance(info, dict) else None
        if isinstance(reply, str) and reply:
            return reply
        topic = msg.get("topic")
        if isinstance(topic, str) and topic.strip():
            return check_publish_subject(topic, "msg.topic")
        raise ValueError("subject: no subject set, and the message has no msg.topic")

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.server is None:
            raise ValueError(f"server: no nats-server config node with id '{self.cfg.server}'")
        if self.cfg.mode == "request":
            await self._request(msg, send)
            return
        self._subject(msg)  # a message without a subject is an error now, not queued
        encode_headers(msg.get("headers"))
        assert self.outbox is not None
        await self.outbox.submit(msg)

    async def _deliver(self, msg: Msg) -> None:
        server = self.server
        assert server is not None
        nc = server.nc
        if nc is None or not nc.is_connected:
            raise NatsNotConnected(f"{server.remote} is not connected ({server.state})")
        subject = self._subject(msg)
        payload = encode_payload(msg.get("payload"))
        headers = encode_headers(msg.get("headers"))
        if self.cfg.mode == "jetstream":
            js = nc.jetstream(timeout=self.cfg.timeout)
            if self.cfg.createStream and not self._stream_ready:
                if await ensure_stream(js, self.cfg.stream, self.subject):
                    self.log(f"created stream {self.cfg.stream} for subject {self.subject}")
                self._stream_ready = True
            try:
                await js.publish(
                    subject,
                    payload,
                    timeout=self.cfg.timeout,
                    stream=self.cfg.stream or None,
                    headers=headers,
                )
            except nats.js.errors.NoStreamResponseError:
                if not nc.is_connected:
                    raise
                raise LookupError(f"no JetStream stream holds subject '{subject}'") from None
        else:
            await nc.publish(subject, payload, headers=headers)
            await nc.flush(timeout=self.cfg.timeout)  # type: ignore[arg-type]

    async def _request(self, msg: Msg, send: SendFn) -> None:
        server = self.server
        assert server is not None
        subject = self._subject(msg)
        nc = server.nc
        if nc is None or not nc.is_connected:
            raise NatsNotConnected(
                f"{server.remote} is not connected ({server.state}); request to "
                f"'{subject}' not sent"
            )
        try:
            reply = await nc.request(
                subject,
                encode_payload(msg.get("payload")),
                timeout=self.cfg.timeout,
                headers=encode_headers(msg.get("headers")),
            )
        except nats.errors.NoRespondersError:
            raise ValueError(
                f"{server.remote}: no responders on subject '{subject}' (nobody subscribes)"
            ) from None
        except (TimeoutError, nats.errors.TimeoutError):
            raise TimeoutError(
                f"{server.remote}: no reply on subject '{subject}' within {self.cfg.timeout} s"
            ) from None
        msg["payload"] = decode_payload(reply.data, self.cfg.parse_json)
        msg["nats"] = {
            "subject": reply.subject,
            "reply": None,
            "headers": dict(reply.headers) if reply.headers else {},
            "stream": None,
            "sequence": None,
            "redelivered": False,
        }
        send(msg)

    async def close(self, removed: bool) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
            self.outbox = None
        if self.server is not None:
            await self.server.deregister(self)
