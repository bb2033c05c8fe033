"""watch: send a message when a watched file or directory changes (by polling)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from typing import Any

from pydantic import Field, field_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, NodeConfig, node_type

__all__ = ["WatchNode", "scan"]

POLL_INTERVAL = 0.2
"""Seconds between two scans of the watched paths."""

Snapshot = dict[str, tuple[int, int, int, int]]


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFDIR:  # a directory changes when its entries do: report those only
        return (0, 0, st.st_ino, kind)
    return (st.st_mtime_ns, st.st_size, st.st_ino, kind)


def scan(path: str, recursive: bool) -> Snapshot:
    """Signature (mtime, size, inode, kind) of ``path`` and of what it contains.

    A directory's direct entries are included; with ``recursive``, everything below it.
    A path that does not exist gives an empty snapshot.
    """
    out: Snapshot = {}
    try:
        st = os.stat(path)
    except OSError:
        return out
    if not stat.S_ISDIR(st.st_mode):
        out[path] = _signature(st)
        return out
    folders = [path]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                est = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            out[entry.path] = _signature(est)
            if recursive and stat.S_ISDIR(est.st_mode):
                folders.append(entry.path)
    return out


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISBLK(mode):
        return "blockdevice"
    if stat.S_ISCHR(mode):
        return "characterdevice"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISDIR(mode):
        return "directory"
    return "n/a"


class WatchConfig(NodeConfig):
    files: str = Field("", description="Comma-separated list of files and/or directories to watch.")
    recursive: LooseBool = Field(False, description="Also watch sub-directories.")

    @field_validator("files", mode="before")
    @classmethod
    def _files(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return value


@node_type("watch")
class WatchNode(Node):
    """Watches files and directories and sends a message for every change.

    ``msg.payload`` and ``msg.filename`` are the full path of what changed, ``msg.file``
    its base name, ``msg.topic`` the watched path (or the JSON list of them),
    ``msg.event`` "update" (created or modified) or "remove", ``msg.type`` file,
    directory, ... or "none" when it is gone, and ``msg.size`` for files. A watched
    directory reports its entries (all levels with ``recursive``). Changes are found by
    polling every 0.2 s with ``os.scandir``/``stat``: no extra library, works on any
    file system, but a very large recursive tree costs CPU on every scan.
    """

    config_model = WatchConfig
    category = "storage"
    inputs = 0
    color = "BurlyWood"
    icon = "watch.svg"

    def __init__(self, flow: Any, config: WatchConfig) -> None:
        super().__init__(flow, config)
        self.files = [f.strip() for f in config.files.split(",")]
        self.recursive = config.recursive
        self.topic = (
            self.files[0]
            if len(self.files) == 1
            else json.dumps(self.files, ensure_ascii=False, separators=(",", ":"))
        )
        self.interval = POLL_INTERVAL
        self._snapshot: Snapshot = {}

    def _scan_all(self) -> Snapshot:
        out: Snapshot = {}
        for path in self.files:
            if path:
                out.update(scan(path, self.recursive))
        return out

    async def start(self) -> None:
        self._snapshot = await asyncio.to_thread(self._scan_all)
        for path in self.files:
            if path and not os.path.exists(path):
                self.error(f"ENOENT: no such file or directory, watch '{path}'", {"payload": ""})
        self.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            current = await asyncio.to_thread(self._scan_all)
            previous = self._snapshot
            self._snapshot = current
            for path, sig in current.items():
                if previous.get(path) != sig:
                    await self.send_async(self._message(path, "update"))
            for path in previous:
                if path not in current:
                    await self.send_async(self._message(path, "remove"))

    def _message(self, path: str, event: str) -> Msg:
        msg: Msg = {
            "payload": path,
            "topic": self.topic,
            "file": os.path.basename(path),
            "filename": path,
            "event": event,
        }
        kind = "none"
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None:
            kind = _kind(st.st_mode)
            if kind == "file":
                msg["size"] = st.st_size
        msg["type"] = kind
        return msg
