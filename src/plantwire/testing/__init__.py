"""Flow tests for pytest and ``plantwire test`` (see runner's docstring)."""

from plantwire.testing.runner import (
    Case,
    CaseResult,
    find_case_files,
    load_case,
    matches,
    run_case,
    to_json_value,
)

__all__ = [
    "Case",
    "CaseResult",
    "find_case_files",
    "load_case",
    "matches",
    "run_case",
    "to_json_value",
]
