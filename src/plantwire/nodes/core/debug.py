"""debug: show messages in the debug sidebar, the log and the node status."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import re
import time
from typing import Any

from pydantic import Field, model_validator

from plantwire.expressions import (
    JsonataExpression,
    compile_jsonata,
    get_msg_property,
    js_number_to_string,
    to_js_string,
)
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, choices, node_type

__all__ = ["DebugConfig", "DebugNode", "inspect"]

STATUS_LENGTH = 32
"""Longest status text before it is cut and "..." appended (debugStatusLength)."""

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


# ----- a small util.inspect ---------------------------------------------------------------


class _Ctx:
    def __init__(self, depth: float, break_length: int = 128, compact: int = 3) -> None:
        self.depth = depth
        self.break_length = break_length
        self.compact = compact
        self.current_depth = 0
        self.indentation = 0


def _quote(text: str) -> str:
    quote = "'"
    if "'" in text:
        quote = '"' if '"' not in text else ("`" if "`" not in text else "'")
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    out = out.replace("\r", "\\r").replace("\b", "\\b").replace("\f", "\\f").replace("\v", "\\v")
    if quote == "'":
        out = out.replace("'", "\\'")
    return quote + out + quote


def _number(value: float | int) -> str:
    if isinstance(value, float) and value == 0 and math.copysign(1.0, value) < 0:
        return "-0"
    return js_number_to_string(value)


def _group(ctx: _Ctx, output: list[str], value: list[Any]) -> list[str]:
    """Node's groupArrayElements: lay out many short array entries in columns."""
    total = 0
    max_len = 0
    lengths = [len(o) for o in output]
    count = len(output)
    for n in lengths:
        total += n + 2
        max_len = max(max_len, n)
    actual_max = max_len + 2
    if actual_max * 3 + ctx.indentation < ctx.break_length and (
        total / actual_max > 5 or max_len <= 6
    ):
        average_bias = math.sqrt(actual_max - total / count)
        biased_max = max(actual_max - 3 - average_bias, 1)
        columns = min(
            round(math.sqrt(2.5 * biased_max * count) / biased_max),
            (ctx.break_length - ctx.indentation) // actual_max,
            ctx.compact * 4,
            15,
        )
        if columns <= 1:
            return output
        line_max = []
        for i in range(columns):
            line_max.append(max(lengths[i::columns]) + 2)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        rows = []
        for i in range(0, count, columns):
            end = min(i + columns, count)
            row = ""
            for j in range(i, end - 1):
                cell = output[j] + ", "
                width = line_max[j - i]
                row += cell.rjust(width) if numeric else cell.ljust(width)
            last = output[end - 1]
            row += last.rjust(line_max[end - 1 - i] - 2) if numeric else last
            rows.append(row)
        return rows
    return output


def _format(ctx: _Ctx, value: Any, level: int, nested: bool) -> str:
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return _quote(value) if nested else value
    if isinstance(value, bytes | bytearray):
        shown = " ".join(f"{b:02x}" for b in value[:50])
        more = f" ... {len(value) - 50} more bytes" if len(value) > 50 else ""
        return f"<Buffer{' ' if shown else ''}{shown}{more}>"
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{value.microsecond // 1000:03d}Z"
        )
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if level > ctx.depth:
            return "[Array]"
        return _container(ctx, value, level, ("[", "]"), True)
    if isinstance(value, dict):
        if not value:
            return "{}"
        if level > ctx.depth:
            return "[Object]"
        return _container(ctx, value, level, ("{", "}"), False)
    return str(value)


def _container(ctx: _Ctx, value: Any, level: int, braces: tuple[str, str], array: bool) -> str:
    ctx.current_depth = level
    ctx.indentation += 2
    output: list[str] = []
    if array:
        items = list(value)
        for item in items[:100]:
            output.append(_format(ctx, item, level + 1, True))
        if len(items) > 100:
            rest = len(items) - 100
            output.append(f"... {rest} more item{'s' if rest > 1 else ''}")
    else:
        for key, item in value.items():
            name = key if _IDENT.fullmatch(key) else _quote(key)
            output.append(f"{name}: {_format(ctx, item, level + 1, True)}")
    ctx.indentation -= 2
    entries = len(output)
    if array and entries > 6:
        output = _group(ctx, output, list(value)[:100])
    if ctx.current_depth - level < ctx.compact and entries == len(output):
        start = len(output) + ctx.indentation + len(braces[0]) + 10
        total = len(output) + start + sum(len(o) for o in output)
        if total + len(output) <= ctx.break_length:
            joined = ", ".join(output)
            if "\n" not in joined:
                return f"{braces[0]} {joined} {braces[1]}"
    pad = "\n" + " " * ctx.indentation
    return f"{braces[0]}{pad}  " + f",{pad}  ".join(output) + f"{pad}{braces[1]}"


def inspect(value: Any, depth: float = 2) -> str:
    """Render ``value`` the way Node.js ``util.inspect`` does (the common cases)."""
    return _format(_Ctx(depth), value, 0, False)


def _js_truncate(text: str, length: int) -> str:
    """``text.substr(0, length) + "..."`` when longer than ``length`` UTF-16 units."""
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) // 2 <= length:
        return text
    return units[: length * 2].decode("utf-16-le", "surrogatepass") + "..."


# ----- the node ----------------------------------------------------------------------------


class DebugConfig(NodeConfig):
    """Properties of a debug node."""

    active: Any = Field(True, description="Whether output goes to the sidebar (the button).")
    tosidebar: Any = Field(True, description="Send to the debug sidebar.")
    console: Any = Field(False, description="Also write to the system console (log).")
    tostatus: LooseBool = Field(False, description="Show a summary in the node status.")
    complete: Any = Field(
        "false",
        description='What to show: a msg property ("payload"), "true" for the whole '
        "message, or a JSONata expression when targetType is jsonata.",
    )
    targetType: str = Field(
        "msg",
        description="msg, full or jsonata.",
        json_schema_extra=choices("msg", "full", "jsonata"),
    )
    statusVal: Any = Field("", description="What the status shows (property or expression).")
    statusType: str = Field(
        "auto",
        description="auto, msg, jsonata or counter.",
        json_schema_extra=choices("auto", "msg", "jsonata", "counter"),
    )

    @model_validator(mode="after")
    def _check(self) -> DebugConfig:
        for kind, text in (("targetType", self.complete), ("statusType", self.statusVal)):
            if getattr(self, kind) == "jsonata" and text:
                try:
                    compile_jsonata(to_js_string(text))
                except ExpressionError as err:
                    raise ValueError(f"Invalid JSONata expression: {err}") from None
        return self


@node_type("debug")
class DebugNode(Node):
    """Shows messages in the debug sidebar, the system log and/or the node's status.

    Output is the chosen message property (``msg.payload`` by default), the complete
    message, or the result of a JSONata expression. The status can show the same
    value, another property or expression, or a message counter.
    """

    config_model = DebugConfig
    category = "common"
    outputs = 0
    color = "#87a980"
    icon = "debug.svg"
    manual_done = True

    def __init__(self, flow: Any, config: DebugConfig) -> None:
        super().__init__(flow, config)
        edit_text = config.complete if config.targetType == "jsonata" else None
        self.edit_text = edit_text
        self.complete: str | None = None
        if edit_text is None:
            raw = config.complete
            self.complete = "payload" if raw in (None, "", False) else to_js_string(raw)
            if self.complete == "false":
                self.complete = "payload"
        self.console = to_js_string(config.console or False) == "true"
        self.tostatus = config.tostatus
        self.status_type = config.statusType or "auto"
        self.status_val: Any = config.statusVal or self.complete
        self.tosidebar = config.tosidebar
        self.active = config.active is None or bool(config.active)
        self.counter = 0
        self.last_time = time.monotonic()
        self._timeout: Any = None
        self.old_state: str | None = None
        self.edit_expr: JsonataExpression | None = None
        self.stat_expr: JsonataExpression | None = None
        if edit_text:
            self.edit_expr = compile_jsonata(to_js_string(edit_text))
        if config.statusType == "jsonata" and config.statusVal:
            self.stat_expr = compile_jsonata(to_js_string(config.statusVal))
        if self.tostatus:
            self._initial_status({"fill": "grey", "shape": "ring"})
            self.old_state = "{}"
        if self.status_type == "counter":
            self._initial_status({"fill": "blue", "shape": "ring", "text": "0"})
        else:
            self._initial_status({"fill": "", "shape": "", "text": ""})

    def _initial_status(self, status: dict[str, Any]) -> None:
        """A status set while the node is created: Node-RED's status nodes are not
        listening yet, so only the editor (the runtime's listeners) sees it."""
        self.last_status = status
        self.flow.runtime.emit_status(self, status)

    async def close(self, removed: bool) -> None:
        if self.old_state:
            self.status({})
        self.cancel_timer(self._timeout)

    def _path(self) -> str:
        return str(getattr(self.flow, "path", self.z))

    def _debug_msg(self, msg: Msg, value: Any, prop: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "z": self.z,
            "_alias": self.alias,
            "path": self._path(),
            "name": self.name,
            "topic": msg.get("topic", MISSING),
        }
        if prop is not None:
            out["property"] = prop
        out["msg"] = value
        return out

    def _prepare_value(self, msg: Msg) -> tuple[Any, str | None]:
        """The value to show and the property it came from (None for JSONata)."""
        if self.edit_expr is not None:
            try:
                return self.edit_expr.evaluate(msg, self), None
            except ExpressionError:
                raise ExpressionError(
                    f"Invalid JSONata expression: {to_js_string(self.edit_text)}"
                ) from None
        prop = self.complete or "payload"
        try:
            return get_msg_property(msg, prop), prop
        except Exception:
            return MISSING, prop

    def _status_value(self, msg: Msg) -> Any:
        if self.status_type == "auto":
            if self.complete == "true":
                return msg.get("payload", MISSING)
            return self._prepare_value(msg)[0]
        if self.stat_expr is not None:
            try:
                return self.stat_expr.evaluate(msg, self)
            except ExpressionError:
                raise ExpressionError(
                    f"Invalid JSONata expression: {to_js_string(self.edit_text)}"
                ) from None
        try:
            return get_msg_property(msg, to_js_string(self.status_val))
        except Exception:
            return MISSING

    def _show_status(self, msg: Msg) -> None:
        try:
            output = self._status_value(msg)
        except ExpressionError as err:
            self.error(err)
            return
        st: Any = output if isinstance(output, str) else inspect(output)
        fill: Any = "grey"
        shape: Any = "dot"
        if isinstance(output, dict) and all(output.get(k) for k in ("fill", "shape", "text")):
            fill, shape, st = output["fill"], output["shape"], output["text"]
        if self.status_type == "auto":
            if "error" in msg:
                fill = "red"
                error = msg["error"]
                st = error.get("message", MISSING) if isinstance(error, dict) else MISSING
            if "status" in msg:
                status = msg["status"] if isinstance(msg["status"], dict) else {}
                fill = status.get("fill") or "grey"
                shape = status.get("shape") or "ring"
                st = status.get("text") or ""
        if st is MISSING or st is None:
            name = "undefined" if st is MISSING else "null"
            raise TypeError(f"Cannot read properties of {name} (reading 'length')")
        if isinstance(st, str):
            st = _js_truncate(st, STATUS_LENGTH)
        new_status = {"fill": fill, "shape": shape, "text": st}
        state = json.dumps(new_status, separators=(",", ":"), default=str)
        if state != self.old_state:
            self.status(new_status)
            self.old_state = state

    def _count(self) -> None:
        now = time.monotonic()
        elapsed = (now - self.last_time) * 1000
        self.last_time = now
        self.counter += 1
        if elapsed > 100:
            self.status({"fill": "blue", "shape": "ring", "text": self.counter})
        else:
            self.cancel_timer(self._timeout)
            self._timeout = self.call_later(
                0.2, lambda: self.status({"fill": "blue", "shape": "ring", "text": self.counter})
            )

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        status = msg.get("status")
        source = status.get("source") if isinstance(status, dict) else None
        if isinstance(source, dict) and source.get("id", MISSING) == self.id:
            done()
            return
        if self.tostatus is True:
            if self.status_type == "counter":
                self._count()
            else:
                self._show_status(msg)
        if self.complete == "true":
            if self.console:
                self.log("\n" + inspect(msg, depth=10))
            if self.active and self.tosidebar:
                self._publish(self._debug_msg(msg, msg, None))
            done()
            return
        try:
            value, prop = self._prepare_value(msg)
        except ExpressionError as err:
            self.error(err)
            return  # Node-RED does not finish the message here
        if self.console:
            if isinstance(value, str):
                self.log(("\n" if "\n" in value else "") + value)
            elif isinstance(value, dict | list | bytes | bytearray) or value is None:
                self.log("\n" + inspect(value, depth=10))
            else:
                self.log(inspect(value))
        if self.active and self.tosidebar:
            self._publish(self._debug_msg(msg, value, prop))
        done()

    def _publish(self, debug_msg: dict[str, Any]) -> None:
        """Hand a sidebar message to the runtime's debug listeners and the log."""
        for listener in list(self.flow.runtime.debug_listeners):
            listener(debug_msg)
        value = debug_msg.get("msg", MISSING)
        text = value if isinstance(value, str) else inspect(value, depth=10)
        self.flow.runtime.node_log(self, logging.DEBUG, text)
