"""JSONata expressions with Node-RED's extra functions."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from plantwire.expressions import JsonataExpression, compile_jsonata
from plantwire.runtime.errors import ExpressionError
from plantwire.runtime.message import MISSING

CASES = Path("/work/shared/conformance/cases")


def ev(expr: str, msg: Any = None, node: Any = None, **bindings: Any) -> Any:
    return compile_jsonata(expr).evaluate(msg, node, bindings or None)


def test_compile_is_cached() -> None:
    assert compile_jsonata("payload") is compile_jsonata("payload")
    assert isinstance(compile_jsonata("payload"), JsonataExpression)


def test_syntax_error() -> None:
    with pytest.raises(ExpressionError, match=r"invalid JSONata expression 'payload\.\('"):
        compile_jsonata("payload.(")


def test_arithmetic_gives_ints_when_integral() -> None:
    assert ev("payload * 2 + 1", {"payload": 5}) == 11
    result = ev("payload * 2 + 1", {"payload": 2.5})
    assert result == 6 and isinstance(result, int)
    assert ev("payload / 4", {"payload": 5}) == 1.25
    out = ev("{'a': 2.0, 'b': [1.0, 2.5]}", {})
    assert out == {"a": 2, "b": [1, 2.5]} and isinstance(out["a"], int)


def test_undefined_and_null() -> None:
    assert ev("nothing", {}) is MISSING
    assert ev("payload", {"payload": None}) is None
    assert ev("null", {}) is None
    assert ev("payload = null", {"payload": None}) is True
    assert ev("[payload, 1]", {"payload": None}) == [None, 1]


def test_single_match_is_scalar() -> None:
    msg = {"payload": [{"name": "a", "price": 3}, {"name": "c", "price": 9}]}
    assert ev("payload[price > 8].name", msg) == "c"
    assert ev("payload.name", msg) == ["a", "c"]


def test_legacy_msg_mode() -> None:
    assert ev("msg.payload", {"payload": 7}) == 7
    assert ev("$.payload", {"payload": 7}) == 7
    assert compile_jsonata("msg.topic").legacy
    assert not compile_jsonata("payload.msgs").legacy
    assert not compile_jsonata("'msg'").legacy
    assert ev("msg.payload", None) is MISSING


def test_sequence_bindings() -> None:
    expr = compile_jsonata("$I = $N - 1")
    assert expr.evaluate({"payload": "c"}, None, {"I": 2, "N": 3}) is True
    assert expr.evaluate({"payload": "a"}, None, {"I": 0, "N": 3}) is False
    assert ev("$x", {}, **{"$x": 5}) == 5
    assert ev("$v = null", {}, v=None) is True
    assert ev("$exists($v)", {}, v=MISSING) is False


def test_flow_and_global_context(node: Any) -> None:
    ctx = node.context()
    ctx.flow.set("x", 1)
    ctx.flow.set("nul", None)
    ctx.flow.set("x", "filed", "file")
    ctx.global_.set("g", {"a": [1, 2]})
    assert ev("$flowContext('x')", {}, node) == 1
    assert ev("$flowContext('x', 'file')", {}, node) == "filed"
    assert ev("[$exists($flowContext('x')), $exists($flowContext('y'))]", {}, node) == [
        True,
        False,
    ]
    assert ev("$flowContext('nul')", {}, node) is None
    assert ev("$globalContext('g.a[1]')", {}, node) == 2
    assert ev("$flowContext('x')", {}, None) == ""


def test_env(node: Any) -> None:
    assert ev("$env('PORT') * 2", {}, node) == 3760
    assert ev("$env('HOST')", {}, node) == "alpha"
    assert ev("$env('NOPE')", {}, node) == ""
    assert ev("$env('NUL')", {}, node) is None


def test_clone() -> None:
    msg = {"payload": {"a": [1]}}
    out = ev("$clone(payload)", msg)
    assert out == {"a": [1]} and out is not msg["payload"]
    assert ev("$clone()", {"b": 2}) == {"b": 2}


def test_moment_subset() -> None:
    assert ev("$moment('2024-03-05T10:20:30Z').utc().format('YYYY-MM-DD HH:mm:ss')") == (
        "2024-03-05 10:20:30"
    )
    assert ev("$moment('2024-03-05T10:20:30Z').add(1, 'days').toISOString()") == (
        "2024-03-06T10:20:30.000Z"
    )
    assert ev("$moment(0).valueOf()") == 0
    assert ev("$moment('2024-01-01T00:00:00Z').tz('Europe/Berlin').format('HH:mm Z')") == (
        "01:00 +01:00"
    )
    assert re.fullmatch(r"\d{4}", ev("$moment().format('YYYY')"))
    with pytest.raises(ExpressionError, match="cannot parse"):
        ev("$moment('not a date')")


def test_builtins_still_work() -> None:
    assert ev("$uppercase('ab')") == "AB"
    assert ev("$sum(payload)", {"payload": [1, 2.5]}) == 3.5
    assert ev("$string(payload)", {"payload": 2.0}) == "2"
    assert ev("$eval('1 + payload')", {"payload": 3}) == 4
    assert re.fullmatch(r".*Z", ev("$now()"))
    assert isinstance(ev("$millis()"), int)
    assert ev("payload ~> |$|{'x': 1}|", {"payload": {"a": 1}}) == {"a": 1, "x": 1}


def test_runtime_error() -> None:
    with pytest.raises(ExpressionError, match="non-function"):
        ev("$notAFunction(payload)", {"payload": "x"})
    with pytest.raises(ExpressionError, match=r"\$notAFunction"):
        ev("$notAFunction(payload)", {"payload": "x"})


def test_result_shares_unchanged_input() -> None:
    msg = {"payload": {"a": [1, 2]}}
    assert ev("payload", msg) is msg["payload"]
    assert msg == {"payload": {"a": [1, 2]}}


def test_bytes_in_message_do_not_fail() -> None:
    assert ev("payload", {"payload": b"ab"}) == b"ab"
    assert ev("topic", {"payload": b"ab", "topic": "t"}) == "t"


def test_reuse_after_other_compiles_keeps_own_timestamp() -> None:
    expr = compile_jsonata("$millis()")
    first = expr.evaluate({})
    compile_jsonata("1 + 1 + 1 + 1")  # compiling another expression must not disturb it
    assert expr.evaluate({}) >= first


def test_nested_evaluation_from_context_function(node: Any) -> None:
    class Ctx:
        def get(self, key: str, store: str | None = None) -> Any:
            return compile_jsonata("$x * 10").evaluate({}, None, {"x": 4})

    node.context().flow = Ctx()
    assert ev("$flowContext('a') + $y", {}, node, y=2) == 42


def test_thread_safety() -> None:
    expr = compile_jsonata("payload.n * 2")
    errors: list[str] = []

    def work(k: int) -> None:
        for i in range(200):
            if expr.evaluate({"payload": {"n": i + k}}) != 2 * (i + k):
                errors.append(f"{k}/{i}")

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _jsonata_in_cases() -> list[str]:
    found: list[str] = []
    if not CASES.is_dir():
        return found
    for path in sorted(CASES.glob("*/*.json")):
        text = json.loads(path.read_text())
        stack: list[Any] = [text]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                for vkey, tkey in (("to", "tot"), ("v", "vt"), ("value", "type")):
                    if item.get(tkey) == "jsonata" and isinstance(item.get(vkey), str):
                        found.append(item[vkey])
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return found


@pytest.mark.skipif(not CASES.is_dir(), reason="conformance cases not available")
def test_conformance_expressions_compile() -> None:
    exprs = _jsonata_in_cases()
    assert exprs
    for expr in exprs:
        compile_jsonata(expr)


def test_group_env_jsonata(node: Any) -> None:
    # env/group-jsonata-env-uses-tab: DOUBLE = $env('BASE') * 2 with BASE = 20 on the tab
    node.env["BASE"] = 20
    assert ev("$env('BASE') * 2", None, node) == 40
