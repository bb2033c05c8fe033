"""sort: sort an array property, or a sequence of messages, by value or expression."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import (
    JsonataExpression,
    compile_jsonata,
    get_msg_property,
    set_msg_property,
    to_js_string,
    validate_path,
)
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, node_type

from .sequence_codec import (
    js_greater,
    js_number,
    js_strict_equal,
    js_truthy,
    max_kept_msgs,
    too_many,
)

__all__ = ["SortConfig", "SortNode"]

TOO_MANY = "Too many pending messages in sort node"
INVALID_EXP = "Invalid JSONata expression in sort node: "
CLEAR = "clear pending message in sort node"

Info = tuple[Msg, SendFn, DoneFn]


class SortConfig(NodeConfig):
    """The sort node as Node-RED writes it in flows.json."""

    order: str = Field("ascending", description="ascending or descending.")
    as_num: Any = Field(False, description="Compare keys as numbers.")
    target: str = Field("payload", description="The array property to sort (targetType msg).")
    targetType: str = Field(
        "msg", description="msg: sort an array property; seq: sort a message sequence."
    )
    msgKey: str = Field("payload", description="Array sort: a JSONata key (msgKeyType jsonata).")
    msgKeyType: str = Field("elem", description="elem (the element itself) or jsonata.")
    seqKey: str = Field("payload", description="Sequence sort: the key property or expression.")
    seqKeyType: str = Field("msg", description="msg (a message property) or jsonata.")

    @model_validator(mode="after")
    def _check(self) -> SortConfig:
        by_prop = self.targetType == "msg"
        is_exp = (self.msgKeyType if by_prop else self.seqKeyType) == "jsonata"
        try:
            if is_exp:
                compile_jsonata((self.msgKey if by_prop else self.seqKey) or "")
            elif not by_prop:
                validate_path(self.seqKey or "payload")
            if by_prop:
                validate_path(self.target or "payload")
        except ExpressionError as err:
            raise ValueError(f"{INVALID_EXP}{err}") from None
        return self


@node_type("sort")
class SortNode(Node):
    """Sorts an array held in a message property, or a sequence of messages.

    An array is sorted by its element values or by a JSONata expression evaluated on
    each element. A sequence (messages with ``msg.parts``) is collected until complete,
    then sent on in order of a message property or JSONata expression, with
    ``msg.parts.index`` renumbered. Keys may be compared as numbers; order ascending or
    descending. A message whose target is not an array is not sent on.
    """

    config_model = SortConfig
    category = "sequence"
    color = "#E2D96E"
    icon = "sort.svg"
    manual_done = True

    def __init__(self, flow: Any, config: SortConfig) -> None:
        super().__init__(flow, config)
        self.dir = 1 if (config.order or "ascending") == "ascending" else -1
        self.as_num = js_truthy(config.as_num)
        self.target = config.target or "payload"
        self.by_prop = config.targetType == "msg"
        key_type = config.msgKeyType if self.by_prop else config.seqKeyType
        self.key_prop = config.seqKey or "payload"
        self.key_exp: JsonataExpression | None = None
        if key_type == "jsonata":
            self.key_exp = compile_jsonata((config.msgKey if self.by_prop else config.seqKey) or "")
        self.pending: dict[str, dict[str, Any]] = {}
        self.pending_count = 0
        self.pending_id = 0

    def _compare(self, key: Callable[[Any], Any]) -> Callable[[Any, Any], int]:
        conv: Callable[[Any], Any] = js_number if self.as_num else (lambda v: v)
        direction = self.dir

        def compare(x: Any, y: Any) -> int:
            xp, yp = conv(key(x)), conv(key(y))
            if js_strict_equal(xp, yp):
                return 0
            return direction if js_greater(xp, yp) else -direction

        return compare

    def _by_expression(self, items: list[Any], subject: Callable[[Any], Any]) -> list[Any]:
        assert self.key_exp is not None
        keyed = []
        for item in items:
            try:
                keyed.append((item, self.key_exp.evaluate(subject(item), self)))
            except ExpressionError as err:
                raise ExpressionError(f"{INVALID_EXP}{err}") from None
        keyed.sort(key=functools.cmp_to_key(self._compare(lambda pair: pair[1])))
        return [pair[0] for pair in keyed]

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.by_prop:
            self._sort_property(msg, send, done)
            return
        parts = msg.get("parts")
        if not isinstance(parts, dict) or "id" not in parts or "index" not in parts:
            done()
            return
        gid = _key(parts["id"])
        group = self.pending.get(gid)
        if group is None:
            group = self.pending[gid] = {"count": MISSING, "infos": [], "seq": self.pending_id}
            self.pending_id += 1
        infos: list[Info] = group["infos"]
        infos.append((msg, send, done))
        if "count" in parts:
            group["count"] = parts["count"]
        self.pending_count += 1
        if js_strict_equal(group["count"], len(infos)):
            del self.pending[gid]
            self.pending_count -= len(infos)
            self._sort_group(infos)
            return
        limit = max_kept_msgs(self.flow.runtime)
        if limit > 0 and self.pending_count > limit:
            self.pending_count -= self._remove_oldest(limit)

    def _sort_property(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        data = get_msg_property(msg, self.target)
        if not isinstance(data, list):
            done()
            return
        if self.key_exp is not None:
            try:
                ordered = self._by_expression(data, lambda elem: elem)
            except ExpressionError as err:
                done(str(err))
                return
            set_msg_property(msg, self.target, ordered)
        else:
            data.sort(key=functools.cmp_to_key(self._compare(lambda elem: elem)))
        send(msg)
        done()

    def _sort_group(self, infos: list[Info]) -> None:
        try:
            if self.key_exp is not None:
                ordered = self._by_expression(infos, lambda info: info[0])
            else:
                prop = self.key_prop
                ordered = sorted(
                    infos,
                    key=functools.cmp_to_key(
                        self._compare(lambda info: get_msg_property(info[0], prop))
                    ),
                )
        except ExpressionError as err:
            infos[-1][2](str(err))
            for info in infos[:-1]:
                info[2]()
            return
        for i, (msg, send, done) in enumerate(ordered):
            msg["parts"]["index"] = i
            send(msg)
            done()

    def _remove_oldest(self, limit: int) -> int:
        if not self.pending:
            return 0
        oldest_key = min(self.pending, key=lambda k: self.pending[k]["seq"])
        infos: list[Info] = self.pending.pop(oldest_key)["infos"]
        infos[-1][2](too_many(TOO_MANY, limit))
        for info in infos[:-1]:
            info[2]()
        return len(infos)

    async def close(self, removed: bool) -> None:
        for group in self.pending.values():
            self.log(CLEAR)
            for info in group["infos"]:
                info[2]()
        self.pending = {}
        self.pending_count = 0


def _key(value: Any) -> str:
    return to_js_string(value)
