"""Batch inserts into PostgreSQL through sql-query in batch mode.

Delivers N readings ({line, ts, value}) to a sql-query node (batchSize rows per
transaction, one executemany each) and times until every row is in the table.
Prints one JSON line with rows/s. Needs PostgreSQL on 127.0.0.1:5432 (database test).
Usage: python bench/sql_batch.py [--rows N] [--batch B] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from plantwire.registry import load_node_types
from plantwire.runtime.runtime import Runtime, RuntimeSettings

URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def run(rows: int, batch: int, url: str) -> dict[str, Any]:
    load_node_types()
    table = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, line TEXT, "
                "ts DOUBLE PRECISION, value DOUBLE PRECISION)"
            )
        )
    flow = [
        {"id": "t", "type": "tab"},
        {"id": "db", "type": "sql-database", "url": url, "poolSize": "4"},
        {
            "id": "q",
            "type": "sql-query",
            "z": "t",
            "database": "db",
            "mode": "batch",
            "batchSize": str(batch),
            "batchTime": "200",
            "query": f"INSERT INTO {table} (id, line, ts, value) VALUES (:id, :line, :ts, :value)",
            "wires": [],
        },
    ]
    try:
        with tempfile.TemporaryDirectory() as data:
            rt = Runtime(RuntimeSettings(data, credential_secret="bench"))
            await rt.open()
            await rt.deploy(flow)
            node = rt.get_node("q")
            assert node is not None
            start = time.perf_counter()
            now = time.time()
            for i in range(rows):
                msg = {"payload": {"id": i, "line": "LINE1", "ts": now + i, "value": i * 0.5}}
                rt.deliver(node, msg)
                if i % 200 == 199:  # as a source with backpressure would: wait for room
                    await rt.wait_for_room(node)
                    await asyncio.sleep(0)
            async with engine.connect() as conn:
                while True:
                    n = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                    if n >= rows:
                        break
                    await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - start
            await rt.stop()
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()
    return {
        "benchmark": "sql_batch_postgresql",
        "rows": rows,
        "batch": batch,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--url", default=URL)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.rows, args.batch, args.url))))


if __name__ == "__main__":
    main()
