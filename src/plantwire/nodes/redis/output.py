"""redis out: publish, append to a stream or list, set a key (store-and-forward), or run a
command and send its reply on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import Field, model_validator
from redis.exceptions import ConnectionError as RedisConnectionError

from plantwire.nodes.common.outbox import Outbox, OutboxConfig
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseFloat, LooseInt, choices, config_ref, node_type

from .config import RedisConfigNode, find_server, is_connection_error
from .redis_codec import encode_value, plain, stream_fields

__all__ = ["RedisOutConfig", "RedisOutNode"]

log = logging.getLogger("plantwire.redis")

MODES = ("publish", "stream", "list", "set", "command")


class RedisOutConfig(OutboxConfig):
    """The redis out node as it appears in flows.json."""

    server: str = config_ref("redis-config", "Id of the redis-config node.")
    mode: str = Field(
        "publish",
        description="publish, stream, list, set or command.",
        json_schema_extra=choices(*MODES),
    )
    key: str = Field(
        "",
        description="Channel (publish), stream, list or key name; empty: msg.topic. "
        "Not used in command mode.",
    )
    maxlen: LooseInt = Field(
        0, description="stream: trim the stream to about this many entries (0: no trimming)."
    )
    field: str = Field("payload", description="stream: the field that holds the payload.")
    fieldsFromPayload: LooseBool = Field(
        False, description="stream: an object payload gives the entry's fields (one per key)."
    )
    push: str = Field(
        "rpush",
        description="list: rpush (append) or lpush (prepend).",
        json_schema_extra=choices("rpush", "lpush"),
    )
    ttl: LooseFloat = Field(0, description="set: seconds until the key expires (0: never).")
    timeout: LooseFloat = Field(10.0, description="Seconds a command may take.")

    @model_validator(mode="after")
    def _check_out(self) -> RedisOutConfig:
        if not self.server:
            raise ValueError("server: no redis-config node is selected")
        if self.mode not in MODES:
            raise ValueError(f"mode: '{self.mode}' is not one of {', '.join(MODES)}")
        if self.maxlen < 0:
            raise ValueError("maxlen: must not be negative")
        if self.push not in ("rpush", "lpush"):
            raise ValueError(f"push: '{self.push}' is not rpush or lpush")
        if self.ttl < 0:
            raise ValueError("ttl: must not be negative")
        if not self.field.strip():
            raise ValueError("field: the field name is empty")
        if self.timeout <= 0:
            raise ValueError("timeout: must be positive")
        return self


@node_type("redis out")
class RedisOutNode(Node):
    """Writes messages to Redis.

    * **publish**: PUBLISH `msg.payload` to the channel (the node's key or `msg.topic`);
    * **stream**: XADD an entry, `{payload: value}` (field name configurable) or, with
      *fieldsFromPayload*, one field per key of an object payload; *maxlen* trims the
      stream to about that many entries;
    * **list**: RPUSH (or LPUSH) the value;
    * **set**: SET the key to the value, with an optional TTL in seconds;
    * **command**: `msg.payload` is a command as a list (`["HGETALL", "line:3"]`); the
      reply is sent on as `msg.payload` (for scripts: `["EVAL", script, 1, key]`).

    Values: Buffers as they are, text as it is, anything else as JSON text.

    Except in command mode (which needs the reply), messages go through store-and-forward:
    while the server is unreachable they wait on disk and are written in order when it is
    back. A command the server refuses (wrong type of key) reaches catch nodes."""

    config_model = RedisOutConfig
    category = "network"
    inputs = 1
    color = "#E53B2C"
    icon = "db.svg"

    def __init__(self, flow: Any, config: RedisOutConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.outputs = 1 if config.mode == "command" else 0
        self.server: RedisConfigNode | None = None
        self.outbox: Outbox | None = None

    async def start(self) -> None:
        server = find_server(self, self.cfg.server)
        if server is None:
            return
        self.server = server
        if self.cfg.mode != "command":
            self.outbox = Outbox(
                self,
                self.cfg,
                self._deliver,
                remote=server.label,
                is_transient=self._is_transient,
            )
            await self.outbox.start(up=server.connected)
        server.register(self)

    def redis_up(self) -> None:
        if self.outbox is not None:
            self.outbox.remote_up()

    def redis_down(self, reason: str) -> None:
        if self.outbox is not None:
            self.outbox.remote_down()

    def _is_transient(self, exc: BaseException) -> bool:
        server = self.server
        return server is None or not server.connected or is_connection_error(exc)

    # ----- messages ---------------------------------------------------------------------

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        server = self.server
        if server is None:
            raise ValueError(f"server: redis-config node '{self.cfg.server}' not found")
        if self.cfg.mode == "command":
            msg["payload"] = await self._command(server, msg.get("payload"))
            send(msg)
            return
        assert self.outbox is not None
        await self.outbox.submit(msg)

    async def _command(self, server: RedisConfigNode, args: Any) -> Any:
        if not isinstance(args, list) or not args:
            raise ValueError("msg.payload: a command is a non-empty list, e.g. ['GET', 'key']")
        parts = [a if isinstance(a, str | bytes | int | float) else encode_value(a) for a in args]
        try:
            reply = await asyncio.wait_for(
                server.get_client().execute_command(*parts),  # type: ignore[no-untyped-call]
                self.cfg.timeout,
            )
        except Exception as exc:
            if is_connection_error(exc):
                server.report_failure()
                raise ConnectionError(f"{server.label}: {exc or 'timed out'}") from exc
            raise ValueError(f"{args[0]}: {exc}") from exc
        return plain(reply)

    def _key(self, msg: Msg) -> str:
        key = self.cfg.key or msg.get("topic")
        if key is None or key == "":
            what = "channel" if self.cfg.mode == "publish" else "key"
            raise ValueError(f"key: no {what} (set the node's key or msg.topic)")
        return str(key)

    async def _deliver(self, msg: Msg) -> None:
        server = self.server
        assert server is not None
        try:
            await asyncio.wait_for(self._write(server, msg), self.cfg.timeout)
        except Exception as exc:
            if self._is_transient(exc):
                server.report_failure()
            raise

    async def _write(self, server: RedisConfigNode, msg: Msg) -> None:
        key = self._key(msg)
        payload = msg.get("payload")
        cfg = self.cfg
        if not server.connected:
            raise RedisConnectionError(f"not connected to {server.label}")
        client = server.get_client()
        if cfg.mode == "publish":
            await client.publish(key, encode_value(payload))
        elif cfg.mode == "stream":
            fields = stream_fields(payload, cfg.field, cfg.fieldsFromPayload)
            await client.xadd(
                key,
                fields,  # type: ignore[arg-type]
                maxlen=cfg.maxlen or None,
                approximate=True,
            )
        elif cfg.mode == "list":
            push = client.rpush if cfg.push == "rpush" else client.lpush
            await push(key, encode_value(payload))
        else:
            ttl = cfg.ttl
            px = int(ttl * 1000) if ttl else None
            await client.set(key, encode_value(payload), px=px)

    async def close(self, removed: bool) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
        if self.server is not None:
            await self.server.deregister(self)
