"""file and file in: write (append, overwrite, delete) and read files."""

from __future__ import annotations

import asyncio
import codecs
import errno
import os
from typing import IO, Any

from pydantic import Field, field_validator, model_validator

from plantwire.expressions import js_number_to_string, prepare_typed, to_js_string
from plantwire.expressions.typed import TypedValue
from plantwire.nodes.core.parsers_json_codec import js_stringify
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, node_type

__all__ = ["FileInNode", "FileNode", "python_codec"]

CHUNK = 65536
"""Read size: Node.js's file stream high-water mark, which decides stream chunks."""

_ALIASES = {
    "none": "utf-8",
    "binary": "latin-1",
    "ucs2": "utf-16-le",
    "ucs-2": "utf-16-le",
    "utf16le": "utf-16-le",
    "utf16be": "utf-16-be",
}
_LIBUV = {
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EISDIR: "illegal operation on a directory",
    errno.ENOTDIR: "not a directory",
    errno.EEXIST: "file already exists",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
}


def python_codec(encoding: str) -> str:
    """The Python codec for an iconv-lite encoding name (``none`` is UTF-8)."""
    name = _ALIASES.get(encoding.lower(), encoding)
    for candidate in (name, name.lower().replace("win", "cp", 1)):
        try:
            return codecs.lookup(candidate).name
        except LookupError:
            continue
    raise LookupError(f"unknown encoding {encoding!r}")


def fs_error_text(exc: OSError, syscall: str, path: str) -> str:
    """The text of a Node.js fs error: ``Error: ENOENT: no such file or directory, open 'x'``."""
    code = errno.errorcode.get(exc.errno or 0, "EIO")
    desc = _LIBUV.get(exc.errno or 0, (exc.strerror or str(exc)).lower())
    return f"Error: {code}: {desc}, {syscall} '{path}'"


def _filename_typed(filename: str, ftype: str) -> tuple[str, str]:
    """Node-RED's in-place upgrade: no type means msg.filename when empty, else a string."""
    if not ftype:
        return ("filename", "msg") if filename == "" else (filename, "str")
    return filename, ftype


class _FileBase(NodeConfig):
    filename: str = Field(
        "", description="File name (absolute path, or relative to the working directory)."
    )
    filenameType: str = Field(
        "str", description="How filename is read: str, msg, flow, global, env or jsonata."
    )
    encoding: str = Field(
        "none", description='Text encoding ("none" is UTF-8; "setbymsg": msg.encoding).'
    )

    @field_validator("filename", "filenameType", "encoding", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    @model_validator(mode="after")
    def _check(self) -> _FileBase:
        name, ftype = _filename_typed(self.filename, self.filenameType)
        try:
            prepare_typed(name, ftype)
        except Exception as exc:
            raise ValueError(f"filename: {exc}") from None
        if self.encoding not in ("", "none", "setbymsg"):
            try:
                python_codec(self.encoding)
            except LookupError as exc:
                raise ValueError(f"encoding: {exc.args[0]}") from None
        return self


class FileConfig(_FileBase):
    appendNewline: LooseBool = Field(True, description="Add a newline after each payload.")
    createDir: LooseBool = Field(False, description="Create the directory if it does not exist.")
    overwriteFile: str = Field(
        "false", description='"false": append; "true": overwrite; "delete": delete the file.'
    )

    @field_validator("overwriteFile", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        text = {True: "true", False: "false", None: "false"}.get(value, value)
        if text not in ("true", "false", "delete"):
            raise ValueError(f'must be "true", "false" or "delete", not {value!r}')
        return text


class FileInConfig(_FileBase):
    format: str = Field(
        "utf8",
        description='"utf8": one string; "lines": a message per line; "stream": a message '
        'per 64 kB chunk of Buffer; "": one Buffer.',
    )
    chunk: LooseBool = Field(False, description="Legacy flag, ignored (format decides).")
    sendError: LooseBool = Field(
        True, description="Also send a message with msg.error on an error (legacy mode)."
    )
    allProps: LooseBool = Field(
        False, description="Copy every property of the input message into each message."
    )

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        value = "" if value is None else value
        if value not in ("utf8", "lines", "stream", ""):
            raise ValueError(f'must be "utf8", "lines", "stream" or "", not {value!r}')
        return value


class _FileNodeBase(Node):
    category = "storage"
    color = "BurlyWood"

    def __init__(self, flow: Any, config: FileConfig | FileInConfig) -> None:
        super().__init__(flow, config)
        name, ftype = _filename_typed(config.filename, config.filenameType)
        self.filename = name
        self.filename_type = ftype
        self._filename: TypedValue = prepare_typed(name, ftype)
        self.encoding = config.encoding or "none"

    def _evaluate_filename(self, msg: Msg) -> str:
        value = self._filename.evaluate(self, msg)
        if value is None or value is MISSING:
            return ""
        return value if isinstance(value, str) else to_js_string(value)

    async def close(self, removed: bool) -> None:
        self.status({})


@node_type("file")
class FileNode(_FileNodeBase):
    """Writes ``msg.payload`` to a file (append or overwrite), or deletes the file.

    Objects are written as JSON, numbers and booleans as text, Buffers as they are; a
    newline follows each payload when asked (not after the last part of a split
    string). The file name may come from the message (``msg.filename`` is set to it).
    The message is sent on once the write is finished; messages are written in order.
    """

    config_model = FileConfig
    icon = "file-out.svg"

    def __init__(self, flow: Any, config: FileConfig) -> None:
        super().__init__(flow, config)
        self.append_newline = config.appendNewline
        self.create_dir = config.createDir
        self.overwrite = config.overwriteFile

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        filename = self._evaluate_filename(msg)
        msg["filename"] = filename
        if not self.filename:
            self.status("grey", "dot", filename)
        if filename == "":
            self.warn("No filename specified")
            return
        if self.overwrite == "delete":
            try:
                await asyncio.to_thread(os.unlink, filename)
            except OSError as exc:
                text = fs_error_text(exc, "unlink", filename)
                self.error(f"failed to delete file: {text}", msg)
                return
            send(msg)
            return
        payload = msg.get("payload", MISSING)
        if payload is MISSING:
            return
        if self.create_dir:
            folder = os.path.dirname(filename)
            try:
                if folder:
                    await asyncio.to_thread(os.makedirs, folder, exist_ok=True)
            except OSError as exc:
                text = fs_error_text(exc, "mkdir", folder)
                self.error(f"failed to create file: {text}", msg)
                return
        encoding = self.encoding
        if encoding == "setbymsg":
            encoding = msg.get("encoding") or "none"
        data = self._encode(payload, msg, str(encoding))
        mode = "wb" if self.overwrite == "true" else "ab"
        try:
            await asyncio.to_thread(_write, filename, mode, data)
        except OSError as exc:
            what = "write to" if mode == "wb" else "append to"
            text = fs_error_text(exc, "open", filename)
            self.error(f"failed to {what} file: {text}", msg)
            return
        send(msg)

    def _encode(self, payload: Any, msg: Msg, encoding: str) -> bytes:
        if isinstance(payload, bytes | bytearray):
            return bytes(payload)
        if isinstance(payload, bool):
            text = "true" if payload else "false"
        elif isinstance(payload, int | float):
            text = js_number_to_string(payload)
        elif isinstance(payload, str):
            text = payload
        else:
            out = js_stringify(payload)
            text = "" if out is MISSING else str(out)
        parts = msg.get("parts")
        last_part = (
            isinstance(parts, dict)
            and parts.get("type") == "string"
            and isinstance(parts.get("index"), int | float)
            and parts.get("count") == parts["index"] + 1
        )
        if self.append_newline and not last_part:
            text += "\n"
        return text.encode(python_codec(encoding))


def _write(filename: str, mode: str, data: bytes) -> None:
    with open(filename, mode) as fh:
        fh.write(data)


@node_type("file in")
class FileInNode(_FileNodeBase):
    """Reads a file and sends its content as a string, a Buffer, lines or chunks.

    ``msg.filename`` is set to the file name. "lines" sends a message per line and
    "stream" a message per 64 kB Buffer, each with ``msg.parts`` so a join node can
    reassemble them; these messages carry only ``topic`` and ``filename`` unless
    ``allProps`` is set. A read error is a catchable error; with ``sendError`` a message
    without payload and with ``msg.error`` is sent as well.
    """

    config_model = FileInConfig
    icon = "file-in.svg"

    def __init__(self, flow: Any, config: FileInConfig) -> None:
        super().__init__(flow, config)
        self.format = config.format
        self.send_error = config.sendError
        self.all_props = config.allProps

    def _part(self, msg: Msg) -> Msg:
        if self.all_props:
            return clone_msg(msg)
        m: Msg = {}
        if "topic" in msg:
            m["topic"] = msg["topic"]
        m["filename"] = msg.get("filename")
        return m

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        filename = self._evaluate_filename(msg)
        for ch in "\t\r\n":
            filename = filename.replace(ch, "")
        if not self.filename:
            self.status("grey", "dot", filename)
        if filename == "":
            self.warn("No filename specified")
            return
        msg["filename"] = filename
        fh: IO[bytes] | None = None
        try:
            fh = await asyncio.to_thread(open, filename, "rb")
            await self._read(fh, msg, send)
        except OSError as exc:
            self._fail(exc, "open" if fh is None else "read", filename, msg, send)
        finally:
            if fh is not None:
                await asyncio.to_thread(fh.close)

    def _fail(self, exc: OSError, syscall: str, filename: str, msg: Msg, send: SendFn) -> None:
        text = fs_error_text(exc, syscall, filename)
        self.error(text, msg)
        if self.send_error:
            out = clone_msg(msg)
            out.pop("payload", None)
            out["error"] = {
                "message": text[len("Error: ") :],
                "errno": -(exc.errno or 0),
                "code": errno.errorcode.get(exc.errno or 0, "EIO"),
                "syscall": syscall,
                "path": filename,
            }
            send(out)

    async def _read(self, fh: IO[bytes], msg: Msg, send: SendFn) -> None:
        fmt = self.format
        if fmt in ("utf8", ""):
            data = await asyncio.to_thread(fh.read)
            if fmt == "utf8":
                msg["payload"] = data.decode(python_codec(self.encoding), errors="replace")
            else:
                msg["payload"] = data
            send(msg)
            return
        msgid = msg.get("_msgid")
        ch, kind = ("\n", "string") if fmt == "lines" else ("", "buffer")
        decoder = codecs.getincrementaldecoder(python_codec(self.encoding))(errors="replace")
        spare = ""
        count = 0
        pending_end = False
        while True:
            chunk = await asyncio.to_thread(fh.read, CHUNK)
            if not chunk:
                break
            if fmt == "lines":
                spare += decoder.decode(chunk)
                bits = spare.split("\n")
                for line in bits[:-1]:
                    m = self._part(msg)
                    m["payload"] = line
                    m["parts"] = {"index": count, "ch": ch, "type": kind, "id": msgid}
                    count += 1
                    send(m)
                spare = bits[-1]
            else:
                m = self._part(msg)
                m["payload"] = chunk
                m["parts"] = {"index": count, "ch": ch, "type": kind, "id": msgid}
                count += 1
                pending_end = True
                if len(chunk) < CHUNK:
                    pending_end = False
                    m["parts"]["count"] = count
                send(m)
                if not pending_end:
                    break
        if fmt == "lines":
            m = self._part(msg)
            m["payload"] = spare + decoder.decode(b"", final=True)
            m["parts"] = {"index": count, "count": count + 1, "ch": ch, "type": kind, "id": msgid}
            send(m)
        elif pending_end:  # the file ended exactly on a chunk boundary
            send({"parts": {"index": count, "count": count, "ch": ch, "type": kind, "id": msgid}})
