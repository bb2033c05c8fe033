"""Plantwire against Node-RED 5, side by side, with the identical flows.json files.

Every scenario runs the same Node-RED flow file (bench/flows/) in Node-RED and in
Plantwire, alternating Node-RED / Plantwire over ``--rounds`` rounds, and reports for each
figure the median and the per-round ratio Plantwire / Node-RED. Every run checks that every
message arrived with the right content; a run that lost or garbled messages is FAILED and
its speed figures are not used.

Scenarios: ``mqtt`` (burst throughput, latency at fixed rates, peak RSS, CPU per message),
``http`` (wrk), ``hops`` (split -> 10 change -> join), ``startup`` (50-node flow to its
first message out), ``scaleout`` (the MQTT pipeline in 2 processes behind a shared
subscription; each message handled once).

    .venv/bin/python bench/compare.py [--rounds 3] [--only mqtt,http,...] [--out FILE]
                                      [--update-doc]

Peers come from bench/peers.py (run first by ``make bench``). The broker is a private
Mosquitto on a free port that never drops queued messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FLOWS = HERE / "flows"
RESULTS = HERE / "results"
DOC = ROOT / "docs" / "benchmarks.md"
PLANTWIRE = ROOT / ".venv" / "bin" / "plantwire"
PYTHON = ROOT / ".venv" / "bin" / "python"
CLK_TCK = os.sysconf("SC_CLK_TCK")

SYSTEMS = ("node-red", "plantwire")
PROFILE: Path | None = None
"""Where to write a py-spy profile (raw, folded stacks) of Plantwire's MQTT burst; the
fixed-rate phases go to the same name with ``.1000`` / ``.5000`` appended."""
BURST = 50_000
LATENCY_RATES = ((1_000, 5.0), (5_000, 4.0))  # (msgs/s, seconds)
HOPS = 100_000
PAD = "x" * 170  # makes a reading about 250 bytes


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_peers() -> dict[str, str]:
    path = HERE / ".peers" / "peers.json"
    if not path.exists():
        raise SystemExit("peers are not installed: run `python bench/peers.py` first")
    peers: dict[str, str] = json.loads(path.read_text())
    return peers


# ----- /proc sampling --------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found = [pid]
    i = 0
    while i < len(found):
        p = found[i]
        i += 1
        with suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with suppress(OSError):
                    text = Path(f"/proc/{p}/task/{task}/children").read_text()
                    found.extend(int(c) for c in text.split())
    return found


def cpu_seconds(pid: int) -> float:
    """user + sys CPU time of ``pid`` (all threads) and its descendants, seconds."""
    ticks = 0
    for p in descendants(pid):
        with suppress(OSError):
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / CLK_TCK


def peak_rss_mib(pid: int) -> float:
    """VmHWM of ``pid`` and its descendants, MiB."""
    total = 0
    for p in descendants(pid):
        with suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


# ----- peers: broker, systems under test -------------------------------------------------


class Broker:
    """A private Mosquitto that never drops queued messages."""

    def __init__(self, peers: dict[str, str], tmp: Path) -> None:
        self.peers = peers
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        # as root Mosquitto would switch to its own user, which cannot write the log here
        root = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            root + f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_queued_messages 0\n"
            "max_queued_bytes 0\n"
            "max_inflight_messages 0\n"
            "max_inflight_bytes 0\n"
            # Nagle's algorithm on the broker's sockets held about 1 % of the readings
            # ~20 ms on their way to the load tool's subscriber (docs/benchmarks.md)
            "set_tcp_nodelay true\n"
            f"log_dest file {tmp / 'mosquitto.log'}\n"
            "log_type subscribe\n"
        )
        self.logfile = tmp / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Broker:
        self.proc = subprocess.Popen(
            [self.peers["mosquitto"], "-c", str(self.conf)], stderr=subprocess.DEVNULL
        )
        wait_port(self.port, 10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def subscribers(self, topic: str) -> int:
        """How many subscribe requests for ``topic`` the broker has logged."""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if line.rstrip().endswith(" " + topic))

    def cmd(self, tool: str, *args: str) -> list[str]:
        """A mosquitto_pub / mosquitto_sub command line against this broker."""
        return [self.peers[tool], "-h", "127.0.0.1", "-p", str(self.port), *args]

    def pub(self, topic: str, payload: str) -> None:
        subprocess.run(
            self.cmd("mosquitto_pub", "-t", topic, "-s"),
            input=payload.encode(),
            check=True,
        )

    def sub(self, topic: str, count: int, timeout: int, out: Path) -> subprocess.Popen[bytes]:
        with out.open("wb") as f:
            return subprocess.Popen(
                self.cmd("mosquitto_sub", "-t", topic, "-C", str(count), "-W", str(timeout)),
                stdout=f,
                stderr=subprocess.DEVNULL,
            )


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def flow_file(name: str, tmp: Path, broker_port: int, **replace: str) -> Path:
    """bench/flows/<name> with the broker port (and any topic) set for this run.

    Both systems run this very file.
    """
    nodes: list[dict[str, Any]] = json.loads((FLOWS / name).read_text())
    for node in nodes:
        if node.get("type") == "mqtt-broker":
            node["port"] = str(broker_port)
            node["clientid"] = ""  # generated: the scale-out runs two processes
        if node.get("type") == "mqtt in" and "in_topic" in replace:
            node["topic"] = replace["in_topic"]
    path = tmp / name
    path.write_text(json.dumps(nodes))
    return path


class System:
    """One process of Node-RED or Plantwire running a flows file."""

    def __init__(self, kind: str, peers: dict[str, str], flows: Path, tmp: Path) -> None:
        self.kind = kind
        self.peers = peers
        self.flows = flows
        self.data = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=tmp))
        self.http_port = free_port()
        self.log = self.data / "output.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if self.kind == "node-red":
            settings = self.data / "settings.js"
            settings.write_text(
                "module.exports = {\n"
                f"  uiPort: {self.http_port},\n"
                '  uiHost: "127.0.0.1",\n'
                "  httpAdminRoot: false,\n"
                '  httpNodeRoot: "/",\n'
                f"  flowFile: {json.dumps(str(self.flows))},\n"
                "  credentialSecret: false,\n"
                "  logging: { console: { level: 'warn', metrics: false, audit: false } },\n"
                "  telemetry: { enabled: false, updateNotification: false },\n"
                "  diagnostics: { enabled: false },\n"
                "};\n"
            )
            return [
                self.peers["node"],
                self.peers["node_red"],
                "--userDir",
                str(self.data),
                "--settings",
                str(settings),
                str(self.flows),
            ]
        return [
            str(PLANTWIRE),
            "run",
            str(self.flows),
            "--data",
            str(self.data),
            "--http-port",
            str(self.http_port),
        ]

    def start(self) -> None:
        with self.log.open("wb") as f:
            self.proc = subprocess.Popen(
                self.command(), stdout=f, stderr=subprocess.STDOUT, cwd=self.data
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.kind} exited ({self.proc.returncode}):\n{tail}")


@contextmanager
def running(kind: str, peers: dict[str, str], flows: Path, tmp: Path) -> Iterator[System]:
    system = System(kind, peers, flows, tmp)
    system.start()
    try:
        yield system
    finally:
        system.stop()


# ----- scenarios -------------------------------------------------------------------------


def reading(run: str, seq: int) -> dict[str, Any]:
    temp = 20.0 + (seq * 37) % 61 + 0.5
    return {"run": run, "machine": f"m{seq % 10}", "seq": seq, "temp": temp, "pad": PAD}


def check_outputs(lines: list[bytes], run: str, expected: int) -> tuple[bool, str]:
    """Every reading out once, with alarm == (temp > 50)."""
    seen: set[int] = set()
    bad = dup = 0
    for line in lines:
        try:
            msg = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if msg.get("run") != run or "alarm" not in msg:
            bad += 1
            continue
        if msg["alarm"] is not (msg["temp"] > 50) or msg.get("pad") != PAD:
            bad += 1
        if msg["seq"] in seen:
            dup += 1
        seen.add(msg["seq"])
    missing = expected - len(seen)
    ok = missing == 0 and bad == 0 and dup == 0
    return (
        ok,
        f"received {len(lines)}, distinct {len(seen)}, missing {missing}, dup {dup}, bad {bad}",
    )


def wait_pipeline_ready(broker: Broker, tmp: Path, systems: list[System]) -> None:
    """Publish single warm-up readings until one comes out of the pipeline."""
    out = tmp / "warm.out"
    for _ in range(60):
        for s in systems:
            s.alive()
        sub = broker.sub("bench/out", 1, 2, out)
        time.sleep(0.15)
        broker.pub("bench/in", json.dumps(reading("warmup", -1)))
        sub.wait(5)
        if out.read_bytes().strip():
            time.sleep(0.5)  # let any other warm-up reading drain
            return
    raise RuntimeError("the pipeline produced nothing within 60 warm-up attempts")


def burst(broker: Broker, tmp: Path, pids: list[int], run: str) -> dict[str, Any]:
    """50,000 readings with mosquitto_pub -l, counted with mosquitto_sub -C."""
    infile = tmp / f"{run}.in"
    with infile.open("w") as f:
        for i in range(BURST):
            f.write(json.dumps(reading(run, i), separators=(",", ":")) + "\n")
    outfile = tmp / f"{run}.out"
    sub = broker.sub("bench/out", BURST, 120, outfile)
    time.sleep(0.3)
    cpu0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.perf_counter()
    with infile.open("rb") as f:
        pub = subprocess.Popen(
            broker.cmd("mosquitto_pub", "-t", "bench/in", "-l", "-q", "0"),
            stdin=f,
        )
        while sub.poll() is None:
            time.sleep(0.002)
        t1 = time.perf_counter()
        pub.wait(30)
    cpu1 = sum(cpu_seconds(p) for p in pids)
    lines = outfile.read_bytes().splitlines()
    ok, detail = check_outputs(lines, run, BURST)
    seconds = t1 - t0
    return {
        "ok": ok,
        "detail": detail,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(BURST / seconds) if ok else None,
        "cpu_s": round(cpu1 - cpu0, 3),
        "cpu_us_per_msg": round((cpu1 - cpu0) / BURST * 1e6, 1) if ok else None,
    }


async def _latency(port: int, rate: int, seconds: float, run: str) -> dict[str, Any]:
    from gmqtt import Client  # type: ignore[import-untyped]
    from gmqtt.mqtt.constants import MQTTv311  # type: ignore[import-untyped]

    total = int(rate * seconds)
    lat: dict[int, float] = {}
    bad = 0
    done = asyncio.Event()

    def on_message(client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        nonlocal bad
        now = time.time_ns()
        msg = json.loads(payload)
        if msg.get("run") != run:
            return 0
        if msg["alarm"] is not (msg["temp"] > 50) or msg["seq"] in lat:
            bad += 1
        lat[msg["seq"]] = (now - msg["ts"]) / 1e6
        if len(lat) >= total:
            done.set()
        return 0

    sub = Client(f"lat-sub-{run}")
    sub.on_message = on_message
    await sub.connect("127.0.0.1", port, version=MQTTv311)
    sub.subscribe("bench/out", qos=0)
    pub = Client(f"lat-pub-{run}")
    await pub.connect("127.0.0.1", port, version=MQTTv311)
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    base = reading(run, 0)
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        base["seq"] = i
        base["temp"] = reading(run, i)["temp"]
        base["ts"] = time.time_ns()
        pub.publish("bench/in", json.dumps(base, separators=(",", ":")), qos=0)
    achieved = total / (loop.time() - start)
    with suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), 15)
    await pub.disconnect()
    await sub.disconnect()
    values = sorted(lat.values())
    ok = len(lat) == total and bad == 0
    res: dict[str, Any] = {
        "ok": ok,
        "rate": rate,
        "offered_per_s": round(achieved),
        "detail": f"received {len(lat)} of {total}, bad {bad}",
    }
    if ok:
        res["p50_ms"] = round(values[len(values) // 2], 2)
        res["p99_ms"] = round(values[int(len(values) * 0.99)], 2)
    return res


def _py_spy(pid: int, out: Path | None) -> subprocess.Popen[bytes] | None:
    """py-spy recording ``pid`` into ``out`` (raw folded stacks), or None."""
    if out is None:
        return None
    spy = subprocess.Popen(
        [
            *(str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--pid", str(pid)),
            *("--rate", "500", "--nonblocking", "--format", "raw", "-o", str(out)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    return spy


def _stop_spy(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


def scenario_mqtt(kind: str, peers: dict[str, str], tmp: Path, rnd: int) -> dict[str, Any]:
    with Broker(peers, tmp) as broker:
        flows = flow_file("mqtt_pipeline.json", tmp, broker.port)
        with running(kind, peers, flows, tmp) as sut:
            wait_pipeline_ready(broker, tmp, [sut])
            spy = _py_spy(sut.pid, PROFILE) if kind == "plantwire" else None
            res: dict[str, Any] = {"burst": burst(broker, tmp, [sut.pid], f"{kind}-{rnd}")}
            _stop_spy(spy)
            sut.alive()
            for rate, seconds in LATENCY_RATES:
                where = PROFILE.with_name(f"{PROFILE.name}.{rate}") if PROFILE else None
                spy = _py_spy(sut.pid, where) if kind == "plantwire" else None
                cpu0 = cpu_seconds(sut.pid)
                lat = asyncio.run(_latency(broker.port, rate, seconds, f"{kind}-{rnd}-{rate}"))
                lat["cpu_us_per_msg"] = round(
                    (cpu_seconds(sut.pid) - cpu0) / (rate * seconds) * 1e6, 1
                )
                _stop_spy(spy)
                res[f"latency_{rate}"] = lat
            res["peak_rss_mib"] = round(peak_rss_mib(sut.pid), 1)
    res["ok"] = all(v["ok"] for v in res.values() if isinstance(v, dict))
    return res


def scenario_scaleout(kind: str, peers: dict[str, str], tmp: Path, rnd: int) -> dict[str, Any]:
    with Broker(peers, tmp) as broker:
        flows = flow_file("mqtt_pipeline.json", tmp, broker.port, in_topic="$share/bench/bench/in")
        with running(kind, peers, flows, tmp) as a, running(kind, peers, flows, tmp) as b:
            # both must be subscribed before the burst (the broker logs each subscription)
            deadline = time.monotonic() + 60
            while broker.subscribers("$share/bench/bench/in") < 2:
                a.alive()
                b.alive()
                if time.monotonic() > deadline:
                    raise RuntimeError("the two processes did not both subscribe within 60 s")
                time.sleep(0.05)
            wait_pipeline_ready(broker, tmp, [a, b])
            cpu_a, cpu_b = cpu_seconds(a.pid), cpu_seconds(b.pid)
            res = burst(broker, tmp, [a.pid, b.pid], f"{kind}-scale-{rnd}")
            res["cpu_s_per_process"] = [
                round(cpu_seconds(a.pid) - cpu_a, 2),
                round(cpu_seconds(b.pid) - cpu_b, 2),
            ]
            res["peak_rss_mib"] = round(peak_rss_mib(a.pid) + peak_rss_mib(b.pid), 1)
            res["processes"] = 2
    return res


def _wrk(peers: dict[str, str], url: str, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [peers["wrk"], "-t2", "-c32", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "rps": round(rps),
        "p99_ms": round(float(p99.group(1)) * scale[p99.group(2)], 2) if p99 else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def _http_check(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.loads(resp.read())
        return bool(
            resp.status == 200
            and "json" in resp.headers.get("Content-Type", "")
            and body == {"status": "ok", "machine": "m7", "temp": 49.5}
        )


def scenario_http(kind: str, peers: dict[str, str], tmp: Path, rnd: int) -> dict[str, Any]:
    flows = flow_file("http.json", tmp, 0)
    with running(kind, peers, flows, tmp) as sut:
        url = f"http://127.0.0.1:{sut.http_port}/bench"
        deadline = time.monotonic() + 60
        while True:
            sut.alive()
            try:
                if _http_check(url):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind}: {url} did not answer within 60 s")
            time.sleep(0.1)
        _wrk(peers, url, 2)  # warm-up
        cpu0 = cpu_seconds(sut.pid)
        res = _wrk(peers, url, 8)
        cpu = cpu_seconds(sut.pid) - cpu0
        after = _http_check(url)
        res["peak_rss_mib"] = round(peak_rss_mib(sut.pid), 1)
    # a wrk error "timeout" or a non-2xx answer is a failed request
    ok = after and res["non_2xx"] == 0 and not res["socket_errors"]
    res["ok"] = ok
    res["cpu_us_per_req"] = round(cpu / res["requests"] * 1e6, 1)
    if not ok:
        res["detail"] = f"non-2xx {res['non_2xx']}, socket errors {res['socket_errors']!r}"
        res["rps"] = None
    return res


def scenario_hops(kind: str, peers: dict[str, str], tmp: Path, rnd: int) -> dict[str, Any]:
    with Broker(peers, tmp) as broker:
        flows = flow_file("hops.json", tmp, broker.port)
        with running(kind, peers, flows, tmp) as sut:

            def one(n: int, timeout: int) -> tuple[bool, float, float]:
                out = tmp / "hops.out"
                sub = broker.sub("bench/hops/done", 1, timeout, out)
                time.sleep(0.2)
                cpu0 = cpu_seconds(sut.pid)
                t0 = time.perf_counter()
                broker.pub("bench/hops/go", json.dumps(list(range(n))))
                sub.wait(timeout + 5)
                t1 = time.perf_counter()
                cpu = cpu_seconds(sut.pid) - cpu0
                text = out.read_bytes().strip()
                ok = bool(text) and json.loads(text) == list(range(n))
                return ok, t1 - t0, cpu

            deadline = time.monotonic() + 60
            while not one(1000, 2)[0]:  # warm-up; also waits for the subscription
                sut.alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind}: the hops flow never answered")
            ok, seconds, cpu = one(HOPS, 120)
            rss = peak_rss_mib(sut.pid)
    return {
        "ok": ok,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(HOPS / seconds) if ok else None,
        "cpu_us_per_msg": round(cpu / HOPS * 1e6, 2) if ok else None,
        "peak_rss_mib": round(rss, 1),
    }


def scenario_startup(kind: str, peers: dict[str, str], tmp: Path, rnd: int) -> dict[str, Any]:
    with Broker(peers, tmp) as broker:
        flows = flow_file("startup50.json", tmp, broker.port)
        out = tmp / "start.out"
        sub = broker.sub("bench/start", 1, 60, out)
        time.sleep(0.3)
        t0 = time.perf_counter()
        with running(kind, peers, flows, tmp) as sut:
            while sub.poll() is None:
                time.sleep(0.002)
            t1 = time.perf_counter()
            cpu = cpu_seconds(sut.pid)
        ok = out.read_bytes().strip() == b"started"
    return {"ok": ok, "seconds": round(t1 - t0, 3) if ok else None, "cpu_s": round(cpu, 2)}


SCENARIOS: dict[str, Callable[[str, dict[str, str], Path, int], dict[str, Any]]] = {
    "mqtt": scenario_mqtt,
    "http": scenario_http,
    "hops": scenario_hops,
    "startup": scenario_startup,
    "scaleout": scenario_scaleout,
}

# (row label, scenario, path into the result, better: "higher" | "lower", unit format)
FIGURES: list[tuple[str, str, tuple[str, ...], str, str]] = [
    ("MQTT pipeline burst, msgs/s", "mqtt", ("burst", "msgs_per_s"), "higher", "{:,.0f}"),
    ("MQTT pipeline CPU per msg, µs", "mqtt", ("burst", "cpu_us_per_msg"), "lower", "{:.1f}"),
    ("MQTT latency p50 @1,000/s, ms", "mqtt", ("latency_1000", "p50_ms"), "lower", "{:.2f}"),
    ("MQTT latency p99 @1,000/s, ms", "mqtt", ("latency_1000", "p99_ms"), "lower", "{:.2f}"),
    ("MQTT latency p50 @5,000/s, ms", "mqtt", ("latency_5000", "p50_ms"), "lower", "{:.2f}"),
    ("MQTT latency p99 @5,000/s, ms", "mqtt", ("latency_5000", "p99_ms"), "lower", "{:.2f}"),
    (
        "MQTT CPU per msg @5,000/s, µs",
        "mqtt",
        ("latency_5000", "cpu_us_per_msg"),
        "lower",
        "{:.1f}",
    ),
    ("MQTT peak RSS, MiB", "mqtt", ("peak_rss_mib",), "lower", "{:.0f}"),
    ("HTTP requests/s (wrk -c32)", "http", ("rps",), "higher", "{:,.0f}"),
    ("HTTP latency p99, ms", "http", ("p99_ms",), "lower", "{:.2f}"),
    ("HTTP CPU per request, µs", "http", ("cpu_us_per_req",), "lower", "{:.1f}"),
    ("Hops 100k msgs (split→10 change→join), msgs/s", "hops", ("msgs_per_s",), "higher", "{:,.0f}"),
    ("Hops CPU per msg, µs", "hops", ("cpu_us_per_msg",), "lower", "{:.1f}"),
    ("Start-up to first msg (50 nodes), s", "startup", ("seconds",), "lower", "{:.2f}"),
    ("Start-up CPU to first msg, s", "startup", ("cpu_s",), "lower", "{:.2f}"),
    ("Scale-out 2 processes burst, msgs/s", "scaleout", ("msgs_per_s",), "higher", "{:,.0f}"),
    ("Scale-out CPU per msg (both), µs", "scaleout", ("cpu_us_per_msg",), "lower", "{:.1f}"),
]


GOALS: dict[str, tuple[str, float]] = {
    # issue 7: ("ratio<=" | "ratio>=", x) against Node-RED, ("plantwire<=", x) absolute
    "MQTT pipeline burst, msgs/s": ("ratio>=", 1.0),
    "MQTT pipeline CPU per msg, µs": ("ratio<=", 0.5),
    "MQTT latency p99 @5,000/s, ms": ("ratio<=", 0.5),
    "MQTT peak RSS, MiB": ("ratio<=", 0.5),
    "HTTP requests/s (wrk -c32)": ("ratio>=", 1.5),
    "HTTP CPU per request, µs": ("ratio<=", 0.6),
    "Start-up to first msg (50 nodes), s": ("plantwire<=", 1.0),
}


def goal_cell(row: dict[str, Any]) -> str:
    goal = GOALS.get(row["figure"])
    if goal is None:
        return ""
    kind, limit = goal
    if kind == "plantwire<=":
        value, text = row["median"]["plantwire"], f"≤ {limit:g} s"
        met = value is not None and value <= limit
    else:
        value, text = row["median_ratio"], f"{kind[5:]} {limit:g}x".replace("<=", "≤")
        text = text.replace(">=", "≥")
        met = value is not None and (value <= limit if kind == "ratio<=" else value >= limit)
    return f"{text}: {'met' if met else 'missed'}"


def dig(result: dict[str, Any] | None, path: tuple[str, ...]) -> float | None:
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return float(value) if isinstance(value, int | float) else None


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per figure: per-round values, medians, per-round ratios."""
    rows = []
    for label, scen, path, better, fmt in FIGURES:
        per: dict[str, list[float | None]] = {k: [] for k in SYSTEMS}
        failed: dict[str, int] = {k: 0 for k in SYSTEMS}
        ratios: list[float | None] = []
        present = False
        for rnd in rounds:
            if scen not in rnd:
                continue
            present = True
            vals = {}
            for kind in SYSTEMS:
                res = rnd[scen].get(kind)
                ok = bool(res and res.get("ok"))
                if not ok:
                    failed[kind] += 1
                vals[kind] = dig(res, path) if ok else None
                per[kind].append(vals[kind])
            a, b = vals["node-red"], vals["plantwire"]
            ratios.append(round(b / a, 3) if a and b is not None else None)
        if not present or all(v is None for k in SYSTEMS for v in per[k]):
            continue

        def med(xs: list[float | None]) -> float | None:
            got = [x for x in xs if x is not None]
            return statistics.median(got) if got else None

        rows.append(
            {
                "figure": label,
                "scenario": scen,
                "better": better,
                "format": fmt,
                "node-red": per["node-red"],
                "plantwire": per["plantwire"],
                "failed": failed,
                "median": {k: med(per[k]) for k in SYSTEMS},
                "ratios": ratios,
                "median_ratio": med(ratios),
            }
        )
    return rows


def machine() -> dict[str, Any]:
    model = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with suppress(OSError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in load],
    }


def render_table(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    peers = doc["peers"]
    mach = (
        f"{m['cpus']} cores ({m['cpu_model']}), {m['mem_gib']} GiB, Linux {m['kernel']}; "
        f"Python {m['python']}; Node-RED {peers['node_red_version']} on Node.js "
        f"{peers['node_version']}; load average at start {m['load_avg_at_start'][0]}"
    )
    lines = [
        f"Run {doc['date']} (`make bench`, {doc['rounds']} rounds, Node-RED then Plantwire "
        f"in each round; figures are medians over the rounds, the ratio is the median of "
        f"the per-round ratios Plantwire / Node-RED). Raw data: `{doc['results_file']}`.",
        "",
        f"Machine: {mach}.",
        "",
        "| scenario | Node-RED | Plantwire | ratio PW/NR | per-round ratios | better | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in doc["summary"]:
        fmt = row["format"]

        def cell(kind: str, row: dict[str, Any] = row, fmt: str = fmt) -> str:
            v = row["median"][kind]
            text = fmt.format(v) if v is not None else "—"
            if row["failed"][kind]:
                text += f" (FAILED {row['failed'][kind]} of the rounds)"
            return text

        ratio = row["median_ratio"]
        per = " / ".join(f"{r:.2f}" if r is not None else "—" for r in row["ratios"])
        lines.append(
            f"| {row['figure']} | {cell('node-red')} | {cell('plantwire')} | "
            f"{f'{ratio:.2f}x' if ratio is not None else '—'} | {per} | {row['better']} | "
            f"{goal_cell(row)} |"
        )
    api = doc.get("plantwire_hops_api")
    if api:
        rates = [r.get("msgs_per_s") for r in api]
        shown = " / ".join(f"{r:,}" if r else "FAILED" for r in rates)
        lines += [
            "",
            f"Plantwire only, in-process API (`python bench/hops.py`, inject → 10 change → "
            f"sink, 100,000 messages, no MQTT around it): {shown} msgs/s.",
        ]
    return "\n".join(lines) + "\n"


def update_doc(table: str) -> None:
    text = DOC.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    block = f"{start}\n{table}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n## Plantwire against Node-RED 5\n\n" + block + "\n"
    DOC.write_text(text)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--out", help="results file (default bench/results/<date>.json)")
    parser.add_argument("--update-doc", action="store_true", help="rewrite the doc's table")
    parser.add_argument(
        "--render", help="only rewrite the doc's table from this results file (no runs)"
    )
    parser.add_argument(
        "--profile",
        help="py-spy Plantwire's MQTT burst into this file (FILE.1000, FILE.5000: fixed rates)",
    )
    args = parser.parse_args()
    global PROFILE
    PROFILE = Path(args.profile).resolve() if args.profile else None
    if args.render:
        update_doc(render_table(json.loads(Path(args.render).read_text())))
        log(f"updated {DOC.relative_to(ROOT)} from {args.render}")
        return 0
    peers = load_peers()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    for s in chosen:
        if s not in SCENARIOS:
            raise SystemExit(f"unknown scenario {s!r}; one of {', '.join(SCENARIOS)}")
    mach = machine()
    rounds: list[dict[str, dict[str, Any]]] = []
    for rnd in range(1, args.rounds + 1):
        this: dict[str, dict[str, Any]] = {}
        for scen in chosen:
            this[scen] = {}
            for kind in SYSTEMS:
                with tempfile.TemporaryDirectory(prefix="pw-bench-") as tmp:
                    log(f"round {rnd} {scen} {kind}")
                    try:
                        res = SCENARIOS[scen](kind, peers, Path(tmp), rnd)
                    except Exception as exc:  # a run that breaks is a failed run
                        res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[-1500:]}
                    log(f"  -> {json.dumps(res)}")
                    this[scen][kind] = res
        rounds.append(this)
    hops_api = []
    if "hops" in chosen:
        for _ in range(args.rounds):
            run = subprocess.run(
                [str(PYTHON), str(HERE / "hops.py")], capture_output=True, text=True
            )
            try:
                hops_api.append(json.loads(run.stdout.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                hops_api.append({"correct": False, "error": run.stderr[-500:]})
            log(f"hops.py -> {json.dumps(hops_api[-1])}")
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    out = Path(args.out) if args.out else RESULTS / f"{date}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "date": date,
        "rounds": args.rounds,
        "machine": mach,
        "peers": {k: peers[k] for k in ("node_version", "node_red_version")},
        "results_file": _shown(out),
        "raw": rounds,
        "summary": summarize(rounds),
        "plantwire_hops_api": hops_api,
    }
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(doc, indent=1) + "\n")
    tmp_out.replace(out)
    table = render_table(doc)
    print(table)
    if args.update_doc:
        update_doc(table)
        log(f"updated {DOC.relative_to(ROOT)}")
    failed = any(
        not res.get("ok") for rnd in rounds for scen in rnd.values() for res in scen.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
