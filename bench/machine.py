"""Facts about the machine a report was measured on."""

from __future__ import annotations

import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness import TMP, asyncpg_dsn, versions, wrk_version

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PACKAGES = {
    "fastapi": "fastapi",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "uvloop": "uvloop",
    "httptools": "httptools",
    "sqlalchemy": "SQLAlchemy",
    "asyncpg": "asyncpg",
    "aiosqlite": "aiosqlite",
    "orjson": "orjson",
    "pydantic": "pydantic",
}
PG_SETTINGS = (
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "max_connections",
    "commit_delay",
    "work_mem",
)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def meminfo_kib(field: str) -> int | None:
    """One /proc/meminfo figure (MemTotal, Dirty, ...) in KiB; None where there is none."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def memory_gib() -> float:
    total = meminfo_kib("MemTotal")
    return float("nan") if total is None else total / 1024 / 1024


async def postgres_facts(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        facts: dict[str, Any] = {"version": await connection.fetchval("SHOW server_version")}
        for name in PG_SETTINGS:
            facts[name] = await connection.fetchval(f"SHOW {name}")
    finally:
        await connection.close()
    return facts


def fsync_facts() -> dict[str, Any]:
    """pg_test_fsync's one-write fdatasync figure, on the disk the benchmark writes to."""
    binary = shutil.which("pg_test_fsync") or str(PG_BIN / "pg_test_fsync")
    if not Path(binary).exists():
        return {"available": False}
    TMP.mkdir(parents=True, exist_ok=True)
    target = TMP / "pg_test_fsync.out"
    result = subprocess.run(
        [binary, "-s", "2", "-f", str(target)], capture_output=True, text=True, check=False
    )
    target.unlink(missing_ok=True)
    found: dict[str, Any] = {"available": True}
    section = ""
    for line in result.stdout.splitlines():
        if line.startswith("Compare file sync methods using one"):
            section = "one_write"
        elif line.startswith("Compare"):
            section = "other"
        match = re.match(r"\s+fdatasync\s+([\d.]+) ops/sec\s+([\d.]+) usecs/op", line)
        if match and section == "one_write" and "fdatasync_ops_per_s" not in found:
            found["fdatasync_ops_per_s"] = float(match.group(1))
            found["fdatasync_us"] = float(match.group(2))
    found["output"] = result.stdout
    return found


def facts(postgres_url: str) -> dict[str, Any]:
    uname = platform.uname()
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(memory_gib(), 1),
        "kernel": f"{uname.system} {uname.release}",
        "python": sys.version.split()[0],
        "packages": versions(PACKAGES),
        "wrk": wrk_version(),
        "postgresql": asyncio.run(postgres_facts(postgres_url)),
        "pg_test_fsync": fsync_facts(),
        "load_average": os.getloadavg(),
    }
