"""A flows.json exported from Node-RED (core nodes only) runs unchanged with `plantwire run`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_exported_node_red_flow_runs_unchanged(tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.txt"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "plantwire.cli",
            "run",
            str(EXAMPLES / "node-red" / "line-report.json"),
            "--data",
            str(tmp_path / "data"),
            "--for-seconds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "REPORT_FILE": str(report)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not installed" not in proc.stdout
    assert report.read_text() == "m1=ok;m2=HOT;m3=HOT;\n"
    assert "m1=ok;m2=HOT;m3=HOT;" in proc.stdout  # the debug node prints to the console


def test_demo_flow_is_valid_and_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "plantwire.cli",
            "run",
            str(EXAMPLES / "line-monitor.json"),
            "--data",
            str(tmp_path),
            "--for-seconds",
            "2.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "filler-1" in proc.stdout and "seq: 2" in proc.stdout
    # the readings went out through the embedded MQTT broker and came back in
    assert "[debug:via MQTT]" in proc.stdout and "plant/line1/filler-1/temp" in proc.stdout
