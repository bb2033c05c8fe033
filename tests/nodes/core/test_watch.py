"""watch node: real files in tmp_path, generous timeouts (polling)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from plantwire.runtime.node import Node
from plantwire.runtime.runtime import Runtime, RuntimeSettings


async def _collect(tmp_path: Path, node: dict[str, Any], action: Any) -> list[dict[str, Any]]:
    rt = Runtime(RuntimeSettings(tmp_path / "data"))
    got: list[dict[str, Any]] = []

    def record(n: Node, port: int, msg: dict[str, Any]) -> None:
        if n.id == "w":
            got.append(msg)

    rt.send_recorder = record
    await rt.deploy(
        [{"id": "t", "type": "tab"}, {**node, "id": "w", "type": "watch", "z": "t", "wires": [[]]}]
    )
    try:
        await asyncio.sleep(0.3)
        action()
        for _ in range(50):
            await asyncio.sleep(0.1)
            if got:
                await asyncio.sleep(0.5)
                break
    finally:
        await rt.stop()
    return got


async def test_new_file_in_directory(tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    target = folder / "a.txt"
    got = await _collect(tmp_path, {"files": str(folder)}, lambda: target.write_text("1234"))
    assert got, "no event"
    msg = got[-1]
    assert msg["payload"] == str(target) and msg["filename"] == str(target)
    assert msg["file"] == "a.txt" and msg["topic"] == str(folder)
    assert msg["event"] == "update" and msg["type"] == "file" and msg["size"] == 4


async def test_removed_file_and_topic_list(tmp_path: Path) -> None:
    target = tmp_path / "b.txt"
    target.write_text("x")
    other = tmp_path / "c.txt"
    got = await _collect(tmp_path, {"files": f"{target}, {other}"}, target.unlink)
    assert [m["event"] for m in got] == ["remove"]
    assert got[0]["type"] == "none" and "size" not in got[0]
    assert got[0]["topic"] == f'["{target}","{other}"]'


async def test_recursive_sees_nested_changes(tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    (folder / "deep").mkdir(parents=True)
    nested = folder / "deep" / "n.txt"
    got = await _collect(
        tmp_path, {"files": str(folder), "recursive": True}, lambda: nested.write_text("n")
    )
    assert any(m["filename"] == str(nested) for m in got)


async def test_non_recursive_ignores_nested_changes(tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    (folder / "deep").mkdir(parents=True)
    nested = folder / "deep" / "n.txt"
    got = await _collect(tmp_path, {"files": str(folder)}, lambda: nested.write_text("n"))
    assert got == []
