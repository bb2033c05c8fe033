"""The Unified Namespace model: level names, topic paths and the JSON shape of a value.

Pure functions and data, no node types (this module is not auto-imported by the
package; the node modules import it). Everything here is documented in docs/uns.md.

A UNS topic is ``[<prefix>/]<enterprise>/<site>/<area>[/<line>[/<cell>]]/<point>``:
the ISA-95 levels below the site may stop early (an area-level point has no line or
cell) but never skip one, so no topic has an empty level.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from plantwire.runtime.errors import PlantwireError
from plantwire.runtime.message import MISSING

__all__ = [
    "FORBIDDEN_CHARS",
    "LEVELS",
    "QUALITIES",
    "UnsEncodeError",
    "UnsNamespace",
    "UnsPathError",
    "check_level",
    "check_prefix",
    "encode_payload",
    "expand_allowed",
    "format_timestamp",
    "make_payload",
    "normalise_quality",
    "parse_paths",
]

LEVELS = ("enterprise", "site", "area", "line", "cell", "point")
"""The ISA-95 levels of a UNS topic, outermost first."""

FORBIDDEN_CHARS = ("/", "+", "#", "\x00")
"""Characters a single level name may not contain (MQTT separators and wildcards)."""

QUALITIES = ("good", "bad", "uncertain")


class UnsPathError(PlantwireError, ValueError):
    """A level name or path is not usable in the namespace (the message names the level)."""


class UnsEncodeError(PlantwireError):
    """A value could not be encoded as the documented JSON shape (the message says why)."""


def _describe(char: str) -> str:
    return "a NUL character" if char == "\x00" else f'"{char}"'


def check_level(level: str, value: Any, *, where: str = "") -> str:
    """Return ``value`` as a valid name for ISA-95 level ``level`` or raise UnsPathError.

    A name is a non-empty string without ``/``, ``+``, ``#`` or NUL, without leading or
    trailing spaces. ``where`` (e.g. ``"msg.topic"``) says where the name came from.
    """
    origin = f" (from {where})" if where else ""
    if value is None or value is MISSING:
        raise UnsPathError(f"{level} name is missing{origin}")
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UnsPathError(f"{level} name must be a string{origin}, not {type(value).__name__}")
        value = str(value)
    if value == "":
        raise UnsPathError(f"{level} name is empty{origin}: every level needs a name")
    for char in FORBIDDEN_CHARS:
        if char in value:
            raise UnsPathError(
                f"{level} name {value!r}{origin} contains {_describe(char)}: a level name "
                'cannot contain "/", "+", "#" or NUL'
            )
    if value != value.strip():
        raise UnsPathError(f"{level} name {value!r}{origin} starts or ends with a space")
    return str(value)


def check_prefix(prefix: str) -> tuple[str, ...]:
    """Split a topic prefix (``""``, ``"uns"``, ``"v1/uns"``) into checked levels."""
    if prefix == "":
        return ()
    parts = prefix.split("/")
    for i, part in enumerate(parts):
        if part == "":
            raise UnsPathError(
                f"prefix {prefix!r} has an empty level (a leading, trailing or double '/')"
            )
        check_level(f"prefix level {i + 1}", part)
    if parts[0].startswith("$"):
        raise UnsPathError(
            f"prefix {prefix!r} starts with '$': such topics are reserved for the broker"
        )
    return tuple(parts)


def parse_paths(text: str) -> list[tuple[str, ...]]:
    """Parse the compact path list ``"packaging/line1/filler, utilities"`` (one
    ``area[/line[/cell]]`` per line or comma) into checked tuples."""
    out: list[tuple[str, ...]] = []
    for raw in text.replace("\n", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        parts = entry.split("/")
        if len(parts) > 3:
            raise UnsPathError(
                f"path {entry!r} has {len(parts)} levels; at most area/line/cell is allowed"
            )
        for level, part in zip(("area", "line", "cell"), parts, strict=False):
            if part == "":
                raise UnsPathError(f"path {entry!r}: the {level} level is empty")
            check_level(level, part, where=f"path {entry!r}")
        out.append(tuple(parts))
    return out


@dataclass(frozen=True)
class UnsNamespace:
    """One enterprise/site namespace: builds and checks topics.

    ``allowed``: the area[/line[/cell]] paths the model lists; empty means any names.
    When it is not empty and ``strict`` is set, a value may only be published at a
    listed path (a listed path also admits its shorter parents: listing
    ``packaging/line1/filler`` admits ``packaging`` and ``packaging/line1``).
    """

    enterprise: str
    site: str
    prefix: tuple[str, ...] = ()
    allowed: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    strict: bool = True
    qos: int = 1
    retain: bool = True

    def __post_init__(self) -> None:
        check_level("enterprise", self.enterprise)
        check_level("site", self.site)

    @property
    def root(self) -> str:
        """The namespace root: the prefix when there is one, else the enterprise."""
        return "/".join(self.prefix) if self.prefix else self.enterprise

    @property
    def site_topic(self) -> str:
        """``[<prefix>/]<enterprise>/<site>``: the topic every value of the model starts with."""
        return "/".join((*self.prefix, self.enterprise, self.site))

    @property
    def browse_filter(self) -> str:
        """The subscription that learns the whole namespace: ``<root>/#``."""
        return f"{self.root}/#"

    def levels(
        self, area: Any, line: Any, cell: Any, point: Any, where: dict[str, str] | None = None
    ) -> tuple[str, ...]:
        """Check and return the levels below the site. ``line``/``cell`` may be empty
        (``""``, None or MISSING) to stop early; ``where`` names each level's origin."""
        where = where or {}
        names: list[str] = [check_level("area", area, where=where.get("area", ""))]
        present = {
            "line": line not in ("", None) and line is not MISSING,
            "cell": cell not in ("", None) and cell is not MISSING,
        }
        if present["cell"] and not present["line"]:
            raise UnsPathError(
                f"cell {cell!r} is given without a line: the line level would be empty"
            )
        if present["line"]:
            names.append(check_level("line", line, where=where.get("line", "")))
        if present["cell"]:
            names.append(check_level("cell", cell, where=where.get("cell", "")))
        if self.allowed and self.strict and tuple(names) not in self.allowed:
            self._refuse_unlisted(tuple(names))
        names.append(check_level("point", point, where=where.get("point", "")))
        return tuple(names)

    def _refuse_unlisted(self, names: tuple[str, ...]) -> None:
        for depth, level in enumerate(("area", "line", "cell")[: len(names)]):
            if names[: depth + 1] not in self.allowed:
                known = sorted(
                    {
                        p[depth]
                        for p in self.allowed
                        if len(p) > depth and p[:depth] == names[:depth]
                    }
                )
                listed = ", ".join(known) if known else "none"
                raise UnsPathError(
                    f"{level} {names[depth]!r} is not in the UNS model "
                    f"(listed {level}s here: {listed})"
                )

    def topic(self, area: Any, line: Any, cell: Any, point: Any) -> str:
        """The full topic of one point (raises UnsPathError naming the bad level)."""
        return "/".join((self.site_topic, *self.levels(area, line, cell, point)))


def expand_allowed(paths: list[tuple[str, ...]]) -> frozenset[tuple[str, ...]]:
    """Every listed path plus its parents (``a/b/c`` admits ``a`` and ``a/b``)."""
    out: set[tuple[str, ...]] = set()
    for p in paths:
        for n in range(1, len(p) + 1):
            out.add(p[:n])
    return frozenset(out)


def format_timestamp(value: Any = None) -> str:
    """ISO 8601 UTC with milliseconds (``2024-05-01T12:00:00.123Z``).

    Accepts None/MISSING (now), a number of milliseconds since 1970 (as JavaScript's
    ``Date.now()``), an ISO 8601 string (without zone = UTC) or a datetime.
    """
    if value is None or value is MISSING or value == "":
        dt = datetime.now(UTC)
    elif isinstance(value, datetime):
        dt = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, bool):
        raise ValueError(f"msg.timestamp {value!r} is not a time")
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"msg.timestamp {value!r} is not a time")
        try:
            dt = datetime.fromtimestamp(value / 1000.0, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"msg.timestamp {value!r} is out of range: {exc}") from None
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"msg.timestamp {value!r} is not an ISO 8601 time or milliseconds since 1970"
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
    else:
        raise ValueError(f"msg.timestamp of type {type(value).__name__} is not a time")
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def normalise_quality(value: Any) -> str:
    """``"good"``, ``"bad"`` or ``"uncertain"`` from msg.quality.

    Missing means good; a string is matched without case and by its start, so OPC UA
    status names work (``"BadNotConnected"`` is bad); ``true``/``false`` are good/bad.
    """
    if value is None or value is MISSING or value == "":
        return "good"
    if isinstance(value, bool):
        return "good" if value else "bad"
    if isinstance(value, str):
        low = value.strip().lower()
        for q in QUALITIES:
            if low.startswith(q):
                return q
    raise ValueError(f'msg.quality {value!r} is not "good", "bad" or "uncertain"')


def make_payload(
    value: Any,
    *,
    timestamp: Any = None,
    quality: Any = None,
    unit: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The documented JSON shape: value, timestamp, quality, unit and optional source."""
    payload: dict[str, Any] = {
        "value": value,
        "timestamp": format_timestamp(timestamp),
        "quality": normalise_quality(quality),
        "unit": unit or "",
    }
    if source:
        payload["source"] = source
    return payload


def encode_payload(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON of ``payload``; raises UnsEncodeError saying why it cannot be encoded."""
    try:
        return json.dumps(
            payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
    except ValueError as exc:
        text = str(exc)
        if "Out of range float" in text:
            text = "NaN and Infinity have no JSON form"
        elif "Circular" in text:
            text = "the value refers to itself (circular reference)"
        raise UnsEncodeError(f"value cannot be encoded as JSON: {text}") from None
    except TypeError as exc:
        raise UnsEncodeError(f"value cannot be encoded as JSON: {_type_reason(exc)}") from None


def _type_reason(exc: TypeError) -> str:
    text = str(exc)
    if "bytes" in text or "bytearray" in text:
        return "binary data (a buffer) has no JSON form; convert it to a string or list first"
    if text.startswith("Object of type "):
        name = text[len("Object of type ") :].split(" ", 1)[0]
        return f"a {name} has no JSON form"
    if "keys must be" in text:
        return "an object key is not a string, number, boolean or null"
    return text
