"""Logix tag names and the read plan for EtherNet/IP. No I/O.

Tag names: ``Speed``, ``Count[3]``, ``Matrix[1,2]``, ``Motor.Speed`` (UDT member),
``Motors[2].Speed``, ``Program:Main.Step``, ``Flags.5`` (bit of an integer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LogixTag", "TagError", "TagReadRequest", "parse_tag", "plan_tag_reads"]

_PART = r"[A-Za-z_][A-Za-z0-9_]*(?:\[\d+(?:,\d+){0,2}\])?"
_TAG_RE = re.compile(rf"^(?:Program:[A-Za-z_][A-Za-z0-9_]*\.)?{_PART}(?:\.{_PART})*(?:\.\d+)?$")


class TagError(ValueError):
    """A tag name Logix would not accept."""


@dataclass(frozen=True)
class LogixTag:
    """One tag to read or write, by name as the controller knows it."""

    name: str

    def __str__(self) -> str:
        return self.name


def parse_tag(text: object) -> LogixTag:
    """Check a tag name; TagError names the tag and what is wrong."""
    name = str(text if text is not None else "").strip()
    if not name:
        raise TagError("empty tag name")
    if not _TAG_RE.match(name):
        if " " in name:
            raise TagError(f"tag '{name}': tag names have no spaces")
        if "[" in name and not re.search(r"\[\d+(?:,\d+)*\]", name):
            raise TagError(f"tag '{name}': an array index is a number in brackets, e.g. Tag[3]")
        raise TagError(
            f"tag '{name}': not a Logix tag name (letters, digits, _; members with '.', "
            "elements with [n], program tags as Program:Name.Tag)"
        )
    return LogixTag(name)


@dataclass(frozen=True)
class TagReadRequest:
    """Tags read in one multi-service request."""

    points: tuple[LogixTag, ...]


def plan_tag_reads(tags: list[LogixTag], max_per_request: int = 20) -> list[TagReadRequest]:
    """Chunk tags into multi-reads of at most ``max_per_request`` (pylogix splits a chunk
    further when the answers would not fit the connection size)."""
    size = max(1, max_per_request)
    return [TagReadRequest(tuple(tags[i : i + size])) for i in range(0, len(tags), size)]
