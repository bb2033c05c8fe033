"""change: set, change, delete or move message and context properties."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plantwire.expressions import (
    TYPED_INPUT_TYPES,
    TypedValue,
    compile_js_regex,
    get_msg_property,
    normalise_path,
    parse_context_key,
    parse_js_number,
    prepare_typed,
    resolve_path_string,
    set_msg_property,
    to_js_string,
    validate_path,
)
from plantwire.expressions.paths import is_plain_key
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, Msg, clone_value
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, choices, node_type

__all__ = ["ChangeConfig", "ChangeNode", "ChangeRule", "js_replace"]

_JSONATA_PREFIX = re.compile(r"^JSONata expression '.*?' failed: ", re.DOTALL)
_REPLACEMENT = re.compile(r"\$(\$|&|`|'|\d{1,2}|<[^>]*>)")


def jsonata_error_text(err: BaseException) -> str:
    """The JSONata engine's own message, without Plantwire's prefix."""
    return _JSONATA_PREFIX.sub("", str(err))


def js_replace(text: str, pattern: re.Pattern[str] | None, replacement: Any) -> str:
    """JavaScript ``text.replace(pattern, replacement)`` with a global regex.

    ``replacement`` is converted with ``String()`` and honours ``$$ $& $` $' $n $<name>``.
    ``pattern`` None stands for JavaScript's ``undefined``: the literal text "undefined"
    is replaced once.
    """
    rep = to_js_string(replacement)
    if pattern is None:
        at = text.find("undefined")
        if at < 0:
            return text
        fake = re.compile("undefined")
        match = fake.match(text, at)
        assert match is not None
        return text[:at] + _expand(rep, match, text) + text[at + 9 :]
    if "$" not in rep:
        return pattern.sub(lambda m: rep, text)
    return pattern.sub(lambda m: _expand(rep, m, text), text)


def _expand(rep: str, match: re.Match[str], text: str) -> str:
    groups = match.re.groups
    named = bool(match.re.groupindex)

    def one(m: re.Match[str]) -> str:
        token = m.group(1)
        if token == "$":
            return "$"
        if token == "&":
            return match.group(0)
        if token == "`":
            return text[: match.start()]
        if token == "'":
            return text[match.end() :]
        if token.startswith("<"):
            if not named:
                return m.group(0)
            name = token[1:-1]
            if name not in match.re.groupindex:
                return ""
            return match.group(name) or ""
        if len(token) == 2 and 1 <= int(token) <= groups:
            return match.group(int(token)) or ""
        first = int(token[0])
        if 1 <= first <= groups:
            return (match.group(first) or "") + token[1:]
        return m.group(0)

    return _REPLACEMENT.sub(one, rep)


class ChangeRule(BaseModel):
    """One rule of a change node, as Node-RED writes it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True)

    t: str = Field(
        "set",
        description="Action: set, change, delete or move.",
        json_schema_extra=choices("set", "change", "delete", "move"),
    )
    p: str = Field("", description="The property to act on.")
    pt: str = Field(
        "msg",
        description="Where the property is: msg, flow or global (empty: msg).",
        json_schema_extra=choices("msg", "flow", "global", ""),
    )
    to: Any = Field("", description="The value to set (set/change) or the target (move).")
    tot: str = Field("", description="Type of `to` (str, num, bool, json, bin, date, ...).")
    from_: Any = Field("", alias="from", description="What a change rule searches for.")
    fromt: str = Field("", description="Type of `from`: str, num, bool, re, msg, flow, global.")
    dc: LooseBool = Field(False, description="Deep-copy the value before setting it.")
    re: Any = Field(None, description="Legacy: `from` is a regular expression.")

    @field_validator("t")
    @classmethod
    def _check_action(cls, value: str) -> str:
        if value not in ("set", "change", "delete", "move"):
            raise ValueError(f"unknown rule action '{value}'")
        return value

    @model_validator(mode="after")
    def _migrate_and_check(self) -> ChangeRule:
        # Node-RED's migration to type-aware rules
        if not self.pt:
            self.pt = "msg"
        if self.t == "change" and self.re:
            self.fromt = "re"
        if self.to is None:
            self.to = ""
        if self.t == "set" and not self.tot and isinstance(self.to, str) and self.to[:4] == "msg.":
            self.to = self.to[4:]
            self.tot = "msg"
        if not self.tot:
            self.tot = "str"
        if not self.fromt:
            self.fromt = "str"
        if self.pt not in ("msg", "flow", "global"):
            raise ValueError(f"unknown property type '{self.pt}'")
        if self.pt == "msg":
            try:
                validate_path(self.p[4:] if self.p.startswith("msg.") else self.p)
            except ExpressionError as err:
                raise ValueError(f"Invalid property expression: {err}") from None
        if self.t in ("set", "change") and self.tot in TYPED_INPUT_TYPES:
            try:
                prepare_typed(self.to, self.tot)
            except ExpressionError as err:
                raise ValueError(str(err)) from None
        if self.t == "change" and self.fromt == "re":
            try:
                compile_js_regex(to_js_string(self.from_))
            except ExpressionError as err:
                raise ValueError(f"Invalid 'from' property: {err}") from None
        return self


class ChangeConfig(NodeConfig):
    """Properties of a change node."""

    rules: list[ChangeRule] | None = Field(
        None, description="The rules, applied in order (each sees the previous result)."
    )
    action: str = Field("", description="Legacy single-rule form: set/replace/change/delete/move.")
    property: str = Field("", description="Legacy single-rule form: the property.")
    from_: Any = Field("", alias="from", description="Legacy single-rule form: search value.")
    to: Any = Field("", description="Legacy single-rule form: the value or target.")
    reg: Any = Field(False, description="Legacy single-rule form: `from` is a regex.")

    @model_validator(mode="after")
    def _legacy(self) -> ChangeConfig:
        if self.rules is None:
            t = "set" if self.action == "replace" else (self.action or "set")
            data: dict[str, Any] = {"t": t, "p": self.property or ""}
            if t in ("set", "move"):
                data["to"] = self.to or ""
            elif t == "change":
                data["from"] = self.from_ or ""
                data["to"] = self.to or ""
                data["re"] = self.reg is None or bool(self.reg)
            self.rules = [ChangeRule.model_validate(data)]
        return self


@dataclass
class _Prepared:
    """A rule ready to run: its values compiled."""

    t: str
    p: str
    pt: str
    tot: str
    to: Any
    to_value: TypedValue | None
    fromt: str
    from_: Any
    from_re: re.Pattern[str] | None
    dc: bool


_HANG = object()
"""Result of a rule after which Node-RED never finishes the message."""


def _prepare(rule: ChangeRule) -> _Prepared:
    to_value: TypedValue | None = None
    to: Any = rule.to
    if rule.t in ("set", "change") and rule.tot in TYPED_INPUT_TYPES and rule.tot != "re":
        to_value = prepare_typed(rule.to, rule.tot)
    from_re: re.Pattern[str] | None = None
    if rule.t == "change" and rule.fromt not in ("msg", "flow", "global"):
        text = to_js_string(rule.from_)
        from_re = compile_js_regex(text) if rule.fromt == "re" else re.compile(re.escape(text))
    return _Prepared(
        rule.t, rule.p, rule.pt, rule.tot, to, to_value, rule.fromt, rule.from_, from_re, rule.dc
    )


def _sub_rule(t: str, p: str, pt: str, to: str = "", tot: str = "str") -> _Prepared:
    to_value = prepare_typed(to, tot) if t == "set" else None
    return _Prepared(t, p, pt, tot, to, to_value, "str", "", None, False)


def can_set(msg: Any, prop: str, value: Any) -> bool:
    """Whether Node-RED's setMessageProperty would succeed (it returns false otherwise)."""
    if prop.startswith("msg."):
        prop = prop[4:]
    if is_plain_key(prop):
        return isinstance(msg, dict)
    keys = normalise_path(prop, msg)
    create = value is not MISSING
    obj = msg
    for key in keys[:-1]:
        if isinstance(obj, dict):
            skey = key if isinstance(key, str) else str(key)
            if skey in obj:
                obj = obj[skey]
                if not isinstance(obj, dict | list):
                    return False
            else:
                return create
        elif isinstance(obj, list) and isinstance(key, int):
            if key >= len(obj) or obj[key] is None:
                return create
            obj = obj[key]
        else:
            return create
    return value is MISSING or isinstance(obj, dict | list)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@node_type("change")
class ChangeNode(Node):
    """Sets, changes, deletes or moves properties of a message or of context.

    Rules are applied in order. **Set** gives a property a value (a string, number,
    boolean, JSON, buffer, timestamp, env variable, JSONata result, or another msg,
    flow or global property), creating missing parents. **Change** searches a string
    for text or a regular expression (``$1`` refers to a captured group) and replaces
    it; a number or boolean is replaced when it equals the search value. **Delete**
    removes a property. **Move** sets the target and deletes the source.
    Output: the changed message.
    """

    config_model = ChangeConfig
    category = "function"
    color = "#e2d96e"
    icon = "swap.svg"
    manual_done = True

    def __init__(self, flow: Any, config: ChangeConfig) -> None:
        super().__init__(flow, config)
        self.rules: list[list[_Prepared]] = []
        for rule in config.rules or []:
            if rule.t == "move":
                self.rules.append(self._move_steps(rule))
            else:
                self.rules.append([_prepare(rule)])

    async def start(self) -> None:
        """Evaluate env values once, as Node-RED does when it creates the node."""
        for steps in self.rules:
            for rule in steps:
                if rule.tot == "env" and rule.to_value is not None:
                    rule.to = rule.to_value.evaluate(self, None)
                    rule.to_value = None

    @staticmethod
    def _move_steps(r: ChangeRule) -> list[_Prepared]:
        to = to_js_string(r.to)
        if r.tot != r.pt or (to in r.p and r.p != to):
            return [_sub_rule("set", to, r.tot, r.p, r.pt), _sub_rule("delete", r.p, r.pt)]
        return [
            _sub_rule("set", "_temp_move", r.tot, r.p, r.pt),
            _sub_rule("delete", r.p, r.pt),
            _sub_rule("set", to, r.tot, "_temp_move", r.pt),
            _sub_rule("delete", "_temp_move", r.pt),
        ]

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        for steps in self.rules:
            for rule in steps:
                result = self._apply(msg, rule)
                if result is _HANG:
                    return
                if result is None:
                    done()
                    return
        send(msg)
        done()

    # ----- one rule -------------------------------------------------------------------

    def _to_value(self, msg: Msg, rule: _Prepared) -> Any:
        if rule.to_value is None:
            return rule.to
        if rule.tot in ("flow", "global"):
            try:
                return rule.to_value.evaluate(self, msg)
            except Exception:
                return MISSING
        return rule.to_value.evaluate(self, msg)

    def _from_parts(self, msg: Msg, rule: _Prepared) -> tuple[str | None, Any, Any]:
        if rule.fromt not in ("msg", "flow", "global"):
            return rule.fromt, rule.from_, rule.from_re
        text = to_js_string(rule.from_)
        if rule.fromt == "msg":
            value = get_msg_property(msg, text)
        else:
            store, key = parse_context_key(text)
            if "[msg." in key:
                key = resolve_path_string(key, msg)
            ctx = self.context()
            view = ctx.flow if rule.fromt == "flow" else ctx.global_
            value = view.get(key, store)
        if _is_number(value):
            return "num", value, None
        if isinstance(value, bool):
            return "bool", value, None
        if isinstance(value, re.Pattern):
            return "re", value, value
        if isinstance(value, str):
            return "str", value, re.compile(re.escape(value))
        kind = "undefined" if value is MISSING else "object"
        self.error(f"Invalid 'from' property: unsupported type: {kind}", msg)
        return None, MISSING, None

    def _apply(self, msg: Msg, rule: _Prepared) -> Any:
        """Apply ``rule``; returns the message, None (dropped) or _HANG."""
        try:
            try:
                value = self._to_value(msg, rule)
            except ExpressionError as err:
                if rule.tot == "jsonata":
                    self.error(f"Invalid JSONata expression: {jsonata_error_text(err)}", msg)
                    return None
                raise
            if rule.dc:
                value = clone_value(value)
            from_type, from_value, from_re = (None, None, None)
            if rule.t == "change":
                from_type, from_value, from_re = self._from_parts(msg, rule)
            if rule.pt == "msg":
                self._apply_msg(msg, rule, value, from_type, from_value, from_re)
                return msg
            return self._apply_context(msg, rule, value, from_type, from_value, from_re)
        except Exception:
            return msg  # Node-RED ignores errors while applying a rule

    def _apply_msg(
        self, msg: Msg, rule: _Prepared, value: Any, ftype: Any, fvalue: Any, fre: Any
    ) -> None:
        prop = rule.p
        if rule.t == "delete":
            set_msg_property(msg, prop, MISSING)
        elif rule.t == "set":
            if not can_set(msg, prop, value):
                self.warn(f"Cannot set property of non-object type: {prop}")
                return
            set_msg_property(msg, prop, value)
        elif rule.t == "change":
            current = get_msg_property(msg, prop)
            new = self._changed(current, rule, value, ftype, fvalue, fre, True)
            if new is not _HANG:
                set_msg_property(msg, prop, new)

    @staticmethod
    def _changed(
        current: Any, rule: _Prepared, value: Any, ftype: Any, fvalue: Any, fre: Any, msg: bool
    ) -> Any:
        """The new value of a changed property, or MISSING to leave it alone."""
        if isinstance(current, str):
            if ftype in ("num", "bool", "str") and isinstance(fvalue, str) and current == fvalue:
                return value
            replaced = js_replace(current, fre, value)
            if msg and rule.tot == "bool" and replaced == to_js_string(value):
                return value
            return replaced
        if _is_number(current) and ftype == "num":
            target = parse_js_number(fvalue) if isinstance(fvalue, str) else fvalue
            if target is not None and current == target:
                return value
            return _HANG
        if isinstance(current, bool) and ftype == "bool":
            if isinstance(fvalue, str) and to_js_string(current) == fvalue:
                return value
            return _HANG
        return _HANG

    def _apply_context(
        self, msg: Msg, rule: _Prepared, value: Any, ftype: Any, fvalue: Any, fre: Any
    ) -> Any:
        store, key = parse_context_key(rule.p)
        if "[msg" in key:
            key = resolve_path_string(key, msg)
        ctx = self.context()
        target = ctx.flow if rule.pt == "flow" else ctx.global_
        if rule.t == "delete":
            target.set(key, MISSING, store)
        elif rule.t == "set":
            target.set(key, value, store)
        elif rule.t == "change":
            current = target.get(key, store)
            new = self._changed(current, rule, value, ftype, fvalue, fre, False)
            if new is _HANG:
                return _HANG  # Node-RED never calls back here: the message stops
            target.set(key, new, store)
        return msg
