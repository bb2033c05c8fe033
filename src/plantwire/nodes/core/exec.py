"""exec: run a system command and send its output, error output and return code."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from typing import Any

from pydantic import Field, field_validator

from plantwire.expressions import get_msg_property, to_js_string
from plantwire.runtime.message import MISSING, Msg, clone_msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, OptFloat, node_type

__all__ = ["ExecNode", "split_command"]

_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')
CHUNK = 65536


def split_command(line: str) -> list[str]:
    """Split a spawn-mode command line at spaces; a token wholly in quotes loses them."""
    out = []
    for token in _TOKEN.findall(line):
        if len(token) >= 2 and token.startswith('"') and token.endswith('"'):
            token = token[1:-1]
        out.append(token)
    return out


def _text_or_bytes(data: bytes) -> str | bytes:
    """A string when ``data`` is valid UTF-8 (Node-RED's isUtf8 test), else the bytes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"SIG{-rc}"


class ExecConfig(NodeConfig):
    command: str = Field("", description="The command to run.")
    addpay: str = Field(
        "payload",
        description="Message property appended to the command (empty: none); "
        "true in old flows means payload.",
    )
    append: str = Field("", description="Extra arguments appended after the property.")
    useSpawn: LooseBool = Field(
        False,
        description='"true": spawn mode, output sent line by line while the command runs, no '
        'shell; "false": exec mode, output sent when the command ends, run by a shell.',
    )
    timer: OptFloat = Field(None, description="Seconds after which the command is killed.")
    winHide: LooseBool = Field(False, description="Hide the console window (Windows only).")
    oldrc: LooseBool = Field(
        False, description="Old-style return code: a number instead of {code: n}."
    )

    @field_validator("addpay", mode="before")
    @classmethod
    def _addpay(cls, value: Any) -> Any:
        if value is True:
            return "payload"
        if value is None or value is False:
            return ""
        return value

    @field_validator("command", "append", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value


@node_type("exec")
class ExecNode(Node):
    """Runs a command and sends its stdout, stderr and return code on three outputs.

    The command line is ``command``, then the message property ``addpay`` (usually
    ``msg.payload``), then ``append``. Exec mode runs it with a shell (bash where
    present) and sends everything when it ends: stdout as ``msg.payload`` on output 1,
    stderr on output 2 (only if any), ``{code}`` (or ``{code, message, signal}`` on
    failure) on output 3, also copied to ``msg.rc``. Spawn mode runs it directly (no
    shell; quoted arguments kept together) and sends output chunks as they arrive, then
    the return code. A string is sent when the output is valid UTF-8, else a Buffer.
    ``timer`` kills the command after that many seconds; ``msg.kill`` (a signal name,
    default SIGTERM) kills the running command (``msg.pid`` chooses one).
    """

    config_model = ExecConfig
    category = "function"
    outputs = 3
    manual_done = True
    color = "darksalmon"
    icon = "arrow-in.svg"

    def __init__(self, flow: Any, config: ExecConfig) -> None:
        super().__init__(flow, config)
        self.cmd = config.command.strip()
        self.addpay = config.addpay
        self.append = config.append.strip()
        self.use_spawn = config.useSpawn
        self.timer = config.timer or 0.0
        self.oldrc = config.oldrc
        self.active: dict[int, asyncio.subprocess.Process] = {}
        self.shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if "kill" in msg:
            self._kill(msg)
            done()
            return
        line = self.cmd
        if self.addpay:
            value = get_msg_property(msg, self.addpay)
            if value is not MISSING:
                line += " " + to_js_string(value)
        if self.append:
            line += " " + self.append
        if self.use_spawn:
            args = split_command(line)
            if not args:
                raise ValueError("no command to run")
            self.create_task(self._spawn(args, msg, send, done))
        else:
            self.create_task(self._exec(line, msg, send, done))

    def _kill(self, msg: Msg) -> None:
        name = msg["kill"]
        if not isinstance(name, str) or not name or not name.upper().startswith("SIG"):
            name = "SIGTERM"
            msg["kill"] = name
        sig = getattr(signal, name.upper(), None)
        if not isinstance(sig, signal.Signals):
            raise ValueError(f"Unknown signal: {name}")
        proc: asyncio.subprocess.Process | None = None
        if "pid" in msg:
            pid = msg["pid"]
            proc = self.active.get(pid) if isinstance(pid, int) else None
            if proc is None and isinstance(pid, str) and pid.isdigit():
                proc = self.active.get(int(pid))
        elif len(self.active) == 1:
            proc = next(iter(self.active.values()))
        if proc is not None:
            self._signal(proc, sig)
            self.status("red", "dot", "killed")

    @staticmethod
    def _signal(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
        """Signal the command and everything it started (its own process group)."""
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    def _start_timer(self, proc: asyncio.subprocess.Process) -> asyncio.TimerHandle | None:
        if self.timer > 0:
            return self.call_later(self.timer, lambda: self._signal(proc))
        return None

    async def _exec(self, line: str, msg: Msg, send: SendFn, done: DoneFn) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.shell,
            "-c",
            line,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self.status("blue", "dot", f"pid:{proc.pid}")
        self.active[proc.pid] = proc
        timer = self._start_timer(proc)
        try:
            stdout, stderr = await proc.communicate()
        finally:
            self.cancel_timer(timer)
            self.active.pop(proc.pid, None)
        rc = proc.returncode if proc.returncode is not None else 0
        msg.pop("payload", None)
        msg2: Msg | None = None
        msg3: Msg | None = None
        if stderr:
            msg2 = clone_msg(msg)
            msg2["payload"] = _text_or_bytes(stderr)
        msg["payload"] = _text_or_bytes(stdout)
        self.status({})
        if rc != 0:
            msg3 = clone_msg(msg)
            code = None if rc < 0 else rc
            err_text = stderr.decode("utf-8", errors="replace")
            result: dict[str, Any] = {
                "code": code,
                "message": f"Command failed: {line}\n{err_text}",
            }
            if rc < 0:
                result["signal"] = _signal_name(rc)
                self.status("red", "dot", "killed")
            else:
                self.status("red", "dot", f"error:{code}")
            msg3["payload"] = result
        elif not self.oldrc:
            msg3 = clone_msg(msg)
            msg3["payload"] = {"code": 0}
        if msg3 is not None:
            msg["rc"] = dict(msg3["payload"])
            if msg2 is not None:
                msg2["rc"] = dict(msg3["payload"])
        send([msg, msg2, msg3])
        done()

    async def _spawn(self, args: list[str], msg: Msg, send: SendFn, done: DoneFn) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:  # unknown command: Node-RED reports a negative errno as rc
            self.status("blue", "dot", "pid:undefined")
            self._finish_spawn(-(exc.errno or 1), None, msg, send, done)
            return
        self.status("blue", "dot", f"pid:{proc.pid}")
        self.active[proc.pid] = proc
        timer = self._start_timer(proc)

        async def pump(stream: asyncio.StreamReader | None, port: int) -> None:
            while stream is not None:
                data = await stream.read(CHUNK)
                if not data:
                    return
                if proc.pid in self.active:
                    msg["payload"] = _text_or_bytes(data)
                    out: list[Any] = [None, None, None]
                    out[port] = clone_msg(msg)
                    send(out)

        try:
            await asyncio.gather(pump(proc.stdout, 0), pump(proc.stderr, 1))
            rc = await proc.wait()
        finally:
            self.cancel_timer(timer)
        if self.active.pop(proc.pid, None) is not None:
            if rc < 0:
                self._finish_spawn(None, _signal_name(rc), msg, send, done)
            else:
                self._finish_spawn(rc, None, msg, send, done)
        else:
            done()

    def _finish_spawn(
        self, code: int | None, sig: str | None, msg: Msg, send: SendFn, done: DoneFn
    ) -> None:
        if self.oldrc:
            msg["payload"] = code
        else:
            payload: dict[str, Any] = {"code": code}
            if sig:
                payload["signal"] = sig
            msg["payload"] = payload
        if code == 0:
            self.status({})
        if code is None:
            self.status("red", "dot", "killed")
        elif code < 0:
            self.status("red", "dot", f"rc:{code}")
        else:
            self.status("yellow", "dot", f"rc:{code}")
        send([None, None, clone_msg(msg)])
        done()

    async def close(self, removed: bool) -> None:
        procs = list(self.active.values())
        self.active.clear()
        for proc in procs:
            self._signal(proc)
        self.status({})
