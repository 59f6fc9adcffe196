"""Keep one credential's call log flowing in: read RingCentral's call log in date windows and hand
every page to a store.

The store knows how far the log has been read (`synced_through`) and the earliest call of this
credential still "In Progress" (`open_since`). A sync reads from a little before the cursor (late
and changing records), or from the oldest open call, to now, in windows of at most a day, oldest
first. Each page is stored before the next is requested, and the cursor moves after each window,
so a sync that stops half way keeps what it read and the next one resumes from there.

The first sync of a credential reads `backfill` of history. The call log is a Heavy endpoint
(10 requests a minute per user); the client paces the requests.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from subscriptions.client import RingCentralClient
from subscriptions.errors import CredentialInvalid, RateLimited, RingCentralError, TransportError
from subscriptions.lifecycle import Mode
from subscriptions.schemas import CallLogPage
from subscriptions.tokens import TokenManager

log = structlog.get_logger(__name__)

MAX_PER_PAGE = 1000  # RingCentral's largest perPage
MAX_RETRY_DELAY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CallLogPolicy:
    backfill: timedelta = timedelta(days=7)  # history read on first connect
    overlap: timedelta = timedelta(hours=2)  # re-read this much before the cursor
    window: timedelta = timedelta(days=1)  # a long range is read in windows of this size
    per_page: int = MAX_PER_PAGE
    retry_base: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            msg = f"per_page must be between 1 and {MAX_PER_PAGE}, got {self.per_page}"
            raise ValueError(msg)
        if self.window < timedelta(milliseconds=1):
            msg = "window must be at least a millisecond"
            raise ValueError(msg)
        if self.backfill < timedelta(0) or self.overlap < timedelta(0):
            msg = "backfill and overlap must not be negative"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class CallLogState:
    """What the store knows of one credential's sync."""

    extension_id: str
    mode: Mode
    # every record that started before this (less the overlap) has been read
    synced_through: datetime | None
    # earliest startTime of a stored record of this credential still "In Progress"
    open_since: datetime | None
    failures: int = 0


@dataclass(frozen=True, slots=True)
class SaveCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


class CallLogStore(Protocol):
    async def save_records(
        self, extension_id: str, records: Sequence[Mapping[str, Any]], *, fetched_at: datetime
    ) -> SaveCounts:
        """Durably store one page of records (idempotent; the caller moves on only after it
        returns)."""
        ...

    async def window_done(
        self, extension_id: str, *, synced_through: datetime, at: datetime
    ) -> None:
        """Every record that started before `synced_through` has been read and stored."""
        ...

    async def sync_failed(self, extension_id: str, error: str, retry_at: datetime) -> None: ...


class PacedPage(Protocol):
    async def before_store(self, records: int) -> None:
        """The page read holds `records`: return when it may be stored."""
        ...


class ReadPace(Protocol):
    """When pages may be read and stored (the service slows its sync down while webhooks
    arrive)."""

    def page(self, most: int) -> AbstractAsyncContextManager[PacedPage]:
        """Entered when a page of up to `most` records may be read."""
        ...


class _AtOnce:
    async def before_store(self, records: int) -> None:
        return None


class FullSpeed:
    """Every page read and stored at once."""

    @contextlib.asynccontextmanager
    async def page(self, most: int) -> AsyncIterator[PacedPage]:
        yield _AtOnce()


@dataclass(frozen=True, slots=True)
class PageProgress:
    """Passed to the `on_page` callback after each stored page; `pages` and `records` count the
    whole sync so far."""

    extension_id: str
    window_start: datetime
    window_end: datetime
    pages: int
    records: int


@dataclass(slots=True)
class CallLogSyncReport:
    """What one sync did. `error` is set when it stopped early (also with `credential_invalid`);
    what it stored until then stays stored."""

    extension_id: str
    windows: int = 0
    pages: int = 0
    records: int = 0
    malformed: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    started_from: datetime | None = None
    synced_through: datetime | None = None
    error: str | None = None
    credential_invalid: bool = False


class CallLogSyncer:
    def __init__(
        self,
        client: RingCentralClient,
        tokens: TokenManager,
        store: CallLogStore,
        *,
        policy: CallLogPolicy,
        clock: Callable[[], datetime],
        pace: ReadPace | None = None,
    ) -> None:
        self._client = client
        self._tokens = tokens
        self._store = store
        self._policy = policy
        self._clock = clock
        self._pace = pace or FullSpeed()

    async def sync(
        self,
        state: CallLogState,
        *,
        since: datetime | None = None,
        on_page: Callable[[PageProgress], None] | None = None,
    ) -> CallLogSyncReport:
        """Read the call log from where `state` says (or from `since`) up to now."""
        report = CallLogSyncReport(state.extension_id)
        end = _floor_ms(self._clock())
        usual_start = self._usual_start(state, end)
        start = _floor_ms(since) if since is not None else usual_start
        # a read from later than the usual start leaves a gap: it must not move the cursor
        moves_cursor = start <= usual_start
        report.started_from = start
        try:
            for window_start, window_end in _windows(start, end, self._policy.window):
                await self._read_window(state, window_start, window_end, report, on_page)
                report.windows += 1
                if moves_cursor and _later(window_end, state.synced_through):
                    await self._store.window_done(
                        state.extension_id, synced_through=window_end, at=self._clock()
                    )
                    report.synced_through = window_end
        except CredentialInvalid as exc:
            report.credential_invalid = True
            report.error = str(exc)
        except RingCentralError as exc:
            report.error = str(exc)
            await self._store.sync_failed(
                state.extension_id, str(exc), self._retry_at(exc, state.failures)
            )
        self._log(report)
        return report

    def _usual_start(self, state: CallLogState, end: datetime) -> datetime:
        if state.synced_through is None:
            return _floor_ms(end - self._policy.backfill)
        start = state.synced_through - self._policy.overlap
        if state.open_since is not None:
            start = min(start, state.open_since)
        return _floor_ms(start)

    async def _read_window(
        self,
        state: CallLogState,
        window_start: datetime,
        window_end: datetime,
        report: CallLogSyncReport,
        on_page: Callable[[PageProgress], None] | None,
    ) -> None:
        """Read and store every page of one window, in order."""
        auth = self._tokens.auth(state.extension_id)
        account_level = state.mode is Mode.ACCOUNT
        params = {
            "view": "Detailed",
            "dateFrom": _iso_ms(window_start),
            "dateTo": _iso_ms(window_end),
            "perPage": str(self._policy.per_page),
            "page": "1",
        }
        read = functools.partial(
            self._client.read_call_log,
            auth=auth,
            rate_key=state.extension_id,
            account_level=account_level,
        )
        page = await self._paced(functools.partial(read, params=params))
        followed: set[str] = set()
        while True:
            await self._store_page(state.extension_id, page, report)
            if on_page is not None:
                on_page(
                    PageProgress(
                        state.extension_id, window_start, window_end, report.pages, report.records
                    )
                )
            next_uri = page.next_page_uri
            if next_uri is None or not (page.records or page.malformed):
                return
            if next_uri in followed:
                msg = "RingCentral's call-log paging returned to a page already read"
                raise TransportError(msg)
            followed.add(next_uri)
            page = await self._paced(functools.partial(read, page_uri=next_uri))

    async def _paced(self, read: Callable[[], Awaitable[CallLogPage]]) -> CallLogPage:
        """One page, read when the pace lets it be read and handed back when it may be stored."""
        async with self._pace.page(self._policy.per_page) as paced:
            page = await read()
            await paced.before_store(len(page.records))
        return page

    async def _store_page(
        self, extension_id: str, page: CallLogPage, report: CallLogSyncReport
    ) -> None:
        report.pages += 1
        report.malformed += page.malformed
        if not page.records:
            return
        counts = await self._store.save_records(
            extension_id, page.records, fetched_at=self._clock()
        )
        report.records += len(page.records)
        report.new += counts.new
        report.changed += counts.changed
        report.unchanged += counts.unchanged

    def _retry_at(self, error: RingCentralError, failures: int) -> datetime:
        now = self._clock()
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            return now + timedelta(seconds=error.retry_after_s)
        backoff = self._policy.retry_base * (1 << min(failures, 12))
        return now + min(backoff, MAX_RETRY_DELAY)

    def _log(self, report: CallLogSyncReport) -> None:
        counts = {
            "extension_id": report.extension_id,
            "windows": report.windows,
            "pages": report.pages,
            "records": report.records,
            "malformed": report.malformed,
            "new": report.new,
            "changed": report.changed,
            "unchanged": report.unchanged,
            "started_from": _iso_ms(report.started_from) if report.started_from else None,
            "synced_through": _iso_ms(report.synced_through) if report.synced_through else None,
        }
        if report.credential_invalid:
            log.warning("calllog.credential_invalid", **counts)
        elif report.error is not None:
            log.warning("calllog.sync_failed", error=report.error, **counts)
        else:
            log.info("calllog.synced", **counts)


def _windows(
    start: datetime, end: datetime, size: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive [start, end] windows of at most `size`, oldest first. Neighbours share their
    boundary instant: RingCentral's `dateTo` may be inclusive or not, and a record read twice is
    only stored again."""
    window_start = start
    while window_start < end:
        window_end = min(_floor_ms(window_start + size), end)
        yield window_start, window_end
        window_start = window_end


def _later(moment: datetime, cursor: datetime | None) -> bool:
    """Whether a finished window moves the cursor forward (it never moves back: a sync reaching
    back to an open call re-reads windows the cursor has passed already)."""
    return cursor is None or moment > cursor


def _floor_ms(moment: datetime) -> datetime:
    """To whole milliseconds, the precision of RingCentral's timestamps and query parameters."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def _iso_ms(moment: datetime) -> str:
    """RingCentral's timestamp format: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
