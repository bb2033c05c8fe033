"""join: combine a sequence of messages into one (auto, manual or reduce)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import (
    JsonataExpression,
    TypedValue,
    compile_jsonata,
    get_msg_property,
    parse_js_json,
    parse_js_number,
    prepare_typed,
    set_msg_property,
    to_js_string,
    validate_path,
)
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, choices, node_type

from .sequence_codec import (
    js_greater,
    js_keys,
    js_number,
    js_truthy,
    js_typeof,
    max_kept_msgs,
    to_bytes,
    too_many,
    unescape_separator,
)
from .sequence_codec import js_strict_equal as _same

__all__ = ["JoinConfig", "JoinNode"]

BUILDS = ("string", "array", "buffer", "object", "merged")
TOO_MANY = "too many pending messages in join node"
_HOLE: Any = object()  # an array slot JavaScript never assigned


def _js_joiner(joiner: Any, joiner_type: str) -> str | bytes:
    if joiner_type == "bin":
        array = parse_js_json(to_js_string(joiner) if js_truthy(joiner) else "[]")
        if not isinstance(array, list):
            raise ValueError("not an array")
        return to_bytes(array)
    text = to_js_string(joiner) if js_truthy(joiner) else ""
    if joiner_type == "str":
        text = unescape_separator(text)
    return text


class JoinConfig(NodeConfig):
    """The join node as Node-RED writes it in flows.json."""

    mode: str = Field(
        "auto",
        description="auto (reverse a split), custom (manual) or reduce.",
        json_schema_extra=choices("auto", "custom", "reduce"),
    )
    build: str = Field(
        "object",
        description="Manual: build a string, array, buffer, object or merged object.",
        json_schema_extra=choices(*BUILDS),
    )
    property: str = Field("payload", description="Manual: the message property to combine.")
    propertyType: str = Field("msg", description="msg (a property) or full (whole messages).")
    key: str = Field("topic", description="Manual object: the property whose value is the key.")
    joiner: Any = Field("\\n", description="Manual string/buffer: text or bytes between parts.")
    joinerType: str = Field("str", description="str or bin (a JSON byte array).")
    useparts: Any = Field(
        False, description="Manual: use an existing msg.parts (absent in old flows: true)."
    )
    accumulate: Any = Field(
        "false",
        description="Manual: keep the group after sending and resend on every later message "
        "(only boolean true counts, as in Node-RED).",
    )
    timeout: Any = Field("", description="Manual: send after this many seconds (empty: never).")
    count: Any = Field("", description="Manual: send after this many parts (empty: msg.parts).")
    reduceRight: Any = Field(False, description="Reduce: evaluate from the last part to first.")
    reduceExp: str | None = Field(
        None, description="Reduce: JSONata applied per part ($A accumulated, $I index, $N count)."
    )
    reduceInit: Any = Field(None, description="Reduce: initial value of $A.")
    reduceInitType: str | None = Field(None, description="Reduce: type of reduceInit.")
    reduceFixup: str | None = Field(
        None, description="Reduce: JSONata applied to the result ($A result, $N count)."
    )

    @model_validator(mode="after")
    def _check(self) -> JoinConfig:
        if self.mode not in ("auto", "custom", "reduce"):
            raise ValueError(f"mode: unknown mode '{self.mode}'")
        if self.mode == "custom" and self.build not in BUILDS:
            raise ValueError(f"build: unknown build type '{self.build}'")
        try:
            _js_joiner(self.joiner, self.joinerType or "str")
        except (ValueError, TypeError) as err:
            raise ValueError(f"joiner: invalid byte array: {err}") from None
        for name in ("timeout", "count"):
            value = getattr(self, name)
            if js_truthy(value) and parse_js_number(value) is None:
                raise ValueError(f"{name}: not a number '{value}'")
        try:
            if self.propertyType != "full":
                validate_path(self.property or "payload")
            if self.mode == "custom" and self.build == "object":
                validate_path(self.key or "topic")
            if self.mode == "reduce":
                if not self.reduceExp:
                    raise ExpressionError("Invalid JSONata expression: missing reduce expression")
                compile_jsonata(self.reduceExp)
                if self.reduceFixup:
                    compile_jsonata(self.reduceFixup)
                if self.reduceInitType:
                    prepare_typed(self.reduceInit, self.reduceInitType)
        except ExpressionError as err:
            raise ValueError(f"Invalid JSONata expression: {err}") from None
        return self


class _Group:
    """A sequence being collected (Node-RED's ``inflight[partId]``)."""

    __slots__ = (
        "array_len", "buffer_len", "count", "dones", "extra", "join_char", "msg", "payload",
        "prop", "send", "target", "timer", "type",
    )  # fmt: skip

    def __init__(self, kind: str, target: Any, msg: Msg, send: SendFn) -> None:
        self.type = kind
        self.count = 0
        self.target = target
        self.payload: Any = {} if kind == "object" else []
        self.msg = msg
        self.send = send
        self.dones: list[DoneFn] = []
        self.join_char: Any = MISSING
        self.array_len: Any = MISSING
        self.buffer_len = 0
        self.timer: asyncio.TimerHandle | None = None
        self.prop: Any = "payload"
        self.extra: dict[str, Any] = {}


class _Reduce:
    __slots__ = ("count", "items")

    def __init__(self, count: Any) -> None:
        self.count = count
        self.items: list[tuple[Msg, SendFn, DoneFn]] = []


@node_type("join")
class JoinNode(Node):
    """Joins a sequence of messages into a single message.

    Automatic mode reverses a split node using ``msg.parts``. Manual mode builds a
    string, buffer, array, key/value object (keyed by a message property) or merged
    object from a property (or whole messages), sent after a count of parts, a
    timeout, or a message with ``msg.complete``; "accumulate" keeps the group and
    resends on every later message. Reduce mode folds the sequence with a JSONata
    expression (``$A`` accumulated value, ``$I`` index, ``$N`` count) and an optional
    fix-up expression. ``msg.reset`` discards a partial group.
    """

    config_model = JoinConfig
    category = "sequence"
    color = "#E2D96E"
    icon = "join.svg"
    manual_done = True

    def __init__(self, flow: Any, config: JoinConfig) -> None:
        super().__init__(flow, config)
        self.mode = config.mode or "auto"
        self.property_type = config.propertyType or "msg"
        self.property = "payload" if self.property_type == "full" else config.property or "payload"
        self.key = config.key or "topic"
        timeout = js_number(config.timeout) if js_truthy(config.timeout) else 0.0
        self.timer = 0.0 if self.mode == "auto" else timeout * 1000.0
        self.count = js_number(config.count) if js_truthy(config.count) else 0.0
        self.count_from_parts = "count" in config.model_fields_set and config.count == ""
        self.count_from_parts |= "count" not in config.model_fields_set
        self.joiner = _js_joiner(config.joiner, config.joinerType or "str")
        unset = "useparts" not in config.model_fields_set
        self.useparts = True if unset else js_truthy(config.useparts)
        self.build = config.build or "array"
        self.accumulate = config.accumulate is True
        self.inflight: dict[str, _Group] = {}
        self.reduce_right = js_truthy(config.reduceRight)
        self.reduce_exp: JsonataExpression | None = None
        self.fixup_exp: JsonataExpression | None = None
        self.reduce_init: TypedValue | None = None
        self.reduce_init_raw: Any = config.reduceInit
        self.pending: dict[str, _Reduce] = {}
        self.pending_count = 0
        if self.mode == "reduce":
            self.reduce_exp = compile_jsonata(config.reduceExp or "")
            if config.reduceFixup:
                self.fixup_exp = compile_jsonata(config.reduceFixup)
            if config.reduceInitType:
                self.reduce_init = prepare_typed(config.reduceInit, config.reduceInitType)

    # ----- manual and automatic modes ------------------------------------------------

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self.mode == "reduce":
            self._reduce_input(msg, send, done)
            return
        prop: Any = msg if self.property_type == "full" else get_msg_property(msg, self.property)
        parts = msg.get("parts")
        has_id = isinstance(parts, dict) and "id" in parts
        if self.mode == "auto" and not has_id:
            if "reset" in msg:
                self.inflight = {}
            else:
                self.warn("Message missing msg.parts property - cannot join in 'auto' mode")
            done()
            return
        if self.mode == "custom" and "parts" in msg and not self.useparts:
            if isinstance(parts, dict) and "parts" in parts:
                msg["parts"] = {"parts": parts["parts"]}
            else:
                del msg["parts"]
            parts = msg.get("parts")
        part_id = "_"
        key: Any = MISSING
        index: Any = MISSING
        join_char: Any = MISSING
        array_len: Any = MISSING
        if self.mode == "auto":
            assert isinstance(parts, dict)
            part_id = to_js_string(parts["id"])
            kind = parts.get("type", MISSING)
            target: Any = parts.get("count", MISSING)
            join_char = parts.get("ch", MISSING)
            key = parts.get("key", MISSING)
            array_len = parts.get("len", MISSING)
            index = parts.get("index", MISSING)
            prop = get_msg_property(msg, to_js_string(parts.get("property") or "payload"))
        else:
            kind = self.build
            target = self.count
            join_char = self.joiner
            if self.count_from_parts and isinstance(parts, dict):
                target = parts.get("count") or 0
                if "id" in parts:
                    part_id = to_js_string(parts["id"])
            if self.build == "object":
                key = get_msg_property(msg, self.key)
        group = self.inflight.get(part_id)
        if "restartTimeout" in msg and group is not None:
            self.cancel_timer(group.timer)
            group.timer = self._start_timer(part_id)
        if "reset" in msg:
            if group is not None:
                self.cancel_timer(group.timer)
                for fn in group.dones:
                    fn()
                del self.inflight[part_id]
            done()
            return
        if kind == "object" and key in (None, MISSING, ""):
            if self.mode == "auto":
                self.warn("Message missing 'msg.parts.key' property - cannot add to object")
            elif "complete" in msg:
                if group is not None:
                    group.msg["complete"] = msg["complete"]
                    group.send = send
                    self._complete(part_id)
            else:
                self.warn(f"Message missing key property 'msg.{self.key}' - cannot add to object")
            done()
            return
        if group is None:
            builds_object = kind in ("object", "merged")
            group = _Group("object" if builds_object else kind, target, clone_msg(msg), send)
            if kind in ("string", "buffer"):
                group.join_char = join_char
            elif kind == "array":
                group.array_len = array_len
            self.inflight[part_id] = group
            group.timer = self._start_timer(part_id)
            if self.mode == "auto" and isinstance(parts, dict):
                group.prop = parts.get("property", MISSING)
            else:
                group.prop = self.property
        group.dones.append(done)
        if kind == "buffer" and prop is not MISSING:
            if isinstance(prop, bytes | bytearray | str | list):
                group.buffer_len += len(prop)
            else:
                done(TypeError(f"Cannot join {js_typeof(prop)} to buffer"))
                return
        self._add(group, kind, key, index, prop, msg)
        group.msg.update(msg)
        group.send = send
        tcnt = group.target
        if "parts" in msg:
            if not js_truthy(tcnt):
                tcnt = parts.get("count", MISSING) if isinstance(parts, dict) else MISSING
            group.target = tcnt
        full = js_greater(tcnt, 0) and not js_greater(tcnt, group.count)
        if full or "complete" in msg:
            self._complete(part_id)

    def _add(self, group: _Group, kind: Any, key: Any, index: Any, prop: Any, msg: Msg) -> None:
        payload = group.payload
        if kind == "object":
            payload[to_js_string(key)] = prop
            group.count = len(payload)
        elif kind == "merged":
            if isinstance(prop, dict):
                for k in js_keys(prop):
                    if k != "_msgid":
                        payload[k] = prop[k]
                group.count = len(payload)
            elif isinstance(prop, bytes | bytearray):
                for i, b in enumerate(prop):
                    payload[str(i)] = b
                group.count = len(payload)
            elif prop is not None and "complete" not in msg:
                self.warn("Cannot merge non-object types")
            elif prop is None:
                group.count = len(payload)
        else:
            position = js_number(index) if index is not MISSING else float("nan")
            if position == position:  # not NaN: Node-RED assigns payload[index]
                if position >= 0 and position.is_integer():
                    slot = int(position)
                    if slot >= len(payload):
                        payload.extend([_HOLE] * (slot + 1 - len(payload)))
                    if payload[slot] in (_HOLE, MISSING, None):
                        group.count += 1
                    payload[slot] = prop
                else:
                    name = to_js_string(index)
                    if group.extra.get(name, MISSING) in (MISSING, None):
                        group.count += 1
                    group.extra[name] = prop
            elif prop is not MISSING:
                payload.append(prop)
                group.count += 1

    def _start_timer(self, part_id: str) -> asyncio.TimerHandle | None:
        if self.timer > 0:
            return self.call_later(self.timer / 1000.0, lambda: self._complete(part_id))
        return None

    def _complete(self, part_id: str) -> None:
        group = self.inflight.get(part_id)
        if group is None:
            return
        self.cancel_timer(group.timer)
        group.timer = None
        if self.mode == "auto" or not self.accumulate or "complete" in group.msg:
            del self.inflight[part_id]
        payload = group.payload
        value: Any
        if group.type == "string":
            sep = group.join_char
            sep = to_js_string(sep)
            value = sep.join(
                "" if v in (_HOLE, MISSING, None) else to_js_string(v) for v in payload
            )
        elif group.type == "buffer":
            if group.join_char is not MISSING:
                joint = to_bytes(group.join_char)
                value = joint.join(to_bytes(v) for v in payload)
            else:
                joined = b"".join(to_bytes(v) for v in payload)
                value = joined[: group.buffer_len].ljust(group.buffer_len, b"\0")
        elif group.type == "array":
            alen = group.array_len
            if isinstance(alen, int | float) and not isinstance(alen, bool) and alen > 1:
                value = []
                for item in payload:
                    if item is _HOLE:
                        continue
                    value.extend(item) if isinstance(item, list) else value.append(item)
            else:
                value = [None if v is _HOLE or v is MISSING else v for v in payload]
            group.payload = value
        elif isinstance(payload, list):
            value = [None if v is _HOLE or v is MISSING else v for v in payload]
        else:
            value = payload
        if self.property_type == "full" and group.type != "string":
            group.msg = clone_msg(group.msg)
        out = group.msg
        set_msg_property(out, to_js_string(group.prop or "payload"), value)
        parts = out.get("parts")
        if isinstance(parts, dict) and "parts" in parts:
            out["parts"] = parts["parts"]
        else:
            out.pop("parts", None)
        out.pop("complete", None)
        group.send(clone_msg(out))
        dones, group.dones = group.dones, []
        for fn in dones:
            fn()

    # ----- reduce mode ---------------------------------------------------------------

    def _reduce_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if "parts" not in msg:
            send(msg)
            done()
            return
        parts = msg["parts"] if isinstance(msg["parts"], dict) else {}
        gid = to_js_string(parts.get("id", MISSING))
        group = self.pending.get(gid)
        if group is None:
            group = self.pending[gid] = _Reduce(parts.get("count", MISSING))
        group.items.append((msg, send, done))
        if "count" in parts and group.count is MISSING:
            group.count = parts["count"]
        self.pending_count += 1
        if _same(len(group.items), group.count):
            del self.pending[gid]
            self.pending_count -= len(group.items)
            try:
                self._reduce_group(group)
            except Exception as err:
                for item in group.items[:-1]:
                    item[2]()
                done(err)
                return
            for item in group.items:
                item[2]()
        limit = max_kept_msgs(self.flow.runtime)
        if limit > 0 and self.pending_count > limit:
            for pending in self.pending.values():
                for item in pending.items:
                    if item[0] is not msg:
                        item[2]()
            self.pending = {}
            self.pending_count = 0
            done(too_many(TOO_MANY, limit))
            return
        done()

    def _reduce_group(self, group: _Reduce) -> None:
        assert self.reduce_exp is not None
        if self.reduce_init is not None:
            accum = self.reduce_init.evaluate(self, {})
        else:
            accum = MISSING if self.reduce_init_raw is None else self.reduce_init_raw
        flag = -1 if self.reduce_right else 1

        def order(x: tuple[Msg, SendFn, DoneFn], y: tuple[Msg, SendFn, DoneFn]) -> int:
            ix, iy = _index(x[0]), _index(y[0])
            if js_greater(iy, ix):
                return -flag
            if js_greater(ix, iy):
                return flag
            return 0

        ordered = sorted(group.items, key=functools.cmp_to_key(order))
        count = group.count
        for msg, _send, _done in ordered:
            bindings = {"I": _index(msg), "N": count, "A": accum}
            accum = self.reduce_exp.evaluate(msg, self, bindings)
        last, last_send, _ = ordered[-1]
        if self.fixup_exp is not None:
            accum = self.fixup_exp.evaluate({}, self, {"N": count, "A": accum})
        if accum is MISSING:
            last.pop("payload", None)
        else:
            last["payload"] = accum
        last_send(last)

    async def close(self, removed: bool) -> None:
        for group in self.inflight.values():
            self.cancel_timer(group.timer)
            for fn in group.dones:
                fn()
        self.inflight = {}


def _index(msg: Msg) -> Any:
    parts = msg.get("parts")
    return parts.get("index", MISSING) if isinstance(parts, dict) else MISSING
