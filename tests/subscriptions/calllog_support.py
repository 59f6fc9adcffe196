"""Test support for the call-log sync: in-memory token and call-log stores, and the RingCentral
emulator on a loopback socket with call-log records put in directly.

The call-log store does what the service's store will: it keeps one version per (credential,
record id), tells new, changed and unchanged records apart, keeps the cursor and derives
`open_since` from the records still "In Progress". It keeps a digest of each record, not the
record, so tens of thousands of records cost little memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.app import create_emulator_app
from emulator.clock import iso, parse_iso
from emulator.config import EmulatorConfig, RateGroup, RateLimit
from emulator.directory import ExtensionSpec
from emulator.scenarios.model import CallLogEntry
from emulator.state import Emulator
from service.serving import serve
from subscriptions.calllog import (
    CallLogPolicy,
    CallLogState,
    CallLogSyncer,
    ReadPace,
    SaveCounts,
)
from subscriptions.client import RetryPolicy, RingCentralClient
from subscriptions.lifecycle import Mode
from subscriptions.ratelimit import RateLimiter
from subscriptions.tokens import StoredTokens, TokenManager

CLIENT_ID = "callsift-calllog-client"
CLIENT_SECRET = "callsift-calllog-secret-2d9e"
IN_PROGRESS = "In Progress"


# tokens --------------------------------------------------------------------------------------


@dataclass(slots=True)
class MemoryTokenSlot:
    store: MemoryTokenStore
    extension_id: str

    @property
    def tokens(self) -> StoredTokens | None:
        return self.store.tokens.get(self.extension_id)

    @property
    def credential(self) -> str:
        return self.store.credentials[self.extension_id]

    async def save(self, tokens: StoredTokens) -> None:
        self.store.tokens[self.extension_id] = tokens

    async def mark_credential_invalid(self, reason: str) -> None:
        self.store.invalid[self.extension_id] = reason


@dataclass(slots=True)
class MemoryTokenStore:
    """`TokenStore` in memory: JWT credentials by extension and the tokens they were swapped for."""

    credentials: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, StoredTokens] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def read_tokens(self, extension_id: str) -> StoredTokens | None:
        return self.tokens.get(extension_id)

    @contextlib.asynccontextmanager
    async def lock_tokens(self, extension_id: str) -> AsyncIterator[MemoryTokenSlot]:
        async with self._locks.setdefault(extension_id, asyncio.Lock()):
            yield MemoryTokenSlot(self, extension_id)


# call log ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredRecord:
    digest: str
    start_time: datetime
    in_progress: bool
    owner_extension_id: str  # the record's `extension.id`


@dataclass(frozen=True, slots=True)
class WindowDone:
    extension_id: str
    synced_through: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class SyncFailure:
    extension_id: str
    error: str
    retry_at: datetime


@dataclass(slots=True)
class MemoryCallLogStore:
    """`CallLogStore` in memory."""

    records: dict[str, dict[str, StoredRecord]] = field(default_factory=dict)
    saves: Counter[tuple[str, str]] = field(default_factory=Counter)  # times each was saved
    cursor: dict[str, datetime] = field(default_factory=dict)
    windows_done: list[WindowDone] = field(default_factory=list)
    failures: list[SyncFailure] = field(default_factory=list)

    async def save_records(
        self, extension_id: str, records: Sequence[Mapping[str, Any]], *, fetched_at: datetime
    ) -> SaveCounts:
        held = self.records.setdefault(extension_id, {})
        new = changed = unchanged = 0
        for record in records:
            record_id = str(record["id"])
            stored = StoredRecord(
                digest=hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest(),
                start_time=parse_iso(record["startTime"]),
                in_progress=record.get("result") == IN_PROGRESS,
                owner_extension_id=str(record["extension"]["id"]),
            )
            before = held.get(record_id)
            if before is None:
                new += 1
            elif before.digest != stored.digest:
                changed += 1
            else:
                unchanged += 1
            held[record_id] = stored
            self.saves[(extension_id, record_id)] += 1
        return SaveCounts(new=new, changed=changed, unchanged=unchanged)

    async def window_done(
        self, extension_id: str, *, synced_through: datetime, at: datetime
    ) -> None:
        self.windows_done.append(WindowDone(extension_id, synced_through, at))
        self.cursor[extension_id] = synced_through

    async def sync_failed(self, extension_id: str, error: str, retry_at: datetime) -> None:
        self.failures.append(SyncFailure(extension_id, error, retry_at))

    def ids(self, extension_id: str) -> set[str]:
        return set(self.records.get(extension_id, {}))

    def state(
        self, extension_id: str, mode: Mode = Mode.EXTENSION, failures: int = 0
    ) -> CallLogState:
        """What the service's store would hand the syncer for this credential."""
        open_starts = [
            r.start_time for r in self.records.get(extension_id, {}).values() if r.in_progress
        ]
        return CallLogState(
            extension_id=extension_id,
            mode=mode,
            synced_through=self.cursor.get(extension_id),
            open_since=min(open_starts, default=None),
            failures=failures,
        )


# the emulator --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallLogRequest:
    path: str
    query: dict[str, str]
    status: int


class EmulatorTap:
    """ASGI middleware in front of the emulator: records each call-log request with the status
    it got, counts every answer by status, and can make call-log requests fail from the n-th on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.call_log: list[CallLogRequest] = []
        self.statuses: Counter[int] = Counter()
        self.fail_call_log_from: int | None = None  # 1-based number of the first to fail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_call_log = path.endswith("/call-log")
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if is_call_log and self._should_fail():
            await self._unavailable(send)
            self.call_log.append(CallLogRequest(path, query, 503))
            self.statuses[503] += 1
            return
        status = 0

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, recording_send)
        if is_call_log:
            self.call_log.append(CallLogRequest(path, query, status))
        self.statuses[status] += 1

    def _should_fail(self) -> bool:
        return (
            self.fail_call_log_from is not None
            and len(self.call_log) + 1 >= self.fail_call_log_from
        )

    @staticmethod
    async def _unavailable(send: Send) -> None:
        body = json.dumps({"errorCode": "CMN-211", "message": "Service temporarily unavailable"})
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


@dataclass
class CallLogPlatform:
    """The emulator on loopback with one app and an account of users, and what builds syncers
    against it."""

    emulator: Emulator
    url: str
    tap: EmulatorTap
    http: httpx.AsyncClient
    account_id: str
    users: list[str]
    sleeps: list[float] = field(default_factory=list)  # every simulated sleep, in seconds

    def now(self) -> datetime:
        return self.emulator.now()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the simulated clock: move it forward instead of waiting."""
        self.sleeps.append(seconds)
        await self.emulator.advance(max(0.0, seconds))

    def client(
        self, *, retry: RetryPolicy | None = None, limiter: RateLimiter | None = None
    ) -> RingCentralClient:
        """A client paced on the simulated clock (as the runtime paces it on the service's)."""
        return RingCentralClient(
            self.http,
            server=self.url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            retry=retry or RetryPolicy(sleep=self.sleep),
            limiter=limiter
            or RateLimiter(clock=lambda: self.emulator.now().timestamp(), sleep=self.sleep),
        )

    def syncer(
        self,
        store: MemoryCallLogStore,
        *,
        policy: CallLogPolicy | None = None,
        client: RingCentralClient | None = None,
        pace: ReadPace | None = None,
    ) -> CallLogSyncer:
        client = client or self.client()
        token_store = MemoryTokenStore(
            credentials={user: self.emulator.issue_jwt(user, CLIENT_ID) for user in self.users}
        )
        tokens = TokenManager(client, token_store, clock=self.emulator.now)
        return CallLogSyncer(
            client,
            tokens,
            store,
            policy=policy or CallLogPolicy(),
            clock=self.emulator.now,
            pace=pace,
        )

    def log_calls(
        self,
        extension_id: str,
        starts: Iterable[datetime],
        *,
        result: str = "Accepted",
        duration: timedelta = timedelta(minutes=2),
    ) -> list[CallLogEntry]:
        """Put finished calls of `extension_id` straight into the emulator's call log (visible
        at once), instead of playing them."""
        entries = [
            _entry(self.account_id, extension_id, start, start + duration, result)
            for start in starts
        ]
        now = self.emulator.now()
        for entry in entries:
            self.emulator.call_log.add(entry, now)
        return entries


_serials = itertools.count(1)  # record ids unique across the platforms of a test run


def _entry(
    account_id: str, extension_id: str, start: datetime, end: datetime, result: str
) -> CallLogEntry:
    serial = next(_serials)
    duration_ms = int((end - start).total_seconds() * 1000)
    fields: dict[str, Any] = {
        "sessionId": str(900_000_000_000 + serial),
        "telephonySessionId": f"s-{serial:012x}",
        "startTime": iso(start),
        "duration": duration_ms // 1000,
        "durationMs": duration_ms,
        "type": "Voice",
        "direction": "Inbound",
        "action": "Phone Call",
        "result": result,
        "from": {"phoneNumber": "+14155550100"},
        "to": {"extensionId": extension_id},
        "extension": {"id": int(extension_id)},
    }
    return CallLogEntry.of(
        f"L{serial:011d}UA",
        account_id=account_id,
        extension_id=extension_id,
        start_time=start,
        end_time=end,
        fields=fields,
    )


@contextlib.asynccontextmanager
async def call_log_platform(
    users: int = 2, *, rate_limits: Mapping[RateGroup, RateLimit] | None = None
) -> AsyncIterator[CallLogPlatform]:
    """The emulator with `users` users; RingCentral's rate limits enforced when `rate_limits`
    is given (an empty mapping: the documented defaults)."""
    app = create_emulator_app(EmulatorConfig(seed=23, timer_tick_s=0))
    emulator: Emulator = app.state.emulator
    if rate_limits is not None:
        emulator.set_rate_limits(True, rate_limits)
    tap = EmulatorTap(app)
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(serve(tap))
        http = await stack.enter_async_context(httpx.AsyncClient(trust_env=False, timeout=60))
        emulator.create_app(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        specs = [ExtensionSpec("User", f"User {n}", str(100 + n)) for n in range(1, users + 1)]
        account = emulator.create_account(name="Call Log Company", extensions=specs)
        user_ids = sorted(e.id for e in account.extensions.values() if e.kind == "User")
        yield CallLogPlatform(emulator, server.base_url, tap, http, account.id, user_ids)
