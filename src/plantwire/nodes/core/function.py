"""function: run the user's Python code for every message."""

from __future__ import annotations

import ast
import asyncio
import importlib
import importlib.util
import keyword
from collections.abc import Callable, Coroutine
from types import CodeType, SimpleNamespace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plantwire.runtime.message import MISSING, Msg, clone_msg, new_msgid
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseInt, NodeConfig, OptFloat, node_type

__all__ = ["FunctionNode", "FunctionTimeoutError", "compile_body"]

PARAMS = ("msg", "node", "context", "flow", "global_", "env")
RESERVED = frozenset({*PARAMS, "RED", "__builtins__"})
_BODY = "__plantwire_body__"
UserFunc = Callable[..., Coroutine[Any, Any, Any]]


class _Finder(ast.NodeVisitor):
    """Finds ``yield`` in the body itself and calls of ``node.done()`` anywhere."""

    def __init__(self) -> None:
        self.yield_line = 0
        self.calls_done = False
        self._depth = 0

    def _nested(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = _nested
    visit_AsyncFunctionDef = _nested
    visit_Lambda = _nested

    def _yield(self, node: ast.Yield | ast.YieldFrom) -> None:
        if self._depth == 0 and not self.yield_line:
            self.yield_line = node.lineno
        self.generic_visit(node)

    visit_Yield = _yield
    visit_YieldFrom = _yield

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if (
            isinstance(f, ast.Attribute)
            and f.attr == "done"
            and isinstance(f.value, ast.Name)
            and f.value.id == "node"
        ):
            self.calls_done = True
        self.generic_visit(node)


def compile_body(source: str, where: str) -> tuple[CodeType, bool]:
    """Compile ``source`` as the body of ``async def`` taking :data:`PARAMS`.

    Returns the code of a module that defines the function, and whether the code
    calls ``node.done()``. Raises ValueError naming the line of a syntax error.
    """
    hint = "Plantwire's function node runs Python code, not JavaScript"
    try:
        tree = ast.parse(source, filename=where)
        finder = _Finder()
        finder.visit(tree)
        if finder.yield_line:
            raise ValueError(
                f"'yield' is not allowed in a function node (line {finder.yield_line})"
            )
        args = ast.arguments(
            posonlyargs=[],
            args=[ast.arg(arg=p) for p in PARAMS],
            vararg=None,
            kwonlyargs=[],
            kw_defaults=[],
            kwarg=None,
            defaults=[],
        )
        func = ast.AsyncFunctionDef(
            name=_BODY,
            args=args,
            body=tree.body or [ast.Pass()],
            decorator_list=[],
            returns=None,
            lineno=1,
            col_offset=0,
        )
        module = ast.Module(body=[func], type_ignores=[])
        ast.fix_missing_locations(module)
        code = compile(module, where, "exec")
    except SyntaxError as exc:
        raise ValueError(f"not valid Python: {exc.msg} (line {exc.lineno}). {hint}") from None
    return code, finder.calls_done


class LibSpec(BaseModel):
    """One module the code uses: ``module`` is imported and bound to the name ``var``."""

    model_config = ConfigDict(extra="allow")

    var: str = Field(description="Name the module is bound to in the code.")
    module: str = Field(description="Importable Python module, e.g. math or statistics.")


class FunctionConfig(NodeConfig):
    func: str = Field(
        "\nreturn msg;",
        description="Python code run for each message: the body of an async function with "
        "msg, node, context, flow, global_ and env in scope; return the message(s) to send.",
    )
    outputs: LooseInt = Field(1, description="Number of outputs.")
    timeout: OptFloat = Field(
        0, description="Seconds the code may take per message (0: no limit). Applies to awaits."
    )
    noerr: Any = Field(0, description="Editor bookkeeping: count of syntax errors (ignored).")
    initialize: str = Field("", description="On Start: Python code run when the node starts.")
    finalize: str = Field("", description="On Stop: Python code run when the node stops.")
    libs: list[LibSpec] = Field(
        default_factory=list,
        description="Modules to import: a list of {var, module}; module is bound to var.",
    )

    @field_validator("func", "initialize", "finalize", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("func")
    @classmethod
    def _check_func(cls, value: str) -> str:
        compile_body(value, "func")
        return value

    @field_validator("initialize")
    @classmethod
    def _check_initialize(cls, value: str) -> str:
        compile_body(value, "initialize")
        return value

    @field_validator("finalize")
    @classmethod
    def _check_finalize(cls, value: str) -> str:
        compile_body(value, "finalize")
        return value

    @field_validator("outputs")
    @classmethod
    def _check_outputs(cls, value: int) -> int:
        if value < 0:
            raise ValueError("outputs must be 0 or more")
        return value

    @field_validator("libs", mode="before")
    @classmethod
    def _libs(cls, value: Any) -> Any:
        return [] if value is None or value == "" else value

    @model_validator(mode="after")
    def _check_libs(self) -> FunctionConfig:
        for lib in self.libs:
            if not lib.var.isidentifier() or keyword.iskeyword(lib.var) or lib.var in RESERVED:
                raise ValueError(f"libs: invalid module variable name: {lib.var!r}")
            try:
                found = importlib.util.find_spec(lib.module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise ValueError(f"libs: Python module {lib.module!r} is not installed")
        return self


class FunctionTimeoutError(Exception):
    """The code of a function node ran longer than its timeout."""


class _ContextAPI:
    """A context scope for user code: ``get``/``set``/``keys`` (absent values are None)."""

    def __init__(self, view: Any) -> None:
        self._view = view

    def get(self, key: str, store: str | None = None) -> Any:
        value = self._view.get(key, store)
        return None if value is MISSING else value

    def set(self, key: str, value: Any, store: str | None = None) -> None:
        self._view.set(key, value, store)

    def delete(self, key: str, store: str | None = None) -> None:
        self._view.set(key, MISSING, store)

    def keys(self, store: str | None = None) -> list[str]:
        return list(self._view.keys(store))


class _NodeContextAPI(_ContextAPI):
    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self.flow = _ContextAPI(view.flow)
        self.global_ = _ContextAPI(view.global_)


class _EnvAPI:
    def __init__(self, node: Node) -> None:
        self._node = node

    def get(self, name: str) -> Any:
        value = self._node.get_env(name)
        return None if value is MISSING else value


_JS_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", bytes: "Buffer"}


class _NodeAPI:
    """The ``node`` object user code sees while it handles one message."""

    def __init__(
        self, owner: FunctionNode, msgid: str | None, send: SendFn | None, done: DoneFn | None
    ) -> None:
        self._owner = owner
        self._msgid = msgid
        self._send = send
        self._done = done
        self.id = owner.id
        self.name = owner.name
        self.path = f"{owner.flow.path}/{owner.alias or owner.id}"
        self.outputCount = owner.n_outputs

    def send(self, msgs: Any, clone: bool = True) -> None:
        """Send message(s) now; the first message is copied unless ``clone=False``."""
        if self._send is None:
            self._owner.error("Cannot send from close function")
            return
        self._owner.send_results(self._send, self._msgid or new_msgid(), msgs, clone)

    def done(self, err: Any = None) -> None:
        if self._done is not None:
            self._done(err)

    def status(self, fill: Any = None, shape: str | None = None, text: Any = None) -> None:
        self._owner.clear_status = True
        self._owner.status(fill, shape, text)

    def error(self, err: Any, msg: Msg | None = None) -> None:
        self._owner.error(err, msg)

    def warn(self, text: Any) -> None:
        self._owner.warn(text)

    def log(self, text: Any) -> None:
        self._owner.log(text)

    def debug(self, text: Any) -> None:
        self._owner.debug(text)

    def trace(self, text: Any) -> None:
        self._owner.debug(text)


@node_type("function")
class FunctionNode(Node):
    """Runs Python code (not JavaScript) for every message.

    Plantwire's function node runs **Python**: a Node-RED flow whose function node
    holds JavaScript is refused at deploy ("not valid Python", naming the node and the
    field ``func``). The code is the body of an ``async def`` with ``msg``, ``node``
    (``send(msg)``, ``done()``, ``status(...)``, ``warn``, ``error(err, msg)``, ``log``,
    ``id``, ``name``, ``outputCount``), ``context``/``flow``/``global_`` (``get``/``set``/
    ``keys``; ``context.flow`` and ``context.global_`` too), ``env.get(name)``, ``RED.util``
    and the modules of ``libs`` in scope; it may ``await``. Return the message, a list
    with one entry per output (an entry may be a list of messages), or None to send
    nothing. Messages are handled one at a time, in order.

    An exception the code raises is a catchable error with the Python message.
    ``timeout`` limits each run; it acts at ``await`` points only: CPU-bound code that
    never awaits blocks the whole runtime while it runs. On Start runs when the node
    starts (messages wait for it), On Stop when it stops. Names declared ``global`` are
    shared by all three pieces of code of one node.
    """

    config_model = FunctionConfig
    category = "function"
    manual_done = True
    color = "#fdd0a2"
    icon = "function.svg"

    def __init__(self, flow: Any, config: FunctionConfig) -> None:
        super().__init__(flow, config)
        self.n_outputs = config.outputs
        self.outputs = config.outputs
        seconds = config.timeout or 0.0
        if seconds <= 0:
            seconds = float(getattr(flow.runtime.settings, "function_timeout", 0.0) or 0.0)
        self.timeout = seconds
        self.libs = list(config.libs)
        self._code, self._calls_done = compile_body(config.func, "func")
        init = config.initialize.strip()
        fin = config.finalize.strip()
        self._init_code = compile_body(init, "initialize")[0] if init else None
        self._fin_code = compile_body(fin, "finalize")[0] if fin else None
        self._globals: dict[str, Any] = {}
        self._func: UserFunc | None = None
        self._ready: asyncio.Task[None] | None = None
        self._failed = False
        self.clear_status = False

    def _load(self, code: CodeType) -> UserFunc:
        scope: dict[str, Any] = {}
        exec(code, self._globals, scope)  # running the user's code is the point
        func: UserFunc = scope[_BODY]
        return func

    def _args(self, msg: Any, api: _NodeAPI) -> tuple[Any, ...]:
        ctx = _NodeContextAPI(self.context())
        return (msg, api, ctx, ctx.flow, ctx.global_, _EnvAPI(self))

    async def _run(self, func: UserFunc, msg: Any, api: _NodeAPI) -> Any:
        coro = func(*self._args(msg, api))
        if self.timeout <= 0:
            return await coro
        limit = asyncio.timeout(self.timeout)
        try:
            async with limit:
                return await coro
        except TimeoutError:
            if limit.expired():
                ms = round(self.timeout * 1000)
                raise FunctionTimeoutError(f"Script execution timed out after {ms}ms") from None
            raise

    async def start(self) -> None:
        self._globals = {
            "__builtins__": __builtins__,
            "__name__": f"plantwire.function.{self.id}",
            "RED": SimpleNamespace(
                util=SimpleNamespace(cloneMessage=clone_msg, generateId=new_msgid)
            ),
        }
        for lib in self.libs:
            self._globals[lib.var] = None
            try:
                self._globals[lib.var] = importlib.import_module(lib.module)
            except Exception as exc:
                self.error(f"Failed to load module {lib.module}: {exc}")
                self._failed = True
        self._func = self._load(self._code)
        if self._init_code is not None and not self._failed:
            self._ready = self.create_task(self._initialize(self._load(self._init_code)))

    async def _initialize(self, func: UserFunc) -> None:
        api = _NodeAPI(self, None, self.send, None)
        try:
            await self._run(func, None, api)
        except Exception as exc:
            self._failed = True
            self.error(exc)

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if self._ready is not None and not self._ready.done():
            await asyncio.wait([self._ready])
        if self._failed or self._func is None:
            return
        msgid = msg.get("_msgid")
        api = _NodeAPI(self, msgid if isinstance(msgid, str) else None, send, done)
        try:
            result = await self._run(self._func, msg, api)
        except Exception as exc:
            done(exc)
            return
        self.send_results(send, api._msgid or new_msgid(), result, False)
        if not self._calls_done:
            done()

    def send_results(self, send: SendFn, msgid: str, msgs: Any, clone_first: bool) -> None:
        """Node-RED's sendResults: normalise, check and stamp ``_msgid``, then send."""
        if msgs is None:
            return
        if not isinstance(msgs, list | tuple):
            msgs = [msgs]
        out: list[Any] = []
        count = 0
        for entry in msgs:
            if entry is None:
                out.append(None)
                continue
            batch = list(entry) if isinstance(entry, list | tuple) else [entry]
            kept: list[Any] = []
            for m in batch:
                if m is None:
                    continue
                if isinstance(m, dict):
                    if count == 0 and clone_first:
                        m = clone_msg(m)
                    m["_msgid"] = msgid
                    count += 1
                    kept.append(m)
                else:
                    kind = (
                        "Array"
                        if isinstance(m, list | tuple)
                        else _JS_TYPES.get(type(m), type(m).__name__)
                    )
                    self.error(f"Function tried to send a message of type {kind}")
            out.append(kept)
        if count:
            send(out)

    async def close(self, removed: bool) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
        if self._fin_code is not None and self._globals:
            api = _NodeAPI(self, None, None, None)
            try:
                await self._run(self._load(self._fin_code), None, api)
            except Exception as exc:
                self.error(exc)
        if self.clear_status:
            self.status({})
