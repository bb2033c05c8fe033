"""Fail when line coverage of a package folder is below a minimum.

Usage: python tools/check_coverage.py COVERAGE_JSON FOLDER MIN_PERCENT
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    report_path, folder, minimum = sys.argv[1], sys.argv[2].rstrip("/") + "/", float(sys.argv[3])
    with open(report_path) as fh:
        files = json.load(fh)["files"]
    covered = total = 0
    for name, data in files.items():
        if folder in name:
            covered += data["summary"]["covered_lines"]
            total += data["summary"]["num_statements"]
    if total == 0:
        print(f"coverage: no files under {folder}")
        return 1
    pct = 100.0 * covered / total
    print(f"coverage of {folder}: {pct:.1f}% ({covered}/{total} lines), minimum {minimum:.0f}%")
    return 0 if pct >= minimum else 1


if __name__ == "__main__":
    sys.exit(main())
