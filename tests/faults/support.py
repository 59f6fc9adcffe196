"""What the fault tests share: `callsift run` as a real subprocess, complete calls to post with a
ledger of what the service acknowledged, direct reads of the database, polling with a deadline,
and a TCP proxy that can cut PostgreSQL off from the service and give it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.classifier import SECONDS_BETWEEN_CALLS, build_sessions
from service.db.engine import create_engine
from service.db.tables import call_legs, call_outcomes, event_queue, raw_events
from service.serving import bind_loopback
from service.settings import Settings
from tests.conftest import WEBHOOK_TOKEN

CALLSIFT = str(Path(sys.executable).parent / "callsift")
WEBHOOK_PATH = "/webhooks/ringcentral"
WEBHOOK_HEADERS = {"Content-Type": "application/json", "Verification-Token": WEBHOOK_TOKEN}
START_TIMEOUT_S = 60.0


def report(message: str) -> None:
    """Figures a test observed, for whoever runs it with `-s` or `-rP`."""
    print(message, flush=True)  # noqa: T201


# --- waiting ---------------------------------------------------------------------------------


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            msg = f"{what}: still not true after {timeout_s:g} s"
            raise AssertionError(msg)
        await asyncio.sleep(interval_s)


# --- `callsift run` --------------------------------------------------------------------------


def free_port() -> int:
    with bind_loopback() as probe:
        port: int = probe.getsockname()[1]
        return port


def service_environment(database_url: str, **settings: str) -> dict[str, str]:
    """`callsift run` as shipped for ingest-only use (fallback webhook token, no demo, no
    RingCentral loops), with no CALLSIFT_* setting of this process leaking in."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CALLSIFT_")}
    environment |= {
        "CALLSIFT_DATABASE_URL": database_url,
        "CALLSIFT_WEBHOOK_VERIFICATION_TOKEN": WEBHOOK_TOKEN,
        "CALLSIFT_DEMO": "off",
        "CALLSIFT_SUBSCRIPTION_LOOP_ENABLED": "false",
        "CALLSIFT_CALLLOG_SYNC_ENABLED": "false",
    }
    environment |= {f"CALLSIFT_{name.upper()}": value for name, value in settings.items()}
    return environment


class CallsiftProcess:
    """One `callsift run` subprocess on a free loopback port, its output in `<name>.log`."""

    def __init__(self, database_url: str, workdir: Path, name: str, **settings: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self._workdir = workdir
        self._environment = service_environment(database_url, **settings)
        self._log: TextIO | None = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def process(self) -> subprocess.Popen[str]:
        assert self._process is not None, "not started"
        return self._process

    def start(self) -> None:
        self._log = self.log_path.open("w")
        self._process = subprocess.Popen(
            [CALLSIFT, "run", "--port", str(self.port)],
            cwd=self._workdir,
            env=self._environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    async def wait_serving(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until it migrated and answers `/healthz`."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:

            async def serving() -> bool:
                assert self.process.poll() is None, f"callsift run exited:\n{self.output()}"
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(serving, timeout_s=timeout_s, what="callsift run serving")

    def send_kill(self) -> None:
        """SIGKILL, without waiting: no shutdown, no flush, no goodbye."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)

    def kill(self) -> int:
        """SIGKILL and wait for the end; its return code."""
        self.send_kill()
        return self.process.wait()

    def close(self) -> None:
        """Kill it if it still runs and close its log (safe to call more than once)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@contextlib.asynccontextmanager
async def callsift_run(
    database_url: str, workdir: Path, name: str, **settings: str
) -> AsyncIterator[CallsiftProcess]:
    """`callsift run` serving; killed when the block exits, whatever happened."""
    service = CallsiftProcess(database_url, workdir, name, **settings)
    try:
        service.start()
        await service.wait_serving()
        yield service
    finally:
        service.close()


def create_api_key(database_url: str, workdir: Path) -> str:
    """`callsift api-keys create --name x` against the database; the key it prints."""
    result = subprocess.run(
        [CALLSIFT, "api-keys", "create", "--name", "fault-suite"],
        cwd=workdir,
        env=service_environment(database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("csk_"), result.stdout
    return key


# --- calls to post ---------------------------------------------------------------------------


def build_calls(count: int, *, tag: str) -> list[list[dict[str, Any]]]:
    """`count` complete calls of the bench's five shapes (10 notifications each, as the
    account-level subscription receives them), the last one ended minutes ago; `tag` keeps the
    session ids and uuids of separate runs apart."""
    first = datetime.now(UTC) - timedelta(seconds=SECONDS_BETWEEN_CALLS * count + 600)
    return build_sessions(count, start=first, tag=tag)


def in_delivery_order(calls: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every notification of the calls, in event-time order (as RingCentral sends them)."""
    return sorted((n for call in calls for n in call), key=lambda n: n["body"]["eventTime"])


def uuid_of(notification: dict[str, Any]) -> str:
    uuid: str = notification["uuid"]
    return uuid


def session_of(notification: dict[str, Any]) -> str:
    session: str = notification["body"]["telephonySessionId"]
    return session


# --- posting with a ledger -------------------------------------------------------------------


@dataclass
class Ledger:
    """What happened to each notification posted: answered 200 (acknowledged, RingCentral would
    not send it again), answered otherwise (refused: it would be redelivered), or no answer at
    all (the connection failed)."""

    sent: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)  # uuid -> status
    unanswered: list[str] = field(default_factory=list)

    def statuses(self) -> Counter[int]:
        """How many got each status (no answer is not counted)."""
        return Counter(self.refused.values()) + Counter({200: len(self.acknowledged)})


async def post_with_ledger(
    base_url: str,
    notifications: list[dict[str, Any]],
    ledger: Ledger,
    *,
    connections: int,
    stop_when: Callable[[Ledger], bool] = lambda _ledger: False,
    on_stop: Callable[[], None] = lambda: None,
    timeout_s: float = 60.0,
) -> None:
    """POST the notifications from `connections` concurrent keep-alive connections, each one
    once, recording every answer in `ledger`. Once `stop_when(ledger)` holds (checked after each
    answer), `on_stop()` runs at once, before anything else is sent, and nothing more is sent;
    requests already in flight are still recorded."""
    pending = iter(notifications)
    stopped = asyncio.Event()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async def sender(client: httpx.AsyncClient) -> None:
        for notification in pending:
            if stopped.is_set():
                return
            uuid = uuid_of(notification)
            ledger.sent.append(uuid)
            try:
                response = await client.post(
                    WEBHOOK_PATH, content=orjson.dumps(notification), headers=WEBHOOK_HEADERS
                )
            except httpx.TransportError:
                ledger.unanswered.append(uuid)
            else:
                if response.status_code == 200:
                    ledger.acknowledged.append(uuid)
                else:
                    ledger.refused[uuid] = response.status_code
            if not stopped.is_set() and stop_when(ledger):
                stopped.set()
                on_stop()

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s) as client:
        await asyncio.gather(*(sender(client) for _ in range(connections)))


# --- the database, read directly -------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(_env_file=None, database_url=url, db_pool_size=2))
    try:
        yield engine
    finally:
        await engine.dispose()


async def stored_uuid_counts(engine: AsyncEngine) -> Counter[str]:
    """How many raw_events rows each uuid has."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(raw_events.c.uuid, func.count()).group_by(raw_events.c.uuid)
        )
        return Counter({str(uuid): int(count) for uuid, count in rows})


async def unprocessed_events(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(event_queue)
        return int((await connection.execute(query)).scalar_one())


async def count_outcomes(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(call_outcomes)
        return int((await connection.execute(query)).scalar_one())


async def stored_sessions(engine: AsyncEngine) -> set[str]:
    """The telephony sessions of the stored events."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(raw_events.c.telephony_session_id)
            .where(raw_events.c.kind == "telephony")
            .distinct()
        )
        return {session for (session,) in rows if session}


async def outcomes_per_session(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(call_outcomes.c.telephony_session_id, func.count()).group_by(
                call_outcomes.c.telephony_session_id
            )
        )
        return Counter({str(session): int(count) for session, count in rows})


async def legs_per_party(engine: AsyncEngine) -> Counter[tuple[str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(call_legs.c.telephony_session_id, call_legs.c.party_id, func.count()).group_by(
                call_legs.c.telephony_session_id, call_legs.c.party_id
            )
        )
        return Counter({(session, party): count for session, party, count in rows})


async def drained(engine: AsyncEngine, *, timeout_s: float = 120.0) -> None:
    """Wait until the processor left no event unprocessed."""

    async def nothing_left() -> bool:
        return await unprocessed_events(engine) == 0

    await wait_until(
        nothing_left, timeout_s=timeout_s, what="every event processed", interval_s=0.2
    )


# --- a TCP proxy that can cut the database off ----------------------------------------------


class CuttableProxy:
    """Forwards a loopback port to `target` on its own event loop, in a thread of its own (so
    nothing the test does can hold it up). `cut()` closes every connection it carries and stops
    listening, so new connections are refused; `restore()` listens on the same port again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.connections_cut = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._forwarding: set[asyncio.Task[Any]] = set()

    def __enter__(self) -> CuttableProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def _call(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.connections_cut += len(self._open) // 2
        for writer in list(self._open):
            writer.transport.abort()
        if server is not None:
            await server.wait_closed()
        await asyncio.gather(*self._forwarding, return_exceptions=True)

    async def _forward(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        forwarding = asyncio.current_task()
        assert forwarding is not None
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            client.transport.abort()
            return
        pair = {client, upstream}
        self._open |= pair
        self._forwarding.add(forwarding)
        pumps = [
            asyncio.create_task(_pump(client_reader, upstream)),
            asyncio.create_task(_pump(upstream_reader, client)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in pair:
                writer.transport.abort()
            self._open -= pair
            self._forwarding.discard(forwarding)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until end of stream or a broken connection."""
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
