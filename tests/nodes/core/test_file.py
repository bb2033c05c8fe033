"""file and file in nodes with real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.errors import FlowValidationError
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.testing.runner import case_from_dict, run_case


async def _run(case: dict[str, Any]) -> None:
    case.setdefault("settle_ms", 300)
    result = await run_case(case_from_dict(case))
    assert result.passed, result.detail


def writer(filename: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "id": "w",
        "type": "file",
        "filename": filename,
        "filenameType": "str",
        "appendNewline": True,
        "createDir": False,
        "overwriteFile": "false",
        "encoding": "none",
        "wires": [[]],
        **extra,
    }


def reader(filename: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "id": "r",
        "type": "file in",
        "filename": filename,
        "filenameType": "str",
        "format": "utf8",
        "sendError": False,
        "encoding": "none",
        "allProps": False,
        "wires": [[]],
        **extra,
    }


async def test_append_json_number_and_newlines(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    await _run(
        {
            "flow": [writer(str(target))],
            "steps": [
                {"inject": "w", "msg": {"payload": "a"}},
                {"inject": "w", "msg": {"payload": 1.5}},
                {"inject": "w", "msg": {"payload": {"k": [1, True]}}},
                {"inject": "w", "msg": {"topic": "no payload"}},
            ],
            "expect": {
                "w": [
                    [
                        {"payload": "a", "filename": str(target)},
                        {"payload": 1.5},
                        {"payload": {"k": [1, True]}},
                    ]
                ]
            },
        }
    )
    assert target.read_text() == 'a\n1.5\n{"k":[1,true]}\n'


async def test_overwrite_create_dir_and_msg_filename(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "dir" / "f.bin"
    await _run(
        {
            "flow": [
                writer(
                    "filename",
                    filenameType="msg",
                    createDir=True,
                    overwriteFile="true",
                    appendNewline=False,
                )
            ],
            "steps": [
                {"inject": "w", "msg": {"payload": "first", "filename": str(target)}},
                {"inject": "w", "msg": {"payload": "second", "filename": str(target)}},
            ],
            "expect": {"w": [[{"payload": "first"}, {"payload": "second"}]]},
        }
    )
    assert target.read_bytes() == b"second"


async def test_last_string_part_gets_no_newline_and_encoding(tmp_path: Path) -> None:
    target = tmp_path / "latin.txt"
    parts = {"type": "string", "index": 1, "count": 2, "id": "x"}
    await _run(
        {
            "flow": [writer(str(target), encoding="latin1")],
            "steps": [
                {"inject": "w", "msg": {"payload": "é", "parts": {**parts, "index": 0}}},
                {"inject": "w", "msg": {"payload": "ü", "parts": parts}},
            ],
            "expect": {"w": [[{"payload": "é"}, {"payload": "ü"}]]},
        }
    )
    assert target.read_bytes() == b"\xe9\n\xfc"


async def test_delete_and_delete_failure_is_catchable(tmp_path: Path) -> None:
    target = tmp_path / "gone.txt"
    target.write_text("x")
    await _run(
        {
            "flow": [
                writer(str(target), overwriteFile="delete"),
                {"id": "c", "type": "catch", "scope": None, "wires": [["log"]]},
                {"id": "log", "type": "change", "rules": [], "wires": [[]]},
            ],
            "steps": [
                {"inject": "w", "msg": {"payload": 1}},
                {"inject": "w", "msg": {"payload": 2}},
            ],
            "expect": {
                "w": [[{"payload": 1}]],
                "log": [
                    [
                        {
                            "payload": 2,
                            "error": {
                                "message": "failed to delete file: Error: ENOENT: "
                                f"no such file or directory, unlink '{target}'"
                            },
                        }
                    ]
                ],
            },
        }
    )
    assert not target.exists()


async def test_read_utf8_buffer_and_error(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"h\xc3\xa9llo")
    missing = tmp_path / "missing.txt"
    await _run(
        {
            "flow": [
                reader("filename", filenameType="msg", sendError=True),
                {**reader(str(src), format=""), "id": "rb"},
            ],
            "steps": [
                {"inject": "r", "msg": {"filename": str(src), "topic": "t"}},
                {"inject": "r", "msg": {"filename": str(missing), "payload": "p"}},
                {"inject": "rb", "msg": {}},
            ],
            "expect": {
                "r": [
                    [
                        {"payload": "héllo", "topic": "t", "filename": str(src)},
                        {"filename": str(missing), "error": {"code": "ENOENT"}},
                    ]
                ],
                "rb": [[{"payload": {"type": "Buffer", "data": list(b"h\xc3\xa9llo")}}]],
            },
        }
    )


async def test_read_lines_with_parts(tmp_path: Path) -> None:
    src = tmp_path / "lines.txt"
    src.write_text("one\ntwo\n")
    await _run(
        {
            "flow": [reader(str(src), format="lines")],
            "steps": [{"inject": "r", "msg": {"_msgid": "m1", "topic": "t", "other": 1}}],
            "expect": {
                "r": [
                    [
                        {
                            "payload": "one",
                            "topic": "t",
                            "parts": {"index": 0, "ch": "\n", "type": "string", "id": "m1"},
                        },
                        {
                            "payload": "two",
                            "parts": {"index": 1, "ch": "\n", "type": "string", "id": "m1"},
                        },
                        {
                            "payload": "",
                            "parts": {
                                "index": 2,
                                "count": 3,
                                "ch": "\n",
                                "type": "string",
                                "id": "m1",
                            },
                        },
                    ]
                ]
            },
        }
    )


async def test_read_stream_chunks(tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"\x01" * 65536 * 2)
    result = await run_case(
        case_from_dict(
            {
                "flow": [reader(str(src), format="stream", allProps=True)],
                "steps": [{"inject": "r", "msg": {"keep": True}}],
                "settle_ms": 300,
                "expect": {
                    "r": [
                        [
                            {"keep": True, "parts": {"index": 0}},
                            {"keep": True, "parts": {"index": 1}},
                            {"parts": {"index": 2, "count": 2, "type": "buffer"}},
                        ]
                    ]
                },
            }
        )
    )
    assert result.passed, result.detail


async def test_bad_file_config_refused(tmp_path: Path) -> None:
    for bad in ({"overwriteFile": "sometimes"}, {"encoding": "klingon"}):
        with pytest.raises(FlowValidationError) as info:
            await Runtime(RuntimeSettings(tmp_path)).deploy(
                [{"id": "t", "type": "tab"}, {**writer("x"), **bad, "z": "t"}]
            )
        assert info.value.problems[0].node_id == "w"
