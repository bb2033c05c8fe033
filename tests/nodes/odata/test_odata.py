"""odata-service / odata nodes against the simulator's ERP service, started on a free port."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime
from plantwire.sim.erp import SETS, V2_ROOT, V4_ROOT, ErpService
from tests.conftest import probe, tab
from tests.flowkit import deploy as _deploy
from tests.flowkit import received as _got

PO = SETS["PurchaseOrders"]


@pytest.fixture
async def erp(tmp_path: Path) -> AsyncIterator[ErpService]:
    service = ErpService(tmp_path / "erp.sqlite", page_size=5)
    await service.start("127.0.0.1", 0)
    yield service
    await service.stop()


def _seed(erp: ErpService, n: int, supplier: str = "ACME") -> list[str]:
    keys = []
    for i in range(n):
        key = erp.insert(
            PO,
            {
                "Supplier": supplier,
                "Material": "SUGAR-SYRUP" if i % 2 else "PREFORM-0.5L",
                "Quantity": float(i + 1),
                "Unit": "L",
                "DeliveryDate": f"2026-12-{i + 1:02d}",
                "Status": "Open",
            },
        )
        keys.append(key["PurchaseOrder"])
    for k in keys[:2]:
        erp.insert(
            SETS["PurchaseOrderItems"],
            {"PurchaseOrder": k, "Item": "10", "Material": "CAP-28MM", "Quantity": 100.0},
        )
    return keys


def _rows(erp: ErpService, sql: str, params: Any = ()) -> list[sqlite3.Row]:
    with sqlite3.connect(erp.db_path) as conn:  # the ERP database, read with plain SQL
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


def _flow(
    url: str,
    version: str = "v2",
    creds: dict[str, str] | None = None,
    svc: dict[str, Any] | None = None,
    **node: Any,
) -> list[Any]:
    service: dict[str, Any] = {
        "id": "svc",
        "type": "odata-service",
        "url": url,
        "version": version,
        **(svc or {}),
    }
    if creds:
        service["credentials"] = creds
    return [
        tab(),
        service,
        {
            "id": "q",
            "type": "odata",
            "z": "t1",
            "service": "svc",
            "wires": [["out"]],
            "retryDelay": "20",
            **node,
        },
        {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["err"]]},
        probe("out"),
        probe("err"),
    ]


def _root(erp: ErpService, version: str) -> str:
    return erp.base_url + (V2_ROOT if version == "v2" else V4_ROOT)


async def _ask(rt: Runtime, msg: Msg, nid: str = "out", timeout: float = 10.0) -> Msg:
    before = len(_got(rt, "out")) + len(_got(rt, "err"))
    node = rt.get_node("q")
    assert node is not None
    rt.deliver(node, msg)
    async with asyncio.timeout(timeout):
        while len(_got(rt, "out")) + len(_got(rt, "err")) == before:
            await asyncio.sleep(0.01)
    got = _got(rt, nid)
    assert got, f"nothing on {nid}; out={_got(rt, 'out')} err={_got(rt, 'err')}"
    return got[-1]


# ----- reading -------------------------------------------------------------------------------


async def test_read_v2_filter_select_orderby_count_all_pages(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    _seed(erp, 12)
    _seed(erp, 3, supplier="OTHER")
    rt = await _deploy(
        make_runtime,
        _flow(
            _root(erp, "v2"),
            entitySet="PurchaseOrders",
            filter="Supplier eq 'ACME' and Quantity ge 3",
            select="PurchaseOrder,Quantity,DeliveryDate",
            orderby="Quantity desc",
            count=True,
            pages="0",
        ),
    )
    msg = await _ask(rt, {"payload": None})
    rows = msg["payload"]
    assert [r["Quantity"] for r in rows] == [str(q) for q in range(12, 2, -1)]  # 2 server pages
    assert msg["count"] == 10
    assert set(rows[0]) == {"PurchaseOrder", "Quantity", "DeliveryDate"}  # no __metadata
    assert rows[0]["DeliveryDate"] == "2026-12-12T00:00:00Z"  # /Date(ms)/ as ISO text
    assert "nextLink" not in msg


async def test_read_one_page_sets_next_link_and_msg_query_overrides(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    _seed(erp, 8)
    rt = await _deploy(
        make_runtime,
        _flow(_root(erp, "v4"), "v4", entitySet="PurchaseOrders", filter="Quantity gt 100"),
    )
    msg = await _ask(rt, {"query": {"$filter": "Quantity gt 1", "orderby": "Quantity"}})
    assert [r["Quantity"] for r in msg["payload"]] == [2, 3, 4, 5, 6]  # first page only
    assert "$skiptoken=5" in msg["nextLink"]
    msg = await _ask(
        rt, {"query": {"$top": 2, "$skip": 3, "$orderby": "Quantity desc", "$filter": ""}}
    )
    assert [r["Quantity"] for r in msg["payload"]] == [5, 4]


async def test_read_v4_expand_contains_and_get_composite_key(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    keys = _seed(erp, 4)
    rt = await _deploy(
        make_runtime,
        _flow(
            _root(erp, "v4"),
            "v4",
            entitySet="PurchaseOrders",
            expand="Items",
            count=True,
            filter="contains(Material,'SYRUP') and not (Quantity eq 4)",
        ),
    )
    msg = await _ask(rt, {})
    assert [r["PurchaseOrder"] for r in msg["payload"]] == [keys[1]]
    assert msg["payload"][0]["Items"][0]["Material"] == "CAP-28MM"
    assert msg["count"] == 1
    assert not any(k.startswith("@odata") for k in msg["payload"][0])
    await rt.stop()
    rt = await _deploy(
        make_runtime, _flow(_root(erp, "v4"), "v4", operation="get", entitySet="PurchaseOrderItems")
    )
    msg = await _ask(rt, {"key": {"PurchaseOrder": keys[0], "Item": "10"}})
    assert msg["payload"]["Quantity"] == 100
    msg = await _ask(rt, {"entitySet": "PurchaseOrders", "key": keys[0]})
    assert msg["payload"]["PurchaseOrder"] == keys[0]


# ----- writing, CSRF ------------------------------------------------------------------------


async def test_create_update_delete_v2_with_sap_client_and_csrf(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    flow = _flow(_root(erp, "v2"), svc={"sapClient": "100"}, entitySet="PurchaseOrders")
    rt = await _deploy(make_runtime, flow)
    q = rt.get_node("q")
    assert q is not None
    ref = f"ep-{uuid.uuid4().hex[:8]}"
    q.cfg.operation = "create"  # type: ignore[attr-defined]
    msg = await _ask(
        rt,
        {
            "payload": {
                "Supplier": "ACME",
                "Material": "SUGAR-SYRUP",
                "Quantity": "250.5",
                "Unit": "L",
                "DeliveryDate": "2026-12-24T00:00:00",
                "ExternalReference": ref,
            }
        },
    )
    created = msg["payload"]
    number = created["PurchaseOrder"]
    assert number.startswith("45") and len(number) == 10
    row = _rows(erp, "SELECT * FROM PurchaseOrders WHERE ExternalReference = ?", [ref])[0]
    assert row["PurchaseOrder"] == number and row["Quantity"] == 250.5
    assert row["DeliveryDate"] == "2026-12-24"
    q.cfg.operation = "update"  # type: ignore[attr-defined]
    msg = await _ask(rt, {"key": number, "payload": {"Status": "Released"}})
    assert msg["payload"]["Status"] == "Released"  # read back after MERGE's 204
    assert _rows(erp, "SELECT Status FROM PurchaseOrders")[0]["Status"] == "Released"
    q.cfg.operation = "delete"  # type: ignore[attr-defined]
    msg = await _ask(rt, {"key": number})
    assert msg["payload"]["deleted"] is True
    assert _rows(erp, "SELECT * FROM PurchaseOrders") == []
    assert all("sap-client=100" in path for _, path in erp.requests)
    fetches = [r for r in erp.requests if r[0] == "GET" and r[1].startswith(V2_ROOT + "?")]
    assert len(fetches) == 1  # one token for the session


async def test_expired_csrf_token_is_fetched_again(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    rt = await _deploy(
        make_runtime,
        _flow(_root(erp, "v4"), "v4", operation="create", entitySet="MaintenanceOrders"),
    )
    body = {"Equipment": "FILLER-01", "Description": "Valve leaks"}
    first = await _ask(rt, {"payload": dict(body)})
    erp.invalidate_tokens()  # the ERP restarted: the node's token is no longer valid
    second = await _ask(rt, {"payload": dict(body)})
    assert (
        int(second["payload"]["MaintenanceOrder"]) == int(first["payload"]["MaintenanceOrder"]) + 1
    )
    assert len(_rows(erp, "SELECT * FROM MaintenanceOrders")) == 2
    posts = [r for r in erp.requests if r[0] == "POST"]
    assert len(posts) == 3  # the refused one and its repetition
    assert _got(rt, "err") == []


async def test_update_v4_patch(make_runtime: Callable[..., Runtime], erp: ErpService) -> None:
    keys = _seed(erp, 1)
    rt = await _deploy(
        make_runtime,
        _flow(_root(erp, "v4"), "v4", operation="update", entitySet="PurchaseOrders", key=keys[0]),
    )
    msg = await _ask(rt, {"payload": {"Quantity": 42, "DeliveryDate": "2027-01-15"}})
    assert msg["payload"]["Quantity"] == 42 and msg["payload"]["DeliveryDate"] == "2027-01-15"
    assert any(m == "PATCH" for m, _ in erp.requests)


# ----- errors to catch nodes ---------------------------------------------------------------


async def test_duplicate_external_reference_reaches_catch(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    rt = await _deploy(
        make_runtime, _flow(_root(erp, "v2"), operation="create", entitySet="MaintenanceOrders")
    )
    body = {"Equipment": "CAPPER-01", "Description": "Torque drift", "ExternalReference": "E-7"}
    await _ask(rt, {"payload": dict(body)})
    err = await _ask(rt, {"payload": dict(body)}, "err")
    text = err["error"]["message"]
    assert "409" in text and "ExternalReference 'E-7' is already used" in text
    assert "/MaintenanceOrders" in text
    assert err["odataError"]["code"] == "DUPLICATE_EXTERNAL_REFERENCE"
    assert len(_rows(erp, "SELECT * FROM MaintenanceOrders")) == 1


async def test_auth_failure_is_reported_without_the_password(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    erp = ErpService(tmp_path / "auth.sqlite", user="PLANT", password="s3cret-right")
    await erp.start("127.0.0.1", 0)
    try:
        creds = {"user": "PLANT", "password": "wrong-pw-123"}
        rt = await _deploy(
            make_runtime,
            _flow(_root(erp, "v2"), creds=creds, svc={"authType": "basic"}, entitySet="Materials"),
        )
        err = await _ask(rt, {}, "err")
        text = err["error"]["message"]
        assert "401" in text and "credentials" in text
        assert "wrong-pw-123" not in text and "UExBTlQ6d3Jvbmc" not in text
        await rt.stop()
        creds["password"] = "s3cret-right"
        rt = await _deploy(
            make_runtime,
            _flow(_root(erp, "v2"), creds=creds, svc={"authType": "basic"}, entitySet="Materials"),
        )
        msg = await _ask(rt, {})
        assert "SUGAR-SYRUP" in [m["Material"] for m in msg["payload"]]
    finally:
        await erp.stop()


async def test_timeout_and_refused_connection_reach_catch(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    erp.delay = 2.0
    rt = await _deploy(
        make_runtime,
        _flow(_root(erp, "v4"), "v4", svc={"timeout": "0.3"}, entitySet="Materials", retries="0"),
    )
    err = await _ask(rt, {}, "err")
    assert "no answer within 0.3 s" in err["error"]["message"]
    await rt.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    rt = await _deploy(
        make_runtime,
        _flow(f"http://127.0.0.1:{port}/odata/v4/plant/", "v4", entitySet="Materials", retries="1"),
    )
    err = await _ask(rt, {}, "err")
    assert f"connection refused by 127.0.0.1:{port}" in err["error"]["message"]


async def test_5xx_is_retried(make_runtime: Callable[..., Runtime], erp: ErpService) -> None:
    erp.fail_next = 2
    rt = await _deploy(make_runtime, _flow(_root(erp, "v2"), entitySet="Materials", retries="2"))
    msg = await _ask(rt, {})
    assert len(msg["payload"]) >= 2
    erp.fail_next = 5
    err = await _ask(rt, {}, "err")
    assert "HTTP 503" in err["error"]["message"] and "ERP is busy" in err["error"]["message"]


# ----- batch, function ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v2", "v4"])
async def test_batch_changeset_is_atomic(
    make_runtime: Callable[..., Runtime], erp: ErpService, version: str
) -> None:
    keys = _seed(erp, 1)
    rt = await _deploy(make_runtime, _flow(_root(erp, version), version, operation="batch"))
    good = {"Equipment": "LABELER-01", "Description": "Glue low", "ExternalReference": "B-1"}
    bad = {"Equipment": "LABELER-01", "Description": "x", "NoSuchField": 1}
    err = await _ask(
        rt,
        {
            "payload": [
                {"method": "POST", "entitySet": "MaintenanceOrders", "body": good},
                {
                    "method": "PATCH",
                    "entitySet": "PurchaseOrders",
                    "key": keys[0],
                    "body": {"Status": "Closed"},
                },
                {"method": "POST", "entitySet": "MaintenanceOrders", "body": bad},
            ]
        },
        "err",
    )
    assert "operation 2" in err["error"]["message"] or "NoSuchField" in err["error"]["message"]
    assert "NoSuchField" in err["error"]["message"]
    assert _rows(erp, "SELECT * FROM MaintenanceOrders") == []  # nothing written
    assert _rows(erp, "SELECT Status FROM PurchaseOrders")[0]["Status"] == "Open"
    msg = await _ask(
        rt,
        {
            "payload": [
                {"method": "POST", "entitySet": "MaintenanceOrders", "body": good},
                {
                    "method": "PATCH",
                    "entitySet": "PurchaseOrders",
                    "key": keys[0],
                    "body": {"Status": "Closed"},
                },
                {"method": "GET", "entitySet": "PurchaseOrders", "key": keys[0]},
            ]
        },
    )
    statuses = [r["status"] for r in msg["payload"]]
    assert statuses == [201, 204, 200]
    assert msg["payload"][0]["body"]["ExternalReference"] == "B-1"
    assert msg["payload"][2]["body"]["Status"] == "Closed"
    assert len(_rows(erp, "SELECT * FROM MaintenanceOrders")) == 1


@pytest.mark.parametrize("version", ["v2", "v4"])
async def test_function_import(
    make_runtime: Callable[..., Runtime], erp: ErpService, version: str
) -> None:
    number = erp.insert(SETS["MaintenanceOrders"], {"Equipment": "E1", "Description": "d"})
    rt = await _deploy(
        make_runtime,
        _flow(
            _root(erp, version), version, operation="function", function="ReleaseMaintenanceOrder"
        ),
    )
    msg = await _ask(rt, {"payload": {"MaintenanceOrder": number["MaintenanceOrder"]}})
    assert msg["payload"]["Status"] == "REL"
    assert _rows(erp, "SELECT Status FROM MaintenanceOrders")[0]["Status"] == "REL"


async def test_bad_config_is_refused(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    await rt.open()
    with pytest.raises(Exception) as info:
        await rt.deploy(_flow("ftp://x/", "v3", operation="frobnicate"))
    text = str(info.value)
    assert "url:" in text or "version:" in text
    assert "operation:" in text


async def test_example_flow_orders_and_work_order(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    example = Path(__file__).parents[3] / "examples" / "odata" / "erp-orders.json"
    text = example.read_text().replace("127.0.0.1:8090", f"127.0.0.1:{erp.port}")
    await _deploy(make_runtime, json.loads(text))
    async with asyncio.timeout(10):
        while not (
            _rows(erp, "SELECT * FROM MaintenanceOrders")
            and _rows(erp, "SELECT * FROM PurchaseOrderItems")
        ):
            await asyncio.sleep(0.05)
    po = _rows(erp, "SELECT * FROM PurchaseOrders")[0]
    assert po["ExternalReference"].startswith("SYRUP-LOW-") and po["Quantity"] == 2000
    wo = _rows(erp, "SELECT * FROM MaintenanceOrders")[0]
    assert wo["Equipment"] == "FILLER-01" and wo["LongText"].startswith("Fill level below")
    assert any("sap-client=100" in path for method, path in erp.requests if method == "POST")


async def test_csrf_off_sends_no_token_fetch(
    make_runtime: Callable[..., Runtime], erp: ErpService
) -> None:
    flow = _flow(
        _root(erp, "v4"),
        "v4",
        svc={"csrf": "false"},
        operation="create",
        entitySet="MaintenanceOrders",
    )
    rt = await _deploy(make_runtime, flow)
    err = await _ask(rt, {"payload": {"Equipment": "E", "Description": "d"}}, "err")
    assert "HTTP 403" in err["error"]["message"]  # this ERP insists on CSRF
    erp.csrf = False
    msg = await _ask(rt, {"payload": {"Equipment": "E", "Description": "d"}})
    assert msg["payload"]["Status"] == "CRTD"
    assert not [r for r in erp.requests if r[0] == "GET"]  # never fetched a token
