"""JSONata expressions with Node-RED's extra functions, on top of jsonata-python.

Node-RED (``prepareJSONataExpression``) adds ``$flowContext(key[, store])``,
``$globalContext(key[, store])``, ``$env(name)``, ``$moment(...)`` and ``$clone(obj)``.
If the expression mentions ``msg`` (legacy mode) the input is ``{"msg": msg}``
instead of the message itself.

Re-using one compiled ``jsonata.Jsonata`` object is not safe as-is: evaluation
writes per-call state (``timestamp``, ``input``, ``environment``) on the object and
looks the *current* instance up through a thread-local that is overwritten by every
compile. So each evaluation works on a shallow copy of the compiled object (the
parsed AST is shared, read-only), made current for the duration of the call, and
always evaluates in a fresh binding frame. That makes a compiled expression safe to
share between nodes, threads and nested evaluations.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jsonata import Jsonata, Utils
from jsonata.jexception import JException

from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING, clone_msg, clone_value

from .dates import moment_format
from .protocols import NodeLike

__all__ = ["JsonataExpression", "compile_jsonata", "from_jsonata", "to_jsonata"]

_LEGACY_MSG = re.compile(r"(^|[^a-zA-Z0-9_'\".])msg([^a-zA-Z0-9_'\"]|$)")
_NULL = Utils.NULL_VALUE


def _message(err: BaseException) -> str:
    text = str(err) or err.__class__.__name__
    return text


class _Callable(Jsonata.JFunctionCallable):  # type: ignore[misc]
    """Adapts a Python function to jsonata-python's function-call protocol."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self._func = func

    def call(self, input: Any, args: Any) -> Any:
        return self._func(*(args or []))


def _function(func: Callable[..., Any], signature: str | None = None) -> Any:
    return Jsonata.JFunction(_Callable(func), signature)


def to_jsonata(value: Any) -> Any:
    """Convert a Python value handed to JSONata: MISSING -> undefined, None -> null."""
    if value is MISSING:
        return None
    if value is None:
        return _NULL
    return value


def from_jsonata(value: Any) -> Any:
    """Convert a JSONata result to Plantwire's conventions (see module docs).

    JSONata null -> None, undefined -> MISSING, integral floats -> int (JavaScript
    has one number type), JSONata sequences -> plain lists. Containers are only
    rebuilt when something inside them changes, so references into the input stay
    shared as they do in Node-RED.
    """
    if value is None:
        return MISSING
    return _convert(value)


def _convert(value: Any) -> Any:
    if value is _NULL or value is None:
        return None
    cls = value.__class__
    if cls is float:
        if value.is_integer() and abs(value) < 2**63:
            return int(value)
        return value
    if cls is dict:
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            new = _convert(item)
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list):
        items = [_convert(item) for item in value]
        if cls is list and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    return value


class JsonataExpression:
    """A compiled JSONata expression; evaluate it many times with :meth:`evaluate`."""

    __slots__ = ("_compiled", "legacy", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        previous = getattr(Jsonata.CURRENT, "jsonata", None)
        try:
            compiled = Jsonata(text)
        except JException as err:
            raise ExpressionError(f"invalid JSONata expression '{text}': {_message(err)}") from None
        except Exception as err:
            raise ExpressionError(f"invalid JSONata expression '{text}': {_message(err)}") from err
        finally:
            # Jsonata() makes itself the thread's "current" instance; undo that so a
            # compile in the middle of another evaluation cannot disturb it.
            if previous is not None:
                Jsonata.CURRENT.jsonata = previous
        if compiled.errors:
            raise ExpressionError(
                f"invalid JSONata expression '{text}': {_message(compiled.errors[0])}"
            )
        compiled.set_validate_input(False)  # bytes/datetimes may appear in messages
        compiled.set_output_convert_nulls(False)  # keep null and undefined apart
        self._compiled = compiled
        self.legacy = bool(_LEGACY_MSG.search(text))

    def __repr__(self) -> str:
        return f"JsonataExpression({self.text!r})"

    def _bindings(self, node: NodeLike | None, bindings: dict[str, Any] | None) -> dict[str, Any]:
        def flow_context(key: Any = None, store: Any = None) -> Any:
            if node is None:
                return ""
            return to_jsonata(node.context().flow.get(key, store))

        def global_context(key: Any = None, store: Any = None) -> Any:
            if node is None:
                return ""
            return to_jsonata(node.context().global_.get(key, store))

        def env(name: Any = None) -> Any:
            if node is None or name is None:
                return ""
            value = node.get_env(str(name))
            return "" if value is MISSING else to_jsonata(value)

        def clone(value: Any = None) -> Any:
            if isinstance(value, dict):
                return clone_msg(value)
            return clone_value(value)

        frame: dict[str, Any] = {
            "flowContext": Jsonata.JLambda(flow_context),
            "globalContext": Jsonata.JLambda(global_context),
            "env": Jsonata.JLambda(env),
            "moment": Jsonata.JLambda(_moment),
            "clone": _function(clone, "<(oa)-:o>"),
        }
        if bindings:
            for name, value in bindings.items():
                frame[name[1:] if name.startswith("$") else name] = to_jsonata(value)
        return frame

    def evaluate(
        self, msg: Any, node: NodeLike | None = None, bindings: dict[str, Any] | None = None
    ) -> Any:
        """Evaluate against ``msg`` for ``node``; ``bindings`` add ``$name`` variables.

        Returns MISSING for an undefined result. Raises ExpressionError on failure.
        """
        if msg is MISSING:
            msg = None
        data = ({} if msg is None else {"msg": msg}) if self.legacy else msg
        instance = copy.copy(self._compiled)
        previous = getattr(Jsonata.CURRENT, "jsonata", None)
        Jsonata.CURRENT.jsonata = instance
        try:
            result = instance.evaluate(data, self._bindings(node, bindings))
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError(
                f"JSONata expression '{self.text}' failed: stack overflow"
            ) from None
        except Exception as err:
            raise ExpressionError(
                f"JSONata expression '{self.text}' failed: {_message(err)}"
            ) from (None if isinstance(err, JException) else err)
        finally:
            if previous is None:
                del Jsonata.CURRENT.jsonata
            else:
                Jsonata.CURRENT.jsonata = previous
        return from_jsonata(result)


@lru_cache(maxsize=2048)
def compile_jsonata(expr: str) -> JsonataExpression:
    """Compile ``expr`` once (cached by text). Raises ExpressionError on a syntax error."""
    if not isinstance(expr, str):
        raise ExpressionError(f"invalid JSONata expression {expr!r}: not a string")
    return JsonataExpression(expr)


# ----- $moment ------------------------------------------------------------------------


def _to_datetime(value: Any) -> _dt.datetime:
    if value is None:
        return _dt.datetime.now().astimezone()
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.astimezone()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _dt.datetime.fromtimestamp(value / 1000).astimezone()
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ExpressionError(f"$moment: cannot parse date {value!r}") from None
        return parsed if parsed.tzinfo else parsed.astimezone()
    if isinstance(value, dict) and "__moment__" in value:
        stamp = value["valueOf"].function._func()
        return _dt.datetime.fromtimestamp(stamp / 1000).astimezone()
    raise ExpressionError(f"$moment: unsupported argument {value!r}")


_UNITS = {
    "ms": "milliseconds",
    "millisecond": "milliseconds",
    "milliseconds": "milliseconds",
    "s": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    "m": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
}


def _make_moment(when: _dt.datetime) -> dict[str, Any]:
    def shift(sign: int) -> Callable[..., Any]:
        def apply(amount: Any = 0, unit: Any = "ms") -> Any:
            name = _UNITS.get(str(unit))
            if name is None:
                raise ExpressionError(f"$moment: unsupported unit {unit!r}")
            return _make_moment(when + sign * _dt.timedelta(**{name: float(amount)}))

        return apply

    def tz(name: Any = None) -> Any:
        from zoneinfo import ZoneInfo

        try:
            return _make_moment(when.astimezone(ZoneInfo(str(name))))
        except Exception as err:
            raise ExpressionError(f"$moment: unknown time zone {name!r}") from err

    millis = int(when.timestamp() * 1000)
    return {
        "__moment__": True,
        "format": _function(lambda fmt=None: moment_format(when, fmt)),
        "toISOString": _function(
            lambda: moment_format(when.astimezone(_dt.UTC), "YYYY-MM-DDTHH:mm:ss.SSS[Z]")
        ),
        "valueOf": _function(lambda: millis),
        "unix": _function(lambda: millis // 1000),
        "add": _function(shift(1)),
        "subtract": _function(shift(-1)),
        "utc": _function(lambda: _make_moment(when.astimezone(_dt.UTC))),
        "local": _function(lambda: _make_moment(when.astimezone())),
        "tz": _function(tz),
    }


def _moment(value: Any = None, *_rest: Any) -> Any:
    """A small subset of moment.js: ``$moment([date]).format(fmt)`` and friends."""
    return _make_moment(_to_datetime(value))
