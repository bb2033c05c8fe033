"""Blocking file I/O of the spreadsheet nodes (run in a worker thread)."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from .sheet_codec import cell_to_json, csv_cell, row_values, xlsx_cell

__all__ = [
    "SheetNotFound",
    "read_csv",
    "read_xlsx",
    "write_csv",
    "write_xlsx",
]

ColumnsFor = Callable[[list[str] | None], list[str] | None]
"""Given the header the file has (None: new or empty), the columns to write."""


class SheetNotFound(LookupError):
    """The workbook has no sheet of that name; ``sheets`` lists the ones it has."""

    def __init__(self, sheet: str, sheets: list[str]) -> None:
        super().__init__(sheet)
        self.sheet = sheet
        self.sheets = sheets


# ----- reading ------------------------------------------------------------------------


def read_csv(path: Path, sep: str, encoding: str, quote: str) -> list[list[str]]:
    """Every record of a CSV file as lists of text."""
    with open(path, newline="", encoding=encoding) as fh:
        if quote:
            reader = csv.reader(fh, delimiter=sep, quotechar=quote)
        else:
            reader = csv.reader(fh, delimiter=sep, quoting=csv.QUOTE_NONE)
        return [list(rec) for rec in reader]


def read_xlsx(path: Path, sheet: str) -> tuple[str, list[list[Any]]]:
    """The sheet's name and its rows as JSON values (``sheet`` empty: the active sheet)."""
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet:
            if sheet not in wb.sheetnames:
                raise SheetNotFound(sheet, list(wb.sheetnames))
            ws = wb[sheet]
        else:
            ws = wb.active if wb.active is not None else wb.worksheets[0]
        rows = [
            [cell_to_json(c.value, getattr(c, "number_format", "General")) for c in rec]
            for rec in ws.iter_rows()
        ]
        return str(ws.title), rows
    finally:
        wb.close()


# ----- writing ------------------------------------------------------------------------


@contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """A temporary file in ``path``'s folder, moved over ``path`` when the block succeeds."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _csv_writer(fh: Any, sep: str, quote: str) -> Any:
    if quote:
        return csv.writer(fh, delimiter=sep, quotechar=quote, lineterminator="\r\n")
    return csv.writer(
        fh, delimiter=sep, quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\r\n"
    )


def _csv_header(path: Path, sep: str, encoding: str, quote: str) -> list[str] | None:
    try:
        if path.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    # utf-8-sig reads a file with or without a byte order mark
    enc = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    with open(path, newline="", encoding=enc) as fh:
        reader = (
            csv.reader(fh, delimiter=sep, quotechar=quote)
            if quote
            else csv.reader(fh, delimiter=sep, quoting=csv.QUOTE_NONE)
        )
        for rec in reader:
            if any(cell != "" for cell in rec):
                return list(rec)
    return None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) in (b"\n", b"\r")


def write_csv(
    path: Path,
    mode: str,
    rows: list[Any],
    columns_for: ColumnsFor,
    header: bool,
    sep: str,
    encoding: str,
    quote: str,
    create_dir: bool,
) -> list[str] | None:
    """Append (flushed and synced) or replace (atomically); returns the columns used."""
    if create_dir:
        path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "overwrite":
        columns = columns_for(None)
        with _temp_beside(path) as tmp, open(tmp, "w", newline="", encoding=encoding) as fh:
            writer = _csv_writer(fh, sep, quote)
            if header and columns is not None:
                writer.writerow(columns)
            for row in rows:
                writer.writerow([csv_cell(v) for v in row_values(row, columns)])
            fh.flush()
            os.fsync(fh.fileno())
        return columns
    existing = _csv_header(path, sep, encoding, quote)
    columns = columns_for(existing)
    is_new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding=encoding) as fh:
        writer = _csv_writer(fh, sep, quote)
        if is_new:
            if header and columns is not None:
                writer.writerow(columns)
        elif not _ends_with_newline(path):
            fh.write("\r\n")
        for row in rows:
            writer.writerow([csv_cell(v) for v in row_values(row, columns)])
        fh.flush()
        os.fsync(fh.fileno())
    return columns


def _is_empty(ws: Worksheet) -> bool:
    if ws.max_row > 1 or ws.max_column > 1:
        return False
    return ws.cell(row=1, column=1).value is None


def _first_row(ws: Worksheet) -> list[str] | None:
    if _is_empty(ws):
        return None
    cells = [c.value for c in ws[1]]
    while cells and cells[-1] is None:
        cells.pop()
    if not cells:
        return None
    return ["" if v is None else str(v) for v in cells]


def _put_row(ws: Worksheet, row: int, values: list[Any], iso_dates: bool) -> None:
    for col, value in enumerate(values, start=1):
        cell = ws.cell(row=row, column=col, value=xlsx_cell(value, iso_dates))
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"  # data, not a formula


def write_xlsx(
    path: Path,
    sheet: str,
    mode: str,
    rows: list[Any],
    columns_for: ColumnsFor,
    header: bool,
    iso_dates: bool,
    create_dir: bool,
) -> list[str] | None:
    """Write rows into a sheet (created if missing; other sheets kept), saved atomically.

    Append: after the sheet's last used row. Overwrite: the sheet's content is replaced.
    """
    if create_dir:
        path.parent.mkdir(parents=True, exist_ok=True)
    exists = path.exists() and path.stat().st_size > 0
    if exists:
        wb = load_workbook(path, keep_vba=path.suffix.lower() == ".xlsm")
        name = sheet or (wb.active.title if wb.active is not None else wb.sheetnames[0])
        if name in wb.sheetnames:
            ws = wb[name]
            if mode == "overwrite":
                index = wb.sheetnames.index(name)
                active = wb.active is ws
                wb.remove(ws)
                ws = wb.create_sheet(name, index)
                if active:
                    wb.active = ws
        else:
            ws = wb.create_sheet(name)
    else:
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        if sheet:
            ws.title = sheet
    existing = _first_row(ws)
    columns = columns_for(existing if mode == "append" else None)
    if _is_empty(ws):
        nxt = 1
        if header and columns is not None:
            _put_row(ws, 1, list(columns), False)
            nxt = 2
    else:
        nxt = ws.max_row + 1
    for row in rows:
        _put_row(ws, nxt, row_values(row, columns), iso_dates)
        nxt += 1
    with _temp_beside(path) as tmp:
        wb.save(tmp)
    return columns
