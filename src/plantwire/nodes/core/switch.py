"""switch: route messages by the value of a property, one output per rule."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plantwire.expressions import (
    TYPED_INPUT_TYPES,
    JsonataExpression,
    TypedValue,
    compile_js_regex,
    compile_jsonata,
    js_typeof,
    parse_js_json,
    parse_js_number,
    prepare_typed,
    to_js_string,
)
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg, clone_msg, new_msgid
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseInt, NodeConfig, node_type

__all__ = ["SwitchConfig", "SwitchNode", "SwitchRule", "js_compare", "js_loose_equals"]

# ----- JavaScript comparison semantics -------------------------------------------------

_RELATIONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _to_primitive(value: Any) -> Any:
    if value is MISSING or value is None or isinstance(value, str | int | float | bool):
        return value
    return to_js_string(value)


def js_to_number(value: Any) -> float:
    """JavaScript ``Number(value)`` as a float (NaN where JavaScript gives NaN)."""
    value = _to_primitive(value)
    if value is MISSING:
        return math.nan
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    number = parse_js_number(value)
    return math.nan if number is None else float(number)


def js_loose_equals(a: Any, b: Any) -> bool:
    """JavaScript ``a == b``."""
    if a is MISSING or a is None:
        return b is MISSING or b is None
    if b is MISSING or b is None:
        return False
    a_obj = isinstance(a, dict | list | bytes | bytearray)
    b_obj = isinstance(b, dict | list | bytes | bytearray)
    if a_obj and b_obj:
        return a is b
    if a_obj:
        a = _to_primitive(a)
    if b_obj:
        b = _to_primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    return js_to_number(a) == js_to_number(b)


def js_compare(a: Any, b: Any, op: str) -> bool:
    """JavaScript relational ``a op b`` for op in ``< <= > >=``."""
    pa, pb = _to_primitive(a), _to_primitive(b)
    if isinstance(pa, str) and isinstance(pb, str):  # UTF-16 code unit order
        return bool(_RELATIONS[op](pa.encode("utf-16-be"), pb.encode("utf-16-be")))
    x, y = js_to_number(pa), js_to_number(pb)
    return bool(_RELATIONS[op](x, y))  # NaN compares false, as in JavaScript


@lru_cache(maxsize=256)
def _regex(pattern: str, ignore_case: bool) -> Any:
    return compile_js_regex(pattern, "i" if ignore_case else "")


def _istype(a: Any, b: Any) -> bool:
    if b == "array":
        return isinstance(a, list)
    if b == "buffer":
        return isinstance(a, bytes | bytearray)
    if b == "json":
        try:
            parse_js_json(to_js_string(a))
        except (ValueError, RecursionError):
            return False
        return True
    if b == "null":
        return a is None
    if b == "number":
        return js_typeof(a) == "number" and not math.isnan(a)
    return js_typeof(a) == b and not isinstance(a, list | bytes | bytearray) and a is not None


def _length(a: Any) -> int | None:
    if isinstance(a, str | list | bytes | bytearray | dict):
        return len(a)
    return None


def _parts(parts: Any, key: str) -> Any:
    if not isinstance(parts, dict):
        name = "undefined" if parts is MISSING else "null"
        raise TypeError(f"Cannot read properties of {name} (reading '{key}')")
    return parts.get(key, MISSING)


def _hask(a: Any, b: Any) -> bool:
    if a is MISSING or a is None or b is None or isinstance(b, dict | list):
        return False
    key = to_js_string(b)
    if isinstance(a, dict):
        return key in a
    if isinstance(a, str | list | bytes | bytearray):
        if key == "length":
            return not isinstance(a, bytes | bytearray)
        return (
            key.isascii()
            and key.isdigit()
            and (key == "0" or not key.startswith("0"))
            and int(key) < len(a)
        )
    return False


Operator = Callable[[Any, Any, Any, Any, Any], bool]

OPERATORS: dict[str, Operator] = {
    "eq": lambda a, b, c, d, p: js_loose_equals(a, b),
    "neq": lambda a, b, c, d, p: not js_loose_equals(a, b),
    "lt": lambda a, b, c, d, p: js_compare(a, b, "<"),
    "lte": lambda a, b, c, d, p: js_compare(a, b, "<="),
    "gt": lambda a, b, c, d, p: js_compare(a, b, ">"),
    "gte": lambda a, b, c, d, p: js_compare(a, b, ">="),
    "btwn": lambda a, b, c, d, p: (
        (js_compare(a, b, ">=") and js_compare(a, c, "<="))
        or (js_compare(a, b, "<=") and js_compare(a, c, ">="))
    ),
    "cont": lambda a, b, c, d, p: to_js_string(b) in to_js_string(a),
    "regex": lambda a, b, c, d, p: (
        _regex(to_js_string(b), bool(d)).search(to_js_string(a)) is not None
    ),
    "true": lambda a, b, c, d, p: a is True,
    "false": lambda a, b, c, d, p: a is False,
    "null": lambda a, b, c, d, p: a is MISSING or a is None,
    "nnull": lambda a, b, c, d, p: a is not MISSING and a is not None,
    "empty": lambda a, b, c, d, p: _length(a) == 0,
    "nempty": lambda a, b, c, d, p: (_length(a) or 0) != 0,
    "istype": lambda a, b, c, d, p: _istype(a, b),
    "head": lambda a, b, c, d, p: js_compare(_parts(p, "index"), js_to_number(b), "<"),
    "tail": lambda a, b, c, d, p: js_compare(
        js_to_number(_parts(p, "count")) - js_to_number(b), _parts(p, "index"), "<="
    ),
    "index": lambda a, b, c, d, p: (
        js_compare(js_to_number(b), _parts(p, "index"), "<=")
        and js_compare(_parts(p, "index"), js_to_number(c), "<=")
    ),
    "hask": lambda a, b, c, d, p: _hask(a, b),
    "jsonata_exp": lambda a, b, c, d, p: b is True,
    "else": lambda a, b, c, d, p: a is True,
}


# ----- configuration ---------------------------------------------------------------------


def _default_type(value: Any) -> str:
    return "str" if value is MISSING or parse_js_number(value) is None else "num"


def _prepare_value(value: Any, vtype: str) -> TypedValue | None:
    """A TypedValue for the types evaluateNodeProperty knows; None for the others."""
    if vtype in ("prev", "json", "null") or vtype not in TYPED_INPUT_TYPES:
        return None
    try:
        return prepare_typed(value, vtype)
    except ExpressionError as err:
        raise ValueError(str(err)) from None


class SwitchRule(BaseModel):
    """One rule of a switch node, as Node-RED writes it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True)

    t: str = Field(description="The test: eq, neq, lt, ..., jsonata_exp or else.")
    v: Any = Field(None, description="The value to compare with.")
    vt: str = Field("", description="Type of `v` (str, num, msg, flow, global, prev, ...).")
    v2: Any = Field(None, description="Second value (btwn, index).")
    v2t: str = Field("", description="Type of `v2`.")
    case: LooseBool = Field(False, description="regex: ignore case.")

    @model_validator(mode="after")
    def _check(self) -> SwitchRule:
        if self.t not in OPERATORS:
            raise ValueError(f"unknown switch rule type '{self.t}'")
        v = self.v if "v" in self.model_fields_set else MISSING
        if not self.vt:
            self.vt = _default_type(v)
        if v is not MISSING or self.vt not in ("str", "num"):
            _prepare_value(self.v, self.vt)
        if "v2" in self.model_fields_set:
            if not self.v2t:
                self.v2t = _default_type(self.v2)
            _prepare_value(self.v2, self.v2t)
        return self


class SwitchConfig(NodeConfig):
    """Properties of a switch node."""

    property: str = Field("payload", description="The property to test.")
    propertyType: str = Field(
        "msg", description="Type of `property`: msg, flow, global, env or jsonata."
    )
    rules: list[SwitchRule] = Field(default_factory=list, description="The rules, one per output.")
    checkall: str | bool = Field(
        "true", description='"true": send to every matching rule; "false": stop at the first.'
    )
    repair: LooseBool = Field(False, description="Recreate message sequences (msg.parts).")
    outputs: LooseInt = Field(1, description="Number of outputs (one per rule).")

    @model_validator(mode="after")
    def _check(self) -> SwitchConfig:
        if self.propertyType == "msg" or self.propertyType in TYPED_INPUT_TYPES:
            _prepare_value(self.property, self.propertyType)
        return self


class _Rule:
    """A rule ready to run: its operator and prepared values."""

    def __init__(self, r: SwitchRule) -> None:
        self.t = r.t
        self.op = OPERATORS[r.t]
        self.v = r.v if "v" in r.model_fields_set else MISSING
        self.vt = r.vt
        missing_v = self.v is MISSING and r.vt in ("str", "num")
        self.v_value = None if missing_v else _prepare_value(self.v, r.vt)
        self.has_v2 = "v2" in r.model_fields_set
        self.v2 = r.v2 if self.has_v2 else MISSING
        self.v2t = r.v2t
        self.v2_value = _prepare_value(self.v2, r.v2t) if self.has_v2 else None
        self.case = r.case
        self.seq_vars: dict[str, Any] = {}


def _has_parts(msg: Msg) -> bool:
    parts = msg.get("parts")
    return isinstance(parts, dict) and "id" in parts and "index" in parts


@node_type("switch")
class SwitchNode(Node):
    """Routes each message to the outputs whose rule matches a property's value.

    Rules compare the property with a value (==, !=, <, <=, >, >=, between, contains,
    regex, type, empty, has key, JSONata ...), or select by position in a message
    sequence (head, tail, index). "otherwise" matches when no earlier rule did. With
    "stopping after first match" only the first matching output gets the message.
    "Recreate message sequences" gives each output's messages new ``msg.parts``.
    """

    config_model = SwitchConfig
    category = "function"
    color = "#e2d96e"
    icon = "switch.svg"

    def __init__(self, flow: Any, config: SwitchConfig) -> None:
        super().__init__(flow, config)
        self.outputs = config.outputs
        self.property = config.property
        self.property_type = config.propertyType
        self.property_value: TypedValue | None = None
        self.property_expr: JsonataExpression | None = None
        if self.property_type == "jsonata":
            self.property_expr = compile_jsonata(self.property)
        else:
            self.property_value = _prepare_value(self.property, self.property_type)
        self.checkall = config.checkall
        self.repair = config.repair
        self.previous_value: Any = None
        self.rules = [_Rule(r) for r in config.rules]
        needs_count = self.repair or any(r.t == "tail" for r in config.rules)
        self.needs_count = needs_count
        self.pending_in: dict[Any, dict[str, Any]] = {}
        self.pending_out: dict[Any, list[list[Any]]] = {}
        self.received: dict[Any, int] = {}
        self.pending_count = 0
        settings = getattr(flow.runtime, "settings", None)
        self.max_kept = int(getattr(settings, "node_message_buffer_max_length", 0) or 0)

    async def close(self, removed: bool) -> None:
        self._clear_pending()

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        self._process(msg, True)

    # ----- evaluation -------------------------------------------------------------------

    def _property(self, msg: Msg) -> Any:
        if self.property_expr is not None:
            return self.property_expr.evaluate(msg, self)
        if self.property_value is None:
            return self.property
        try:
            return self.property_value.evaluate(self, msg)
        except Exception:
            return MISSING

    def _value(self, msg: Msg, raw: Any, vtype: str, prepared: TypedValue | None) -> Any:
        if vtype == "prev":
            return self.previous_value
        if vtype == "json":
            return "json"
        if vtype == "null":
            return "null"
        if prepared is None:
            if vtype == "str":
                return to_js_string(raw)
            if vtype == "num":
                return math.nan
            return raw
        if vtype == "jsonata":
            return prepared.evaluate(self, msg)
        try:
            return prepared.evaluate(self, msg)
        except Exception:
            return MISSING

    def _v1(self, msg: Msg, rule: _Rule, has_parts: bool) -> Any:
        if rule.vt == "jsonata" and rule.v_value is not None:
            if rule.t == "jsonata_exp" and has_parts:
                parts = msg["parts"]
                rule.seq_vars["I"] = parts.get("index", MISSING)
                rule.seq_vars["N"] = parts.get("count", MISSING)
            expr = compile_jsonata(to_js_string(rule.v))
            return expr.evaluate(msg, self, rule.seq_vars or None)
        return self._value(msg, rule.v, rule.vt, rule.v_value)

    def _apply_rules(self, msg: Msg, prop: Any) -> list[Any]:
        if not self.rules:
            return []
        has_parts = _has_parts(msg)
        onward: list[Any] = []
        else_flag = True
        parts = msg.get("parts", MISSING)
        for i, rule in enumerate(self.rules):
            try:
                v1 = self._v1(msg, rule, has_parts)
                v2 = MISSING
                if rule.v2t == "prev":
                    v2 = self.previous_value
                elif rule.has_v2:
                    v2 = self._value(msg, rule.v2, rule.v2t, rule.v2_value)
            except ExpressionError as err:
                text = str(err).split(" failed: ", 1)[-1]
                raise ExpressionError(f"Invalid JSONata expression: {text}") from None
            subject = prop
            if rule.t == "else":
                subject = else_flag
                else_flag = True
            if rule.op(subject, v1, v2, rule.case, parts):
                onward.append(msg)
                else_flag = False
                if self.checkall == "false":
                    break
            else:
                onward.append(None)
            if i == len(self.rules) - 1:
                break
        self.previous_value = prop
        return onward

    # ----- sequences --------------------------------------------------------------------

    def _process(self, msg: Msg, check_parts: bool) -> None:
        has_parts = _has_parts(msg)
        if self.needs_count and check_parts and has_parts:
            self._add_to_pending(msg)
            return
        try:
            prop = self._property(msg)
        except ExpressionError as err:
            text = str(err).split(" failed: ", 1)[-1]
            self.warn(f"Invalid JSONata expression: {text}")
            return
        try:
            onward = self._apply_rules(msg, prop)
        except Exception as err:
            self.error(err, msg)
            return
        if not self.repair or not has_parts:
            self.send(onward)
        else:
            self._send_group_messages(onward, msg)

    def _add_to_pending(self, msg: Msg) -> None:
        parts = msg["parts"]
        gid = _key(parts["id"])
        group = self.pending_in.setdefault(gid, {"count": MISSING, "msgs": []})
        group["msgs"].append(msg)
        self.pending_count += 1
        if 0 < self.max_kept < self.pending_count:
            self._clear_pending()
            self.error("too many pending messages in switch node", msg)
        if "count" in parts:
            group["count"] = parts["count"]
        msgs: list[Msg] = group["msgs"]
        count = group["count"]
        if isinstance(count, int | float) and not isinstance(count, bool) and count == len(msgs):
            n = len(msgs)
            for m in list(msgs):
                m["parts"]["count"] = count
                self._process(m, False)
            self.pending_count -= n
            self.pending_in.pop(gid, None)

    def _send_group_messages(self, onward: list[Any], msg: Msg) -> None:
        parts = msg["parts"]
        gid = _key(parts["id"])
        self.received[gid] = self.received.get(gid, 0) + 1
        send_ok = self.received[gid] == parts.get("count")
        onwards = self.pending_out.setdefault(gid, [])
        onwards.append(onward)
        self.pending_count += 1
        if send_ok:
            self._send_group(onwards, len(onward))
            self.pending_count -= len(onward)
            self.pending_out.pop(gid, None)
            self.received.pop(gid, None)
        if 0 < self.max_kept < self.pending_count:
            self._clear_pending()
            self.error("too many pending messages in switch node", msg)

    def _send_group(self, onwards: list[list[Any]], port_count: int) -> None:
        counts = [0] * port_count
        for onward in onwards:
            for j in range(port_count):
                counts[j] += 1 if j < len(onward) and onward[j] is not None else 0
        ids = [new_msgid() for _ in range(port_count)]
        indexes = [0] * port_count
        for onward in onwards:
            ports: list[Any] = []
            for j in range(port_count):
                m = onward[j] if j < len(onward) else None
                if m is not None:
                    new_msg = clone_msg(m)
                    new_parts = new_msg["parts"]
                    new_parts["id"] = ids[j]
                    new_parts["index"] = indexes[j]
                    new_parts["count"] = counts[j]
                    ports.append(new_msg)
                    indexes[j] += 1
                else:
                    ports.append(None)
            self.send(ports)

    def _clear_pending(self) -> None:
        self.pending_count = 0
        self.pending_in = {}
        self.pending_out = {}
        self.received = {}


def _key(value: Any) -> Any:
    """A dict key for a sequence id (JavaScript object keys are strings)."""
    return to_js_string(value)
