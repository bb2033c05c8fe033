"""redis in: pub/sub channels and patterns, a stream read by a consumer group, or a list
used as a work queue."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from pydantic import Field, model_validator
from redis.exceptions import ResponseError

from plantwire.runtime.message import Msg
from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseInt, NodeConfig, choices, config_ref, node_type

from .config import RedisConfigNode, find_server, is_connection_error
from .redis_codec import decode_value, names, text

__all__ = ["RedisInConfig", "RedisInNode"]

log = logging.getLogger("plantwire.redis")

MODES = ("subscribe", "psubscribe", "stream", "list")
BLOCK_MS = 1000


class RedisInConfig(NodeConfig):
    """The redis in node as it appears in flows.json."""

    server: str = config_ref("redis-config", "Id of the redis-config node.")
    mode: str = Field(
        "subscribe",
        description="subscribe, psubscribe, stream or list.",
        json_schema_extra=choices(*MODES),
    )
    channels: str = Field(
        "",
        description="subscribe: channels, psubscribe: patterns (comma-separated); "
        "stream / list: the stream or list key(s).",
    )
    group: str = Field("plantwire", description="stream: the consumer group.")
    consumer: str = Field(
        "", description="stream: this consumer's name in the group (default: the node id)."
    )
    start: str = Field(
        "$",
        description="stream: where a new group starts: $ (new entries) or 0 (the whole stream).",
    )
    count: LooseInt = Field(
        10, description="stream: entries fetched per read (unacknowledged at most)."
    )
    field: str = Field(
        "payload",
        description="stream: an entry with only this field gives its value as msg.payload "
        "(else the payload is the field map).",
    )
    json_: LooseBool = Field(
        False,
        alias="json",
        description="Parse values as JSON (an error for a value that is not; in a stream "
        "entry with several fields, each field that is JSON).",
    )

    @model_validator(mode="after")
    def _check(self) -> RedisInConfig:
        if not self.server:
            raise ValueError("server: no redis-config node is selected")
        if self.mode not in MODES:
            raise ValueError(f"mode: '{self.mode}' is not one of {', '.join(MODES)}")
        if not names(self.channels):
            what = {"subscribe": "channel", "psubscribe": "pattern"}.get(self.mode, "key")
            raise ValueError(f"channels: no {what} given")
        if self.mode == "stream":
            if len(names(self.channels)) != 1:
                raise ValueError("channels: stream mode reads one stream")
            if not self.group.strip():
                raise ValueError("group: the consumer group name is empty")
            if self.start not in ("$", "0"):
                raise ValueError(f"start: '{self.start}' is not $ or 0")
        if self.count < 1:
            raise ValueError("count: must be at least 1")
        return self


@node_type("redis in")
class RedisInNode(Node):
    """Receives messages from Redis.

    * **subscribe** / **psubscribe**: pub/sub channels or patterns. `msg.topic` is the
      channel; `msg.redis.pattern` the matching pattern. Messages published while the
      connection is down are not seen (pub/sub keeps nothing).
    * **stream**: reads a stream as one consumer of a consumer group (XREADGROUP),
      creating the group (and the stream) when missing, from `start` ($ = new entries,
      0 = all). Each entry is acknowledged (XACK) after it was sent on; entries
      delivered to this consumer but never acknowledged (a crash, a lost connection) are
      read again first on start and after a reconnect. Several nodes with the same group
      and different consumer names share the work: each entry goes to one of them.
      `msg.payload` is the value of the single field named by `field`, else the field
      map; `msg.redis` = {id, channel, fields}.
    * **list**: BLPOP from the list(s): a simple work queue, each value to one reader.

    Values are text (Buffer when not UTF-8), or parsed JSON with `json`."""

    config_model = RedisInConfig
    category = "network"
    inputs = 0
    outputs = 1
    color = "#E53B2C"
    icon = "db.svg"

    def __init__(self, flow: Any, config: RedisInConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.server: RedisConfigNode | None = None
        self.keys = names(config.channels)
        self.consumer = config.consumer or config.id
        self._ready = False  # subscribed / group created (for status and tests)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        server = find_server(self, self.cfg.server)
        if server is None:
            return
        self.server = server
        server.register(self)
        self._task = self.create_task(self._loop(server))

    def redis_up(self) -> None:
        pass

    def redis_down(self, reason: str) -> None:
        self._ready = False

    async def _loop(self, server: RedisConfigNode) -> None:
        reported = False
        while True:
            await server.wait_up()
            client = server.get_client()
            try:
                if self.cfg.mode in ("subscribe", "psubscribe"):
                    await self._pubsub(client)
                elif self.cfg.mode == "stream":
                    await self._stream(client)
                else:
                    await self._list(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._ready = False
                if is_connection_error(exc):
                    server.report_failure()
                    await asyncio.sleep(0.5)
                    continue
                if not reported:
                    self.error(f"{', '.join(self.keys)}: {exc}")
                    reported = True
                self.status("red", "ring", "error")
                await asyncio.sleep(5)

    # ----- pub/sub ----------------------------------------------------------------------

    async def _pubsub(self, client: aioredis.Redis) -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            if self.cfg.mode == "psubscribe":
                await pubsub.psubscribe(*self.keys)
            else:
                await pubsub.subscribe(*self.keys)
            self._ready = True
            while True:
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if item is None or item.get("type") not in ("message", "pmessage"):
                    continue
                channel = text(item["channel"])
                pattern = text(item.get("pattern")) if item.get("pattern") else None
                await self._emit(item["data"], str(channel), {"pattern": pattern})
        finally:
            try:
                await asyncio.wait_for(pubsub.aclose(), 2)  # type: ignore[no-untyped-call]
            except Exception:
                log.debug("redis in %s: closing pubsub failed", self.id, exc_info=True)

    async def _emit(self, value: Any, topic: str, extra: dict[str, Any]) -> bool:
        msg: Msg = {"topic": topic, "redis": {"channel": topic, **extra}}
        try:
            msg["payload"] = decode_value(value, self.cfg.json_)
        except ValueError as exc:
            msg["payload"] = text(value)
            self.error(f"{topic}: {exc}", msg)
            return False
        await self.send_async(msg)
        return True

    # ----- stream -----------------------------------------------------------------------

    async def _stream(self, client: aioredis.Redis) -> None:
        key, group = self.keys[0], self.cfg.group.strip()
        try:
            await client.xgroup_create(key, group, id=self.cfg.start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True
        # entries this consumer got before and never acknowledged come first
        last: Any = "0"
        while True:
            reply: Any = await client.xreadgroup(
                group, self.consumer, {key: last}, count=self.cfg.count
            )
            entries = [e for _s, es in _streams(reply) for e in es]
            if not entries:
                break
            for entry_id, fields in entries:
                last = entry_id
                await self._entry(client, key, group, entry_id, fields)
        while True:
            reply = await client.xreadgroup(
                group, self.consumer, {key: ">"}, count=self.cfg.count, block=BLOCK_MS
            )
            for _stream, entries in _streams(reply):
                for entry_id, fields in entries:
                    await self._entry(client, key, group, entry_id, fields)

    async def _entry(
        self, client: aioredis.Redis, key: str, group: str, entry_id: Any, fields: Any
    ) -> None:
        if fields:  # None / empty: the entry was deleted meanwhile
            decoded = {str(text(k)): v for k, v in dict(fields).items()}
            sid = str(text(entry_id))
            msg: Msg = {"topic": key}
            try:
                if len(decoded) == 1 and self.cfg.field in decoded:
                    payload = decode_value(decoded[self.cfg.field], self.cfg.json_)
                    shown = {self.cfg.field: payload}
                else:  # a field map: with json, each field that is JSON is parsed
                    shown = {k: _lenient(v, self.cfg.json_) for k, v in decoded.items()}
                    payload = shown
                msg["payload"] = payload
                msg["redis"] = {"id": sid, "channel": key, "fields": shown}
                await self.send_async(msg)
            except ValueError as exc:
                msg["payload"] = {k: text(v) for k, v in decoded.items()}
                msg["redis"] = {"id": sid, "channel": key, "fields": msg["payload"]}
                self.error(f"{key} entry {sid}: {exc}", msg)
        await client.xack(key, group, entry_id)

    # ----- list -------------------------------------------------------------------------

    async def _list(self, client: aioredis.Redis) -> None:
        self._ready = True
        while True:
            item: Any = await client.blpop(self.keys, timeout=BLOCK_MS / 1000)
            if item is None:
                continue
            key, value = item
            await self._emit(value, str(text(key)), {})

    async def close(self, removed: bool) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.server is not None:
            await self.server.deregister(self)


def _streams(reply: Any) -> list[tuple[Any, list[Any]]]:
    """XREADGROUP's reply (a list in RESP2, a map in RESP3) as (stream, entries) pairs."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(k, list(v[0] if v and isinstance(v[0], list) else v)) for k, v in reply.items()]
    return [(item[0], list(item[1] or [])) for item in reply]


def _lenient(value: Any, parse_json: bool) -> Any:
    try:
        return decode_value(value, parse_json)
    except ValueError:
        return text(value)
