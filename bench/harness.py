"""What every benchmark section shares: server processes, throwaway databases, the two load
generators (wrk for saturation, bench/loadgen/paced.c for latency at a fixed rate) and the
median-of-runs arithmetic.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from bench.disk import DiskWrites, device_of
from bench.payloads import TOKEN, WEBHOOK_PATH

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
TMP = RESULTS / "tmp"
LUA_SCRIPT = BENCH / "wrk" / "notifications.lua"
PACED_SOURCE = BENCH / "loadgen" / "paced.c"
PACED_BINARY = TMP / "paced"
PYTHON = sys.executable
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nonce() -> int:
    """Keeps the uuids of separate generator runs against one database apart."""
    return random.randrange(10_000)


# --- a quiet machine -------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_busy(seconds: float = 1.0) -> float:
    """The share of all cores busy over the next `seconds` (0..1)."""
    busy_before, total_before = _cpu_times()
    time.sleep(seconds)
    busy_after, total_after = _cpu_times()
    return (busy_after - busy_before) / max(1, total_after - total_before)


def _process_times() -> dict[int, tuple[str, int, int]]:
    """pid -> (command, parent pid, CPU ticks used by it and its reaped children)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        command = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        used = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        found[int(entry.name)] = (command, int(fields[1]), used)
    return found


def _task_ticks() -> int:
    """Ticks spent running tasks (user, nice, system) on all cores, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[0] + fields[1] + fields[2]


OURS = ("postgres", "wrk", "paced")


class ForeignCpu:
    """CPU used during a measurement by processes that are not part of it (this process and
    what it ran, the server and its children, the load generator, PostgreSQL), in cores: all
    task time of the machine minus ours. This machine may be shared; a run disturbed by others is
    measured again (`measured_quietly`)."""

    def __init__(self, *server_pids: int) -> None:
        self._server_pids = set(server_pids)
        self.cores = 0.0
        # cores by process during the measurement: the server's own process(es), the processes
        # they started, PostgreSQL, this process with the load generators it ran, and the rest
        self.by_process: dict[str, float] = {}

    def __enter__(self) -> ForeignCpu:
        self._before = _process_times()
        self._ticks = _task_ticks()
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        after = _process_times()
        ticks = _task_ticks() - self._ticks
        elapsed = time.monotonic() - self._started
        ours = {os.getpid(), *self._server_pids}
        changed = True
        while changed:  # descendants of ours are ours
            changed = False
            for pid, (_command, parent, _used) in after.items():
                if parent in ours and pid not in ours:
                    ours.add(pid)
                    changed = True
        per_core = os.sysconf("SC_CLK_TCK") * max(elapsed, 1e-9)
        by_process: dict[str, float] = {}
        for pid, (command, _parent, used) in after.items():
            spent = used - self._before.get(pid, (command, 0, 0))[2]
            if pid in ours or command.startswith(OURS):
                ticks -= spent
            role = _role(pid, command, self._server_pids, ours)
            by_process[role] = by_process.get(role, 0.0) + spent / per_core
        self.cores = max(0, ticks) / per_core
        self.by_process = {role: round(cores, 3) for role, cores in by_process.items()}


def _role(pid: int, command: str, servers: set[int], ours: set[int]) -> str:
    if pid in servers:
        return "server"
    if command.startswith("postgres"):
        return "postgresql"
    if pid == os.getpid() or command.startswith(("wrk", "paced")):
        return "load generator"  # this process holds the time of the wrk runs it reaped
    if pid in ours:
        return "server's children"
    return "other"


FOREIGN_LIMIT = 0.10  # cores
RETRIES = 3


def measured_quietly(measure: Any, *server_pids: int) -> tuple[Any, ForeignCpu]:
    """Run `measure()` until other processes used less than FOREIGN_LIMIT cores during it
    (at most RETRIES extra times, waiting for a quiet machine before each); returns the result
    and the CPU accounting of the run kept (`cores`: the foreign CPU)."""
    best: tuple[Any, ForeignCpu] | None = None
    for _ in range(RETRIES + 1):
        wait_for_quiet()
        with ForeignCpu(*server_pids) as foreign:
            result = measure()
        if best is None or foreign.cores < best[1].cores:
            best = (result, foreign)
        if foreign.cores < FOREIGN_LIMIT:
            break
        log(f"  other processes used {foreign.cores:.2f} cores during the run: measuring again")
    assert best is not None
    return best


QUIET_BUSY = 0.10
quiet_log: list[float] = []


def wait_for_quiet(limit_s: float = 180) -> float:
    """Wait (up to `limit_s`) until other work leaves the machine nearly idle: this box may be
    shared, and a benchmark run next to a test suite measures the test suite. Returns the busy
    share seen last (also kept in `quiet_log` for the report)."""
    deadline = time.monotonic() + limit_s
    busy = cpu_busy()
    warned = False
    while busy > QUIET_BUSY and time.monotonic() < deadline:
        if not warned:
            log(f"  machine busy ({busy:.0%} of all cores before we start): waiting")
            warned = True
        busy = cpu_busy(2.0)
    quiet_log.append(busy)
    return busy


# --- figures -------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of repeated runs (the report's unit for every figure)."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    if not ordered:
        return float("nan")
    rank = max(1, int(-(-fraction * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


# --- processes -----------------------------------------------------------------------------


@dataclass
class Server:
    """A server under test, running as its own process."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    health_path: str = "/healthz"
    database_url: str | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def peak_rss_bytes(self) -> int:
        """The process's peak resident set size so far (VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        msg = "VmHWM not found"
        raise RuntimeError(msg)

    def children_peak_rss_bytes(self) -> int:
        """The peak RSS (VmHWM) of its running child processes together (the processor's own
        process of `callsift run`), 0 without any."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        total = 0
        for child in children:
            with suppress(OSError):
                for line in Path(f"/proc/{child}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
        return total

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        msg = "VmRSS not found"
        raise RuntimeError(msg)


@contextmanager
def running(
    server: Server, *, log_path: Path | None = None, start_timeout_s: float = 60
) -> Iterator[Server]:
    server.port = free_port()
    command = [part.replace("{port}", str(server.port)) for part in server.command]
    env = {**os.environ, **server.env}
    log_path = log_path or TMP / f"server-{server.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as output:
        server.process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + start_timeout_s
            while not _healthy(server.base_url + server.health_path):
                if server.process.poll() is not None:
                    msg = f"{server.name} exited at start; see {log_path}"
                    raise RuntimeError(msg)
                if time.monotonic() > deadline:
                    msg = (
                        f"{server.name} did not start within {start_timeout_s:g} s; see {log_path}"
                    )
                    raise RuntimeError(msg)
                time.sleep(0.1)
            yield server
        finally:
            server.process.terminate()
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def loop_lag(server: Server) -> dict[str, dict[str, float]]:
    """Per event loop of a callsift server (`service`, and `processor` for its own process): the
    largest lag since it started (ms) and the stalls over 50 ms so far, from its /metrics
    (service/looplag.py). Empty for a server without them."""
    text = httpx.get(server.base_url + "/metrics", timeout=10).text
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            figure = LOOP_LAG_SAMPLES.get(sample.name)
            if figure is not None:
                scale = 1000 if figure == "largest_ms" else 1
                found.setdefault(sample.labels["process"], {})[figure] = sample.value * scale
    return found


def metric_total(server: Server, name: str) -> float:
    """The sum of a callsift server's samples named `name` on its /metrics (0 if none)."""
    text = httpx.get(server.base_url + "/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


LOOP_LAG_SAMPLES = {
    "callsift_event_loop_lag_max_seconds": "largest_ms",
    "callsift_event_loop_stalls_total": "stalls",
}


def stalls_between(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """`after` with each loop's stalls counted since `before`."""
    return {
        process: {
            **figures,
            "stalls": figures.get("stalls", 0) - before.get(process, {}).get("stalls", 0),
        }
        for process, figures in after.items()
    }


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def uvicorn_command(app: str, *, factory: bool = False) -> list[str]:
    """One uvicorn worker with uvloop and httptools, as `callsift run` serves."""
    command = [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "{port}"]
    command += ["--loop", "uvloop", "--http", "httptools", "--workers", "1"]
    command += ["--no-access-log", "--log-level", "warning", "--no-server-header"]
    return [*command, "--factory"] if factory else command


def callsift_command() -> list[str]:
    return [str(Path(PYTHON).parent / "callsift"), "run", "--port", "{port}"]


def callsift_env(database_url: str, *, processor: bool, **extra: str) -> dict[str, str]:
    """The service's settings for a run. BENCH_CALLSIFT_SOURCE=<another checkout> runs that
    checkout's service instead (for before/after comparisons on the same harness)."""
    other = os.environ.get("BENCH_CALLSIFT_SOURCE")
    source = {"PYTHONPATH": other} if other else {}
    return {
        "CALLSIFT_DATABASE_URL": database_url,
        "CALLSIFT_WEBHOOK_VERIFICATION_TOKEN": TOKEN,
        "CALLSIFT_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
        "CALLSIFT_PROCESSOR_ENABLED": "true" if processor else "false",
        "CALLSIFT_SUBSCRIPTION_LOOP_ENABLED": "false",
        **source,
        **extra,
    }


# --- databases -----------------------------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(admin_url: str, label: str) -> str:
    name = f"callsift_bench_{label}_{random.randrange(16**8):08x}"
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url: str = (
        make_url(admin_url)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )
    return url


async def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


CHECKPOINTS = (
    "SELECT checkpoints_timed + checkpoints_req, checkpoint_sync_time, buffers_backend "
    "FROM pg_stat_bgwriter"
)


def checkpoint_figures(admin_url: str) -> tuple[int, float, int]:
    """PostgreSQL's checkpoints started so far, the milliseconds their final syncs took, and
    the buffers backends wrote themselves (pg_stat_bgwriter, the whole server)."""

    async def read() -> tuple[int, float, int]:
        connection = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            row = await connection.fetchrow(CHECKPOINTS)
        finally:
            await connection.close()
        return int(row[0]), float(row[1]), int(row[2])

    return asyncio.run(read())


@functools.cache
def postgres_disk(admin_url: str) -> str | None:
    """The block device under PostgreSQL's data directory, when it is on this machine."""

    async def read() -> str:
        connection = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            return str(await connection.fetchval("SHOW data_directory"))
        finally:
            await connection.close()

    host = make_url(admin_url).host
    if host not in (None, "", "localhost", "127.0.0.1", "::1"):
        return None
    return device_of(asyncio.run(read()))


def during_checkpoints(admin_url: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()` with what PostgreSQL's checkpoints did meanwhile: how many started, and the
    milliseconds spent in the final syncs of those that ended (a sync flushes every data file;
    commits wait behind it); and, where its disk is on this machine, what the disk wrote
    (bench.disk: the largest second of the kernel's writeback)."""
    started, synced, backend = checkpoint_figures(admin_url)
    device = postgres_disk(admin_url)
    if device is None:
        figures = run()
    else:
        with DiskWrites(device) as disk:
            figures = run()
        figures |= disk.figures()
    started_after, synced_after, backend_after = checkpoint_figures(admin_url)
    figures["checkpoints_started"] = started_after - started
    figures["checkpoint_sync_ms"] = synced_after - synced
    figures["buffers_written_by_backends"] = backend_after - backend
    return figures


async def fetchval(url: str, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


# --- load generators -----------------------------------------------------------------------


def wrk_version() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "missing"
    result = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr).splitlines()[0].strip()


def ensure_wrk() -> str:
    """wrk's path; installs the Debian package when it is missing (as root, or with sudo)."""
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    log("wrk is missing: installing the Debian package")
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*prefix, "apt-get", "install", "-y", "wrk"], check=True)
    wrk = shutil.which("wrk")
    if wrk is None:
        msg = "wrk is not installed and apt-get could not install it"
        raise RuntimeError(msg)
    return wrk


def ensure_paced() -> Path:
    """Compile bench/loadgen/paced.c (once per source change)."""
    if PACED_BINARY.exists() and PACED_BINARY.stat().st_mtime >= PACED_SOURCE.stat().st_mtime:
        return PACED_BINARY
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log("no C compiler: installing gcc")
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*prefix, "apt-get", "install", "-y", "gcc", "libc6-dev"], check=True)
        compiler = shutil.which("cc") or "gcc"
    PACED_BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([compiler, "-O2", "-o", str(PACED_BINARY), str(PACED_SOURCE), "-lm"], check=True)
    return PACED_BINARY


WRK_THREADS = 1
CONNECTIONS = 64


def run_wrk(
    url: str,
    templates: Path,
    *,
    seconds: float,
    group: int = 1,
    connections: int = CONNECTIONS,
    threads: int = WRK_THREADS,
) -> dict[str, Any]:
    """Saturation: wrk with `connections` keep-alive connections, as fast as the server answers."""
    command = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(templates),
        str(group),
        str(nonce()),
        TOKEN,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    summary: dict[str, Any] = orjson.loads(result.stdout.strip().splitlines()[-1])
    summary["rps"] = summary["requests"] / (summary["duration_us"] / 1e6)
    summary["errors"] = sum(v for k, v in summary.items() if k.startswith("errors_"))
    return summary


def run_paced(
    url: str,
    templates: Path,
    *,
    rate: float,
    seconds: float,
    warmup: float = 2.0,
    group: int = 1,
    connections: int = CONNECTIONS,
) -> dict[str, Any]:
    """Open loop at a fixed rate; latency from each request's scheduled send time."""
    command = [
        str(ensure_paced()),
        "--url",
        url,
        "--rate",
        f"{rate:.1f}",
        "--duration",
        f"{seconds:g}",
        "--warmup",
        f"{warmup:g}",
        "--connections",
        str(connections),
        "--templates",
        str(templates),
        "--group",
        str(group),
        "--nonce",
        str(nonce()),
        "--header",
        f"Verification-Token: {TOKEN}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if not result.stdout.strip():
        msg = f"paced failed: {result.stderr}"
        raise RuntimeError(msg)
    summary: dict[str, Any] = orjson.loads(result.stdout.strip().splitlines()[-1])
    return summary


def versions(packages: Mapping[str, str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for label, package in packages.items():
        try:
            found[label] = version(package)
        except PackageNotFoundError:
            found[label] = "missing"
    return found
