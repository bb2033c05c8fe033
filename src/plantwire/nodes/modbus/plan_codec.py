"""Packing Modbus points into as few read requests as the device allows. No I/O.

Points are grouped by unit id and table, sorted by address, and merged into one
request while the next point starts at most ``max_gap`` registers after the end of
the current request and the request stays within ``max_registers`` (registers) or
``max_bits`` (coils, discrete inputs). Overlapping points share a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .points_codec import Point, PointError, decode_bits, decode_registers

__all__ = ["ReadRequest", "decode_response", "plan"]

FUNCTION_CODES = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read on the wire: ``count`` registers/bits of ``table`` from ``address``."""

    unit_id: int
    table: str
    address: int
    count: int
    points: tuple[Point, ...]

    @property
    def function_code(self) -> int:
        return FUNCTION_CODES[self.table]

    def describe(self) -> str:
        return f"unit {self.unit_id} {self.table} {self.address}..{self.address + self.count - 1}"


def plan(
    points: Iterable[Point],
    *,
    default_unit: int = 1,
    max_registers: int = 125,
    max_bits: int = 2000,
    max_gap: int = 10,
) -> list[ReadRequest]:
    """Pack ``points`` into read requests (see the module docstring).

    The order is stable: by unit id, table (coil, discrete, holding, input), address.
    A point larger than the limit still gets a request of its own.
    """
    if max_registers < 1 or max_bits < 1 or max_gap < 0:
        raise ValueError("max_registers and max_bits must be positive, max_gap not negative")
    groups: dict[tuple[int, str], list[Point]] = {}
    for p in points:
        unit = default_unit if p.unit_id is None else p.unit_id
        groups.setdefault((unit, p.table), []).append(p)
    order = {t: i for i, t in enumerate(FUNCTION_CODES)}
    requests: list[ReadRequest] = []
    for unit, table in sorted(groups, key=lambda k: (k[0], order[k[1]])):
        limit = max_bits if table in ("coil", "discrete") else max_registers
        members = sorted(groups[(unit, table)], key=lambda p: (p.address, p.count))
        start = members[0].address
        end = start + members[0].count  # exclusive
        current: list[Point] = [members[0]]
        for p in members[1:]:
            p_end = p.address + p.count
            new_end = max(end, p_end)
            if p.address - end <= max_gap and new_end - start <= limit:
                current.append(p)
                end = new_end
                continue
            requests.append(ReadRequest(unit, table, start, end - start, tuple(current)))
            start, end, current = p.address, p_end, [p]
        requests.append(ReadRequest(unit, table, start, end - start, tuple(current)))
    return requests


def decode_response(
    request: ReadRequest, values: Sequence[int] | Sequence[bool]
) -> dict[Point, object]:
    """The value of every point of ``request`` from the registers/bits it returned."""
    out: dict[Point, object] = {}
    base = request.address
    if request.table in ("coil", "discrete"):
        bits = list(values)
        for p in request.points:
            i = p.address - base
            out[p] = decode_bits(p, bits[i : i + 1])
        return out
    regs = list(values)
    if len(regs) < request.count:
        reason = f"the device returned {len(regs)} of {request.count} registers"
        return {p: PointError(reason) for p in request.points}
    for p in request.points:
        i = p.address - base
        try:
            out[p] = decode_registers(p, regs[i : i + p.count])
        except Exception as exc:  # a malformed answer marks only this point bad
            out[p] = PointError(f"cannot decode: {exc}")
    return out
