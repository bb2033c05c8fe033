"""Context: node / flow / global scopes, $parent in subflows, memory and SQLite stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plantwire.runtime.context import ContextManager, MemoryStore, SqliteStore
from plantwire.runtime.message import MISSING
from tests.conftest import probe, tab

STORES = {
    "default": "memory",
    "memory": {"module": "memory"},
    "file": {"module": "localfilesystem"},
}


async def test_scopes_are_separate_and_shared_as_node_red_shares_them(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy([tab(), tab("t2"), probe("a"), probe("b"), probe("c", z="t2")])
    a, b, c = (rt.get_node(i) for i in "abc")
    a.context().set("count", 1)
    a.context().flow.set("line", {"speed": 10})
    a.context().global_.set("site", "Plant 1")
    assert b.context().get("count") is MISSING  # node scope is per node
    assert b.context().flow.get("line.speed") == 10  # flow scope per tab
    assert c.context().flow.get("line") is MISSING
    assert c.context().global_.get("site") == "Plant 1"


async def test_nested_keys_set_and_delete(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy([tab(), probe("a")])
    flow = rt.get_node("a").context().flow
    flow.set("m.temps[1]", 20)
    assert flow.get("m") == {"temps": [None, 20]}
    flow.set("m.temps", MISSING)
    assert flow.get("m") == {}
    flow.set("m", MISSING)
    assert flow.keys() == []


async def test_parent_reaches_the_tab_from_a_subflow(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy(
        [
            tab(),
            {
                "id": "sf",
                "type": "subflow",
                "name": "S",
                "in": [{"wires": [{"id": "inner"}]}],
                "out": [],
                "env": [],
            },
            {"id": "inner", "type": "test-probe", "z": "sf", "wires": [[]]},
            {"id": "i1", "type": "subflow:sf", "z": "t1", "wires": []},
            probe("top"),
        ]
    )
    rt.get_node("top").context().flow.set("shared", "from tab")
    inner = rt.get_node("i1-inner")
    assert inner is not None
    assert inner.context().flow.get("$parent.shared") == "from tab"
    inner.context().flow.set("own", 1)
    assert rt.get_node("top").context().flow.get("own") is MISSING
    assert rt.get_node("top").context().flow.get("$parent.anything") is MISSING


async def test_persistent_store_survives_a_restart(make_runtime: Any, tmp_path: Path) -> None:
    rt = make_runtime(context_storage=STORES)
    await rt.deploy([tab(), probe("a")])
    ctx = rt.get_node("a").context()
    ctx.flow.set("total", 41, "file")
    ctx.global_.set("blob", b"\x00\x01", "file")
    ctx.flow.set("volatile", 1)
    await rt.stop()
    rt2 = make_runtime(context_storage=STORES)
    await rt2.deploy([tab(), probe("a")])
    ctx2 = rt2.get_node("a").context()
    assert ctx2.flow.get("total", "file") == 41
    assert ctx2.global_.get("blob", "file") == b"\x00\x01"
    assert ctx2.flow.get("volatile") is MISSING
    assert (tmp_path / "context-file.sqlite").exists()


async def test_unknown_store_falls_back_to_default_with_warning() -> None:
    manager = ContextManager({"memory": MemoryStore()})
    manager.global_view.set("k", 1, "nope")
    assert manager.global_view.get("k") == 1


async def test_sqlite_store_flushes_in_batches(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite", flush_interval=60)
    await store.open()
    store.set("global", "a", 1)
    store.flush()
    store.set("global", "a", MISSING)
    await store.close()
    again = SqliteStore(tmp_path / "c.sqlite")
    await again.open()
    assert again.get("global", "a") is MISSING
    await again.close()
