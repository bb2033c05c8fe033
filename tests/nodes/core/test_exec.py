"""exec node with real subprocesses."""

from __future__ import annotations

import sys
from typing import Any

from plantwire.nodes.core.exec import split_command
from plantwire.testing.runner import case_from_dict, run_case


def ex(command: str, **extra: Any) -> dict[str, Any]:
    return {"id": "e", "type": "exec", "command": command, "wires": [[], [], []], **extra}


async def _run(case: dict[str, Any]) -> None:
    case.setdefault("settle_ms", 3000)  # a Python child starts slowly on a loaded machine
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


def test_split_command_keeps_quoted_arguments() -> None:
    assert split_command('echo "a b" c') == ["echo", "a b", "c"]
    assert split_command("  ") == []


async def test_exec_mode_uses_a_shell_and_appends_payload() -> None:
    await _run(
        {
            "flow": [ex("echo", addpay="payload", append="| tr a-z A-Z")],
            "steps": [{"inject": "e", "msg": {"payload": "hello", "topic": "t"}}],
            "expect": {
                "e": [
                    [{"payload": "HELLO\n", "topic": "t", "rc": {"code": 0}}],
                    [],
                    [{"payload": {"code": 0}, "topic": "t"}],
                ]
            },
        }
    )


async def test_exec_mode_failure_stderr_and_code() -> None:
    await _run(
        {
            "flow": [ex("echo oops >&2; exit 3", addpay="")],
            "steps": [{"inject": "e", "msg": {"payload": "ignored"}}],
            "expect": {
                "e": [
                    [{"payload": "", "rc": {"code": 3}}],
                    [{"payload": "oops\n", "rc": {"code": 3}}],
                    [
                        {
                            "payload": {
                                "code": 3,
                                "message": "Command failed: echo oops >&2; exit 3\noops\n",
                            }
                        }
                    ],
                ]
            },
        }
    )


async def test_exec_mode_oldrc_sends_no_return_code_on_success() -> None:
    await _run(
        {
            "flow": [ex("printf x", addpay="", oldrc=True)],
            "steps": [{"inject": "e", "msg": {}}],
            "expect": {"e": [[{"payload": "x"}], [], []]},
        }
    )


async def test_exec_mode_binary_output_is_a_buffer() -> None:
    await _run(
        {
            "flow": [ex("printf '\\377\\376'", addpay="")],
            "steps": [{"inject": "e", "msg": {}}],
            "expect": {
                "e": [
                    [{"payload": {"type": "Buffer", "data": [255, 254]}}],
                    [],
                    [{"payload": {"code": 0}}],
                ]
            },
        }
    )


async def test_exec_timer_kills_the_command() -> None:
    await _run(
        {
            "flow": [ex("sleep 5", addpay="", timer="0.2")],
            "steps": [{"inject": "e", "msg": {}}],
            "expect": {
                "e": [[{"payload": ""}], [], [{"payload": {"code": None, "signal": "SIGTERM"}}]]
            },
        }
    )


async def test_spawn_mode_streams_output_then_return_code() -> None:
    # one write per stream, so each arrives as one chunk however the child buffers
    code = "import os, sys; os.write(1, b'out\\n'); os.write(2, b'err\\n'); sys.exit(2)"
    await _run(
        {
            "flow": [ex(f'{sys.executable} -c "{code}"', addpay="", useSpawn="true")],
            "steps": [{"inject": "e", "msg": {"topic": "t"}}],
            "expect": {
                "e": [
                    [{"payload": "out\n", "topic": "t"}],
                    [{"payload": "err\n"}],
                    [{"payload": {"code": 2}, "topic": "t"}],
                ]
            },
        }
    )


async def test_spawn_mode_unknown_command_reports_negative_code() -> None:
    await _run(
        {
            "flow": [ex("no-such-command-plantwire", addpay="", useSpawn="true", oldrc="true")],
            "steps": [{"inject": "e", "msg": {}}],
            "expect": {"e": [[], [], [{"payload": -2}]]},
        }
    )


async def test_msg_kill_stops_the_running_command() -> None:
    await _run(
        {
            "flow": [ex("sleep", addpay="payload", useSpawn="true")],
            "steps": [
                {"inject": "e", "msg": {"payload": 5}},
                {"wait_ms": 200},
                {"inject": "e", "msg": {"kill": "SIGINT"}},
            ],
            "expect": {"e": [[], [], [{"payload": {"code": None, "signal": "SIGINT"}}]]},
        }
    )
