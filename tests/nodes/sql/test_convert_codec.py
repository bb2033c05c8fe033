"""The pure helpers of the SQL nodes."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy.exc import StatementError

from plantwire.nodes.sql.convert_codec import error_message, json_rows, json_value, mask
from plantwire.nodes.sql.database import resolve_url


def test_json_values() -> None:
    u = uuid.uuid4()
    row = {
        "d": Decimal("12.50"),
        "ts": dt.datetime(2026, 1, 2, 3, 4, 5),
        "day": dt.date(2026, 1, 2),
        "span": dt.timedelta(minutes=2),
        "u": u,
        "raw": bytearray(b"\x01\x02"),
        "j": {"a": [Decimal("1.5"), None]},
        "n": 3,
        "s": "x",
    }
    assert json_rows([row]) == [
        {
            "d": 12.5,
            "ts": "2026-01-02T03:04:05",
            "day": "2026-01-02",
            "span": 120.0,
            "u": str(u),
            "raw": b"\x01\x02",
            "j": {"a": [1.5, None]},
            "n": 3,
            "s": "x",
        }
    ]
    assert json_value(True) is True


def test_mask_hides_every_secret() -> None:
    assert mask("pw=abc url=x://u:abc@h", ["abc", ""]) == "pw=*** url=x://u:***@h"
    assert mask("nothing", []) == "nothing"


def test_error_message_keeps_the_database_text_only() -> None:
    exc = StatementError("A value is required for bind parameter 'a'", "SELECT :a", {}, None)
    text = error_message(exc)
    assert "bind parameter 'a'" in text and "msg.params" in text
    assert "Background" not in text and "[SQL" not in text
    assert error_message(ConnectionRefusedError(111, "Connection refused")) == (
        "Connection refused"
    )


def test_resolve_url(tmp_path: Path) -> None:
    url = resolve_url("sqlite+aiosqlite:///plant.db", tmp_path)
    assert url.database == str(tmp_path / "plant.db")
    url = resolve_url("sqlite+aiosqlite:////abs/x.db", tmp_path)
    assert url.database == "/abs/x.db"
    url = resolve_url("postgresql+asyncpg://u@h:5432/db", tmp_path, "me", "pw")
    assert url.username == "me" and url.password == "pw"
    assert "pw" not in url.render_as_string(hide_password=True)
