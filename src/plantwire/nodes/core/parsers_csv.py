"""The ``csv`` node: converts between CSV text and objects, as Node-RED's does.

Two parsers, chosen by ``spec``: ``"rfc"`` (RFC 4180, Node-RED 4's default) and the
legacy parser of older flows (any other value).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from plantwire.nodes.core.parsers_csv_codec import (
    CSVParseError,
    LegacyState,
    legacy_clean,
    legacy_parse,
    parse,
    quote_cell,
)
from plantwire.nodes.core.parsers_json_codec import js_stringify, js_value_str
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, node_type

__all__ = ["CsvConfig", "CsvNode"]

_CSV_JS = "This node only handles CSV strings or js objects."
_OBJ_CSV = "No columns template specified for object -> CSV."
_BAD_TEMPLATE = "Malformed columns template."
_BAD_CSV = "Malformed CSV data - output probably corrupt."


class CsvConfig(NodeConfig):
    """Settings of a csv node as Node-RED writes them."""

    spec: str = Field("rfc", description='Parser: "rfc" (RFC 4180) or "" (legacy).')
    sep: str = Field(",", description="Column separator; \\t stands for a tab.")
    hdrin: LooseBool = Field(False, description="The first row of input holds column names.")
    hdrout: str | bool = Field(
        "none", description='Header row on output: "none", "all", or "once" (until msg.reset).'
    )
    multi: str = Field(
        "one", description='"one": a message per row; "mult": one message with an array.'
    )
    ret: str = Field("\\r\\n", description="Line ending of output: \\n, \\r or \\r\\n.")
    temp: str = Field("", description="Comma-separated column names (the column template).")
    skip: str | int = Field("0", description="Number of lines to skip at the start of input.")
    strings: LooseBool = Field(True, description="Parse numerical values into numbers.")
    include_empty_strings: LooseBool = Field(
        False, description="Keep empty strings as properties of the row objects."
    )
    include_null_values: LooseBool = Field(
        False, description="Keep null values (empty cells) as properties of the row objects."
    )


def _unescape(text: str) -> str:
    return text.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r")


def _ensure_string(value: Any) -> str:
    """Node-RED's ``RED.util.ensureString``."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if value is None or isinstance(value, dict | list):
        out = js_stringify(value)
        return "" if out is MISSING else str(out)
    return js_value_str(value)


def _keys(row: Any) -> list[str]:
    """``Object.keys(row)``."""
    if isinstance(row, dict):
        return [str(k) for k in row]
    if isinstance(row, list | bytes | bytearray | str):
        return [str(i) for i in range(len(row))]
    if row is None or row is MISSING:
        raise TypeError("Cannot convert undefined or null to object")
    return []


def _item(row: Any, key: Any) -> Any:
    """``row[key]`` with JavaScript's undefined for anything absent."""
    if isinstance(row, dict):
        return row.get(key, MISSING)
    if isinstance(row, list | bytes | bytearray):
        try:
            i = int(key)
        except (TypeError, ValueError):
            return MISSING
        return row[i] if 0 <= i < len(row) else MISSING
    if row is None or row is MISSING:
        raise TypeError(f"Cannot read properties of null (reading '{key}')")
    return MISSING


@node_type("csv")
class CsvNode(Node):
    """Converts between CSV text and JavaScript objects.

    Input: ``msg.payload`` as CSV text (parsed into objects, one message per row or an
    array), or an object, an array of objects or an array of arrays (turned into CSV
    text). ``msg.reset`` makes "once" send the header row again; ``msg.columns`` can
    supply the column names. Output: the converted payload with ``msg.columns``.
    """

    config_model = CsvConfig
    category = "parser"
    color = "#DEBD5C"
    icon = "parser-csv.svg"

    def __init__(self, flow: Any, config: CsvConfig) -> None:
        super().__init__(flow, config)
        self.rfc = config.spec == "rfc"
        self.template_text = config.temp or ""
        self.sep = _unescape(config.sep or ",")
        self.quo = '"'
        self.ret = _unescape(config.ret or ("\r\n" if self.rfc else "\n"))
        self.multi = config.multi or "one"
        self.hdrin = config.hdrin is True
        hdrout = config.hdrout or "none"
        self.hdrout = "all" if hdrout is True else str(hdrout)
        try:
            self.skip = int(float(str(config.skip or 0)))
        except ValueError:
            self.skip = 0
        self.parse_numeric = config.strings
        self.include_empty = config.include_empty_strings
        self.include_null = config.include_null_values
        self.store: list[Any] = []
        self.hdr_sent = False
        self.warn_template = True
        self.good_template = True
        self.broken = False
        self.template: list[Any] = [""]
        if self.rfc:
            try:
                self.template = self._columns_to_template(self.template_text, ",") or [""]
            except CSVParseError:
                self.warn(_BAD_TEMPLATE)
                self.broken = True
            self.no_template = not self._has_template(self.template)
        else:
            self.legacy = LegacyState(
                template=[], good=True, sep=self.sep, skip=self.skip, hdrin=self.hdrin,
                parse_numeric=self.parse_numeric, include_empty=self.include_empty,
                include_null=self.include_null,
            )  # fmt: skip
            self.legacy.template, self.legacy.good = legacy_clean(self.template_text, ",")
            self.no_template = not self.legacy.good

    # ----- shared helpers ------------------------------------------------------------

    @staticmethod
    def _has_template(t: list[Any] | None) -> bool:
        return bool(t) and not (len(t or []) == 1 and (t or [""])[0] == "")

    def _columns_to_template(self, col: str, sep: str = ",") -> list[Any] | None:
        res = parse(col, separator=sep, quote=self.quo, output_style="array", strict=True)
        self.good_template = len(res.data) == 1
        return list(res.data[0]) if self.good_template else None

    def _add_quotes(self, cell: str, sep: str | None = None, strict: bool = False) -> str:
        s = sep or self.sep
        quoteables = [",", '"', "\n", "\r"] if strict else [s, self.quo, "\n", "\r"]
        return quote_cell(cell, self.quo, s, quoteables)

    def _columns_string(self, template: list[Any]) -> str:
        return ",".join(quote_cell(str(h), self.quo, ",") for h in template if h)

    # ----- input -------------------------------------------------------------------------

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        """Convert the payload in the direction its type says."""
        if self.rfc:
            if self.broken:
                return
            self.status({})
        if "reset" in msg:
            self.hdr_sent = False
        if "payload" not in msg:
            if "reset" not in msg:
                send(msg)
            return
        value = msg["payload"]
        if value is None or isinstance(value, dict | list | bytes | bytearray):
            if self.rfc:
                self._rfc_to_csv(msg, value, send, done)
            else:
                self._legacy_to_csv(msg, send)
        elif isinstance(value, str):
            if self.rfc:
                self._rfc_from_csv(msg, value, send, done)
            else:
                self._legacy_from_csv(msg, value, send)
        elif self.rfc:
            self.status({"fill": "red", "shape": "dot", "text": _CSV_JS})
            done(_CSV_JS)
        else:
            self.warn(_CSV_JS)

    # ----- RFC 4180 mode --------------------------------------------------------------

    def _rfc_to_csv(self, msg: Msg, data: Any, send: SendFn, done: DoneFn) -> None:
        rows: Any = data
        is_aoa = isinstance(data, list) and len(data) > 0 and isinstance(data[0], list)
        if not isinstance(data, list):
            rows = [data]
        elif data and data[0] is not None and not isinstance(data[0], dict | list | bytes):
            rows, is_aoa = [data], True
        parts = msg.get("parts")
        index = parts.get("index") if isinstance(parts, dict) else None
        later_part = isinstance(index, int | float) and index > 0
        if not (self.no_template and later_part):
            self.template = self._columns_to_template(self.template_text) or [""]
        template = self.template
        out: list[str] = []
        if self.hdrout in ("all", "once") and not self.hdr_sent:
            if not self._has_template(template):
                if "columns" in msg:
                    cols = msg["columns"] or ""
                    template = self._columns_to_template(js_value_str(cols), ",") or [""]
                else:
                    template = _keys(rows[0] if rows else MISSING) or [""]
            out.append(
                self.sep.join(
                    self._add_quotes(js_value_str(h or ""), self.sep, False) for h in template
                )
            )
            if self.hdrout == "once":
                self.hdr_sent = True
        for row in rows:
            if is_aoa:
                has_t = self._has_template(template)
                n = len(template) if has_t else len(row) if isinstance(row, list) else 0
                cells = []
                for t in range(n):
                    cell = _item(row, t)
                    if has_t and not template[t]:
                        cells.append("")
                        continue
                    cells.append(self._add_quotes(_ensure_string("" if cell is MISSING else cell)))
                out.append(self.sep.join(cells))
            else:
                if not self._has_template(template) and "columns" in msg:
                    cols = js_value_str(msg["columns"] or "")
                    template = self._columns_to_template(cols, ",") or []
                if not self._has_template(template):
                    if self.warn_template:
                        self.warn(_OBJ_CSV)
                        self.warn_template = False
                    template = _keys(row) or [""]
                    cells = []
                    for key in _keys(rows[0]):
                        cell = _item(row, key)
                        if cell is not MISSING and not isinstance(cell, dict | list | None):
                            cells.append(self._add_quotes(js_value_str(cell)))
                    out.append(self.sep.join(cells))
                else:
                    cells = []
                    for name in template:
                        if not name:
                            cells.append("")
                            continue
                        cell = _item(row, name)
                        cells.append(
                            self._add_quotes(_ensure_string("" if cell is MISSING else cell))
                        )
                    out.append(self.sep.join(cells))
        self.template = template
        msg["payload"] = self.ret.join(out) + self.ret
        msg["columns"] = self._columns_string(template)
        send(msg)

    def _rfc_from_csv(self, msg: Msg, text: str, send: SendFn, done: DoneFn) -> None:
        first = True
        last = False
        linecount = 0
        parts = msg.get("parts") if "parts" in msg else None
        has_parts = "parts" in msg
        if has_parts and isinstance(parts, dict):
            linecount = parts.get("index", 0)
            if linecount > self.skip:
                first = False
            if "count" in parts and parts.get("index", 0) + 1 >= parts["count"]:
                last = True
        cursor = 0
        if self.skip > 0 and linecount < self.skip:
            while cursor < len(text):
                if first and linecount < self.skip:
                    if text[cursor] in ("\r", "\n"):
                        linecount += 1
                    cursor += 1
                    continue
                break
            if cursor >= len(text):
                return
        crs = sum(1 for c in text[cursor:] if c in "\r\n")
        if has_parts and self.multi == "mult" and crs > 1:
            first = True
        if first and self.hdrin:
            try:
                head = parse(
                    text, cursor=cursor, separator=self.sep, quote=self.quo,
                    data_has_header_row=True, headers_only=True, output_style="array",
                    strict=True,
                )  # fmt: skip
            except CSVParseError as exc:
                self.status({"fill": "red", "shape": "dot", "text": _BAD_TEMPLATE})
                done(str(exc))
                return
            self.template = head.headers
            cursor = head.cursor
        res = parse(
            text, cursor=cursor, separator=self.sep, quote=self.quo, data_has_header_row=False,
            headers=self.template if self._has_template(self.template) else None,
            output_style="object", include_null_values=self.include_null,
            include_empty_strings=self.include_empty, parse_numeric=self.parse_numeric is True,
        )  # fmt: skip
        self._emit_rows(
            msg, res.data, self._columns_string(res.headers), has_parts, crs, last, send
        )

    def _emit_rows(
        self,
        msg: Msg,
        data: list[Any],
        columns: str,
        has_parts: bool,
        crs: int,
        last: bool,
        send: SendFn,
        pending: list[Any] | None = None,
    ) -> None:
        """Send parsed rows: one array, or one message per row with ``parts``."""
        if self.multi != "one":
            if has_parts and crs <= 1:
                self.store.extend(data if pending is None else pending)
                parts = msg.get("parts")
                if isinstance(parts, dict) and parts.get("index", 0) + 1 == parts.get("count"):
                    msg["payload"] = self.store
                    msg["columns"] = columns
                    del msg["parts"]
                    send(msg)
                    self.store = []
            else:
                msg["columns"] = columns
                msg["payload"] = data
                send(msg)
            return
        for i, row in enumerate(data):
            new = clone_msg(msg)
            new["columns"] = columns
            new["payload"] = row
            if not has_parts:
                new["parts"] = {"id": msg.get("_msgid"), "index": i, "count": len(data)}
            elif isinstance(new.get("parts"), dict):
                p = new["parts"]
                shift = self.skip + (1 if self.hdrin else 0)
                p["index"] = p.get("index", 0) - shift
                p["count"] = p.get("count", 0) - shift
            if last:
                new["complete"] = True
            send(new)
        if has_parts and last and not data:
            send({"complete": True})

    # ----- legacy mode ---------------------------------------------------------------

    def _legacy_to_csv(self, msg: Msg, send: SendFn) -> None:
        st = self.legacy
        parts = msg.get("parts")
        later = (
            isinstance(parts, dict) and isinstance(parts.get("index"), int) and parts["index"] > 0
        )
        if not (self.no_template and later):
            st.template, st.good = legacy_clean(self.template_text, self.sep)
        template: list[Any] = st.template
        payload = msg["payload"]
        if not isinstance(payload, list):
            payload = msg["payload"] = [payload]
        out: list[str] = []
        if self.hdrout != "none" and not self.hdr_sent:
            if len(template) == 1 and template[0] == "":
                if "columns" in msg:
                    template, st.good = legacy_clean(js_value_str(msg["columns"] or ""), ",")
                else:
                    template = _keys(payload[0] if payload else MISSING)
            out.append(self.sep.join(f'"{v}"' if self.sep in v else v for v in template))
            if self.hdrout == "once":
                self.hdr_sent = True
        for s in range(len(payload)):
            row = payload[s]
            if isinstance(row, list) or not isinstance(row, dict | None):
                if not isinstance(row, list):
                    payload = [payload]
                    row = payload[s]
                cells = []
                for cell in row:
                    text = js_value_str("" if cell is MISSING else cell)
                    if self.quo in text:
                        text = self.quo + text.replace('"', '""') + self.quo
                    elif self.sep in text or "\n" in text:
                        text = self.quo + text + self.quo
                    cells.append(text)
                out.append(self.sep.join(cells))
                continue
            if len(template) == 1 and template[0] == "" and "columns" in msg:
                template, st.good = legacy_clean(js_value_str(msg["columns"] or ""), ",")
            if len(template) == 1 and template[0] == "":
                if self.warn_template:
                    self.warn(_OBJ_CSV)
                    self.warn_template = False
                cells = []
                for key in _keys(payload[0]):
                    cell = _item(row, key)
                    if cell is MISSING or isinstance(cell, dict | list | None):
                        continue
                    q = js_value_str(cell)
                    if self.quo in q:
                        cells.append(self.quo + q.replace('"', '""') + self.quo)
                    elif self.sep in q or "\n" in key:
                        cells.append(self.quo + q + self.quo)
                    else:
                        cells.append(q)
                out.append(self.sep.join(cells))
            else:
                cells = []
                for name in template:
                    if name == "":
                        cells.append("")
                        continue
                    cell = _item(row, name)
                    p = _ensure_string("" if cell is MISSING else cell)
                    if self.quo in p:
                        cells.append(self.quo + p.replace('"', '""') + self.quo)
                    elif self.sep in p or "\n" in p:
                        cells.append(self.quo + p + self.quo)
                    else:
                        cells.append(p)
                out.append(self.sep.join(cells))
        st.template = template
        msg["payload"] = self.ret.join(out) + self.ret
        msg["columns"] = ",".join(f'"{v}"' if "," in v else v for v in template)
        send(msg)

    def _legacy_from_csv(self, msg: Msg, text: str, send: SendFn) -> None:
        st = self.legacy
        first = True
        last = False
        linecount = 0
        has_parts = "parts" in msg
        parts = msg.get("parts")
        if has_parts and isinstance(parts, dict):
            linecount = parts.get("index", 0)
            if linecount > self.skip:
                first = False
            if "count" in parts and parts.get("index", 0) + 1 >= parts["count"]:
                last = True
        crs = sum(1 for c in text if c in "\r\n")
        if has_parts and self.multi == "mult" and crs > 1:
            first = True
        st.bad_csv = False
        rows, final = legacy_parse(text, st, first, linecount)
        if st.bad_csv:
            self.warn(_BAD_CSV)
        columns = ",".join(f'"{v}"' if "," in v else v for v in st.template if v)
        pending = [final] if final else []
        self._emit_rows(msg, rows, columns, has_parts, crs, last, send, pending)
