"""UnsTree: recording, snapshot, flat list, remote messages, per-runtime attachment."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from plantwire.nodes.uns.model import encode_payload, make_payload
from plantwire.nodes.uns.tree import (
    SELF_KEY,
    UnsPoint,
    UnsTree,
    topic_filter_matches,
    tree_for,
)
from plantwire.runtime.runtime import Runtime, RuntimeSettings


def _payload(value: object, unit: str = "") -> dict[str, object]:
    return make_payload(value, timestamp=0, unit=unit)


def test_snapshot_nests_levels_and_list_is_flat() -> None:
    tree = UnsTree()
    tree.record("acme/p1/pack/l1/temp", _payload(21.5, "degC"), node="n1")
    tree.record("acme/p1/pack/power", _payload(3))
    tree.record("other/x", _payload(0))
    leaf = {
        "value": 21.5,
        "timestamp": "1970-01-01T00:00:00.000Z",
        "quality": "good",
        "unit": "degC",
        "origin": "local",
        "node": "n1",
    }
    snap = tree.snapshot("acme")
    assert snap == {
        "acme": {
            "p1": {
                "pack": {
                    "l1": {"temp": leaf},
                    "power": {
                        "value": 3,
                        "timestamp": "1970-01-01T00:00:00.000Z",
                        "quality": "good",
                        "unit": "",
                        "origin": "local",
                    },
                }
            }
        }
    }
    json.dumps(snap)  # plain JSON-ready dicts
    assert [p["topic"] for p in tree.list()] == [
        "acme/p1/pack/l1/temp",
        "acme/p1/pack/power",
        "other/x",
    ]
    assert [p["topic"] for p in tree.list("acme/p1/pack/l1")] == ["acme/p1/pack/l1/temp"]
    assert tree.list("acme/p1/pac") == []  # a prefix is whole levels
    assert [p["topic"] for p in tree.list("+/p1/#")] == [
        "acme/p1/pack/l1/temp",
        "acme/p1/pack/power",
    ]
    point = tree.get("acme/p1/pack/l1/temp")
    assert isinstance(point, UnsPoint) and point.value == 21.5
    assert len(tree) == 3 and "other/x" in tree


def test_a_topic_with_a_value_and_children_keeps_its_value_under_self() -> None:
    tree = UnsTree()
    tree.record("a/b", _payload(1))
    tree.record("a/b/c", _payload(2))
    snap = tree.snapshot()
    assert snap["a"]["b"][SELF_KEY]["value"] == 1
    assert snap["a"]["b"]["c"]["value"] == 2
    tree2 = UnsTree()
    tree2.record("a/b/c", _payload(2))
    tree2.record("a/b", _payload(1))
    assert tree2.snapshot() == snap


def test_remote_messages_shapes_removal_and_echo() -> None:
    tree = UnsTree()
    seen: list[tuple[str, object]] = []
    tree.add_listener(lambda topic, point: seen.append((topic, point and point.value)))
    data = encode_payload(make_payload(5, timestamp=0, quality="bad", source="plc"))
    point = tree.record_message("e/s/a/p", data)
    assert point is not None and point.origin == "remote"
    assert (point.value, point.quality, point.source) == (5, "bad", "plc")
    plain = tree.record_message("e/s/a/q", b"42.5")
    assert plain is not None and (plain.value, plain.timestamp, plain.quality) == (42.5, None, None)
    text = tree.record_message("e/s/a/r", b"running")
    assert text is not None and text.value == "running"
    assert tree.record_message("e/s/a/q", b"") is None
    assert "e/s/a/q" not in tree
    # this runtime's own publish coming back from the broker stays local
    mine = make_payload(7, timestamp=0)
    raw = encode_payload(mine)
    tree.record("e/s/a/m", mine, node="n9", raw=raw)
    assert tree.record_message("e/s/a/m", raw) is None
    local = tree.get("e/s/a/m")
    assert local is not None and local.origin == "local"
    assert seen[:3] == [("e/s/a/p", 5), ("e/s/a/q", 42.5), ("e/s/a/r", "running")]
    assert ("e/s/a/q", None) in seen
    tree.clear("e/s")
    assert len(tree) == 0


def test_filter_matching() -> None:
    assert topic_filter_matches("a/#", "a")
    assert topic_filter_matches("a/+/c", "a/b/c")
    assert not topic_filter_matches("a/+", "a/b/c")


def test_one_tree_per_runtime(tmp_path: Path) -> None:
    rt1 = Runtime(RuntimeSettings(tmp_path))
    rt2 = Runtime(RuntimeSettings(tmp_path))
    assert tree_for(rt1) is tree_for(rt1)
    assert tree_for(rt1) is not tree_for(rt2)
    assert rt1.extensions["uns"] is tree_for(rt1)

    class Bare:
        pass

    bare = Bare()
    t = tree_for(bare)
    assert tree_for(bare) is t
    del bare
    gc.collect()
