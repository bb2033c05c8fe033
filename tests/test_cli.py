"""The plantwire command: run (clean stop, refusal of bad flows), test, nodes, version."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plantwire.cli import main

PLANTWIRE = [sys.executable, "-m", "plantwire.cli"]


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith("plantwire ")


def test_nodes_json_lists_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "--json"]) == 0
    catalog = json.loads(capsys.readouterr().out)
    assert catalog["catch"]["schema"]["type"] == "object"
    assert main(["nodes"]) == 0
    assert "catch" in capsys.readouterr().out


def test_test_command_summary_and_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = {
        "name": "passes",
        "flow": [{"id": "j", "type": "junction", "wires": [[]]}],
        "steps": [{"inject": "j", "msg": {"payload": 1}}],
        "settle_ms": 20,
        "expect": {"j": [[{"payload": 1}]]},
    }
    bad = dict(ok, name="fails", expect={"j": [[{"payload": 2}]]})
    skip = dict(
        ok, name="needs a missing type", flow=[{"id": "j", "type": "no-such-type", "wires": [[]]}]
    )
    write(tmp_path / "a.json", ok)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "b.json", bad)
    write(tmp_path / "c.json", skip)
    assert main(["test", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "PASS passes" in out
    assert "FAIL fails" in out and "j port 0 msg 0.payload: expected 2, got 1" in out
    assert "SKIP needs a missing type: needs node type(s) no-such-type" in out
    assert out.strip().endswith("1 passed, 1 failed, 1 skipped")
    assert main(["test", str(tmp_path / "a.json")]) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "is not valid JSON"),
        (
            [
                {"id": "t", "type": "tab"},
                {"id": "n", "type": "junction", "z": "t", "wires": [["gone"]]},
            ],
            "node 'n' (junction), field 'wires[0]': wire to node 'gone', which does not exist",
        ),
        (
            [
                {"id": "t", "type": "tab"},
                {"id": "c", "type": "catch", "z": "t", "uncaught": "maybe", "wires": [[]]},
            ],
            "node 'c' (catch), field 'uncaught'",
        ),
    ],
)
def test_run_refuses_bad_flows(tmp_path: Path, content: object, message: str) -> None:
    flows = write(
        tmp_path / "flows.json", content if isinstance(content, str) else json.dumps(content)
    )
    proc = subprocess.run(
        [*PLANTWIRE, "run", str(flows), "--data", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr


def test_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    flows = write(
        tmp_path / "flows.json",
        [
            {"id": "t", "type": "tab", "label": "T"},
            {"id": "n", "type": "junction", "z": "t", "wires": [[]]},
        ],
    )
    proc = subprocess.Popen(
        [*PLANTWIRE, "run", str(flows), "--data", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = time.time() + 30
    seen = ""
    while "running" not in seen and time.time() < deadline:
        seen += proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "closing every node" in out and "stopped" in out


def test_run_serves_http_in_on_the_port_given(tmp_path: Path) -> None:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    flows = write(
        tmp_path / "flows.json",
        [
            {"id": "t", "type": "tab", "label": "T"},
            {"id": "i", "type": "http in", "z": "t", "url": "/hi", "method": "get",
             "wires": [["r"]]},
            {"id": "r", "type": "http response", "z": "t", "wires": []},
        ],
    )  # fmt: skip
    proc = subprocess.Popen(
        [*PLANTWIRE, "run", str(flows), "--data", str(tmp_path / "d"), "--http-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        body = b""
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hi?x=1", timeout=5) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.1)
        assert json.loads(body) == {"x": "1"}  # msg.payload of a GET: the query
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
