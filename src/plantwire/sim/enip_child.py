"""The EtherNet/IP child process: cpppo's Logix tag server, fed by the simulator over pipes.

Run by ``EnipAdapter`` as ``python -m plantwire.sim.enip_child <cpppo server arguments>``.
Standard input: one JSON object per line, ``{"Tag": value, ...}``, written into the tags
(not reported back). Standard output: one JSON object per client write,
``{"write": "Tag", "value": value}``. When standard input closes, the process exits.
This module imports cpppo and the standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from cpppo.server.enip import device  # type: ignore[import-untyped]
from cpppo.server.enip.main import main as enip_main  # type: ignore[import-untyped]
from cpppo.server.enip.main import tags

_local = threading.local()
_out_lock = threading.Lock()


def _emit(obj: dict[str, Any]) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class SimAttribute(device.Attribute):  # type: ignore[misc]
    """A tag whose client writes are reported to the simulator on standard output."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if not getattr(_local, "internal", False):
            _emit({"write": self.name, "value": self[0]})


def _reader() -> None:
    """Apply the simulator's tag updates; exit the process when the simulator goes away."""
    _local.internal = True
    try:
        for line in sys.stdin:
            try:
                updates = json.loads(line)
            except ValueError:
                continue
            for name, value in updates.items():
                entry = dict.get(tags, name)
                if entry is not None:
                    entry.attribute[0] = value
    finally:
        os._exit(0)


def main() -> int:
    """Start the reader thread, then serve until killed or standard input closes."""
    threading.Thread(target=_reader, name="sim-feed", daemon=True).start()
    result = enip_main(argv=sys.argv[1:], attribute_class=SimAttribute)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
