"""split: turn one message into a sequence of messages with ``msg.parts``."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import (
    delete_msg_property,
    get_msg_property,
    parse_js_json,
    set_msg_property,
    to_js_string,
    validate_path,
)
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, node_type

from .sequence_codec import (
    generate_id,
    js_keys,
    js_len,
    js_substring,
    parse_int_js,
    to_bytes,
    unescape_separator,
)

__all__ = ["SplitConfig", "SplitNode"]


def _separator(splt: Any, splt_type: str) -> tuple[str | bytes | int | None, list[Any] | None]:
    """The separator Node-RED builds from ``splt``; raises ValueError when invalid."""
    if splt_type == "str":
        text = to_js_string(splt) if splt not in (None, "") else "\\n"
        return unescape_separator(text), None
    if splt_type == "bin":
        try:
            array = parse_js_json(to_js_string(splt))
        except ValueError as err:
            raise ValueError(f"Invalid split property: {err}") from None
        if not isinstance(array, list):
            raise ValueError("Invalid split property: Error: not an array")
        return to_bytes(array), array
    if splt_type == "len":
        length = parse_int_js(splt)
        if length is None or length < 1:
            raise ValueError(f"Invalid split property: Error: invalid split length: {splt}")
        return length, None
    return None, None


def _array_len(value: Any) -> int:
    length = 1 if value is None else parse_int_js(value)
    if length is None or length < 1:
        raise ValueError(f"Invalid split property: Error: invalid array split length: {value}")
    return length


class SplitConfig(NodeConfig):
    """The split node as Node-RED writes it in flows.json."""

    splt: Any = Field("\\n", description="Separator: text, a JSON byte array, or a length.")
    spltType: str = Field("str", description="str, bin (byte array) or len (fixed length).")
    arraySplt: Any = Field(1, description="Arrays: how many elements per message.")
    arraySpltType: str = Field("len", description="Always len.")
    stream: LooseBool = Field(
        False, description="Handle strings/buffers as a stream: keep the tail for the next one."
    )
    addname: str = Field("", description="Objects: message property that receives each key.")
    property: str = Field("payload", description="The message property to split.")

    @model_validator(mode="after")
    def _check(self) -> SplitConfig:
        _separator(self.splt, self.spltType or "str")
        _array_len(self.arraySplt)
        for name, path in (("property", self.property or "payload"), ("addname", self.addname)):
            if path:
                try:
                    validate_path(path[4:] if path.startswith("msg.") else path)
                except ExpressionError as err:
                    raise ValueError(f"{name}: {err}") from None
        return self


@node_type("split")
class SplitNode(Node):
    """Splits a message into a sequence of messages.

    A string or buffer is split on a separator (text or bytes) or into fixed-length
    chunks; an array into single elements or chunks; an object into one message per
    key (optionally copying the key to another property). Each message gets
    ``msg.parts`` (id, index, count, type, ch, key, len) so a join node can rebuild
    the original; an existing ``msg.parts`` is kept in ``msg.parts.parts``. In stream
    mode a trailing fragment waits for the next message.
    """

    config_model = SplitConfig
    category = "sequence"
    color = "#E2D96E"
    icon = "split.svg"
    manual_done = True

    def __init__(self, flow: Any, config: SplitConfig) -> None:
        super().__init__(flow, config)
        self.stream = config.stream
        self.splt_type = config.spltType or "str"
        self.addname = config.addname or ""
        self.property = config.property or "payload"
        self.splt, self.splt_array = _separator(config.splt, self.splt_type)
        self.array_splt = _array_len(config.arraySplt)
        self.c = 0
        self.remainder: str = ""
        self.buffer = b""
        self.pending_dones: list[DoneFn] = []

    def _finish_pending(self) -> None:
        pending, self.pending_dones = self.pending_dones, []
        for fn in pending:
            fn()

    def _set(self, msg: Msg, value: Any) -> None:
        set_msg_property(msg, self.property, value)

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        value = get_msg_property(msg, self.property)
        if value is MISSING:
            return
        msg["parts"] = {"parts": msg["parts"]} if "parts" in msg else {}
        parts: dict[str, Any] = msg["parts"]
        parts["id"] = generate_id()
        if self.property != "payload":
            parts["property"] = self.property
        msg.pop("_msgid", None)
        if isinstance(value, str):
            self._split_string(msg, parts, self.remainder + value, send, done)
        elif isinstance(value, list):
            self._split_array(msg, parts, value, send)
            done()
        elif isinstance(value, bytes | bytearray):
            self._split_buffer(msg, parts, self.buffer + bytes(value), send, done)
        elif isinstance(value, dict) or value is None:
            if value is None:
                raise TypeError("Cannot convert undefined or null to object")
            parts["type"] = "object"
            keys = js_keys(value)
            for j, key in enumerate(keys):
                self._set(msg, value[key])
                if self.addname:
                    set_msg_property(msg, self.addname, key)
                parts["key"] = key
                parts["index"] = j
                parts["count"] = len(keys)
                send(clone_msg(msg))
            done()
        else:
            done()

    def _send_array(self, msg: Msg, parts: dict[str, Any], array: list[Any], send: SendFn) -> None:
        for item in array[:-1]:
            self._set(msg, item)
            parts["index"] = self.c
            self.c += 1
            if not self.stream:
                parts["count"] = len(array)
            send(clone_msg(msg))
        if not self.stream:
            if array:
                self._set(msg, array[-1])
            else:  # "".split("") is empty: Node-RED sends one part without a value
                delete_msg_property(msg, self.property)
            parts["index"] = self.c
            self.c += 1
            parts["count"] = len(array)
            send(clone_msg(msg))
            self.c = 0
        else:
            self.remainder = array[-1] if array else ""

    def _split_string(
        self, msg: Msg, parts: dict[str, Any], value: str, send: SendFn, done: DoneFn
    ) -> None:
        parts["type"] = "string"
        if isinstance(self.splt, int):
            size = self.splt
            parts["ch"] = ""
            parts["len"] = size
            count = math.ceil(js_len(value) / size)
            if not self.stream:
                parts["count"] = count
                self.c = 0
            pos = 0
            for _ in range(count - 1):
                self._set(msg, js_substring(value, pos, pos + size))
                parts["index"] = self.c
                self.c += 1
                pos += size
                send(clone_msg(msg))
            if count > 1:
                self._finish_pending()
            self.remainder = js_substring(value, pos, js_len(value))
            if not self.stream or js_len(self.remainder) == size:
                self._set(msg, self.remainder)
                parts["index"] = self.c
                self.c += 1
                send(clone_msg(msg))
                self._finish_pending()
                done()
                self.remainder = ""
            else:
                self.pending_dones.append(done)
            return
        if isinstance(self.splt, bytes):
            sep = self.splt.decode("utf-8", errors="replace")
            parts["ch"] = self.splt_array
        elif isinstance(self.splt, str):
            sep = self.splt
            parts["ch"] = sep
        else:
            sep = None
        array = _js_split(value, sep)
        self._send_array(msg, parts, array, send)
        done()

    def _split_array(self, msg: Msg, parts: dict[str, Any], value: list[Any], send: SendFn) -> None:
        parts["type"] = "array"
        size = self.array_splt
        count = math.ceil(len(value) / size)
        parts["count"] = count
        parts["len"] = size
        template = clone_msg(msg)
        out_parts = template["parts"]
        for i in range(count):
            chunk: Any = value[i * size : i * size + size]
            if size == 1:
                chunk = chunk[0]
            set_msg_property(template, self.property, chunk)
            out_parts["index"] = i
            send(clone_msg(template))

    def _split_buffer(
        self, msg: Msg, parts: dict[str, Any], buff: bytes, send: SendFn, done: DoneFn
    ) -> None:
        parts["type"] = "buffer"
        if isinstance(self.splt, int):
            size = self.splt
            count = math.ceil(len(buff) / size)
            if not self.stream:
                parts["count"] = count
                self.c = 0
            parts["len"] = size
            pos = 0
            for _ in range(count - 1):
                self._set(msg, buff[pos : pos + size])
                parts["index"] = self.c
                self.c += 1
                pos += size
                send(clone_msg(msg))
            if count > 1:
                self._finish_pending()
            self.buffer = buff[pos:]
            if not self.stream or len(self.buffer) == size:
                self._set(msg, self.buffer)
                parts["index"] = self.c
                self.c += 1
                send(clone_msg(msg))
                self._finish_pending()
                done()
                self.buffer = b""
            else:
                self.pending_dones.append(done)
            return
        if isinstance(self.splt, bytes):
            sep = self.splt
            parts["ch"] = self.splt_array
        else:
            text = self.splt if isinstance(self.splt, str) else "undefined"
            sep = text.encode("utf-8")
            parts["ch"] = self.splt
        pieces = buff.split(sep) if sep else [buff]
        count = len(pieces)
        if not self.stream:
            parts["count"] = count
            self.c = 0
        for piece in pieces[:-1]:
            self._set(msg, piece)
            parts["index"] = self.c
            self.c += 1
            send(clone_msg(msg))
        if count > 1:
            self._finish_pending()
        tail = pieces[-1]
        if not self.stream and tail:
            self._set(msg, tail)
            parts["index"] = self.c
            parts["count"] = self.c + 1
            self.c += 2
            send(clone_msg(msg))
            self._finish_pending()
        else:
            self.buffer = tail
            if self.buffer:
                self.pending_dones.append(done)
        if not self.buffer:
            done()


def _js_split(value: str, sep: str | None) -> list[str]:
    """JavaScript ``value.split(sep)`` (an empty separator splits into UTF-16 units)."""
    if sep is None:
        return [value]
    if sep == "":
        return [js_substring(value, i, i + 1) for i in range(js_len(value))]
    return value.split(sep)
