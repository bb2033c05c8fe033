"""Build hook: the Python package ships the browser editor.

Metadata lives in pyproject.toml; this file only adds one step to `build_py`: the editor
(frontend/, TypeScript + React) is built with npm when its bundle is missing, and
frontend/dist/ is copied into the package as plantwire/server/editor/, which
`plantwire serve` serves when it runs from an installed package. No built bundle is kept
in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
FRONTEND = ROOT / "frontend"


class BuildPyWithEditor(build_py):
    """build_py, then the editor bundle into plantwire/server/editor/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install serves frontend/dist from the checkout (`make editor`)
        dist = FRONTEND / "dist"
        if not (dist / "index.html").exists():
            npm = shutil.which("npm")
            if npm is None or not (FRONTEND / "package.json").exists():
                raise SystemExit("building the editor needs npm (Node.js 20.19 or newer)")
            subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
            subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)
        target = Path(self.build_lib) / "plantwire" / "server" / "editor"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(dist, target)


setup(cmdclass={"build_py": BuildPyWithEditor})
