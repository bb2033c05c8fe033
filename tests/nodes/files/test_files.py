"""spreadsheet in / spreadsheet out / folder watch against real files in tmp_path."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]

from plantwire.nodes.files import spreadsheet_out
from plantwire.nodes.files._sheetio import write_xlsx
from plantwire.nodes.files.sheet_codec import (
    cell_to_json,
    csv_cell,
    header_keys,
    parse_number,
    rows_from_values,
    xlsx_cell,
)
from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from tests.conftest import probe, tab
from tests.flowkit import deploy as _deploy
from tests.flowkit import received as _got
from tests.flowkit import wait_messages as _wait

SQLITE_CONTEXT = {"default": {"module": "sqlite", "config": {"flushInterval": 0.05}}}


# ----- helpers ----------------------------------------------------------------------------


def _flow(node: dict[str, Any], *extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        tab(),
        {"id": "n", "z": "t1", "wires": [["out"]], **node},
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["err"]]},
        probe("out"),
        probe("err"),
        *extra,
    ]


def _send(rt: Runtime, msg: Msg, nid: str = "n") -> None:
    node = rt.get_node(nid)
    assert node is not None
    rt.deliver(node, msg)


async def _roundtrip(rt: Runtime, msg: Msg) -> Msg:
    before = len(_got(rt, "out")) + len(_got(rt, "err"))
    _send(rt, msg)
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while len(_got(rt, "out")) + len(_got(rt, "err")) <= before and loop.time() < end:
        await asyncio.sleep(0.01)
    assert not _got(rt, "err"), _got(rt, "err")[-1].get("error")
    return _got(rt, "out")[-1]


def _out(filename: str, **kw: Any) -> dict[str, Any]:
    return {"type": "spreadsheet out", "filename": filename, "batchMs": 20, **kw}


def _in(filename: str, **kw: Any) -> dict[str, Any]:
    return {"type": "spreadsheet in", "filename": filename, **kw}


ROWS: list[dict[str, Any]] = [
    {"sku": "A-100", "name": "Schraube M8 ✓", "qty": 120, "price": 0.35, "ok": True, "note": None},
    {"sku": "007", "name": 'Mutter "DIN 934"; verzinkt', "qty": -3, "price": 1e-3, "ok": False},
    {"sku": "C-3", "name": "Ölfilter\nzweizeilig", "qty": 0, "price": 12.5, "ok": True},
]


# ----- codec ------------------------------------------------------------------------------


def test_parse_number_keeps_codes_as_text() -> None:
    assert parse_number("42") == 42 and isinstance(parse_number("42"), int)
    assert parse_number("-3.5e2") == -350.0
    assert parse_number(".5") == 0.5
    assert parse_number("007") == "007"
    assert parse_number("0.75") == 0.75
    assert parse_number("12a") == "12a"
    assert parse_number("") == ""
    assert parse_number("1e999") == "1e999"


def test_header_keys_and_rows() -> None:
    assert header_keys(["a", None, "a", " b "]) == ["a", "column 2", "a_2", "b"]
    rows, keys = rows_from_values(
        [["title"], [], ["x", "y"], [1, 2, ""], [None, None], [3]], header=True, skip_rows=1
    )
    assert keys == ["x", "y"]
    assert rows == [{"x": 1, "y": 2}, {"x": 3, "y": None}]
    rows, keys = rows_from_values([["x", "y"], [1]], header=False)
    assert rows == [["x", "y"], [1]] and keys is None


def test_cell_values() -> None:
    assert cell_to_json(dt.datetime(2026, 11, 30), "yyyy-mm-dd") == "2026-11-30"
    assert cell_to_json(dt.datetime(2026, 11, 30), "yyyy-mm-dd h:mm:ss") == "2026-11-30T00:00:00"
    assert cell_to_json(dt.datetime(2026, 11, 30, 6, 15)) == "2026-11-30T06:15:00"
    assert cell_to_json(dt.time(6, 15)) == "06:15:00"
    assert xlsx_cell("2026-11-30T06:15:00+01:00", True) == dt.datetime(2026, 11, 30, 5, 15)
    assert xlsx_cell("2026-11-30", True) == dt.date(2026, 11, 30)
    assert xlsx_cell("2026-11-30", False) == "2026-11-30"
    assert xlsx_cell({"a": [1]}, True) == '{"a":[1]}'
    assert xlsx_cell("bell\x07", True) == "bell"
    assert [csv_cell(v) for v in (950.0, 1e-7, None, True, [1, "a"])] == [
        "950",
        "1e-7",
        "",
        "true",
        '[1,"a"]',
    ]


# ----- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", ";", "\\t"])
async def test_csv_round_trip(make_runtime: Any, tmp_path: Path, sep: str) -> None:
    out = await _deploy(make_runtime, _flow(_out("stock.csv", separator=sep)))
    sent = await _roundtrip(out, {"payload": ROWS, "topic": "t"})
    path = tmp_path / "stock.csv"
    assert sent["payload"] == {"filename": str(path), "rows": 3}
    assert sent["topic"] == "t"
    raw = path.read_bytes().decode()
    real_sep = "\t" if sep == "\\t" else sep
    assert raw.startswith(real_sep.join(["sku", "name", "qty", "price", "ok", "note"]) + "\r\n")
    await out.stop()

    rt = await _deploy(make_runtime, _flow(_in("stock.csv", separator=sep)))
    got = await _roundtrip(rt, {"payload": None})
    assert got["filename"] == str(path)
    assert got["columns"] == ["sku", "name", "qty", "price", "ok", "note"]
    expected = [
        {"sku": "A-100", "name": "Schraube M8 ✓", "qty": 120, "price": 0.35, "ok": "true",
         "note": None},
        {"sku": "007", "name": 'Mutter "DIN 934"; verzinkt', "qty": -3, "price": 0.001,
         "ok": "false", "note": None},
        {"sku": "C-3", "name": "Ölfilter\nzweizeilig", "qty": 0, "price": 12.5, "ok": "true",
         "note": None},
    ]  # fmt: skip
    assert got["payload"] == expected
    assert isinstance(got["payload"][0]["qty"], int)


async def test_csv_text_options(make_runtime: Any, tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(
        "Report line 3\nArtikel|Menge\n'Käse|Brot'|0012\nTee|3.5\n".encode("cp1252")
    )
    flow = _flow(
        _in(
            "latin.csv",
            separator="|",
            encoding="cp1252",
            quote="'",
            skipRows="1",
            parseNumbers="false",
        )
    )
    rt = await _deploy(make_runtime, flow)
    got = await _roundtrip(rt, {})
    assert got["payload"] == [
        {"Artikel": "Käse|Brot", "Menge": "0012"},
        {"Artikel": "Tee", "Menge": "3.5"},
    ]


async def test_xlsx_round_trip_keeps_types_and_dates(make_runtime: Any, tmp_path: Path) -> None:
    rows = [
        {**r, "when": d, "formula": "=SUM(1,2)"}
        for r, d in zip(
            ROWS, ["2026-11-30", "2026-11-30T06:15:00", "2026-12-01T22:00:00Z"], strict=True
        )
    ]
    out = await _deploy(make_runtime, _flow(_out("inventory.xlsx", sheet="Lager")))
    sent = await _roundtrip(out, {"payload": rows})
    assert sent["payload"]["rows"] == 3
    await out.stop()

    wb = load_workbook(tmp_path / "inventory.xlsx")
    ws = wb["Lager"]
    assert ws["G2"].is_date and ws["G2"].value == dt.datetime(2026, 11, 30)
    assert ws["H2"].data_type == "s" and ws["H2"].value == "=SUM(1,2)"  # data, not a formula
    assert ws["E2"].value is True and ws["C2"].value == 120
    assert not list(tmp_path.glob(".*.tmp"))

    rt = await _deploy(make_runtime, _flow(_in("inventory.xlsx")))
    got = await _roundtrip(rt, {})
    assert got["sheet"] == "Lager"
    first, second, third = got["payload"]
    assert first == {**ROWS[0], "when": "2026-11-30", "formula": "=SUM(1,2)"}
    assert second["sku"] == "007" and second["qty"] == -3 and second["ok"] is False
    assert second["when"] == "2026-11-30T06:15:00"
    assert third["when"] == "2026-12-01T22:00:00"
    assert third["name"] == "Ölfilter\nzweizeilig"
    assert isinstance(first["qty"], int) and isinstance(first["price"], float)


async def test_xlsx_read_options_and_rows_with_parts(make_runtime: Any, tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "Cover"
    wb.active.append(["Inventory 2026"])
    ws = wb.create_sheet("Data")
    ws.append(["exported by ERP"])
    ws.append(["part", "count", "checked"])
    ws.append(["P1", 4, dt.date(2026, 1, 2)])
    ws.append([None, None, None])
    ws.append(["P2", 2.5, dt.datetime(2026, 1, 3, 7, 30)])
    (tmp_path / "in").mkdir()
    wb.save(tmp_path / "in" / "inv.xlsx")
    join = {
        "id": "j", "type": "join", "z": "t1", "mode": "auto", "build": "array",
        "property": "payload", "propertyType": "msg", "key": "topic", "joiner": "\\n",
        "joinerType": "str", "accumulate": False, "timeout": "", "count": "", "wires": [["joined"]],
    }  # fmt: skip
    flow = _flow(
        {**_in("", sheet="Data", skipRows=1, output="row"), "wires": [["out", "j"]]},
        join,
        probe("joined"),
    )
    rt = await _deploy(make_runtime, flow)
    _send(rt, {"filename": "in/inv.xlsx", "topic": "inv"})  # relative: in the data folder
    rows = await _wait(rt, "out", 2)
    assert [m["parts"]["index"] for m in rows] == [0, 1]
    assert rows[0]["payload"] == {"part": "P1", "count": 4, "checked": "2026-01-02"}
    assert rows[0]["topic"] == "inv" and rows[0]["filename"] == str(tmp_path / "in" / "inv.xlsx")
    joined = await _wait(rt, "joined", 1)
    assert joined[0]["payload"] == [
        {"part": "P1", "count": 4, "checked": "2026-01-02"},
        {"part": "P2", "count": 2.5, "checked": "2026-01-03T07:30:00"},
    ]
    assert not _got(rt, "err")


# ----- append / overwrite -----------------------------------------------------------------


async def test_csv_append_keeps_existing_header_order(make_runtime: Any, tmp_path: Path) -> None:
    path = tmp_path / "daily.csv"
    path.write_bytes("\ufeffqty,sku,name\r\n5,X,first".encode())  # BOM, no final newline
    rt = await _deploy(make_runtime, _flow(_out(str(path))))
    await _roundtrip(rt, {"payload": {"sku": "A", "name": "a", "qty": 1, "extra": "dropped"}})
    await _roundtrip(rt, {"payload": [{"name": "b", "sku": "B"}, ["9", "Z", "list row"]]})
    with open(path, newline="", encoding="utf-8-sig") as fh:
        assert list(csv.reader(fh)) == [
            ["qty", "sku", "name"],
            ["5", "X", "first"],
            ["1", "A", "a"],
            ["", "B", "b"],
            ["9", "Z", "list row"],
        ]


async def test_csv_columns_stay_stable_for_a_new_file(make_runtime: Any, tmp_path: Path) -> None:
    rt = await _deploy(make_runtime, _flow(_out("reports/r.csv", createDir=True, batchMs=0)))
    await _roundtrip(rt, {"payload": {"b": 1, "a": 2}})
    await _roundtrip(rt, {"payload": {"a": 3, "b": 4, "c": 5}})
    assert (tmp_path / "reports" / "r.csv").read_bytes().decode() == "b,a\r\n1,2\r\n4,3\r\n"
    rt2 = await _deploy(make_runtime, _flow(_out("fixed.csv", columns="a, c", header=False)))
    await _roundtrip(rt2, {"payload": {"b": 1, "a": 2, "c": 3}})
    assert (tmp_path / "fixed.csv").read_bytes().decode() == "2,3\r\n"
    rt3 = await _deploy(make_runtime, _flow(_out("tabs.tsv")))
    await _roundtrip(rt3, {"payload": {"a": 1, "b": "x y"}})
    assert (tmp_path / "tabs.tsv").read_bytes() == b"a\tb\r\n1\tx y\r\n"


async def test_filename_of_the_message(make_runtime: Any, tmp_path: Path) -> None:
    flow = _flow(_out("", batchMs=0))
    flow.append({"id": "fixed", "type": "spreadsheet out", "z": "t1", "filename": "fixed.csv"})
    rt = await _deploy(make_runtime, flow)
    sent = await _roundtrip(rt, {"payload": {"a": 1}, "filename": "from-msg.csv"})
    assert sent["payload"] == {"filename": str(tmp_path / "from-msg.csv"), "rows": 1}
    _send(rt, {"payload": {"a": 2}, "filename": "from-msg.csv"}, "fixed")  # node's name wins
    for _ in range(500):
        if (tmp_path / "fixed.csv").exists():
            break
        await asyncio.sleep(0.01)
    assert (tmp_path / "fixed.csv").read_bytes() == b"a\r\n2\r\n"
    assert (tmp_path / "from-msg.csv").read_bytes() == b"a\r\n1\r\n"
    _send(rt, {"payload": {"a": 3}})
    err = await _wait(rt, "err", 1)
    assert err[0]["error"]["message"] == (
        "no file: the node's filename is empty and msg.filename is not set"
    )


async def test_xlsx_append_keeps_other_sheets(make_runtime: Any, tmp_path: Path) -> None:
    wb = Workbook()
    info = wb.active
    info.title = "Info"
    info.append(["Plant", "Werk Süd"])
    stock = wb.create_sheet("Stock")
    stock.append(["qty", "sku"])
    stock.append([3, "OLD"])
    path = tmp_path / "inv.xlsx"
    wb.save(path)
    rt = await _deploy(make_runtime, _flow(_out(str(path), sheet="Stock")))
    await _roundtrip(rt, {"payload": [{"sku": "N1", "qty": 7}, {"sku": "N2", "qty": 8}]})
    await _roundtrip(rt, {"payload": {"sku": "N3", "qty": 9}})
    rt2 = await _deploy(make_runtime, _flow(_out(str(path), sheet="Moves")))
    await _roundtrip(rt2, {"payload": {"at": "2026-11-30T08:00:00", "sku": "N1"}})
    wb2 = load_workbook(path)
    assert wb2.sheetnames == ["Info", "Stock", "Moves"]
    assert [list(r) for r in wb2["Info"].values] == [["Plant", "Werk Süd"]]
    assert [list(r) for r in wb2["Stock"].values] == [
        ["qty", "sku"],
        [3, "OLD"],
        [7, "N1"],
        [8, "N2"],
        [9, "N3"],
    ]
    assert [list(r) for r in wb2["Moves"].values] == [
        ["at", "sku"],
        [dt.datetime(2026, 11, 30, 8), "N1"],
    ]


async def test_overwrite(make_runtime: Any, tmp_path: Path) -> None:
    csv_path = tmp_path / "snap.csv"
    csv_path.write_text("old,header\r\n1,2\r\n")
    rt = await _deploy(make_runtime, _flow(_out(str(csv_path), mode="overwrite")))
    await _roundtrip(rt, {"payload": [{"a": 1}, {"a": 2}]})
    assert csv_path.read_bytes().decode() == "a\r\n1\r\n2\r\n"
    await _roundtrip(rt, {"payload": [{"a": 3}]})
    assert csv_path.read_bytes().decode() == "a\r\n3\r\n"

    wb = Workbook()
    wb.active.title = "Keep"
    wb.active.append(["kept"])
    wb.create_sheet("Now").append(["x", "y"])
    wb["Now"].append([1, 2])
    xpath = tmp_path / "snap.xlsx"
    wb.save(xpath)
    rt2 = await _deploy(make_runtime, _flow(_out(str(xpath), mode="overwrite", sheet="Now")))
    await _roundtrip(rt2, {"payload": [{"y": 5}]})
    wb2 = load_workbook(xpath)
    assert wb2.sheetnames == ["Keep", "Now"]
    assert [list(r) for r in wb2["Keep"].values] == [["kept"]]
    assert [list(r) for r in wb2["Now"].values] == [["y"], [5]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.csv", "snap.xlsx"]


async def test_xlsx_batches_2000_messages(
    make_runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saves: list[int] = []

    def counting(*args: Any) -> Any:
        saves.append(len(args[3]))
        return write_xlsx(*args)

    monkeypatch.setattr(spreadsheet_out, "write_xlsx", counting)
    rt = await _deploy(make_runtime, _flow(_out("big.xlsx", batchMs=200)))
    for i in range(1000):  # a burst ...
        _send(rt, {"payload": {"seq": i, "sku": f"S{i % 37}", "qty": i * 0.5}})
    for i in range(1000, 2000):  # ... then a steady stream over about a second
        _send(rt, {"payload": {"seq": i, "sku": f"S{i % 37}", "qty": i * 0.5}})
        if i % 50 == 0:
            await asyncio.sleep(0.05)
    got = await _wait(rt, "out", 2000, timeout=25)
    assert [m["payload"]["rows"] for m in got] == [1] * 2000
    assert not _got(rt, "err")
    assert sum(saves) == 2000 and 2 <= len(saves) <= 12, saves
    values = list(load_workbook(tmp_path / "big.xlsx", read_only=True).active.values)
    assert values[0] == ("seq", "sku", "qty")
    assert [v[0] for v in values[1:]] == list(range(2000))


async def test_rows_waiting_for_a_batch_are_written_on_stop(
    make_runtime: Any, tmp_path: Path
) -> None:
    rt = await _deploy(make_runtime, _flow(_out("late.xlsx", batchMs=60000)))
    for i in range(3):
        _send(rt, {"payload": {"n": i}})
    await asyncio.sleep(0.05)
    assert not (tmp_path / "late.xlsx").exists()
    await rt.stop()
    values = list(load_workbook(tmp_path / "late.xlsx").active.values)
    assert values == [("n",), (0,), (1,), (2,)]


# ----- errors -----------------------------------------------------------------------------


async def test_read_errors_reach_catch(make_runtime: Any, tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "Stock"
    wb.create_sheet("Moves")
    wb.save(tmp_path / "inv.xlsx")
    rt = await _deploy(make_runtime, _flow(_in("inv.xlsx", sheet="Lager")))
    _send(rt, {"payload": 1})
    err = await _wait(rt, "err", 1)
    assert err[0]["error"]["message"] == (
        f"sheet 'Lager' not found in '{tmp_path / 'inv.xlsx'}'; its sheets are: 'Stock', 'Moves'"
    )
    _send(rt, {"filename": "nope.xlsx"})
    err = await _wait(rt, "err", 2)
    assert err[1]["error"]["message"] == f"cannot read '{tmp_path / 'nope.xlsx'}': no such file"
    (tmp_path / "bad.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    _send(rt, {"filename": "bad.csv"})
    err = await _wait(rt, "err", 3)
    assert "bad.csv': not utf-8-sig text" in err[2]["error"]["message"]
    assert not _got(rt, "out")


async def test_write_error_keeps_the_message(make_runtime: Any, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    target = tmp_path / "blocker" / "out.xlsx"
    rt = await _deploy(make_runtime, _flow(_out(str(target), createDir=False)))
    for i in range(3):
        _send(rt, {"payload": {"n": i}})
    err = await _wait(rt, "err", 3)
    assert [m["payload"] for m in err] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert err[0]["error"]["message"].startswith(f"cannot write '{target}': ")
    assert rt.get_node("n").last_status["text"] == "write failed"  # type: ignore[union-attr]
    assert not _got(rt, "out")

    missing = tmp_path / "no" / "such" / "r.csv"
    rt2 = await _deploy(make_runtime, _flow(_out(str(missing))))
    _send(rt2, {"payload": {"n": 1}})
    err = await _wait(rt2, "err", 1)
    assert err[0]["error"]["message"] == (
        f"cannot write '{missing}': the folder does not exist (set createDir to create it)"
    )
    _send(rt2, {"payload": "text"})
    err = await _wait(rt2, "err", 2)
    assert err[1]["error"]["message"] == (
        "msg.payload must be an object (one row) or a list of rows, not str"
    )


# ----- folder watch -----------------------------------------------------------------------


def _watch(folder: str, **kw: Any) -> dict[str, Any]:
    return {
        "type": "folder watch",
        "folder": folder,
        "interval": 0.05,
        "settleSeconds": 0.3,
        **kw,
    }


async def test_folder_watch_reports_a_growing_file_once(make_runtime: Any, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "old.csv").write_text("there before")
    rt = await _deploy(make_runtime, _flow(_watch("inbox", pattern="*.csv", settleSeconds=0.6)))
    path = inbox / "copy.csv"
    (inbox / "ignored.txt").write_text("other pattern")
    (inbox / "~$lock.csv").write_text("an office lock file")
    (inbox / ".partial.csv").write_text("a hidden temporary file")
    with open(path, "wb") as fh:
        for _ in range(6):  # a slow copy: grows every 0.1 s, never still for 0.6 s
            fh.write(b"x" * 1000)
            fh.flush()
            await asyncio.sleep(0.1)
            assert not _got(rt, "out"), "reported while still growing"
    got = await _wait(rt, "out", 1)
    await asyncio.sleep(0.5)
    assert len(_got(rt, "out")) == 1
    msg = got[0]
    assert msg["payload"] == msg["filename"] == str(path)
    assert msg["topic"] == "copy.csv" and msg["size"] == 6000
    st = os.stat(path)
    assert msg["mtime"] == dt.datetime.fromtimestamp(st.st_mtime_ns // 1_000_000 / 1000, dt.UTC)\
        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # fmt: skip
    # a change later is reported again; the file that was there at start never
    with open(path, "ab") as fh:
        fh.write(b"more")
    got = await _wait(rt, "out", 2)
    assert got[1]["size"] == 6004
    assert [m["topic"] for m in _got(rt, "out")] == ["copy.csv", "copy.csv"]


async def test_folder_watch_restart_does_not_report_again(
    make_runtime: Any, tmp_path: Path
) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "a.xlsx").write_bytes(b"1")
    flow = _flow(_watch("drop", existing=True, settleSeconds=0.1))
    rt = await _deploy(make_runtime, flow, context_storage=SQLITE_CONTEXT)
    got = await _wait(rt, "out", 1)
    assert got[0]["topic"] == "a.xlsx"
    await rt.stop()
    (tmp_path / "drop" / "b.xlsx").write_bytes(b"2")
    rt2 = await _deploy(make_runtime, flow, context_storage=SQLITE_CONTEXT)
    got = await _wait(rt2, "out", 1)
    await asyncio.sleep(0.4)
    assert [m["topic"] for m in _got(rt2, "out")] == ["b.xlsx"]


async def test_folder_watch_moves_reported_files(make_runtime: Any, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "done").mkdir()
    (inbox / "done" / "r.csv").write_text("an older r.csv")
    rt = await _deploy(make_runtime, _flow(_watch(str(inbox), moveTo="done", settleSeconds=0.1)))
    (inbox / "r.csv").write_text("a,b\n1,2\n")
    got = await _wait(rt, "out", 1)
    moved = inbox / "done" / "r-1.csv"
    assert got[0]["payload"] == got[0]["filename"] == str(moved)
    assert moved.read_text() == "a,b\n1,2\n"
    assert not (inbox / "r.csv").exists()
    assert (inbox / "done" / "r.csv").read_text() == "an older r.csv"
    await asyncio.sleep(0.3)
    assert len(_got(rt, "out")) == 1 and not _got(rt, "err")


async def test_watched_sheet_to_rows(make_runtime: Any, tmp_path: Path) -> None:
    """The inventory pattern: folder watch (moveTo) -> spreadsheet in -> one row per message."""
    flow = _flow(
        _watch("drop", pattern="*.xlsx", moveTo="done", settleSeconds=0.1),
        {"id": "rd", "type": "spreadsheet in", "z": "t1", "output": "row", "wires": [["rows"]]},
        probe("rows"),
    )
    flow[1]["wires"] = [["out", "rd"]]
    (tmp_path / "drop").mkdir()
    rt = await _deploy(make_runtime, flow)
    wb = Workbook()
    wb.active.append(["sku", "qty"])
    wb.active.append(["A", 1])
    wb.active.append(["B", 2])
    wb.save(tmp_path / "drop" / ".count.tmp")  # written beside, then renamed: never half read
    os.replace(tmp_path / "drop" / ".count.tmp", tmp_path / "drop" / "count.xlsx")
    rows = await _wait(rt, "rows", 2)
    assert [m["payload"] for m in rows] == [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]
    assert rows[0]["filename"] == str(tmp_path / "drop" / "done" / "count.xlsx")
    assert rows[0]["topic"] == "count.xlsx"
    assert not _got(rt, "err")


async def test_folder_watch_missing_folder(make_runtime: Any, tmp_path: Path) -> None:
    rt = await _deploy(make_runtime, _flow(_watch("later", settleSeconds=0.1)))
    err = await _wait(rt, "err", 1)
    assert err[0]["error"]["message"] == (
        f"folder watch: folder '{tmp_path / 'later'}' does not exist (still looking)"
    )
    node = rt.get_node("n")
    assert node is not None and node.last_status["text"] == "folder missing"
    await asyncio.sleep(0.2)
    assert len(_got(rt, "err")) == 1  # reported once, not on every look
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "x.csv").write_text("1")
    got = await _wait(rt, "out", 1)
    assert got[0]["topic"] == "x.csv"
    assert node.last_status["fill"] == "green"


async def test_spreadsheet_config_errors_name_the_field(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.open()
    with pytest.raises(Exception, match="separator"):
        await rt.deploy(_flow(_in("x.csv", separator=";;")))
    with pytest.raises(Exception, match="mode"):
        await rt.deploy(_flow(_out("x.csv", mode="replace")))
    with pytest.raises(Exception, match="folder"):
        await rt.deploy(_flow({"type": "folder watch", "folder": ""}))
