"""In-process message passing: inject -> 10 change nodes -> a sink, 100,000 messages.

Prints one JSON line: messages/s through the chain, hops/s, and peak RSS (MiB).
Usage: python bench/hops.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from typing import Any

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.spec import node_type

CHAIN = 10


@node_type("bench-sink")
class SinkNode(Node):
    """Counts messages and wakes the benchmark when the last one arrives."""

    outputs = 0

    def __init__(self, flow: Any, config: Any) -> None:
        super().__init__(flow, config)
        self.count = 0
        self.expected = 0
        self.finished: asyncio.Future[float] | None = None
        self.last: Msg | None = None

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        self.count += 1
        if self.count == self.expected and self.finished is not None:
            self.last = msg
            self.finished.set_result(time.perf_counter())


def build_flow() -> list[dict[str, Any]]:
    flow: list[dict[str, Any]] = [{"id": "tab", "type": "tab", "label": "hops"}]
    flow.append(
        {
            "id": "inj",
            "type": "inject",
            "z": "tab",
            "props": [{"p": "payload"}],
            "payload": "0",
            "payloadType": "num",
            "repeat": "",
            "once": False,
            "wires": [["c0"]],
        }
    )
    for i in range(CHAIN):
        nxt = f"c{i + 1}" if i + 1 < CHAIN else "sink"
        flow.append(
            {
                "id": f"c{i}",
                "type": "change",
                "z": "tab",
                "wires": [[nxt]],
                "rules": [{"t": "set", "p": f"hop{i}", "pt": "msg", "to": str(i), "tot": "num"}],
            }
        )
    flow.append({"id": "sink", "type": "bench-sink", "z": "tab", "wires": []})
    return flow


async def run(messages: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(RuntimeSettings(tmp, credential_secret="bench"))
        await rt.deploy(build_flow())
        source = rt.get_node("inj")
        sink = rt.get_node("sink")
        assert isinstance(sink, SinkNode) and source is not None
        sink.expected = messages
        sink.finished = asyncio.get_running_loop().create_future()
        start = time.perf_counter()
        for i in range(messages):
            await source.send_async({"payload": i})
        end = await sink.finished
        await rt.stop()
    elapsed = end - start
    ok = (
        sink.count == messages
        and sink.last is not None
        and sink.last.get(f"hop{CHAIN - 1}") == CHAIN - 1
    )
    return {
        "benchmark": "hops",
        "messages": messages,
        "chain": CHAIN,
        "seconds": round(elapsed, 3),
        "msgs_per_s": round(messages / elapsed),
        "hops_per_s": round(messages * (CHAIN + 1) / elapsed),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "correct": ok,
        "python": sys.version.split()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    result = asyncio.run(run(args.messages))
    print(json.dumps(result))
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
