"""Sparkplug B codec, edge session and host tracker (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plantwire.nodes.sparkplug.edge_codec import (
    EdgeSession,
    MetricDef,
    Unchanged,
    pack_record,
    unpack_record,
)
from plantwire.nodes.sparkplug.host_codec import HostTracker
from plantwire.nodes.sparkplug.sparkplug_codec import (
    REBIRTH,
    DataType,
    Metric,
    Payload,
    SparkplugDecodeError,
    SparkplugValueError,
    Topic,
    build_topic,
    decode_payload,
    decode_state,
    encode_payload,
    encode_state,
    parse_datatype,
    parse_topic,
)


def roundtrip(dt: DataType, value: object) -> object:
    data = encode_payload(Payload(metrics=[Metric("m", value, dt)]))
    return decode_payload(data).metrics[0].value


@pytest.mark.parametrize(
    ("dt", "value"),
    [
        (DataType.Int8, -128),
        (DataType.Int8, 127),
        (DataType.Int16, -2),
        (DataType.Int32, -2147483648),
        (DataType.Int64, -(2**63)),
        (DataType.UInt8, 255),
        (DataType.UInt16, 65535),
        (DataType.UInt32, 2**32 - 1),
        (DataType.UInt64, 2**64 - 1),
        (DataType.Double, 3.25),
        (DataType.Float, 1.5),
        (DataType.Boolean, True),
        (DataType.String, "héllo"),
        (DataType.Text, "long text"),
        (DataType.UUID, "2b1d4c1e-0000-4000-8000-000000000000"),
        (DataType.DateTime, 1700000000123),
        (DataType.Bytes, b"\x00\x01\xff"),
        (DataType.File, b"file body"),
        (DataType.Int16Array, [-1, 2, 32767]),
        (DataType.UInt8Array, [0, 255]),
        (DataType.DoubleArray, [1.5, -2.25]),
        (DataType.BooleanArray, [True, False, True, True, False, False, False, False, True]),
        (DataType.StringArray, ["a", "", "c"]),
        (DataType.DateTimeArray, [1, 1700000000000]),
    ],
)
def test_values_roundtrip(dt: DataType, value: object) -> None:
    assert roundtrip(dt, value) == value


def test_signed_ints_use_their_width_and_accept_32_bit_twos_complement() -> None:
    data = encode_payload(Payload(metrics=[Metric("m", -1, DataType.Int8)]))
    assert b"\x50\xff\x01" in data  # field 10 (int_value) = 255
    # a 32-bit two's complement writer (0xFFFFFFFF) is understood too
    from plantwire.nodes.sparkplug.sparkplug_codec import pb

    p = pb.Payload()
    m = p.metrics.add()
    m.name, m.datatype, m.int_value = "x", int(DataType.Int16), 0xFFFFFFFE
    assert decode_payload(p.SerializeToString()).metrics[0].value == -2


def test_conversions_and_range_errors() -> None:
    assert roundtrip(DataType.Int32, "42") == 42
    assert roundtrip(DataType.Boolean, "false") is False
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert roundtrip(DataType.DateTime, when) == int(when.timestamp() * 1000)
    assert roundtrip(DataType.DateTime, "2024-01-02T03:04:05Z") == int(when.timestamp() * 1000)
    with pytest.raises(SparkplugValueError, match="out of range for Int8"):
        encode_payload(Payload(metrics=[Metric("t", 200, DataType.Int8)]))
    with pytest.raises(SparkplugValueError, match=r"metric 't'.*not a number"):
        encode_payload(Payload(metrics=[Metric("t", "abc", DataType.Double)]))
    assert parse_datatype("int32") is DataType.Int32
    assert parse_datatype("9") is DataType.Float
    with pytest.raises(ValueError, match="unknown Sparkplug data type"):
        parse_datatype("Decimal")


def test_null_dataset_template_properties_metadata() -> None:
    ds = {"columns": ["a", "b"], "types": ["Int32", "String"], "rows": [[1, "x"], [-5, None]]}
    tpl = {
        "version": "1",
        "templateRef": "Motor",
        "isDefinition": False,
        "metrics": {"rpm": 12.5},
        "parameters": {"size": 3},
    }
    payload = Payload(
        timestamp=1,
        seq=7,
        uuid="u",
        metrics=[
            Metric("n", None, DataType.Int32),
            Metric("ds", ds, DataType.DataSet, properties={"engUnit": "C", "nest": {"k": 1}}),
            Metric("t", tpl, DataType.Template),
            Metric("f", b"xyz", DataType.File, metadata={"file_name": "a.txt", "size": 3}),
        ],
    )
    back = decode_payload(encode_payload(payload))
    assert (back.timestamp, back.seq, back.uuid) == (1, 7, "u")
    n, d, t, f = back.metrics
    assert n.is_null and n.value is None and n.datatype is DataType.Int32
    assert d.value == {**ds, "types": ["Int32", "String"]}
    assert d.properties == {"engUnit": "C", "nest": {"k": 1}}
    assert t.value["templateRef"] == "Motor" and t.value["metrics"] == {"rpm": 12.5}
    assert t.value["parameters"] == {"size": 3}
    assert f.metadata == {"file_name": "a.txt", "size": 3}


def test_malformed_payload_is_a_clear_error() -> None:
    with pytest.raises(SparkplugDecodeError, match="not a Sparkplug B payload"):
        decode_payload(b"\xff\xff\xff\xff not protobuf")
    from plantwire.nodes.sparkplug.sparkplug_codec import pb

    p = pb.Payload()
    p.metrics.add(name="x", datatype=99)
    with pytest.raises(SparkplugDecodeError, match="unknown data type code 99"):
        decode_payload(p.SerializeToString())


def test_topics() -> None:
    assert parse_topic("spBv1.0/G/DDATA/E/D") == Topic("G", "DDATA", "E", "D")
    assert parse_topic("spBv1.0/G/NBIRTH/E") == Topic("G", "NBIRTH", "E")
    assert parse_topic("spBv1.0/STATE/host1").host_id == "host1"
    assert str(parse_topic("spBv1.0/G/DCMD/E/D")) == "spBv1.0/G/DCMD/E/D"
    assert build_topic("G", "NCMD", "E") == "spBv1.0/G/NCMD/E"
    for bad in ("spAv1.0/G/NDATA/E", "spBv1.0/G/NDATA", "spBv1.0/G/XDATA/E", "spBv1.0/G/NDATA/E/D"):
        with pytest.raises(ValueError):
            parse_topic(bad)
    with pytest.raises(ValueError, match="needs a device"):
        build_topic("G", "DDATA", "E")
    with pytest.raises(ValueError, match="forbids"):
        build_topic("G/x", "NDATA", "E")


def test_state_payloads() -> None:
    assert decode_state(encode_state(True, 5)) == (True, 5)
    assert decode_state(b"OFFLINE") == (False, None)
    with pytest.raises(SparkplugDecodeError):
        decode_state(b'{"on": 1}')


def _session(rbe: bool = False) -> EdgeSession:
    return EdgeSession(
        [MetricDef("temp", DataType.Double, deadband=0.5), MetricDef("count", DataType.Int32)],
        {"pump": [MetricDef("rpm", DataType.UInt16, alias=100)]},
        report_by_exception=rbe,
    )


def test_edge_session_births_aliases_and_seq_wrap() -> None:
    s = _session()
    assert s.new_connection() == 0 and s.new_connection() == 1
    birth = decode_payload(s.nbirth())
    assert birth.seq == 0
    names = [m.name for m in birth.metrics]
    assert names == ["bdSeq", REBIRTH, "temp", "count"]
    assert birth.metrics[0].value == 1
    assert birth.metrics[2].alias == 1 and birth.metrics[2].is_null
    dbirth = decode_payload(s.dbirth("pump"))
    assert dbirth.seq == 1 and dbirth.metrics[0].alias == 100
    items = s.update(None, {"temp": 20.0})
    data = decode_payload(s.data(None, items))
    assert data.seq == 2 and data.metrics[0].name is None and data.metrics[0].alias == 1
    for _ in range(253):
        s.next_seq()
    assert s.next_seq() == 0  # 255 was the last, then it wraps
    assert decode_payload(s.ndeath()).metrics[0].value == 1
    with pytest.raises(ValueError, match="not a configured metric"):
        s.update(None, {"nope": 1})
    with pytest.raises(ValueError, match="unknown device"):
        s.update("valve", {"x": 1})
    with pytest.raises(SparkplugValueError, match="out of range"):
        s.update("pump", {"rpm": -1})


def test_report_by_exception_with_deadband() -> None:
    s = _session(rbe=True)
    assert [i[0] for i in s.update(None, {"temp": 20.0, "count": 1})] == ["temp", "count"]
    with pytest.raises(Unchanged):
        s.update(None, {"temp": 20.4, "count": 1})  # within deadband / same
    assert [i[:2] for i in s.update(None, {"temp": 20.6, "count": 1})] == [("temp", 20.6)]
    assert [i[:2] for i in s.update(None, {"count": 2})] == [("count", 2)]


def test_records_keep_bytes() -> None:
    rec = pack_record("d", [("b", b"\x00\x01", 5), ("n", 1.5, 6)])
    assert unpack_record(rec) == ("d", [("b", b"\x00\x01", 5), ("n", 1.5, 6)])


def test_host_tracker_aliases_seq_gaps_and_deaths() -> None:
    s = _session()
    s.new_connection()
    h = HostTracker(rebirth_interval=0)
    t_nb = Topic("G", "NBIRTH", "E")
    res = h.handle(t_nb, decode_payload(s.nbirth()), now=0)
    assert res.events[0]["payload"]["event"] == "birth" and not res.rebirth
    assert res.events[0]["payload"]["bdSeq"] == 0
    res = h.handle(Topic("G", "DBIRTH", "E", "pump"), decode_payload(s.dbirth("pump")), now=0)
    res = h.handle(
        Topic("G", "DDATA", "E", "pump"),
        decode_payload(s.data("pump", s.update("pump", {"rpm": 7}))),
        now=0,
    )
    assert res.metrics[0]["topic"] == "G/E/pump/rpm" and res.metrics[0]["payload"] == 7
    assert res.metrics[0]["sparkplug"]["datatype"] == "UInt16"
    s.next_seq()  # a message lost
    res = h.handle(
        Topic("G", "NDATA", "E"), decode_payload(s.data(None, s.update(None, {"temp": 1.0}))), now=1
    )
    assert res.rebirth and res.events[0]["payload"]["event"] == "seq-gap"
    assert res.metrics[0]["sparkplug"]["metric"] == "temp"
    # an NDEATH with another bdSeq belongs to an older session: ignored
    stale = Payload(metrics=[Metric("bdSeq", 9, DataType.UInt64)])
    assert h.handle(Topic("G", "NDEATH", "E"), stale).events == []
    res = h.handle(Topic("G", "NDEATH", "E"), decode_payload(s.ndeath()))
    assert res.events[0]["payload"]["event"] == "death"
    assert res.events[0]["payload"]["devices"] == ["pump"]
    # data after the death: unknown, rebirth wanted
    res = h.handle(
        Topic("G", "NDATA", "E"), Payload(seq=3, metrics=[Metric(alias=1, value=2.0)]), now=2
    )
    assert res.rebirth and res.events[0]["payload"]["event"] == "unknown"
