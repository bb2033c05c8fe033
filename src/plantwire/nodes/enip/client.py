"""One pylogix PLC per enip-endpoint, driven from asyncio.

pylogix is synchronous: every call runs in a worker thread (``asyncio.to_thread``),
one at a time (the PollCoordinator's lock, plus a thread lock here).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from pylogix import PLC  # type: ignore[import-untyped]

from plantwire.nodes.common.device import BadPoint
from plantwire.nodes.common.poll import ConnectionLost

from .tag_codec import LogixTag, TagReadRequest

__all__ = ["EnipLink", "EnipSettings", "explain_status"]

_CONNECTION_STATUSES = {
    "Connection failure",
    "Connection lost",
    "Register session failed",
    "Forward open failed",
}

_EXPLAIN = {
    "Path destination unknown": "no such tag in the controller",
    "Path segment error": "no such tag or member in the controller",
    "Unknown error 255": "no such element (index out of range?)",
    "Object does not exist": "no such tag in the controller",
    "Privilege violation": "the controller refused access (external access read only?)",
    "Invalid parameter value": "the value does not fit the tag's data type",
}


@dataclass(frozen=True)
class EnipSettings:
    host: str
    port: int = 44818
    slot: int = 0
    micro800: bool = False
    timeout: float = 5.0


def explain_status(tag: str, status: Any) -> str:
    text = str(status)
    why = _EXPLAIN.get(text)
    return f"tag '{tag}': {why} ({text})" if why else f"tag '{tag}': {text}"


class EnipLink:
    """A pylogix PLC object and the calls the enip nodes need, made awaitable."""

    def __init__(self, settings: EnipSettings) -> None:
        self.settings = settings
        self.plc: Any = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        s = self.settings
        return f"{s.host}:{s.port} slot {s.slot}"

    def _new_plc(self) -> Any:
        s = self.settings
        return PLC(s.host, slot=s.slot, timeout=s.timeout, Micro800=s.micro800, port=s.port)

    def _connect_locked(self) -> None:
        self._close_locked()
        plc = self._new_plc()
        ok, detail = plc.conn.connect()
        if not ok:
            try:
                plc.Close()
            except Exception:
                pass
            raise ConnectionError(f"cannot connect to controller {self.label}: {detail}")
        self.plc = plc

    def _close_locked(self) -> None:
        plc, self.plc = self.plc, None
        if plc is not None:
            try:
                plc.Close()
            except Exception:
                pass

    def _connect(self) -> None:
        with self._lock:
            self._connect_locked()

    def _close(self) -> None:
        with self._lock:
            self._close_locked()

    async def connect(self) -> None:
        await asyncio.to_thread(self._connect)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _alive(self, status: Any) -> bool:
        plc = self.plc
        if plc is None or not plc.conn.SocketConnected:
            return False
        return not (isinstance(status, str) and status in _CONNECTION_STATUSES)

    def _read(self, request: TagReadRequest) -> dict[LogixTag, Any]:
        with self._lock:
            plc = self.plc
            if plc is None:
                raise ConnectionLost(f"controller {self.label} is not connected")
            names = [t.name for t in request.points]
            responses = plc.Read(names)
            if not isinstance(responses, list):
                responses = [responses]
            out: dict[LogixTag, Any] = {}
            for tag, resp in zip(request.points, responses, strict=False):
                if resp.Status == "Success":
                    out[tag] = resp.Value
                elif not self._alive(resp.Status):
                    raise ConnectionLost(f"controller {self.label}: {resp.Status}")
                else:
                    out[tag] = BadPoint(explain_status(tag.name, resp.Status))
            return out

    async def read(self, request: TagReadRequest) -> dict[LogixTag, Any]:
        """Values (or BadPoint) per tag; ConnectionLost when the controller is gone."""
        return await asyncio.to_thread(self._read, request)

    def _write(self, tag: LogixTag, value: Any) -> None:
        with self._lock:
            if self.plc is None or not self.plc.conn.SocketConnected:
                try:
                    self._connect_locked()  # a write-only endpoint connects on demand
                except ConnectionError as exc:
                    raise ConnectionLost(str(exc)) from None
            resp = self.plc.Write(tag.name, value)
            if resp.Status == "Success":
                return
            if not self._alive(resp.Status):
                self._close_locked()
                raise ConnectionLost(f"controller {self.label}: {resp.Status}")
            raise ValueError(f"cannot write {explain_status(tag.name, resp.Status)}")

    async def write(self, tag: LogixTag, value: Any) -> None:
        """Write one tag; ValueError when the controller refuses, ConnectionLost when gone."""
        if value is None or isinstance(value, dict):
            raise ValueError(
                f"cannot write {tag.name}: payload must be a number, bool, text or list"
            )
        await asyncio.to_thread(self._write, tag, value)
