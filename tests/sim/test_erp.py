"""The simulator's ERP/CMMS service on its own: $filter compiler, OData v2/v4, CSRF, $batch,
the CMMS REST API, and `plantwire sim --only erp`."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from plantwire.sim.erp import (
    SETS,
    V2_ROOT,
    V4_ROOT,
    ErpService,
    FilterError,
    compile_filter,
    parse_multipart,
)

HOST = "127.0.0.1"


@pytest.fixture
async def erp(tmp_path: Path) -> AsyncIterator[ErpService]:
    service = ErpService(tmp_path / "erp.sqlite", page_size=3)
    await service.start(HOST, 0)
    for i in range(5):
        service.insert(
            SETS["PurchaseOrders"],
            {
                "Supplier": "ACME" if i < 3 else "O'Neil Ltd",
                "Material": "SUGAR-SYRUP",
                "Quantity": 10.0 * (i + 1),
                "DeliveryDate": f"2026-12-0{i + 1}",
            },
        )
    yield service
    await service.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


# ----- $filter -------------------------------------------------------------------------------


def _matching(filter_text: str) -> list[str]:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE MaintenanceOrders (MaintenanceOrder, Equipment, Description, "
        "Priority, Status, CreatedAt, ExternalReference, LongText)"
    )
    db.executemany(
        "INSERT INTO MaintenanceOrders VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ("1", "FILLER-01", "Valve leaks", "1", "CRTD", "2026-11-01T08:00:00Z", None, ""),
            ("2", "FILLER-02", "O'Ring worn", "2", "REL", "2026-11-15T12:30:00Z", "E-2", ""),
            ("3", "CAPPER-01", "Torque", "3", "REL", "2026-12-01T00:00:00Z", "E-3", ""),
        ],
    )
    where, params = compile_filter(filter_text, "MaintenanceOrders")
    rows = db.execute(
        f"SELECT MaintenanceOrder FROM MaintenanceOrders WHERE {where} ORDER BY 1", params
    ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Status eq 'REL'", ["2", "3"]),
        ("Status ne 'REL'", ["1"]),
        ("Priority gt '1' and Priority le '2'", ["2"]),
        ("Priority lt '2' or Equipment eq 'CAPPER-01'", ["1", "3"]),
        ("not (Status eq 'REL')", ["1"]),
        ("(Status eq 'REL' or Priority eq '1') and not startswith(Equipment,'CAP')", ["1", "2"]),
        ("Description eq 'O''Ring worn'", ["2"]),
        ("substringof('FILLER', Equipment)", ["1", "2"]),
        ("substringof('leak',Description) eq true", ["1"]),
        ("contains(Description,'or')", ["2", "3"]),
        ("endswith(Equipment,'-01')", ["1", "3"]),
        ("tolower(Equipment) eq 'capper-01'", ["3"]),
        ("CreatedAt ge datetime'2026-11-15T00:00:00'", ["2", "3"]),
        ("CreatedAt lt 2026-11-15T12:30:00Z", ["1"]),
        ("CreatedAt gt datetimeoffset'2026-11-15T14:00:00+02:00'", ["2", "3"]),  # 12:00Z
        ("ExternalReference eq null", ["1"]),
        ("ExternalReference ne null and MaintenanceOrder eq '3'", ["3"]),
        ("", ["1", "2", "3"]),
    ],
)
def test_filter_compiles_to_sql(text: str, expected: list[str]) -> None:
    assert _matching(text) == expected


def test_filter_numbers_and_dates() -> None:
    where, params = compile_filter(
        "Quantity gt 10.5m and DeliveryDate le 2026-12-03", "PurchaseOrders"
    )
    assert where == '(("Quantity" > ?) AND ("DeliveryDate" <= ?))'
    assert params == [10.5, "2026-12-03"]
    _, params = compile_filter("DeliveryDate eq datetime'2026-12-03T00:00:00'", "PurchaseOrders")
    assert params == ["2026-12-03"]  # a v2 datetime literal against an Edm.Date column


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Nope eq 1", "property 'Nope' not found"),
        ("Status eq", "ends early"),
        ("Status eq 'x' Status", "unexpected"),
        ("(Status eq 'x'", r"ends early \(expected \)\)"),
        ("Status eq 'x' # 1", "cannot read"),
        ("frob(Status)", "unknown function frob"),
        ("Status gt null", "null can only"),
    ],
)
def test_filter_errors(text: str, error: str) -> None:
    with pytest.raises(FilterError, match=error):
        compile_filter(text, "MaintenanceOrders")


# ----- OData v2 / v4 -------------------------------------------------------------------------


async def test_v2_paging_count_dates_and_expand(
    erp: ErpService, client: aiohttp.ClientSession
) -> None:
    url = f"{erp.base_url}{V2_ROOT}PurchaseOrders?$inlinecount=allpages&$orderby=Quantity desc"
    async with client.get(url) as resp:
        assert resp.status == 200
        d = (await resp.json())["d"]
    assert d["__count"] == "5" and len(d["results"]) == 3
    first = d["results"][0]
    assert (
        first["Quantity"] == "50" and first["DeliveryDate"] == "/Date(1796428800000)/"
    )  # 2026-12-05
    assert first["__metadata"]["type"] == "API_PLANT_SRV.PurchaseOrderType"
    assert "__deferred" in first["Items"]
    async with client.get(d["__next"]) as resp:
        rest = (await resp.json())["d"]
    assert [r["Quantity"] for r in rest["results"]] == ["20", "10"] and "__next" not in rest
    async with client.get(
        f"{erp.base_url}{V2_ROOT}PurchaseOrders/$count?$filter=substringof('Neil',Supplier)"
    ) as resp:
        assert await resp.text() == "2"


async def test_v4_collection_entity_and_errors(
    erp: ErpService, client: aiohttp.ClientSession
) -> None:
    root = erp.base_url + V4_ROOT
    async with client.get(root + "PurchaseOrders?$count=true&$top=4&$select=Quantity") as resp:
        doc = await resp.json()
    assert doc["@odata.count"] == 5 and [r["Quantity"] for r in doc["value"]] == [10, 20, 30]
    assert set(doc["value"][0]) == {"PurchaseOrder", "Quantity"}
    async with client.get(doc["@odata.nextLink"]) as resp:
        assert [r["Quantity"] for r in (await resp.json())["value"]] == [40]  # $top honoured
    async with client.get(root + "PurchaseOrders('4500000002')") as resp:
        entity = await resp.json()
    assert entity["DeliveryDate"] == "2026-12-02" and entity["CreatedAt"].endswith("Z")
    async with client.get(root + "PurchaseOrders('9')") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "RESOURCE_NOT_FOUND"
    async with client.get(root + "PurchaseOrders?$filter=Foo eq 1") as resp:
        assert resp.status == 400
        assert "Foo" in (await resp.json())["error"]["message"]


async def test_metadata_documents(erp: ErpService, client: aiohttp.ClientSession) -> None:
    for root, ns in (
        (V2_ROOT, "http://schemas.microsoft.com/ado/2008/09/edm"),
        (V4_ROOT, "http://docs.oasis-open.org/odata/ns/edm"),
    ):
        async with client.get(erp.base_url + root + "$metadata") as resp:
            assert resp.content_type == "application/xml"
            tree = ET.fromstring(await resp.read())
        names = {e.get("Name") for e in tree.iter(f"{{{ns}}}EntitySet")}
        assert names == {"PurchaseOrders", "PurchaseOrderItems", "MaintenanceOrders", "Materials"}


async def test_csrf_token_session_and_invalidation(
    erp: ErpService, client: aiohttp.ClientSession
) -> None:
    url = erp.base_url + V2_ROOT + "MaintenanceOrders"
    body = {"Equipment": "FILLER-01", "Description": "Leak"}
    async with client.post(url, json=body) as resp:
        assert resp.status == 403 and resp.headers["X-CSRF-Token"] == "Required"
    async with client.get(erp.base_url + V2_ROOT, headers={"X-CSRF-Token": "Fetch"}) as resp:
        token = resp.headers["X-CSRF-Token"]
    async with client.post(url, json=body, headers={"X-CSRF-Token": token}) as resp:
        assert resp.status == 201
        assert (await resp.json())["d"]["MaintenanceOrder"] == "40000001"
    other = aiohttp.ClientSession()  # the token belongs to the first session
    try:
        async with other.post(url, json=body, headers={"X-CSRF-Token": token}) as resp:
            assert resp.status == 403
    finally:
        await other.close()
    async with client.post(url, json=body, headers={"X-CSRF-Token": "Fetch"}) as resp:
        assert resp.status == 403  # "Fetch" is no token for a change
    erp.invalidate_tokens()
    async with client.post(url, json=body, headers={"X-CSRF-Token": token}) as resp:
        assert resp.status == 403 and resp.headers["X-CSRF-Token"] == "Required"
    async with client.request("MERGE", url + "('40000001')", json={"Status": "REL"}) as resp:
        assert resp.status == 403


async def test_basic_auth(tmp_path: Path, client: aiohttp.ClientSession) -> None:
    erp = ErpService(tmp_path / "a.sqlite", user="U", password="P", csrf=False)
    await erp.start(HOST, 0)
    try:
        async with client.get(erp.base_url + V4_ROOT + "Materials") as resp:
            assert resp.status == 401 and "Basic" in resp.headers["WWW-Authenticate"]
        auth = {"Authorization": "Basic VTpQ"}  # U:P
        async with client.get(erp.base_url + V4_ROOT + "Materials", headers=auth) as resp:
            assert resp.status == 200
        url = erp.base_url + V4_ROOT + "Materials('CO2')"
        async with client.patch(url, json={"Description": "x"}, headers=auth) as resp:
            assert resp.status == 405  # master data is read-only
    finally:
        await erp.stop()


async def test_duplicate_external_reference_and_deep_insert(
    erp: ErpService, client: aiohttp.ClientSession
) -> None:
    erp.csrf = False
    url = erp.base_url + V2_ROOT + "PurchaseOrders"
    body: dict[str, Any] = {
        "Supplier": "ACME",
        "Material": "CO2",
        "Quantity": "5",
        "ExternalReference": "EP-1",
        "Items": {"results": [{"Material": "CO2", "Quantity": "5"}]},
    }
    async with client.post(url, json=body) as resp:
        assert resp.status == 201
        created = (await resp.json())["d"]
    assert created["Items"]["results"][0]["Item"] == "10"
    async with client.post(url, json=body) as resp:
        assert resp.status == 409
        err = (await resp.json())["error"]
    assert err["code"] == "DUPLICATE_EXTERNAL_REFERENCE"
    assert created["PurchaseOrder"] in err["message"]["value"]
    with sqlite3.connect(erp.db_path) as db:
        assert (
            db.execute(
                "SELECT COUNT(*) FROM PurchaseOrders WHERE ExternalReference='EP-1'"
            ).fetchone()[0]
            == 1
        )


def _batch_body(ops: list[str], boundary: str = "b1", changeset: str = "c1") -> bytes:
    parts = "".join(
        f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
        f"\r\n\r\n{op}\r\n"
        for op in ops
    )
    return (
        f"--{boundary}\r\nContent-Type: application/http\r\n\r\n"
        f"GET Materials('CO2') HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n"
        f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        f"{parts}--{changeset}--\r\n\r\n--{boundary}--\r\n"
    ).encode()


async def test_batch_changeset_atomic(erp: ErpService, client: aiohttp.ClientSession) -> None:
    erp.csrf = False
    ok = (
        "POST MaintenanceOrders HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        '{"Equipment": "E", "Description": "d"}'
    )
    bad = "DELETE PurchaseOrders('nope') HTTP/1.1\r\n\r\n"
    headers = {"Content-Type": "multipart/mixed; boundary=b1"}
    url = erp.base_url + V4_ROOT + "$batch"
    async with client.post(url, data=_batch_body([ok, bad]), headers=headers) as resp:
        assert resp.status == 200
        parts = parse_multipart(resp.headers["Content-Type"], await resp.read())
    assert b"HTTP/1.1 200" in parts[0][1] and b"Carbon dioxide" in parts[0][1]
    assert parts[1][1].startswith(b"HTTP/1.1 404")  # one error answers the whole changeset
    with sqlite3.connect(erp.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM MaintenanceOrders").fetchone()[0] == 0
    async with client.post(url, data=_batch_body([ok, ok]), headers=headers) as resp:
        parts = parse_multipart(resp.headers["Content-Type"], await resp.read())
    inner = parse_multipart(parts[1][0]["content-type"], parts[1][1])
    assert [p[1][:12] for p in inner] == [b"HTTP/1.1 201"] * 2
    with sqlite3.connect(erp.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM MaintenanceOrders").fetchone()[0] == 2


async def test_cmms_rest_api(tmp_path: Path, client: aiohttp.ClientSession) -> None:
    erp = ErpService(tmp_path / "c.sqlite", api_key="k-123")
    await erp.start(HOST, 0)
    try:
        url = erp.base_url + "/api/cmms/work-orders"
        order = {
            "equipment": "FILLER-01",
            "description": "Nozzle 4 drips",
            "priority": "1",
            "externalReference": "ep-9",
            "longText": "fill level low on nozzle 4",
        }
        async with client.post(url, json=order) as resp:
            assert resp.status == 401
        async with client.post(url, json=order, headers={"Authorization": "Bearer k-123"}) as resp:
            assert resp.status == 201
            created = await resp.json()
        assert created["id"] == "40000001" and created["status"] == "CRTD"
        async with client.post(url, json=order, headers={"X-API-Key": "k-123"}) as resp:
            assert resp.status == 409
        async with client.get(url + "?equipment=FILLER-01", headers={"X-API-Key": "k-123"}) as resp:
            assert [w["longText"] for w in await resp.json()] == [order["longText"]]
        # the same table serves OData
        async with client.get(erp.base_url + V4_ROOT + "MaintenanceOrders('40000001')") as resp:
            assert (await resp.json())["ExternalReference"] == "ep-9"
        async with client.get(erp.base_url + "/health") as resp:
            assert (await resp.json())["status"] == "ok"
    finally:
        await erp.stop()


async def test_sim_cli_runs_the_erp_service(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    db = tmp_path / "erp.sqlite"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "plantwire.sim",
        "--only",
        "erp",
        "--erp-port",
        str(port),
        "--erp-db",
        str(db),
        "--quiet",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        seen = ""
        async with asyncio.timeout(20):
            while "plant running" not in seen:
                line = await proc.stdout.readline()
                assert line, seen
                seen += line.decode()
        assert f"erp http://{HOST}:{port}{V2_ROOT}" in seen
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{HOST}:{port}{V2_ROOT}Materials") as resp,
        ):
            assert len((await resp.json())["d"]["results"]) >= 2
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await proc.communicate()
    assert proc.returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM Materials").fetchone()[0] >= 2
