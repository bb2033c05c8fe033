"""url_codec and batch_codec: keys, query options, v2/v4 unwrapping, errors, $batch."""

from __future__ import annotations

import json

import pytest

from plantwire.nodes.odata.batch_codec import (
    BatchOp,
    decode_batch,
    encode_batch,
    match_replies,
    ops_from_payload,
)
from plantwire.nodes.odata.url_codec import (
    entity_path,
    format_key,
    format_literal,
    function_path,
    join_url,
    odata_error,
    query_pairs,
    strip_entity,
    unwrap_collection,
    unwrap_entity,
)
from plantwire.sim.erp import parse_multipart


def test_literals_and_keys() -> None:
    assert format_literal("O'Brien") == "'O''Brien'"
    assert format_literal(5) == "5" and format_literal(2.5) == "2.5"
    assert format_literal(True) == "true" and format_literal(None) == "null"
    assert format_key("4500000001") == "('4500000001')"
    assert format_key({"PurchaseOrder": "45", "Item": 10}) == "(PurchaseOrder='45',Item=10)"
    assert format_key("(A='1')") == "(A='1')"
    with pytest.raises(ValueError, match="key:"):
        format_key("")
    assert entity_path("A_PurchaseOrder", "4500 01") == "A_PurchaseOrder('4500%2001')"
    with pytest.raises(ValueError, match="entitySet:"):
        entity_path(" ")


def test_query_options_count_and_sap_client() -> None:
    opts = {
        "filter": "Status eq 'Open'",
        "$top": 10,
        "select": ["A", "B"],
        "skip": None,
        "Equipment": "'P-1'",
    }
    pairs = query_pairs(opts, "v2", count=True, sap_client="100")
    assert pairs == [
        ("$filter", "Status eq 'Open'"),
        ("$top", "10"),
        ("$select", "A,B"),
        ("Equipment", "'P-1'"),
        ("$inlinecount", "allpages"),
        ("sap-client", "100"),
    ]
    assert ("$count", "true") in query_pairs({}, "v4", count=True)
    url = join_url("http://h/srv/", "Orders", [("$filter", "Name eq 'a b&c'")])
    assert url == "http://h/srv/Orders?$filter=Name%20eq%20'a%20b%26c'"


def test_function_paths() -> None:
    assert function_path("Release", {"Id": "4"}, "v4", "GET") == "Release(Id='4')"
    assert function_path("Release", {"Id": "4"}, "v4", "POST") == "Release"
    assert function_path("Release", {"Id": "4"}, "v2", "POST") == "Release"


def test_unwrap_v2_collection_and_entity() -> None:
    body = {
        "d": {
            "__count": "7",
            "__next": "http://h/srv/Orders?$skiptoken=5",
            "results": [
                {
                    "__metadata": {"uri": "x"},
                    "Id": "1",
                    "When": "/Date(1767225600000)/",
                    "Items": {"results": [{"__metadata": {}, "Item": "10"}]},
                    "Supplier": {"__deferred": {"uri": "y"}},
                },
            ],
        }
    }
    rows, count, nxt = unwrap_collection(body, "v2")
    assert rows == [{"Id": "1", "When": "2026-01-01T00:00:00Z", "Items": [{"Item": "10"}]}]
    assert count == 7 and nxt.endswith("$skiptoken=5")
    kept, _, _ = unwrap_collection(body, "v2", keep_metadata=True)
    assert kept[0]["__metadata"] == {"uri": "x"}
    assert unwrap_entity({"d": {"__metadata": {}, "Id": "2"}}, "v2") == {"Id": "2"}
    with pytest.raises(ValueError, match="v2 collection"):
        unwrap_collection({"value": []}, "v2")


def test_unwrap_v4() -> None:
    body = {
        "@odata.context": "c",
        "@odata.count": 3,
        "@odata.nextLink": "n",
        "value": [{"@odata.etag": "W/1", "Id": 1, "Items": [{"@odata.id": "i", "A": 1}]}],
    }
    assert unwrap_collection(body, "v4") == ([{"Id": 1, "Items": [{"A": 1}]}], 3, "n")
    assert strip_entity({"@odata.context": "c", "Id": 1}, "v4") == {"Id": 1}
    assert unwrap_entity({"@odata.context": "c", "value": [1, 2]}, "v4") == [1, 2]


def test_error_bodies() -> None:
    v2 = json.dumps({"error": {"code": "06/017", "message": {"lang": "en", "value": "PO locked"}}})
    assert odata_error(v2) == ("06/017", "PO locked")
    v4 = json.dumps({"error": {"code": "E1", "message": "bad"}})
    assert odata_error(v4.encode()) == ("E1", "bad")
    xml = (
        '<?xml version="1.0"?><error xmlns="http://schemas.microsoft.com/ado/2007/08/'
        'dataservices/metadata"><code>SY/530</code><message xml:lang="en">No auth</message>'
        "</error>"
    )
    assert odata_error(xml) == ("SY/530", "No auth")
    assert odata_error(b"<html>Bad gateway</html>") == ("", "")


def test_batch_request_groups_changes_into_changesets() -> None:
    ops = ops_from_payload(
        [
            {"method": "GET", "entitySet": "Orders", "key": "1"},
            {"method": "POST", "entitySet": "Orders", "body": {"A": "x"}},
            {"method": "PATCH", "entitySet": "Orders", "key": "1", "body": {"A": "y"}},
            {"method": "DELETE", "entitySet": "Orders", "key": "2"},
        ],
        "v2",
    )
    assert [o.method for o in ops] == ["GET", "POST", "MERGE", "DELETE"]  # v2 PATCH = MERGE
    ctype, body = encode_batch(ops, "v2", boundary="batch_X")
    assert ctype == "multipart/mixed; boundary=batch_X"
    parts = parse_multipart(ctype, body)  # read back with the ERP simulator's own parser
    assert len(parts) == 2
    assert parts[0][0]["content-type"] == "application/http"
    assert parts[0][1].startswith(b"GET Orders('1') HTTP/1.1")
    changes = parse_multipart(parts[1][0]["content-type"], parts[1][1])
    lines = [c[1].split(b"\r\n", 1)[0] for c in changes]
    assert lines == [
        b"POST Orders HTTP/1.1",
        b"MERGE Orders('1') HTTP/1.1",
        b"DELETE Orders('2') HTTP/1.1",
    ]
    assert changes[0][1].endswith(b'{"A":"x"}')
    with pytest.raises(ValueError, match="operation 1: DELETE needs a key"):
        ops_from_payload([{"entitySet": "A"}, {"method": "DELETE", "entitySet": "A"}], "v4")
    with pytest.raises(ValueError, match="non-empty list"):
        ops_from_payload({}, "v4")


RESPONSE = (
    b"--batchresponse_1\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
    b'{"d":{"Id":"1"}}\r\n'
    b"--batchresponse_1\r\n"
    b"Content-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
    b"--changesetresponse_2\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n"
    b'{"d":{"Id":"3"}}\r\n'
    b"--changesetresponse_2\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\n\r\n\r\n"
    b"--changesetresponse_2--\r\n\r\n"
    b"--batchresponse_1\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
    b'{"error":{"code":"X","message":{"value":"nope"}}}\r\n'
    b"--batchresponse_1--\r\n"
)


def test_batch_response_decoding_and_failed_changeset() -> None:
    groups = decode_batch("multipart/mixed; boundary=batchresponse_1", RESPONSE)
    assert [[r.status for r in g] for g in groups] == [[200], [201, 204], [400]]
    assert groups[0][0].json() == {"d": {"Id": "1"}}
    assert groups[1][1].json() is None
    ops = [
        BatchOp("GET", "A('1')"),
        BatchOp("POST", "A"),
        BatchOp("DELETE", "A('2')"),
        BatchOp("GET", "B"),
    ]
    assert [r.status for r in match_replies(ops, groups)] == [200, 201, 204, 400]
    # a failed changeset is answered once: every operation in it gets that error
    failed = [BatchOp("POST", "A"), BatchOp("POST", "A"), BatchOp("POST", "A")]
    assert [r.status for r in match_replies(failed, groups[2:])] == [400, 400, 400]
    with pytest.raises(ValueError, match="answers for"):
        match_replies([*ops, BatchOp("GET", "B")], groups)
    with pytest.raises(ValueError, match="changeset"):
        match_replies([BatchOp("GET", "A"), *failed], groups[:2])
