"""Fixtures of the editor's end-to-end tests: the built editor, a `plantwire serve` subprocess
on a free port with its own data folder, and real headless Chromium driven by Playwright.

Chromium is Debian's (``apt-get install chromium``); Playwright never downloads a browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.tcp_proxy import free_port as _free_port

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "frontend" / "dist"
SHOTS = ROOT / "docs" / "editor"
CHROMIUM = os.environ.get("PLANTWIRE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLANTWIRE = [sys.executable, "-m", "plantwire.cli"]


@pytest.fixture(scope="session")
def editor_dist() -> Path:
    """The built editor; built with `make editor` when missing (a failed build fails)."""
    if not (DIST / "index.html").exists():
        subprocess.run(["make", "editor"], cwd=ROOT, check=True, timeout=600)
    assert (DIST / "index.html").exists(), "make editor did not produce frontend/dist"
    return DIST


@dataclass
class Server:
    url: str
    data: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        import json

        req = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(req, timeout=5) as res:
            return json.loads(res.read())


@pytest.fixture
def start_server(editor_dist: Path, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `plantwire serve --editor frontend/dist` (call with `users=[(name, pw)]`)."""
    started: list[Server] = []

    def start(users: list[tuple[str, str]] = ()) -> Server:  # type: ignore[assignment]
        data = tmp_path / f"data{len(started)}"
        data.mkdir()
        for name, password in users:
            subprocess.run(
                [*PLANTWIRE, "user", "add", name, "--password-stdin", "--data", str(data)],
                input=f"{password}\n".encode(),
                check=True,
                timeout=60,
                capture_output=True,
            )
        port = _free_port()
        log = tmp_path / f"server{len(started)}.log"
        proc = subprocess.Popen(
            [
                *PLANTWIRE,
                "serve",
                "--port",
                str(port),
                "--http-node-port",
                str(_free_port()),
                "--data",
                str(data),
                "--editor",
                str(editor_dist),
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        server = Server(f"http://127.0.0.1:{port}", data, proc, log)
        started.append(server)
        deadline = time.monotonic() + 30
        while True:
            try:
                server.get("/auth/me")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"plantwire serve did not start:\n{log.read_text()}"
                    ) from None
                time.sleep(0.1)
        return server

    yield start
    for s in started:  # stopped here, reaped at the end of the session (saves a second a test)
        s.proc.terminate()
        _STOPPING.append(s.proc)


_STOPPING: list[subprocess.Popen[bytes]] = []


@pytest.fixture(scope="session", autouse=True)
def _reap_servers() -> Iterator[None]:
    yield
    for proc in _STOPPING:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")  # not session: the sync API's event loop must be gone
def browser() -> Iterator[Any]:  # before the asyncio tests of later modules run
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page at 1280x720 (what the editor must be usable at)."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.set_default_timeout(10_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot for docs/editor.md."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
