"""spreadsheet in: read a CSV or XLSX file into rows."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from plantwire.runtime.message import Msg, clone_msg, new_msgid
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseInt, NodeConfig, node_type

from ._sheetio import SheetNotFound, read_csv, read_xlsx
from .sheet_codec import (
    check_csv_settings,
    check_format,
    detect_format,
    file_separator,
    parse_number,
    resolve_path,
    rows_from_values,
    separator,
)

__all__ = ["SpreadsheetInConfig", "SpreadsheetInNode", "read_error_text"]


class SpreadsheetInConfig(NodeConfig):
    """The spreadsheet in node as it appears in flows.json."""

    filename: str = Field(
        "",
        description="File to read; msg.filename overrides it. A relative name lies in the "
        "runtime's data folder.",
    )
    format: str = Field(
        "", description='"csv", "xlsx", or empty: from the extension (.csv/.tsv/.txt, .xlsx).'
    )
    sheet: str = Field("", description="XLSX: sheet name; empty: the active (first) sheet.")
    header: LooseBool = Field(
        True, description="The first row gives the keys: each row is an object. Off: lists."
    )
    skipRows: LooseInt = Field(0, description="Rows to skip at the top (before the header).")
    separator: str = Field(",", description='CSV: field separator ("\\t" for tab).')
    encoding: str = Field(
        "utf-8-sig", description="CSV: text encoding (utf-8-sig also reads UTF-8 without BOM)."
    )
    quote: str = Field('"', description="CSV: quote character; empty: no quoting.")
    parseNumbers: LooseBool = Field(
        True, description="CSV: numeric text becomes numbers (XLSX cells keep their types)."
    )
    output: str = Field(
        "all",
        description='"all": one message, payload = list of rows; "row": one message per '
        "row with msg.parts (a join node rebuilds the list).",
    )

    @field_validator("filename", "format", "sheet", "encoding", "quote", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    @model_validator(mode="after")
    def _check(self) -> SpreadsheetInConfig:
        check_format(self.format)
        if self.output not in ("all", "row"):
            raise ValueError(f"output: '{self.output}' is not one of all, row")
        if self.skipRows < 0:
            raise ValueError("skipRows: must not be negative")
        check_csv_settings(self.separator, self.quote, self.encoding, "utf-8-sig")
        return self


def read_error_text(exc: BaseException, path: Path, encoding: str = "") -> str:
    """A user-facing reason why ``path`` could not be read."""
    if isinstance(exc, SheetNotFound):
        return f"sheet '{exc.sheet}' not found in '{path}'; its sheets are: " + ", ".join(
            f"'{s}'" for s in exc.sheets
        )
    if isinstance(exc, FileNotFoundError):
        return f"cannot read '{path}': no such file"
    if isinstance(exc, IsADirectoryError):
        return f"cannot read '{path}': it is a folder"
    if isinstance(exc, PermissionError):
        return f"cannot read '{path}': permission denied (is it open in another program?)"
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"cannot read '{path}': not {encoding} text ({exc.reason} at byte {exc.start}); "
            "set the node's encoding"
        )
    if isinstance(exc, zipfile.BadZipFile | KeyError):
        return f"cannot read '{path}': not a valid XLSX file ({exc})"
    if isinstance(exc, OSError):
        return f"cannot read '{path}': {exc.strerror or exc}"
    return f"cannot read '{path}': {type(exc).__name__}: {exc}"


@node_type("spreadsheet in")
class SpreadsheetInNode(Node):
    """Reads a CSV or XLSX file and sends its rows.

    The file is the node's ``filename`` or ``msg.filename`` (a relative name lies in the
    runtime's data folder); its format comes from the extension unless set. With
    ``header`` each row is an object keyed by the first row (blank header cells become
    "column N"), else a list of cells; empty rows are left out. XLSX cells keep their
    types (numbers, booleans, text) and dates become ISO text (``2026-11-30`` or
    ``2026-11-30T06:00:00``); formulas give their last computed value. CSV cells are
    text, numbers become numbers with ``parseNumbers`` (``007`` stays text); an empty
    cell is ``null`` in both formats.

    ``output`` "all" sends one message, ``msg.payload`` = the list of rows; "row" sends
    one message per row with ``msg.parts`` as a split node makes them, so a join node
    can put the list back together. ``msg.filename`` is the full path, ``msg.columns``
    the header keys and, for XLSX, ``msg.sheet`` the sheet read. A missing file, a
    missing sheet (the error lists the sheets there are) or undecodable text reaches
    catch nodes with the file named.
    """

    config_model = SpreadsheetInConfig
    category = "storage"
    color = "BurlyWood"
    icon = "file-in.svg"

    def __init__(self, flow: Any, config: SpreadsheetInConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.sep = separator(config.separator)
        self.encoding = config.encoding or "utf-8-sig"

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        name = msg.get("filename")
        if not isinstance(name, str) or not name.strip():
            name = self.cfg.filename
        if not name.strip():
            self.error("no file: the node's filename is empty and msg.filename is not set", msg)
            return
        path = resolve_path(name.strip(), self.flow.runtime.settings.data_dir)
        try:
            fmt = detect_format(path, self.cfg.format)
        except ValueError as exc:
            self.error(str(exc), msg)
            return
        self.status("blue", "dot", f"reading {path.name}")
        try:
            sheet, rows, keys = await asyncio.to_thread(self._read, path, fmt)
        except Exception as exc:
            self.status("red", "ring", "read failed")
            self.error(read_error_text(exc, path, self.encoding), msg)
            return
        self.status("green", "dot", f"{len(rows)} rows from {path.name}")
        msg["filename"] = str(path)
        if keys is not None:
            msg["columns"] = keys
        if sheet is not None:
            msg["sheet"] = sheet
        if self.cfg.output == "all":
            msg["payload"] = rows
            send(msg)
            return
        msg.pop("payload", None)
        outer = msg.pop("parts", None)
        group = msg.get("_msgid") or new_msgid()
        count = len(rows)
        for index, row in enumerate(rows):
            out = clone_msg(msg)
            out["payload"] = row
            parts = {"id": group, "type": "array", "count": count, "len": 1, "index": index}
            if outer is not None:
                parts["parts"] = outer
            out["parts"] = parts
            await self.send_async(out)

    def _read(self, path: Path, fmt: str) -> tuple[str | None, list[Any], list[str] | None]:
        sheet: str | None = None
        values: list[list[Any]]
        if fmt == "xlsx":
            sheet, values = read_xlsx(path, self.cfg.sheet)
        else:
            texts = read_csv(path, file_separator(path, self.sep), self.encoding, self.cfg.quote)
            parse = self.cfg.parseNumbers
            start = self.cfg.skipRows + (1 if self.cfg.header else 0)
            values = []
            for n, rec in enumerate(texts):
                if n < start:
                    values.append(list(rec))
                elif parse:
                    values.append([None if t == "" else parse_number(t) for t in rec])
                else:
                    values.append([None if t == "" else t for t in rec])
        rows, keys = rows_from_values(values, self.cfg.header, self.cfg.skipRows)
        return sheet, rows, keys
