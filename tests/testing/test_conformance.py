"""Every recorded Node-RED case under ../shared/conformance/cases must pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plantwire.testing import find_case_files, load_case, run_case

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "cases"
FILES = find_case_files([str(CASES)]) if CASES.is_dir() else []

if not FILES and os.environ.get("PLANTWIRE_REQUIRE_SERVICES"):
    raise RuntimeError(f"conformance cases not found at {CASES}; CI needs shared/ beside the clone")


@pytest.mark.skipif(not FILES, reason=f"no conformance cases at {CASES}")
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
async def test_recorded_case(path: Path) -> None:
    result = await run_case(load_case(path))
    assert not result.skipped, result.detail
    assert result.passed, result.detail
