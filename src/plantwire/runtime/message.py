"""Messages: plain dicts with a ``_msgid``, cloned the way Node-RED clones them."""

from __future__ import annotations

import copy
import os
from typing import Any

Msg = dict[str, Any]

_counter = int.from_bytes(os.urandom(4), "big")


def new_msgid() -> str:
    """Return a new message id: 16 hex digits, unique within this process."""
    global _counter
    _counter = (_counter + 1) & 0xFFFFFFFFFFFFFFFF
    return f"{_counter:016x}"


_ATOMS = (str, int, float, bool, type(None), bytes)


def _clone(value: Any) -> Any:
    cls = value.__class__
    if cls in _ATOMS_SET:
        return value
    if cls is dict:
        return {k: (v if v.__class__ in _ATOMS_SET else _clone(v)) for k, v in value.items()}
    if cls is list:
        return [v if v.__class__ in _ATOMS_SET else _clone(v) for v in value]
    if cls is bytearray:
        return bytearray(value)
    return copy.deepcopy(value)


_ATOMS_SET = frozenset(_ATOMS)

# Keys whose values are live objects (HTTP request/response handles) and are shared,
# never copied, exactly as Node-RED's cloneMessage keeps req/res by reference.
_SHARED_KEYS = ("req", "res")


def clone_msg(msg: Msg) -> Msg:
    """Deep-copy a message for a second wire; ``req``/``res`` stay shared."""
    shared = {k: msg[k] for k in _SHARED_KEYS if k in msg}
    if shared:
        rest = {k: v for k, v in msg.items() if k not in shared}
        out: Msg = _clone(rest)
        out.update(shared)
        return out
    result: Msg = _clone(msg)
    return result


def clone_value(value: Any) -> Any:
    """Deep-copy any JSON-like value quickly."""
    return _clone(value)


class _Missing:
    """Stands for JavaScript's ``undefined``: a property that is not there."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""Sentinel for an absent value (JavaScript ``undefined``); ``None`` is JSON ``null``."""
