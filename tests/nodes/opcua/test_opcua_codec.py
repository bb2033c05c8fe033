"""Value conversion and node id checks (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from asyncua import ua
from asyncua.ua.status_codes import StatusCodes

from plantwire.nodes.opcua import convert_codec as cc
from plantwire.nodes.opcua._common import parse_items


def _status(code: Any) -> ua.StatusCode:
    return ua.StatusCode(code)


def test_coerce() -> None:
    vt = ua.VariantType
    assert cc.coerce("12.5", vt.Double) == 12.5
    assert cc.coerce("0x10", vt.UInt16) == 16
    assert cc.coerce("true", vt.Boolean) is True
    assert cc.coerce(["1", 2], vt.Int32, array=True) == [1, 2]
    assert cc.coerce(3, vt.String) == "3"
    with pytest.raises(ValueError, match="Byte"):
        cc.coerce(256, vt.Byte)
    with pytest.raises(ValueError, match="whole number"):
        cc.coerce(1.5, vt.Int16)


def test_node_refs_and_quality() -> None:
    assert cc.check_node_ref(" ns=2;s=A.B ") == "ns=2;s=A.B"
    assert cc.browse_path_parts("/Objects/2:Plant") == ["0:Objects", "2:Plant"]
    with pytest.raises(ValueError, match="ns=2;q=1"):
        parse_items(["ns=2;q=1"])
    items = parse_items("Temp = ns=2;i=5\nns=2;s=X")
    assert [(i.name, i.ref) for i in items] == [("Temp", "ns=2;i=5"), ("ns=2;s=X", "ns=2;s=X")]
    q = cc.quality_of(_status(StatusCodes.BadNodeIdUnknown))
    assert q["status"] == "bad" and q["reason"].startswith("BadNodeIdUnknown")
    assert cc.quality_of(_status(StatusCodes.UncertainLastUsableValue))["status"] == ("uncertain")
    assert cc.to_plain(ua.LocalizedText("x")) == "x"
