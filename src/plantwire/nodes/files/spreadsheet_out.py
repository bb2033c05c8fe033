"""spreadsheet out: append or write rows to a CSV or XLSX file."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseFloat, NodeConfig, node_type

from ._sheetio import write_csv, write_xlsx
from .sheet_codec import (
    check_csv_settings,
    check_format,
    detect_format,
    file_separator,
    resolve_path,
    separator,
)

__all__ = ["SpreadsheetOutConfig", "SpreadsheetOutNode", "write_error_text"]

MAX_PENDING = 20000
"""Most messages gathered for one write; beyond it the node writes before taking more."""


class SpreadsheetOutConfig(NodeConfig):
    """The spreadsheet out node as it appears in flows.json."""

    filename: str = Field(
        "",
        description="File to write; empty: msg.filename. A relative name lies in the "
        "runtime's data folder.",
    )
    format: str = Field(
        "", description='"csv", "xlsx", or empty: from the extension (.csv/.tsv/.txt, .xlsx).'
    )
    sheet: str = Field(
        "", description="XLSX: sheet to write (created if missing); empty: the active sheet."
    )
    columns: str = Field(
        "",
        description="Comma-separated column names (order of the cells). Empty: the header "
        "of the existing file, else the keys of the first row written (then kept).",
    )
    header: LooseBool = Field(True, description="Write a header row into a new file or sheet.")
    mode: str = Field(
        "append",
        description='"append": add rows (the file is created with a header if missing); '
        '"overwrite": replace the file (XLSX: the sheet) with the message\'s rows.',
    )
    createDir: LooseBool = Field(False, description="Create the folder if it does not exist.")
    separator: str = Field(",", description='CSV: field separator ("\\t" for tab).')
    encoding: str = Field("utf-8", description='CSV: text encoding ("utf-8-sig" adds a BOM).')
    quote: str = Field('"', description="CSV: quote character; empty: no quoting.")
    isoDates: LooseBool = Field(
        True, description="XLSX: text in ISO 8601 date form is written as an Excel date."
    )
    batchMs: LooseFloat = Field(
        200,
        description="Append mode: gather messages arriving within this many ms and write "
        "them with one open/save (0: write each message on its own).",
    )

    @field_validator("filename", "format", "sheet", "columns", "encoding", "quote", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    @model_validator(mode="after")
    def _check(self) -> SpreadsheetOutConfig:
        check_format(self.format)
        if self.mode not in ("append", "overwrite"):
            raise ValueError(f"mode: '{self.mode}' is not one of append, overwrite")
        if self.batchMs < 0:
            raise ValueError("batchMs: must not be negative")
        check_csv_settings(self.separator, self.quote, self.encoding, "utf-8")
        if len(self.sheet) > 31 or any(ch in self.sheet for ch in "[]:*?/\\"):
            raise ValueError(
                f"sheet: '{self.sheet}' is not a valid sheet name "
                "(at most 31 characters, none of [ ] : * ? / \\)"
            )
        return self


def write_error_text(exc: BaseException, path: Path) -> str:
    """A user-facing reason why ``path`` could not be written."""
    if isinstance(exc, PermissionError):
        return (
            f"cannot write '{path}': permission denied "
            "(is it open in another program, or the folder read-only?)"
        )
    if isinstance(exc, FileNotFoundError):
        return f"cannot write '{path}': the folder does not exist (set createDir to create it)"
    if isinstance(exc, NotADirectoryError):
        return f"cannot write '{path}': a part of the path is a file, not a folder"
    if isinstance(exc, IsADirectoryError):
        return f"cannot write '{path}': it is a folder"
    if isinstance(exc, zipfile.BadZipFile | KeyError):
        return f"cannot write '{path}': the existing file is not a valid XLSX file ({exc})"
    if isinstance(exc, UnicodeEncodeError):
        return f"cannot write '{path}': {exc.reason} for {exc.object[exc.start : exc.end]!r}"
    if isinstance(exc, OSError):
        return f"cannot write '{path}': {exc.strerror or exc}"
    return f"cannot write '{path}': {type(exc).__name__}: {exc}"


def _rows(payload: Any) -> list[Any] | None:
    """The rows of a payload: an object is one row, a list of objects/lists are rows,
    a list of plain values is one row; anything else is None."""
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        if payload and all(isinstance(r, dict | list) for r in payload):
            return list(payload)
        return [payload] if payload else []
    return None


class _Item:
    __slots__ = ("done", "fmt", "msg", "path", "rows")

    def __init__(self, msg: Msg, done: DoneFn, path: Path, fmt: str, rows: list[Any]) -> None:
        self.msg = msg
        self.done = done
        self.path = path
        self.fmt = fmt
        self.rows = rows


@node_type("spreadsheet out")
class SpreadsheetOutNode(Node):
    """Writes rows to a CSV or XLSX file.

    The file is the node's ``filename``, or ``msg.filename`` when that is empty (a
    relative name lies in the runtime's data folder; a message read by spreadsheet in
    carries the source file in ``msg.filename``, so it never redirects a fixed target).
    ``msg.payload`` is one row (an object, or a list of values) or a list of rows. The
    cells follow ``columns``; when it is empty, the header of the existing file is used,
    else the keys of the first row written, and the order is kept from then on (keys a
    row does not have give empty cells, keys not in the columns are left out with a
    warning). A new file (or sheet) starts with a header row.

    "append" adds rows at the end (XLSX: after the sheet's last used row, other sheets
    untouched); "overwrite" replaces the file, for XLSX only the sheet. XLSX files and
    overwrites are written to a temporary file in the same folder and moved into place,
    so a reader never sees half a file; CSV appends are flushed to disk. Messages
    arriving within ``batchMs`` are written together with one open/save (saving an XLSX
    workbook is slow), in the order they came. After the write each message is sent on
    with ``msg.payload = {filename, rows}``. A file that cannot be written (open in
    another program, read-only, folder missing) reaches catch nodes with the path, one
    error per message, the message unchanged, so a flow can retry it.
    """

    config_model = SpreadsheetOutConfig
    category = "storage"
    color = "BurlyWood"
    icon = "file-out.svg"
    manual_done = True

    def __init__(self, flow: Any, config: SpreadsheetOutConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.sep = separator(config.separator)
        self.encoding = config.encoding or "utf-8"
        self.columns = [c.strip() for c in config.columns.split(",") if c.strip()] or None
        self._known: dict[tuple[str, str], list[str]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._pending: list[_Item] = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()

    async def close(self, removed: bool) -> None:
        self.cancel_timer(self._timer)
        self._timer = None
        if self._pending:
            await self._flush()

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        item = self._item(msg, done)
        if item is None:
            return
        if self.cfg.mode == "overwrite" or self.cfg.batchMs == 0:
            async with self._lock:
                await self._write([item])
            return
        self._pending.append(item)
        if len(self._pending) >= MAX_PENDING:
            await self._flush()
        elif self._timer is None:
            self._timer = self.call_later(self.cfg.batchMs / 1000.0, self._on_timer)

    def _item(self, msg: Msg, done: DoneFn) -> _Item | None:
        name = self.cfg.filename
        if not name.strip():  # as Node-RED's file node: msg.filename only when none is set
            given = msg.get("filename")
            name = given if isinstance(given, str) else ""
        if not name.strip():
            done("no file: the node's filename is empty and msg.filename is not set")
            return None
        path = resolve_path(name.strip(), self.flow.runtime.settings.data_dir)
        try:
            fmt = detect_format(path, self.cfg.format)
        except ValueError as exc:
            done(str(exc))
            return None
        rows = _rows(msg.get("payload"))
        if rows is None:
            kind = type(msg.get("payload")).__name__
            done(f"msg.payload must be an object (one row) or a list of rows, not {kind}")
            return None
        return _Item(msg, done, path, fmt, rows)

    def _on_timer(self) -> None:
        self._timer = None
        self.create_task(self._flush())

    async def _flush(self) -> None:
        async with self._lock:
            self.cancel_timer(self._timer)
            self._timer = None
            batch, self._pending = self._pending, []
            group: list[_Item] = []
            for item in batch:
                if group and (item.path, item.fmt) != (group[0].path, group[0].fmt):
                    await self._write(group)
                    group = []
                group.append(item)
            if group:
                await self._write(group)

    async def _write(self, items: list[_Item]) -> None:
        """Write the rows of ``items`` (same file) with one open/save, then send them on."""
        first = items[0]
        path, fmt = first.path, first.fmt
        sheet = self.cfg.sheet if fmt == "xlsx" else ""
        key = (str(path), sheet)
        rows = [row for item in items for row in item.rows]
        mode = self.cfg.mode
        if mode == "overwrite":  # the last message decides the content
            rows = list(items[-1].rows)
        fixed = self.columns
        known = self._known.get(key)

        def columns_for(existing: list[str] | None) -> list[str] | None:
            if fixed is not None:
                return fixed
            if existing is not None:
                return existing
            if known is not None:
                return known
            for row in rows:
                if isinstance(row, dict):
                    return [str(k) for k in row]
                return None
            return None

        self.status("blue", "dot", f"writing {path.name}")
        try:
            if fmt == "xlsx":
                columns = await asyncio.to_thread(
                    write_xlsx,
                    path,
                    sheet,
                    mode,
                    rows,
                    columns_for,
                    self.cfg.header,
                    self.cfg.isoDates,
                    self.cfg.createDir,
                )
            else:
                columns = await asyncio.to_thread(
                    write_csv,
                    path,
                    mode,
                    rows,
                    columns_for,
                    self.cfg.header,
                    file_separator(path, self.sep),
                    self.encoding,
                    self.cfg.quote,
                    self.cfg.createDir,
                )
        except Exception as exc:
            text = write_error_text(exc, path)
            self.status("red", "ring", "write failed")
            for item in items:
                item.done(text)
            return
        if columns is not None:
            self._known[key] = columns
            self._warn_extra(key, columns, rows)
        self.status("green", "dot", f"{len(rows)} rows to {path.name}")
        for item in items:
            item.msg["payload"] = {"filename": str(path), "rows": len(item.rows)}
            item.msg["filename"] = str(path)
            self.send(item.msg)
            item.done()

    def _warn_extra(self, key: tuple[str, str], columns: list[str], rows: list[Any]) -> None:
        have = set(columns)
        for row in rows:
            if isinstance(row, dict):
                for k in row:
                    if k not in have and (key[0], k) not in self._warned:
                        self._warned.add((key[0], k))
                        self.warn(
                            f"'{key[0]}': key '{k}' is not one of its columns "
                            f"({', '.join(columns)}); left out"
                        )
