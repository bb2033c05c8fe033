"""folder watch: report new or changed files in a folder once they stopped changing."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import Node
from plantwire.spec import LooseBool, LooseFloat, NodeConfig, node_type

from .sheet_codec import iso_time, resolve_path

__all__ = ["FolderWatchConfig", "FolderWatchNode"]

STATE_KEY = "reported"
"""Node context key: {file name: [size, mtime_ns]} of the files already reported."""

Sig = tuple[int, int]


class FolderWatchConfig(NodeConfig):
    """The folder watch node as it appears in flows.json."""

    folder: str = Field(
        "", description="Folder to watch; a relative name lies in the runtime's data folder."
    )
    pattern: str = Field(
        "*", description='File names to report, a glob such as "*.xlsx" or "report-*.csv".'
    )
    interval: LooseFloat = Field(2, description="Seconds between two looks at the folder.")
    settleSeconds: LooseFloat = Field(
        1,
        description="A file is reported once its size and modification time stayed the same "
        "for this many seconds (so a file still being copied is not read half-written).",
    )
    existing: LooseBool = Field(
        False, description="Also report files already there when the node starts."
    )
    moveTo: str = Field(
        "",
        description="Folder (relative to the watched folder, or absolute) the file is moved "
        "to when it is reported; empty: the file stays.",
    )

    @field_validator("folder", "pattern", "moveTo", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    @model_validator(mode="after")
    def _check(self) -> FolderWatchConfig:
        if not self.folder.strip():
            raise ValueError("folder: no folder to watch")
        if self.interval <= 0:
            raise ValueError("interval: must be positive")
        if self.settleSeconds < 0:
            raise ValueError("settleSeconds: must not be negative")
        if not self.pattern.strip():
            self.pattern = "*"
        return self


def _unique(target: Path) -> Path:
    """``target``, or ``name-1.ext``, ``name-2.ext``... when it exists already."""
    if not target.exists():
        return target
    n = 1
    while True:
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        if not candidate.exists():
            return candidate
        n += 1


@node_type("folder watch")
class FolderWatchNode(Node):
    """Sends a message for each new or changed file in a folder, once it is complete.

    The folder is looked at every ``interval`` seconds (plain polling: works on any
    file system and network share). A file whose name matches ``pattern`` is reported
    when its size and modification time stayed the same for ``settleSeconds``, so a
    file still being copied in is not read half-written; a file that changes later is
    reported again. The files reported are remembered in the node's context (name,
    size, modification time): with a persistent context store a restart does not report
    them again. With ``existing`` the files there at start that were not reported yet
    are reported too; otherwise only what comes or changes afterwards. Hidden files
    (``.name``, also the temporary files of spreadsheet out) and Office lock files
    (``~$name.xlsx``) are left out unless the pattern starts with ``.`` or ``~``.

    ``msg.payload`` is the full path, ``msg.filename`` the same, ``msg.topic`` the file
    name, ``msg.size`` its size in bytes and ``msg.mtime`` its modification time (ISO
    8601, UTC). With ``moveTo`` the file is moved to that folder (created when missing;
    an existing name gets ``-1``, ``-2``... added) before the message leaves and
    ``msg.payload``/``msg.filename`` name the new place. A missing folder shows a red
    status and reaches catch nodes once; the node keeps looking, the folder may appear.
    """

    config_model = FolderWatchConfig
    category = "storage"
    inputs = 0
    color = "BurlyWood"
    icon = "watch.svg"

    def __init__(self, flow: Any, config: FolderWatchConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.folder = resolve_path(config.folder.strip(), flow.runtime.settings.data_dir)
        self.move_to: Path | None = None
        if config.moveTo.strip():
            move = Path(config.moveTo.strip()).expanduser()
            self.move_to = move if move.is_absolute() else self.folder / move
        self._reported: dict[str, Sig] = {}
        self._seen: dict[str, tuple[Sig, float]] = {}
        self._missing = False

    async def start(self) -> None:
        stored = self.context().get(STATE_KEY)
        if isinstance(stored, dict) and stored is not MISSING:
            for name, sig in stored.items():
                if isinstance(sig, list) and len(sig) == 2:
                    self._reported[str(name)] = (int(sig[0]), int(sig[1]))
        if not self.cfg.existing:
            present = await asyncio.to_thread(self._scan)
            if present is not None:
                self._reported.update(present)
                self._save()
        self.status("grey", "dot", f"watching {self.folder.name or self.folder}")
        self.create_task(self._run())

    def _scan(self) -> dict[str, Sig] | None:
        """Matching regular files of the folder: name -> (size, mtime_ns); None: no folder."""
        found: dict[str, Sig] = {}
        try:
            entries = list(os.scandir(self.folder))
        except (FileNotFoundError, NotADirectoryError):
            return None
        for entry in entries:
            if entry.name.startswith((".", "~$")) and not self.cfg.pattern.startswith((".", "~")):
                continue  # hidden files, temporary files of writers, Office lock files
            if not fnmatch.fnmatch(entry.name, self.cfg.pattern):
                continue
            try:
                if not entry.is_file(follow_symlinks=True):
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            found[entry.name] = (st.st_size, st.st_mtime_ns)
        return found

    def _save(self) -> None:
        self.context().set(STATE_KEY, {k: [v[0], v[1]] for k, v in self._reported.items()})

    async def _run(self) -> None:
        while True:
            try:
                await self._poll()
            except Exception as exc:  # keep watching whatever happened
                self.status("red", "ring", "error")
                self.error(f"folder watch '{self.folder}': {exc}", {"payload": str(self.folder)})
            await asyncio.sleep(self.cfg.interval)

    async def _poll(self) -> None:
        present = await asyncio.to_thread(self._scan)
        if present is None:
            if not self._missing:
                self._missing = True
                self.status("red", "ring", "folder missing")
                text = f"folder watch: folder '{self.folder}' does not exist (still looking)"
                self.error(text, {"payload": str(self.folder), "filename": str(self.folder)})
            return
        if self._missing:
            self._missing = False
            self.status("grey", "dot", f"watching {self.folder.name or self.folder}")
        now = time.monotonic()
        changed = False
        for name in list(self._reported):
            if name not in present:
                del self._reported[name]
                changed = True
        for name in list(self._seen):
            if name not in present:
                del self._seen[name]
        for name in sorted(present):
            sig = present[name]
            if self._reported.get(name) == sig:
                self._seen.pop(name, None)
                continue
            seen = self._seen.get(name)
            if seen is None or seen[0] != sig:
                self._seen[name] = (sig, now)
                continue
            if now - seen[1] < self.cfg.settleSeconds:
                continue
            del self._seen[name]
            moved = await self._report(name, sig)
            if not moved:
                self._reported[name] = sig
            changed = True
        if changed:
            self._save()

    async def _report(self, name: str, sig: Sig) -> bool:
        """Send the message for one settled file; True when it was moved away."""
        path = self.folder / name
        msg: Msg = {
            "payload": str(path),
            "filename": str(path),
            "topic": name,
            "size": sig[0],
            "mtime": iso_time(sig[1] / 1e9),
        }
        moved = False
        if self.move_to is not None:
            try:
                target = await asyncio.to_thread(self._move, path)
            except OSError as exc:
                self.status("red", "ring", "move failed")
                self.error(
                    f"folder watch: cannot move '{path}' to '{self.move_to}': "
                    f"{exc.strerror or exc}",
                    dict(msg),
                )
            else:
                msg["payload"] = msg["filename"] = str(target)
                moved = True
        if moved or self.move_to is None:
            self.status("green", "dot", name)
        await self.send_async(msg)
        return moved

    def _move(self, path: Path) -> Path:
        assert self.move_to is not None
        self.move_to.mkdir(parents=True, exist_ok=True)
        target = _unique(self.move_to / path.name)
        shutil.move(str(path), str(target))
        return target
