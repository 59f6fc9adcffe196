"""How much of PostgreSQL's table writes the page cache holds back: rows inserted into a growing
table, then into the same table's free pages, with the kernel's Dirty figure read as they go.

PostgreSQL 15 extends a table by writing a zero-filled page through the page cache, which
`backend_flush_after` does not send on; the pages wait there until the kernel writes them back
in one burst, and every commit's WAL flush waits behind it on the same disk (bench/notes.md,
"Where the paced bursts come from"). One connection inserts `--row-bytes` rows at about the
rate of the webhook's table at 70% of (f), committing every `--batch` rows, for `--seconds`:

1. into a new table (each new page an extension);
2. after `DELETE` and `VACUUM (TRUNCATE false)`, into the pages that left free (no extension).

Linux only (/proc/meminfo).

    python -m bench.extension_writeback [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass

import asyncpg

from bench.harness import DEFAULT_POSTGRES_URL, asyncpg_dsn, create_database, drop_database
from bench.machine import meminfo_kib


def dirty_mib() -> int:
    dirty = meminfo_kib("Dirty")
    if dirty is None:
        raise RuntimeError("no Dirty line in /proc/meminfo")
    return dirty // 1024


@dataclass(frozen=True)
class Fill:
    rows: int
    table_mib: int
    dirty_peak_mib: int
    dirty_end_mib: int


async def fill(
    connection: asyncpg.Connection, *, seconds: float, row_bytes: int, batch: int
) -> Fill:
    os.sync()
    payload = "x" * row_bytes
    began, rows, peak = time.monotonic(), 0, dirty_mib()
    while time.monotonic() - began < seconds:
        await connection.executemany(
            "INSERT INTO extension_writeback (body) VALUES ($1)", [(payload,)] * batch
        )
        rows += batch
        peak = max(peak, dirty_mib())
        await asyncio.sleep(0.01)  # about 13 MB/s of rows with the defaults, not a flood
    size = await connection.fetchval("SELECT pg_relation_size('extension_writeback')")
    return Fill(rows, int(size) // 2**20, peak, dirty_mib())


async def measure(admin_url: str, *, seconds: float, row_bytes: int, batch: int) -> None:
    url = await create_database(admin_url, "extension")
    try:
        connection = await asyncpg.connect(
            asyncpg_dsn(url), server_settings={"backend_flush_after": "256kB"}
        )
        try:
            await connection.execute(
                "CREATE TABLE extension_writeback (id bigserial PRIMARY KEY, body text)"
            )
            await connection.execute(
                "ALTER TABLE extension_writeback ALTER COLUMN body SET STORAGE plain"
            )
            growing = await fill(connection, seconds=seconds, row_bytes=row_bytes, batch=batch)
            await connection.execute("DELETE FROM extension_writeback")
            await connection.execute("VACUUM (TRUNCATE false) extension_writeback")
            await connection.execute("CHECKPOINT")
            reusing = await fill(connection, seconds=seconds, row_bytes=row_bytes, batch=batch)
        finally:
            await connection.close()
    finally:
        await drop_database(admin_url, url)
    for label, found in (("a growing table", growing), ("its free pages", reusing)):
        print(
            f"{label}: {found.rows:,} rows, table {found.table_mib} MiB, page cache Dirty "
            f"peak {found.dirty_peak_mib} MiB, {found.dirty_end_mib} MiB at the end"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CALLSIFT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--row-bytes", type=int, default=1600)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(
        measure(args.postgres_url, seconds=args.seconds, row_bytes=args.row_bytes, batch=args.batch)
    )


if __name__ == "__main__":
    main()
