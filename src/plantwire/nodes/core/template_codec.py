"""A Mustache renderer with mustache.js 4 semantics, for the template node.

It follows mustache.js where Python libraries differ: standalone-line stripping,
``{{=<% %>=}}`` delimiter changes, JavaScript truthiness for sections, dotted-name
lookup through the context stack (``length`` of arrays and strings, array indices),
HTML escaping of ``& < > " ' / ` =``, and ``String()`` formatting of values. Names
the view does not hold are passed to a fallback (the node's flow/global/env lookups).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plantwire.expressions.env import to_js_string
from plantwire.runtime.message import MISSING

__all__ = ["MustacheError", "Token", "lookup_view", "parse_template", "render", "token_names"]

_WHITE = re.compile(r"\s*")
_SPACE = re.compile(r"\s+")
_EQUALS = re.compile(r"\s*=")
_CURLY = re.compile(r"\s*\}")
_TAG = re.compile(r"#|\^|/|>|\{|&|=|!")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_HTML.update({"/": "&#x2F;", "`": "&#x60;", "=": "&#x3D;"})
_HTML_RE = re.compile(r"[&<>\"'`=/]")


class MustacheError(ValueError):
    """The template is malformed (unclosed tag or section)."""


@dataclass
class Token:
    """One parsed piece: ``kind`` is text, name, &, #, ^, /, !, =, or >."""

    kind: str
    value: str
    start: int
    end: int
    children: list[Token] = field(default_factory=list)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.tail = text
        self.pos = 0

    def eos(self) -> bool:
        return self.tail == ""

    def scan(self, pattern: re.Pattern[str]) -> str:
        m = pattern.match(self.tail)
        if not m:
            return ""
        s = m.group(0)
        self.tail = self.tail[len(s) :]
        self.pos += len(s)
        return s

    def scan_until(self, pattern: re.Pattern[str]) -> str:
        m = pattern.search(self.tail)
        if m is None:
            match, self.tail = self.tail, ""
        else:
            match, self.tail = self.tail[: m.start()], self.tail[m.start() :]
        self.pos += len(match)
        return match


def _compile_tags(tags: list[str]) -> tuple[re.Pattern[str], ...]:
    if len(tags) != 2:
        raise MustacheError("Invalid tags: " + ",".join(tags))
    o, c = re.escape(tags[0]), re.escape(tags[1])
    return re.compile(o + r"\s*"), re.compile(r"\s*" + c), re.compile(r"\s*" + re.escape("}") + c)


def parse_template(template: str) -> list[Token]:
    """Parse into a token tree, stripping standalone section/comment lines."""
    if not template:
        return []
    sections: list[Token] = []
    tokens: list[Token | None] = []
    spaces: list[int] = []
    has_tag = False
    non_space = False
    opening, closing, closing_curly = _compile_tags(["{{", "}}"])
    sc = _Scanner(template)

    def strip_space() -> None:
        nonlocal has_tag, non_space, spaces
        if has_tag and not non_space:
            while spaces:
                tokens[spaces.pop()] = None
        else:
            spaces = []
        has_tag = non_space = False

    while not sc.eos():
        start = sc.pos
        value = sc.scan_until(opening)
        for ch in value:
            if ch.isspace():
                spaces.append(len(tokens))
            else:
                non_space = True
            tokens.append(Token("text", ch, start, start + 1))
            start += 1
            if ch == "\n":
                strip_space()
        if not sc.scan(opening):
            break
        has_tag = True
        kind = sc.scan(_TAG) or "name"
        sc.scan(_WHITE)
        if kind == "=":
            value = sc.scan_until(_EQUALS)
            sc.scan(_EQUALS)
            sc.scan_until(closing)
        elif kind == "{":
            value = sc.scan_until(closing_curly)
            sc.scan(_CURLY)
            sc.scan_until(closing)
            kind = "&"
        else:
            value = sc.scan_until(closing)
        if not sc.scan(closing):
            raise MustacheError(f"Unclosed tag at {sc.pos}")
        token = Token(kind, value, start, sc.pos)
        tokens.append(token)
        if kind in ("#", "^"):
            sections.append(token)
        elif kind == "/":
            if not sections:
                raise MustacheError(f'Unopened section "{value}" at {start}')
            if sections.pop().value != value:
                raise MustacheError(f'Unclosed section "{value}" at {start}')
        elif kind in ("name", "&"):
            non_space = True
        elif kind == "=":
            opening, closing, closing_curly = _compile_tags(_SPACE.split(value, maxsplit=1))
    strip_space()
    if sections:
        raise MustacheError(f'Unclosed section "{sections[-1].value}" at {sc.pos}')
    return _nest(_squash([t for t in tokens if t is not None]))


def _squash(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for t in tokens:
        if t.kind == "text" and out and out[-1].kind == "text":
            out[-1].value += t.value
            out[-1].end = t.end
        else:
            out.append(t)
    return out


def _nest(tokens: list[Token]) -> list[Token]:
    root: list[Token] = []
    stack: list[Token] = []
    collector = root
    for t in tokens:
        if t.kind in ("#", "^"):
            collector.append(t)
            stack.append(t)
            collector = t.children
        elif t.kind == "/":
            stack.pop()
            collector = stack[-1].children if stack else root
        else:
            collector.append(t)
    return root


def token_names(tokens: list[Token], into: set[str] | None = None) -> set[str]:
    """Every name the template refers to, sections included."""
    names = set() if into is None else into
    for t in tokens:
        if t.kind != "text":
            names.add(t.value)
            token_names(t.children, names)
    return names


def _is_object(value: Any) -> bool:
    return isinstance(value, dict | list | bytes | bytearray)


def _get(obj: Any, key: str) -> tuple[bool, Any]:
    """JavaScript ``obj[key]`` and whether ``key in obj`` (or an own primitive property)."""
    if isinstance(obj, dict):
        return (key in obj, obj.get(key, MISSING))
    if isinstance(obj, list | bytes | bytearray | str):
        if key == "length":
            return True, len(obj)
        if key.isdigit() and (key == "0" or not key.startswith("0")) and int(key) < len(obj):
            return True, obj[int(key)]
        return False, MISSING
    return False, MISSING


def lookup_view(stack: list[Any], name: str) -> Any:
    """mustache.js ``Context.lookup``: search from the innermost view outwards."""
    if name == ".":
        return stack[-1]
    for view in reversed(stack):
        if name.find(".") > 0:
            value: Any = view
            hit = False
            names = name.split(".")
            for i, part in enumerate(names):
                if value is None or value is MISSING:
                    break
                has, value = _get(value, part)
                if i == len(names) - 1:
                    hit = has
            if hit:
                return value
        elif _is_object(view):
            has, value = _get(view, name)
            if has:
                return value
    return MISSING


def _truthy(value: Any) -> bool:
    if value is MISSING or value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


Lookup = Callable[[list[Any], str, bool], Any]


def _escape(text: str) -> str:
    return _HTML_RE.sub(lambda m: _HTML[m.group(0)], text)


def _render_tokens(tokens: list[Token], stack: list[Any], lookup: Lookup, out: list[str]) -> None:
    for t in tokens:
        if t.kind == "text":
            out.append(t.value)
        elif t.kind in ("name", "&"):
            value = lookup(stack, t.value, len(stack) == 1)
            if value is None or value is MISSING:
                continue
            if t.kind == "&" or (isinstance(value, int | float) and not isinstance(value, bool)):
                out.append(to_js_string(value))
            else:
                out.append(_escape(to_js_string(value)))
        elif t.kind == "#":
            value = lookup(stack, t.value, len(stack) == 1)
            if not _truthy(value):
                continue
            if isinstance(value, list):
                for item in value:
                    _render_tokens(t.children, [*stack, item], lookup, out)
            elif _is_object(value) or (isinstance(value, str | int | float) and value is not True):
                _render_tokens(t.children, [*stack, value], lookup, out)
            else:
                _render_tokens(t.children, stack, lookup, out)
        elif t.kind == "^":
            value = lookup(stack, t.value, len(stack) == 1)
            if not _truthy(value) or (isinstance(value, list) and not value):
                _render_tokens(t.children, stack, lookup, out)


def render(template: str | list[Token], view: Any, lookup: Lookup | None = None) -> str:
    """Render ``template`` against ``view``.

    ``lookup(stack, name, top)`` replaces the plain view lookup; ``top`` is True
    outside any section. Partials render as nothing (none are registered).
    """
    tokens = parse_template(template) if isinstance(template, str) else template
    out: list[str] = []
    _render_tokens(tokens, [view], lookup or (lambda s, n, _t: lookup_view(s, n)), out)
    return "".join(out)
