"""The live Unified Namespace tree: the last value of every UNS topic a runtime knows.

One :class:`UnsTree` per runtime (:func:`tree_for`). The ``uns`` nodes record every
value they publish; a ``uns-model`` with ``browse`` on also records what other
publishers have under the namespace (retained topics included). This is the API the
editor and the ``uns-tree`` node read::

    from plantwire.nodes.uns.tree import tree_for

    tree = tree_for(runtime)
    tree.snapshot()              # {"acme": {"plant1": {"packaging": {... {"temp": {...}}}}}}
    tree.list("acme/plant1")     # [{"topic": "acme/plant1/packaging/temp", "value": 21.5, ...}]
    tree.get("acme/plant1/packaging/temp")   # UnsPoint or None
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SELF_KEY", "UnsPoint", "UnsTree", "topic_filter_matches", "tree_for"]

log = logging.getLogger("plantwire.uns")

SELF_KEY = "$self"
"""In a snapshot, the key holding a topic's own value when the topic also has children."""

_SHAPE_KEYS = ("timestamp", "quality")

TreeListener = Callable[[str, "UnsPoint | None"], None]


@dataclass
class UnsPoint:
    """The last value of one topic.

    ``origin`` is ``"local"`` for a value a ``uns`` node of this runtime published
    (``node`` then holds its id) and ``"remote"`` for one learned from the broker.
    A remote payload that is not the documented JSON shape is kept as ``value`` (the
    parsed JSON, else the text, else the bytes as a list) with timestamp, quality
    and unit None.
    """

    topic: str
    value: Any
    timestamp: str | None = None
    quality: str | None = None
    unit: str | None = None
    source: str | None = None
    origin: str = "local"
    node: str | None = None
    updated: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        """The point as a JSON-ready dict (``source`` and ``node`` only when set)."""
        out: dict[str, Any] = {
            "topic": self.topic,
            "value": self.value,
            "timestamp": self.timestamp,
            "quality": self.quality,
            "unit": self.unit,
            "origin": self.origin,
        }
        if self.source is not None:
            out["source"] = self.source
        if self.node is not None:
            out["node"] = self.node
        return out


def topic_filter_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (``+`` one level, ``#`` the rest, including the parent)."""
    fparts = topic_filter.split("/")
    tparts = topic.split("/")
    for i, fp in enumerate(fparts):
        if fp == "#":
            return True
        if i >= len(tparts):
            return False
        if fp != "+" and fp != tparts[i]:
            return False
    return len(fparts) == len(tparts)


def _under(prefix: str, topic: str) -> bool:
    if not prefix:
        return True
    if "+" in prefix or "#" in prefix:
        return topic_filter_matches(prefix, topic)
    prefix = prefix.rstrip("/")
    return topic == prefix or topic.startswith(prefix + "/")


class UnsTree:
    """Last value per topic, with a nested snapshot and a flat listing."""

    def __init__(self) -> None:
        self._points: dict[str, UnsPoint] = {}
        self._published: dict[str, bytes] = {}
        self._listeners: list[TreeListener] = []

    # ----- recording ----------------------------------------------------------------

    def record(
        self, topic: str, payload: dict[str, Any], *, node: str | None = None, raw: bytes = b""
    ) -> UnsPoint:
        """Record a value this runtime published (``payload``: the documented shape).
        ``raw`` is the published bytes: the same bytes arriving back from the broker
        (browse) keep the point ``local``."""
        point = UnsPoint(
            topic=topic,
            value=payload.get("value"),
            timestamp=payload.get("timestamp"),
            quality=payload.get("quality"),
            unit=payload.get("unit"),
            source=payload.get("source"),
            origin="local",
            node=node,
        )
        if raw:
            self._published[topic] = raw
        self._store(point)
        return point

    def record_message(self, topic: str, data: bytes) -> UnsPoint | None:
        """Record a message received from the broker; an empty payload (a cleared
        retained topic) removes the topic. Returns the new point (None if removed
        or if it is the echo of this runtime's own publish)."""
        if not data:
            self.remove(topic)
            return None
        if self._published.get(topic) == data and topic in self._points:
            return None
        self._published.pop(topic, None)
        parsed = _parse(data)
        if isinstance(parsed, dict) and "value" in parsed and any(k in parsed for k in _SHAPE_KEYS):
            point = UnsPoint(
                topic=topic,
                value=parsed.get("value"),
                timestamp=_opt_str(parsed.get("timestamp")),
                quality=_opt_str(parsed.get("quality")),
                unit=_opt_str(parsed.get("unit")),
                source=_opt_str(parsed.get("source")),
                origin="remote",
            )
        else:
            point = UnsPoint(topic=topic, value=parsed, origin="remote")
        self._store(point)
        return point

    def remove(self, topic: str) -> bool:
        """Forget one topic; True if it was known."""
        self._published.pop(topic, None)
        if self._points.pop(topic, None) is None:
            return False
        self._notify(topic, None)
        return True

    def clear(self, prefix: str = "") -> None:
        """Forget every topic under ``prefix`` (all when empty)."""
        for topic in [t for t in self._points if _under(prefix, t)]:
            self.remove(topic)

    def _store(self, point: UnsPoint) -> None:
        self._points[point.topic] = point
        self._notify(point.topic, point)

    # ----- change listeners (for the editor) ----------------------------------------

    def add_listener(self, listener: TreeListener) -> None:
        """Call ``listener(topic, point)`` on every change (point None: removed)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: TreeListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, topic: str, point: UnsPoint | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(topic, point)
            except Exception:
                log.exception("UNS tree listener failed")

    # ----- reading ------------------------------------------------------------------

    def get(self, topic: str) -> UnsPoint | None:
        """The last value of ``topic``, or None."""
        return self._points.get(topic)

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, topic: object) -> bool:
        return topic in self._points

    def topics(self, prefix: str = "") -> list[str]:
        """Sorted topics under ``prefix`` (a topic, a topic prefix or an MQTT filter)."""
        return sorted(t for t in self._points if _under(prefix, t))

    def list(self, prefix: str = "") -> list[dict[str, Any]]:
        """Flat, sorted list of the points under ``prefix``, each :meth:`UnsPoint.as_dict`."""
        return [self._points[t].as_dict() for t in self.topics(prefix)]

    def snapshot(self, prefix: str = "") -> dict[str, Any]:
        """Nested dict of the points under ``prefix``, one key per topic level from the
        first level; a leaf is the point's dict without ``topic``. A topic that has a
        value and children keeps its value under the key ``"$self"``."""
        root: dict[str, Any] = {}
        for topic in self.topics(prefix):
            leaf = _Leaf(self._points[topic].as_dict())
            del leaf["topic"]
            node = root
            parts = topic.split("/")
            for part in parts[:-1]:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                elif isinstance(child, _Leaf):
                    child = node[part] = {SELF_KEY: child}
                node = child
            existing = node.get(parts[-1])
            if existing is not None and not isinstance(existing, _Leaf):
                existing[SELF_KEY] = leaf
            else:
                node[parts[-1]] = leaf
        return _plain(root)


class _Leaf(dict[str, Any]):
    """Marks a snapshot leaf while the snapshot is built."""


def _plain(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, _Leaf) else _plain(v) for k, v in tree.items()}


def _parse(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return list(data)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


_trees: weakref.WeakKeyDictionary[Any, UnsTree] = weakref.WeakKeyDictionary()


def tree_for(runtime: Any) -> UnsTree:
    """The UNS tree of ``runtime`` (created on first use): ``runtime.extensions["uns"]``
    when the runtime has an ``extensions`` dict, else kept in a weak per-runtime map."""
    extensions = getattr(runtime, "extensions", None)
    if isinstance(extensions, dict):
        tree = extensions.get("uns")
        if not isinstance(tree, UnsTree):
            tree = extensions["uns"] = UnsTree()
        return tree
    tree = _trees.get(runtime)
    if tree is None:
        tree = _trees[runtime] = UnsTree()
    return tree
