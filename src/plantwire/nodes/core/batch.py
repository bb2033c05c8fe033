"""batch: group messages into sequences by count, by time, or by concatenating topics."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import parse_js_number, to_js_string
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, choices, node_type

from .sequence_codec import (
    Repeater,
    generate_id,
    js_number,
    js_strict_equal,
    js_truthy,
    max_kept_msgs,
    too_many,
)

__all__ = ["BatchConfig", "BatchNode"]

TOO_MANY = "too many pending messages in batch node"
NO_PARTS = "no parts property in message"

Info = tuple[Msg, SendFn, DoneFn]


class BatchConfig(NodeConfig):
    """The batch node as Node-RED writes it in flows.json."""

    mode: str = Field(
        "count",
        description="count (groups of N), interval (per period) or concat (topics).",
        json_schema_extra=choices("count", "interval", "concat"),
    )
    count: Any = Field(10, description="Count mode: messages per group.")
    overlap: Any = Field(0, description="Count mode: messages repeated from the previous group.")
    interval: Any = Field(10, description="Interval mode: seconds per group.")
    allowEmptySequence: Any = Field(
        False, description="Interval mode: send a null payload when nothing arrived."
    )
    honourParts: Any = Field(
        False, description="Count mode: a message ending its msg.parts sequence ends the group."
    )
    topics: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"topic": ""}],
        description="Concat mode: the topics whose sequences are concatenated, in order.",
    )

    @model_validator(mode="after")
    def _check(self) -> BatchConfig:
        if self.mode not in ("count", "interval", "concat"):
            raise ValueError(f"mode: unexpected mode '{self.mode}'")
        if self.mode == "count":
            count = js_number(self.count) if js_truthy(self.count) else 1.0
            overlap = js_number(self.overlap) if js_truthy(self.overlap) else 0.0
            if count != count or count < 1:
                raise ValueError(f"count: Invalid count '{self.count}'")
            if overlap != overlap or overlap < 0:
                raise ValueError(f"overlap: Invalid overlap '{self.overlap}'")
            if count <= overlap:
                raise ValueError("count: Invalid count and overlap")
        elif self.mode == "interval":
            interval = parse_js_number(self.interval) if js_truthy(self.interval) else 0
            if interval is None or interval < 0:
                raise ValueError(f"interval: Invalid interval '{self.interval}'")
        return self


@node_type("batch")
class BatchNode(Node):
    """Creates sequences of messages.

    Count mode groups every N messages (optionally overlapping the previous group);
    interval mode groups what arrived in each period (optionally sending an empty
    sequence when nothing did); concat mode joins complete sequences of the listed
    topics, in that order. Each message of a group gets ``msg.parts`` (id, index,
    count); ``msg.reset`` discards what is pending.
    """

    config_model = BatchConfig
    category = "sequence"
    color = "#E2D96E"
    icon = "batch.svg"
    manual_done = True

    def __init__(self, flow: Any, config: BatchConfig) -> None:
        super().__init__(flow, config)
        self.mode = config.mode or "count"
        self.honour_parts = js_truthy(config.honourParts)
        self.count = int(js_number(config.count)) if js_truthy(config.count) else 1
        self.overlap = int(js_number(config.overlap)) if js_truthy(config.overlap) else 0
        interval = js_number(config.interval) if js_truthy(config.interval) else 0.0
        self.interval = interval * 1000.0
        self.allow_empty = js_truthy(config.allowEmptySequence)
        self.topics = [t.get("topic", MISSING) for t in config.topics]
        self.queue: list[Info] = []
        self.groups: dict[Any, dict[str, Any]] = {}
        self.pending_count = 0
        self.eof = False
        self.timer: Repeater | None = None

    async def start(self) -> None:
        if self.mode == "interval" and self.interval > 0:
            self.timer = Repeater(self, self.interval, self._tick)

    def _send_group(self, infos: list[Info], clone: bool) -> None:
        first_id = infos[0][0].get("_msgid", MISSING)
        for i, (msg, send, _done) in enumerate(infos):
            out = clone_msg(msg) if clone else msg
            if "parts" not in out:
                out["parts"] = {}
            parts = out["parts"]
            if isinstance(parts, dict):
                parts["id"] = first_id
                parts["index"] = i
                parts["count"] = len(infos)
            send(out)

    def _overflow(self) -> None:
        limit = max_kept_msgs(self.flow.runtime)
        if limit > 0 and self.pending_count > limit:
            last = self.queue.pop()
            last[2](too_many(TOO_MANY, limit))
            for info in self.queue:
                info[2]()
            self.queue = []
            self.pending_count = 0

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.mode == "count":
            self._count_input(msg, send, done)
        elif self.mode == "interval":
            self._interval_input(msg, send, done)
        else:
            self._concat_input(msg, send, done)

    # ----- count ---------------------------------------------------------------------

    def _count_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if "reset" in msg:
            self._release_queue()
            done()
            return
        parts = msg.get("parts")
        if self.honour_parts and "parts" in msg and isinstance(parts, dict):
            index = parts.get("index", MISSING)
            if isinstance(index, int | float) and js_strict_equal(index + 1, parts.get("count")):
                self.eof = True
        queue = self.queue
        queue.append((msg, send, done))
        self.pending_count += 1
        if len(queue) == self.count or self.eof:
            self._send_group(queue, self.overlap > 0)
            for info in queue[: len(queue) - self.overlap]:
                info[2]()
            self.queue = queue[len(queue) - self.overlap :] if self.overlap else []
            self.pending_count = 0
            self.eof = False
        self._overflow()

    # ----- interval ------------------------------------------------------------------

    def _tick(self) -> None:
        infos = self.queue
        if infos:
            self._send_group(infos, False)
            for info in infos:
                info[2]()
            self.queue = []
        elif self.allow_empty:
            self.send({"payload": None, "parts": {"id": generate_id(), "index": 0, "count": 1}})
        self.pending_count = 0

    def _interval_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if "reset" in msg:
            if self.timer is not None:
                self.timer.stop()
                self.timer = None
            self._release_queue()
            done()
            if self.interval > 0:
                self.timer = Repeater(self, self.interval, self._tick)
            return
        self.queue.append((msg, send, done))
        self.pending_count += 1
        self._overflow()

    def _release_queue(self) -> None:
        queue, self.queue = self.queue, []
        for info in queue:
            info[2]()
        self.pending_count = 0

    # ----- concat --------------------------------------------------------------------

    def _concat_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if "reset" in msg:
            self._release_groups()
            done()
            return
        topic = msg.get("topic", MISSING)
        if not any(js_strict_equal(topic, t) for t in self.topics):
            return  # Node-RED ignores it (and never calls done)
        parts = msg.get("parts")
        if not isinstance(parts, dict) or not all(k in parts for k in ("id", "index", "count")):
            done(NO_PARTS)
            return
        pending = self.groups
        key = _key(topic)
        p_topic = pending.setdefault(key, {"groups": {}, "gids": []})
        gid = _key(parts["id"])
        if gid not in p_topic["groups"]:
            p_topic["groups"][gid] = {"msgs": [], "count": MISSING}
            p_topic["gids"].append(gid)
        group = p_topic["groups"][gid]
        group["msgs"].append((msg, send, done))
        if group["count"] is MISSING and "count" in parts:
            group["count"] = parts["count"]
        self.pending_count += 1
        limit = max_kept_msgs(self.flow.runtime)
        if limit > 0 and self.pending_count > limit:
            mine = msg.get("id", MISSING)
            for info in _all_infos(pending):
                # Node-RED compares msg.id here, so usually every message gets the error
                if js_strict_equal(info[0].get("id", MISSING), mine):
                    info[2](too_many(TOO_MANY, limit))
                else:
                    info[2]()
            self.groups = {}
            self.pending_count = 0
        self._try_concat(pending)

    def _try_concat(self, pending: dict[Any, dict[str, Any]]) -> None:
        keys = [_key(t) for t in self.topics]
        for key in keys:
            p_topic = pending.get(key)
            if p_topic is None or not p_topic["gids"]:
                return
            group = p_topic["groups"][p_topic["gids"][0]]
            if not js_strict_equal(group["count"], len(group["msgs"])):
                return
        infos: list[Info] = []
        for key in keys:
            p_topic = pending[key]
            infos.extend(p_topic["groups"][p_topic["gids"][0]]["msgs"])
        for key in keys:
            p_topic = pending[key]
            if p_topic["gids"]:
                gid = p_topic["gids"].pop(0)
                p_topic["groups"].pop(gid, None)
        self._send_group(infos, True)
        for info in infos:
            info[2]()
        self.pending_count -= len(infos)

    def _release_groups(self) -> None:
        for info in _all_infos(self.groups):
            info[2]()
        self.groups = {}
        self.pending_count = 0

    async def close(self, removed: bool) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        self._release_queue()
        self._release_groups()


def _key(value: Any) -> Any:
    """A JavaScript object key: values are compared by their string form."""
    return to_js_string(value)


def _all_infos(pending: dict[Any, dict[str, Any]]) -> list[Info]:
    return [info for p in pending.values() for g in p["groups"].values() for info in g["msgs"]]
