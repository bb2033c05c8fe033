"""The plant's four use cases, end to end: the example flows in examples/use-cases/ run
against the virtual bottling line (Modbus), the ERP/CMMS service, a local SMTP server and
SQLite or PostgreSQL, all real peers on loopback started here."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from plantwire.cli import CONTEXT_STORAGE
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from plantwire.sim.engine import Controls, Engine
from plantwire.sim.erp import ErpService
from plantwire.sim.modbus_server import ModbusAdapter
from plantwire.sim.plant import Command, FaultCode, Plant, Snapshot
from tests.conftest import require_service
from tests.tcp_proxy import free_port

EXAMPLES = Path(__file__).parents[2] / "examples" / "use-cases"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

Operator = Callable[[Plant], None]


def clear_jams(plant: Plant) -> None:
    """The line operator: clears a jam and restarts the line at once."""
    if plant.fault_code is FaultCode.JAM:
        plant.command(Command.RESET_FAULT)
        plant.command(Command.START)


@pytest.fixture
def endless_silo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bottles take no syrup: for tests about something else than material supply."""
    monkeypatch.setattr("plantwire.sim.plant.SILO_PCT_PER_BOTTLE", 0.0)


class _OperatorAdapter:
    """Runs the operator's hand on the plant once per simulator tick."""

    name = "operator"

    def __init__(self, plant: Plant, hands: list[Operator]) -> None:
        self.plant, self.hands = plant, hands

    async def start(self) -> None:
        return None

    async def publish(self, snap: Snapshot) -> None:
        for hand in self.hands:
            hand(self.plant)

    async def stop(self) -> None:
        return None

    def endpoint(self) -> str:
        return "operator"


@dataclass
class SimLine:
    """The virtual bottling line, served over Modbus TCP on a free port, in this process."""

    speed: float
    tick: float = 0.1
    seed: int = 7
    plant: Plant = field(init=False)
    port: int = field(init=False)
    hands: list[Operator] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _engine: Engine | None = None

    def __post_init__(self) -> None:
        self.plant = Plant(seed=self.seed)
        self.port = free_port()

    async def start(self) -> None:
        controls = Controls(self.plant)
        adapters = [
            ModbusAdapter(controls, "127.0.0.1", self.port),
            _OperatorAdapter(self.plant, self.hands),
        ]
        self._engine = Engine(
            self.plant, adapters, speed=self.speed, tick=self.tick, summary_every=0
        )
        await self._engine.start()
        self._task = asyncio.get_running_loop().create_task(self._engine.run())

    async def stop(self) -> None:
        if self._engine is not None:
            self._engine.request_stop()
        if self._task is not None:
            await self._task


@pytest.fixture
async def sim_line() -> AsyncIterator[Callable[..., SimLine]]:
    made: list[SimLine] = []

    async def factory(**kwargs: Any) -> SimLine:
        line = SimLine(**kwargs)
        await line.start()
        made.append(line)
        return line

    yield factory  # type: ignore[misc]
    for line in made:
        await line.stop()


def erp_table(erp: ErpService, table: str, order_by: str = "rowid") -> list[dict[str, Any]]:
    """A table of the ERP, read directly from its SQLite database (what the ERP holds)."""
    db = sqlite3.connect(erp.db_path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order_by}")]
    finally:
        db.close()


@pytest.fixture
async def erp(tmp_path: Path) -> AsyncIterator[ErpService]:
    service = ErpService(tmp_path / "erp.sqlite")
    await service.start("127.0.0.1", 0)
    yield service
    await service.stop()


@dataclass
class Mailbox:
    """What the local SMTP server received."""

    mails: list[EmailMessage] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        parsed = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        self.mails.append(parsed)
        return "250 accepted"


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    ctl = Controller(box, hostname="127.0.0.1", port=box.port)
    ctl.start()
    yield box
    ctl.stop()


@dataclass
class Database:
    """Where the flows write: the URL their sql-database node gets, and an engine to check."""

    name: str
    url: str
    engine: AsyncEngine
    tables: list[str] = field(default_factory=list)

    async def drop(self, table: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))

    async def count(self, table: str, at_least: int, where: str = "") -> bool:
        """True once ``table`` exists and has ``at_least`` rows (matching ``where``)."""
        try:
            found = await self.rows(
                f"SELECT COUNT(*) AS n FROM {table}" + (f" WHERE {where}" if where else "")
            )
        except Exception:  # not created yet
            return False
        return int(found[0]["n"]) >= at_least

    async def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(sql), params or {})
            return [dict(r) for r in result.mappings().all()]


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        require_service("PostgreSQL", 5432)
        url = PG_URL
        engine = create_async_engine(PG_URL)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'plant.db'}"
        engine = create_async_engine(url)
    db = Database(request.param, url, engine)
    yield db
    async with engine.begin() as conn:
        for table in db.tables:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    await engine.dispose()


def load_flow(name: str, **patch: Any) -> list[dict[str, Any]]:
    """An example flow from examples/use-cases/, pointed at the test's peers: ``modbus``
    (port), ``erp`` (base URL), ``smtp`` (port), ``sql`` (URL), ``suffix`` (appended to
    every SQL table name the flow uses, so parallel runs and both databases stay apart)."""
    flow: list[dict[str, Any]] = json.loads((EXAMPLES / f"{name}.json").read_text())
    suffix = patch.get("suffix", "")
    for node in flow:
        kind = node.get("type")
        if kind == "modbus-client" and "modbus" in patch:
            node["tcpPort"] = str(patch["modbus"])
        elif (kind == "odata-service" and "erp" in patch) or (
            kind == "http request" and "erp" in patch
        ):
            node["url"] = node["url"].replace("http://127.0.0.1:8090", patch["erp"])
        elif kind == "e-mail" and "smtp" in patch:
            node["port"] = str(patch["smtp"])
        elif kind == "sql-database" and "sql" in patch:
            node["url"] = patch["sql"]
        if suffix:
            for key in ("query", "table"):
                if isinstance(node.get(key), str) and kind == "sql-query":
                    node[key] = node[key].replace("{T}", suffix)
            if kind == "function" and isinstance(node.get("func"), str):
                node["func"] = node["func"].replace("{T}", suffix)
        elif kind == "sql-query":
            for key in ("query", "table"):
                if isinstance(node.get(key), str):
                    node[key] = node[key].replace("{T}", "")
    return flow


def unique_suffix() -> str:
    return "_" + uuid.uuid4().hex[:8]


async def start_flow(data_dir: Path, flow: list[dict[str, Any]]) -> Runtime:
    """A runtime with a persistent context store (as `plantwire run` has), flow deployed."""
    settings = RuntimeSettings(
        data_dir,
        credential_secret="use-cases",
        context_storage=dict(CONTEXT_STORAGE),
    )
    rt = Runtime(settings)
    await rt.open()
    await rt.deploy(flow)
    return rt
