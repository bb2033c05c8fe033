"""function node: Python code, outputs, errors, timeout, lifecycle code, deploy checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case


def fn(code: str, nid: str = "f", outputs: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": nid,
        "type": "function",
        "func": code,
        "outputs": outputs,
        "wires": [[] for _ in range(outputs)],
        **extra,
    }


CATCH = [
    {"id": "c", "type": "catch", "scope": None, "wires": [["log"]]},
    {"id": "log", "type": "change", "rules": [], "wires": [[]]},
]


async def _run(case: dict[str, Any]) -> None:
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


async def test_node_red_default_code_passes_message_on() -> None:
    await _run(
        {
            "flow": [{"id": "f", "type": "function", "func": "\nreturn msg;", "wires": [[]]}],
            "steps": [{"inject": "f", "msg": {"payload": 3}}],
            "expect": {"f": [[{"payload": 3}]]},
        }
    )


async def test_multiple_outputs_lists_and_none() -> None:
    code = (
        "if msg['payload'] == 0:\n    return None\n"
        "return [msg, None, [{'payload': 'a'}, {'payload': 'b'}]]"
    )
    await _run(
        {
            "flow": [fn(code, outputs=3)],
            "steps": [
                {"inject": "f", "msg": {"payload": 0}},
                {"inject": "f", "msg": {"payload": 1}},
            ],
            "expect": {"f": [[{"payload": 1}], [], [{"payload": "a"}, {"payload": "b"}]]},
        }
    )


async def test_await_node_send_done_and_libs_in_order() -> None:
    code = (
        "await asyncio.sleep(0.05 if msg['payload'] == 1 else 0)\n"
        "node.send({'payload': math.sqrt(msg['payload'])})\n"
        "node.done()\n"
    )
    libs = [{"var": "math", "module": "math"}, {"var": "asyncio", "module": "asyncio"}]
    await _run(
        {
            "flow": [fn(code, libs=libs)],
            "steps": [
                {"inject": "f", "msg": {"payload": 1}},
                {"inject": "f", "msg": {"payload": 16}},
            ],
            "expect": {"f": [[{"payload": 1.0}, {"payload": 4.0}]]},
        }
    )


async def test_context_flow_global_and_env() -> None:
    code = (
        "n = (context.get('n') or 0) + 1\n"
        "context.set('n', n)\n"
        "flow.set('f', n * 10)\n"
        "global_.set('g', 'G')\n"
        "msg['payload'] = [n, flow.get('f'), context.global_.get('g'), env.get('NR_NODE_ID'),\n"
        "                  node.id, node.outputCount, context.get('missing')]\n"
        "return msg"
    )
    await _run(
        {
            "flow": [fn(code)],
            "steps": [{"inject": "f", "msg": {}}, {"inject": "f", "msg": {}}],
            "expect": {
                "f": [
                    [
                        {"payload": [1, 10, "G", "f", "f", 1, None]},
                        {"payload": [2, 20, "G", "f", "f", 1, None]},
                    ]
                ]
            },
        }
    )


async def test_exception_is_catchable_with_python_message() -> None:
    await _run(
        {
            "flow": [fn("raise ValueError('bad value ' + str(msg['payload']))"), *CATCH],
            "steps": [{"inject": "f", "msg": {"payload": 7}}],
            "expect": {
                "f": [[]],
                "log": [
                    [
                        {
                            "payload": 7,
                            "error": {
                                "message": "bad value 7",
                                "source": {"id": "f", "type": "function"},
                            },
                        }
                    ]
                ],
            },
        }
    )


async def test_node_error_with_msg_reaches_catch() -> None:
    await _run(
        {
            "flow": [fn("node.error('custom', msg)\nreturn None"), *CATCH],
            "steps": [{"inject": "f", "msg": {"payload": 1}}],
            "expect": {"log": [[{"payload": 1, "error": {"message": "custom"}}]]},
        }
    )


async def test_timeout_is_catchable_and_next_message_runs() -> None:
    code = "if msg['payload'] == 'slow':\n    await asyncio.sleep(5)\nreturn msg"
    await _run(
        {
            "flow": [
                fn(code, timeout="0.1", libs=[{"var": "asyncio", "module": "asyncio"}]),
                *CATCH,
            ],
            "steps": [
                {"inject": "f", "msg": {"payload": "slow"}},
                {"inject": "f", "msg": {"payload": "fast"}},
                {"wait_ms": 300},
            ],
            "expect": {
                "f": [[{"payload": "fast"}]],
                "log": [
                    [
                        {
                            "payload": "slow",
                            "error": {"message": "Script execution timed out after 100ms"},
                        }
                    ]
                ],
            },
        }
    )


async def test_non_message_return_is_an_error() -> None:
    await _run(
        {
            "flow": [fn("return 5")],
            "steps": [{"inject": "f", "msg": {"payload": 1}}],
            "expect": {"f": [[]]},
        }
    )


async def test_on_start_runs_before_messages_and_can_send() -> None:
    init = "global started\nstarted = 'yes'\nnode.send({'payload': 'hello'})"
    await _run(
        {
            "flow": [fn("msg['payload'] = started\nreturn msg", initialize=init)],
            "steps": [{"inject": "f", "msg": {}}],
            "expect": {"f": [[{"payload": "hello"}, {"payload": "yes"}]]},
        }
    )


async def test_on_stop_runs_on_close(tmp_path: Path) -> None:
    rt = Runtime(RuntimeSettings(tmp_path))
    flows = [
        {"id": "t", "type": "tab"},
        {**fn("return msg", finalize="global_.set('stopped', True)"), "z": "t"},
    ]
    await rt.deploy(flows)
    node = rt.get_node("f")
    assert node is not None
    await rt.deploy([{"id": "t", "type": "tab"}])
    assert node.context().global_.get("stopped") is True
    await rt.stop()


@pytest.mark.parametrize(
    ("field", "code", "line"),
    [
        ("func", "var x = 1;\nreturn msg;", 1),
        ("func", "x = 1\nif x\n    return msg", 2),
        ("initialize", "// On start\n", 1),
        ("finalize", "ok = 1\nyield ok", 2),
    ],
)
async def test_invalid_python_refused_at_deploy(
    tmp_path: Path, field: str, code: str, line: int
) -> None:
    node = fn("return msg")
    node[field] = code
    with pytest.raises(FlowValidationError) as info:
        await Runtime(RuntimeSettings(tmp_path)).deploy(
            [{"id": "t", "type": "tab"}, {**node, "z": "t"}]
        )
    problem = info.value.problems[0]
    assert (problem.node_id, problem.field) == ("f", field)
    assert f"line {line}" in problem.message
    if field == "func":
        assert "not valid Python" in problem.message


async def test_bad_libs_refused_at_deploy(tmp_path: Path) -> None:
    for lib in ({"var": "x", "module": "no_such_module_here"}, {"var": "msg", "module": "math"}):
        with pytest.raises(FlowValidationError) as info:
            await Runtime(RuntimeSettings(tmp_path)).deploy(
                [{"id": "t", "type": "tab"}, {**fn("return msg", libs=[lib]), "z": "t"}]
            )
        assert info.value.problems[0].node_id == "f"
