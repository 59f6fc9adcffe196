"""What tests/faults/test_replicas.py runs: `callsift run` replica processes, the round-robin load
balancer in front of them (RingCentral's only webhook address), a recorder of the REST calls the
emulator answers, and the database and offline views the test compares.

Everything here is a real component or a thin observer of one: the replicas are `callsift run`
subprocesses, the balancer forwards real HTTP to them, the recorder only watches requests on
their way into the emulator.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Message, Receive, Scope, Send

from classifiers import DirectoryEntry, Thresholds, classify_lines
from classifiers.payloads import CallLogRecord
from service.db.tables import (
    call_log_records,
    call_log_sync,
    call_outcomes,
    event_queue,
    raw_events,
    webhook_subscriptions,
)
from service.processing.processor import outcome_document
from service.ringcentral.directory import DirectoryCache

CALLSIFT = Path(sys.executable).parent / "callsift"
SUBSCRIPTION_PATH = "/restapi/v1.0/subscription"
POLL_EVERY_S = 0.1
STOP_GRACE_S = 15.0
# the outcome fields that depend on the call-log sync's progress (which a replica knows and an
# offline classification does not): `awaiting_call_log` in the service, `events_only` offline
SYNC_DEPENDENT_FIELDS = frozenset({"reconciliation"})


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, within_s: float, what: str
) -> None:
    """Poll `condition` until it holds; fail naming `what` if it does not within `within_s`."""
    deadline = time.monotonic() + within_s
    while not await condition():
        if time.monotonic() > deadline:
            msg = f"not within {within_s:g} s: {what}"
            raise AssertionError(msg)
        await asyncio.sleep(POLL_EVERY_S)


# --- replicas ------------------------------------------------------------------------------


@dataclass
class Replica:
    """One `callsift run` process on its own port; `start` again after a kill is a restart (a
    new incarnation on the same address, as a load balancer's backend comes back)."""

    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    process: asyncio.subprocess.Process | None = None
    incarnation: int = 0
    exit_codes: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/ringcentral"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_path(self, incarnation: int) -> Path:
        return self.workdir / f"{self.name}-{incarnation}.log"

    async def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self.incarnation += 1
        with self.log_path(self.incarnation).open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                str(CALLSIFT),
                "run",
                "--port",
                str(self.port),
                env=self.env,
                cwd=self.workdir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def wait_ready(self, client: httpx.AsyncClient, *, within_s: float) -> None:
        """Until `/readyz` answers 200 (served, database reachable)."""

        async def ready() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                log = self.log_path(self.incarnation).read_text(errors="replace")
                msg = f"{self.name} exited with {self.process.returncode} at start:\n{log[-3000:]}"
                raise AssertionError(msg)
            try:
                response = await client.get(f"{self.base_url}/readyz", timeout=2)
            except httpx.TransportError:
                return False
            return response.status_code == 200

        await eventually(ready, within_s=within_s, what=f"{self.name} ready")

    def kill_now(self) -> None:
        """kill -9, synchronously (the process is reaped by `reap`)."""
        assert self.process is not None
        assert self.process.returncode is None
        self.process.send_signal(signal.SIGKILL)

    async def reap(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        self.exit_codes.append(code)
        return code

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there after a grace period; a no-op when the
        process is gone already. Used in teardown: never raises for a process that is gone."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        try:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=STOP_GRACE_S)
            except TimeoutError:
                process.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        await process.wait()


def replica_env(
    *,
    database_url: str,
    rc_server: str,
    client_id: str,
    client_secret: str,
    secret_keys: str,
    webhook_url: str,
    **overrides: str,
) -> dict[str, str]:
    """The environment of a replica: the inherited one without any CALLSIFT_* variable, then the
    settings a deployment of several replicas gives each of them."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CALLSIFT_")}
    env |= {
        "CALLSIFT_DATABASE_URL": database_url,
        "CALLSIFT_RC_SERVER": rc_server,
        "CALLSIFT_RC_CLIENT_ID": client_id,
        "CALLSIFT_RC_CLIENT_SECRET": client_secret,
        "CALLSIFT_SECRET_KEYS": secret_keys,
        "CALLSIFT_WEBHOOK_URL": webhook_url,
        "CALLSIFT_DEMO": "off",
    }
    return env | overrides


# --- the load balancer ----------------------------------------------------------------------


def kind_of(body: bytes) -> tuple[str, str | None]:
    """(kind, uuid) of a webhook body: validation (empty), telephony, voicemail, reminder."""
    if not body:
        return "validation", None
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "unreadable", None
    if not isinstance(envelope, dict):
        return "unreadable", None
    event = str(envelope.get("event", ""))
    uuid = envelope.get("uuid")
    uuid = uuid if isinstance(uuid, str) else None
    if "/telephony/sessions" in event:
        return "telephony", uuid
    if "/voicemail" in event:
        return "voicemail", uuid
    if "/subscription" in event:
        return "reminder", uuid
    return "other", uuid


@dataclass(frozen=True, slots=True)
class Forwarded:
    """One webhook request the balancer passed on, and what came back."""

    kind: str
    uuid: str | None
    replica: str | None  # None: no replica could be reached
    incarnation: int
    status: int  # the replica's status; 502 when it failed mid-request, 503 when none answered
    body: bytes

    @property
    def acknowledged(self) -> bool:
        return self.status == 200 and self.kind != "validation"


@dataclass
class Trigger:
    """An action the balancer runs once, when its count of acknowledgements reaches a number."""

    at_acknowledged: int
    action: Callable[[], None]
    fired: bool = False


class RoundRobinBalancer:
    """A raw ASGI app in front of the replicas: each request goes to the next replica in turn;
    a replica that refuses the connection (down) is skipped for the next one, as a load
    balancer does when nothing was sent; a replica that fails after the request was sent (killed
    mid-request) yields 502, never a retry (it may have stored the notification).

    `when_acknowledged(n, action)` runs `action` synchronously when the n-th notification is
    acknowledged (200), before that 200 goes back to the emulator."""

    FORWARDED_HEADERS = ("content-type", "verification-token", "validation-token", "user-agent")
    RETURNED_HEADERS = ("content-type", "validation-token")

    def __init__(self, replicas: Sequence[Replica], client: httpx.AsyncClient) -> None:
        self._replicas = list(replicas)
        self._client = client
        self._turn = 0
        self._triggers: list[Trigger] = []
        self.forwarded: list[Forwarded] = []
        self.acknowledged = 0

    def when_acknowledged(self, count: int, action: Callable[[], None]) -> None:
        self._triggers.append(Trigger(count, action))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        headers = {
            name.decode().lower(): value.decode()
            for name, value in scope["headers"]
            if name.decode().lower() in self.FORWARDED_HEADERS
        }
        kind, uuid = kind_of(body)
        status, returned, replica = await self._forward(scope["path"], body, headers)
        record = Forwarded(
            kind, uuid, replica.name if replica else None,
            replica.incarnation if replica else 0, status, body,
        )  # fmt: skip
        self.forwarded.append(record)
        if record.acknowledged:
            self.acknowledged += 1
            for trigger in self._triggers:
                if not trigger.fired and self.acknowledged >= trigger.at_acknowledged:
                    trigger.fired = True
                    trigger.action()
        await send({"type": "http.response.start", "status": status, "headers": returned})
        await send({"type": "http.response.body", "body": b""})

    async def _forward(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[bytes, bytes]], Replica | None]:
        first = self._turn
        self._turn += 1
        for offset in range(len(self._replicas)):
            replica = self._replicas[(first + offset) % len(self._replicas)]
            try:
                response = await self._client.post(
                    f"{replica.base_url}{path}", content=body, headers=headers
                )
            except httpx.ConnectError:
                continue  # nothing was sent: the next replica
            except httpx.HTTPError:
                return 502, [], replica
            returned = [
                (name.encode(), value.encode())
                for name, value in response.headers.items()
                if name.lower() in self.RETURNED_HEADERS
            ]
            return response.status_code, returned, replica
        return 503, [], None

    def acknowledged_by(self) -> Counter[tuple[str, int]]:
        """(replica, incarnation) -> notifications it acknowledged."""
        return Counter(
            (f.replica, f.incarnation) for f in self.forwarded if f.acknowledged and f.replica
        )

    def bodies_by_uuid(self) -> dict[str, bytes]:
        """Every notification body forwarded, by uuid (the first copy of a duplicate)."""
        bodies: dict[str, bytes] = {}
        for record in self.forwarded:
            if record.uuid is not None:
                bodies.setdefault(record.uuid, record.body)
        return bodies


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


# --- the emulator's REST calls --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestCall:
    method: str
    path: str
    status: int

    @property
    def subscription_id(self) -> str | None:
        """The subscription a call is about, from its path (None for create and list)."""
        if not self.path.startswith(SUBSCRIPTION_PATH + "/"):
            return None
        return self.path[len(SUBSCRIPTION_PATH) + 1 :].split("/", 1)[0]

    @property
    def is_create(self) -> bool:
        return self.method == "POST" and self.path == SUBSCRIPTION_PATH

    @property
    def is_renewal(self) -> bool:
        """POST .../renew, or PUT on the subscription (every PUT renews it)."""
        if self.subscription_id is None:
            return False
        return (self.method == "POST" and self.path.endswith("/renew")) or self.method == "PUT"

    @property
    def is_delete(self) -> bool:
        return self.method == "DELETE" and self.subscription_id is not None


class RestCallRecorder:
    """ASGI middleware in front of the emulator: remembers every subscription API call and the
    status it was answered with."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[RestCall] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(SUBSCRIPTION_PATH):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.calls.append(RestCall(method, path, int(message["status"])))
            await send(message)

        await self.app(scope, receive, recording_send)

    def renewals(self) -> Counter[str]:
        """Subscription id -> successful renewals."""
        return Counter(
            c.subscription_id
            for c in self.calls
            if c.is_renewal and c.subscription_id and 200 <= c.status < 300
        )

    def creates(self) -> list[RestCall]:
        return [c for c in self.calls if c.is_create]

    def deletes(self) -> list[RestCall]:
        return [c for c in self.calls if c.is_delete]


# --- the database and the offline reference -------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredEvent:
    uuid: str
    kind: str
    payload: str
    processed: bool


async def stored_events(engine: AsyncEngine) -> list[StoredEvent]:
    queued = event_queue.c.id.is_not(None)
    statement = (
        select(raw_events.c.uuid, raw_events.c.kind, raw_events.c.payload, queued)
        .outerjoin_from(raw_events, event_queue, event_queue.c.id == raw_events.c.id)
        .order_by(raw_events.c.id)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return [StoredEvent(row[0], row[1], row[2], not row[3]) for row in rows]


async def unprocessed_events(engine: AsyncEngine) -> int:
    statement = select(func.count()).select_from(event_queue)
    async with engine.connect() as connection:
        return int(await connection.scalar(statement) or 0)


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    extension_id: str
    subscription_id: str | None
    status: str | None
    expires_at: datetime | None
    renew_requested: bool
    lease_until: datetime | None
    next_due_at: datetime | None


async def subscription_records(engine: AsyncEngine) -> dict[str, SubscriptionRecord]:
    statement = select(
        webhook_subscriptions.c.extension_id,
        webhook_subscriptions.c.subscription_id,
        webhook_subscriptions.c.status,
        webhook_subscriptions.c.expires_at,
        webhook_subscriptions.c.renew_requested,
        webhook_subscriptions.c.lease_until,
        webhook_subscriptions.c.next_due_at,
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return {row[0]: SubscriptionRecord(*row) for row in rows}


async def stored_directory(engine: AsyncEngine) -> Mapping[str, DirectoryEntry]:
    """The directory the replicas synced, read as their processors read it."""
    return await DirectoryCache(engine).current()


async def stored_call_log(engine: AsyncEngine) -> list[CallLogRecord]:
    """The call-log records the replicas' syncs stored (the processor's second source)."""
    statement = select(call_log_records.c.payload).order_by(call_log_records.c.record_id)
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return [CallLogRecord.model_validate_json(row[0]) for row in rows]


async def call_log_backfilled(engine: AsyncEngine, extension_ids: Collection[str]) -> bool:
    """Whether every credential's first call-log sync (the backfill) has finished."""
    statement = select(call_log_sync.c.extension_id, call_log_sync.c.last_synced_at)
    async with engine.connect() as connection:
        done = {row[0] for row in (await connection.execute(statement)) if row[1] is not None}
    return done >= set(extension_ids)


async def stored_documents(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    """Session id -> its stored outcome document, without the sync-dependent fields."""
    statement = select(call_outcomes.c.telephony_session_id, call_outcomes.c.document)
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return {row[0]: comparable(orjson.loads(row[1])) for row in rows}


def reference_documents(
    bodies: Iterable[bytes],
    *,
    now: datetime,
    thresholds: Thresholds,
    directory: Mapping[str, DirectoryEntry],
    call_log: Sequence[CallLogRecord] = (),
) -> dict[str, dict[str, Any]]:
    """What one process computes from these notifications (and call-log records): one
    `classify_lines` over all of them at once, documents as the processor stores them (without
    the sync-dependent fields)."""
    result = classify_lines(
        list(bodies), now=now, thresholds=thresholds, directory=directory, call_log=call_log
    )
    assert not result.errors, result.errors[:5]
    return {
        outcome.telephony_session_id: comparable(
            orjson.loads(outcome_document(outcome, directory=directory))
        )
        for outcome in result.outcomes
    }


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in SYNC_DEPENDENT_FIELDS}


def differences(
    stored: Mapping[str, Any], expected: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Field -> (stored, expected) where two documents differ."""
    keys = sorted(set(stored) | set(expected))
    return {k: (stored.get(k), expected.get(k)) for k in keys if stored.get(k) != expected.get(k)}
