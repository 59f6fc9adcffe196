"""The database side of the call-log sync: `subscriptions.calllog.CallLogStore`.

Each page of records is one transaction, committed before the syncer asks RingCentral for the
next: nothing fetched is lost, and a re-fetch is a no-op unless the record changed. Every
distinct version is kept in `call_log_record_versions`; `call_log_records` holds the latest one,
queued in `call_log_pending` for the processor to take it into the outcomes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from classifiers.calllog import session_key
from classifiers.events import to_utc
from classifiers.payloads import CallLogRecord
from service.calllog import queries
from subscriptions.calllog import SaveCounts

IN_PROGRESS = "in progress"


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """One fetched record as a `call_log_records` row and a version row."""

    row: dict[str, Any]
    version: dict[str, Any]


def record_digest(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's content without its `uri` (the account's and an extension's
    view of one record differ only there)."""
    content = {key: value for key, value in record.items() if key != "uri"}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def prepare(record: Mapping[str, Any], *, fetched_by: str, now: datetime) -> PreparedRecord:
    """The rows for one record exactly as received. A record that does not read as a
    `CallLogRecord` is still kept (its keys read loosely); only its id is required."""
    payload = orjson.dumps(record).decode()
    digest = record_digest(record)
    try:
        model: CallLogRecord | None = CallLogRecord.model_validate(record)
    except ValidationError:
        model = None
    record_id = str(record["id"])
    result = model.result if model is not None else _text(record.get("result"))
    extension = model.extension if model is not None else None
    owner = extension.get("id") if isinstance(extension, dict) else None
    row = {
        "record_id": record_id,
        "telephony_session_id": model.telephony_session_id if model else None,
        "session_id": model.session_id if model else None,
        "session_key": session_key(model) if model else f"record:{record_id}",
        "owner_extension_id": str(owner) if isinstance(owner, int | str) else None,
        "fetched_by": fetched_by,
        "start_time": to_utc(model.start_time) if model and model.start_time else None,
        "last_modified_time": to_utc(model.last_modified_time)
        if model and model.last_modified_time
        else None,
        "result": (result or "")[:64] or None,
        "final": (result or "").strip().lower() != IN_PROGRESS,
        "digest": digest,
        "payload": payload,
        "versions": 1,
        "first_seen_at": now,
        "updated_at": now,
    }
    version = {"record_id": record_id, "digest": digest, "fetched_at": now, "payload": payload}
    return PreparedRecord(row, version)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class DatabaseCallLogStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime],
        next_due: Callable[[datetime], datetime],
        on_saved: Callable[[SaveCounts], None] = lambda _counts: None,
        on_window_done: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._next_due = next_due
        self._on_saved = on_saved
        self._on_window_done = on_window_done

    async def save_records(
        self, extension_id: str, records: Sequence[Mapping[str, Any]], *, fetched_at: datetime
    ) -> SaveCounts:
        # reading a page of up to a thousand records takes tens of milliseconds: off the event
        # loop, so the webhook is not held up meanwhile
        prepared = await asyncio.to_thread(_prepare_page, records, extension_id, fetched_at)
        latest: dict[str, PreparedRecord] = {}
        for item in prepared:  # a page may hold a record twice; keep its latest version
            kept = latest.get(item.row["record_id"])
            if kept is None or _not_older(item.row, kept.row["last_modified_time"]):
                latest[item.row["record_id"]] = item
        async with self._engine.begin() as connection:
            stored = await queries.stored_digests(connection, latest.keys())
            status = {key: _status(item, stored.get(key)) for key, item in latest.items()}
            tally = Counter(status.values())
            counts = SaveCounts(
                new=tally[_Status.NEW],
                changed=tally[_Status.CHANGED],
                unchanged=tally[_Status.OLDER] + tally[_Status.UNCHANGED],
            )
            taken_in = [
                item.row
                for key, item in latest.items()
                if status[key] in (_Status.NEW, _Status.CHANGED)
            ]
            versions = [  # every distinct version, an older one too
                item.version
                for item in prepared
                if _status(item, stored.get(item.row["record_id"])) is not _Status.UNCHANGED
            ]
            await queries.save_records(connection, taken_in, versions, now=fetched_at)
            await queries.add_records_stored(connection, extension_id, counts.new + counts.changed)
        self._on_saved(counts)
        return counts

    async def window_done(
        self, extension_id: str, *, synced_through: datetime, at: datetime
    ) -> None:
        async with self._engine.begin() as connection:
            await queries.window_done(
                connection, extension_id, synced_through=synced_through, at=at
            )
        self._on_window_done()

    async def sync_failed(self, extension_id: str, error: str, retry_at: datetime) -> None:
        async with self._engine.begin() as connection:
            await queries.sync_failed(
                connection, extension_id, error=error, retry_at=retry_at, now=self._clock()
            )

    async def finished(self, extension_id: str) -> None:
        """A pass ended without an error: the next one is due after the sync interval."""
        now = self._clock()
        async with self._engine.begin() as connection:
            await queries.finish(connection, extension_id, next_due_at=self._next_due(now), now=now)


def _prepare_page(
    records: Sequence[Mapping[str, Any]], extension_id: str, now: datetime
) -> list[PreparedRecord]:
    return [prepare(record, fetched_by=extension_id, now=now) for record in records]


class _Status(Enum):
    NEW = "new"
    CHANGED = "changed"  # replaces the stored record and is queued for the processor
    OLDER = "older"  # a version older than the stored one: kept, counted as unchanged
    UNCHANGED = "unchanged"


def _status(item: PreparedRecord, stored: queries.StoredDigest | None) -> _Status:
    if stored is None:
        return _Status.NEW
    if stored.digest == item.row["digest"]:
        return _Status.UNCHANGED
    if not _not_older(item.row, stored.last_modified_time):
        return _Status.OLDER
    return _Status.CHANGED


def _not_older(row: Mapping[str, Any], than: datetime | None) -> bool:
    """Whether a record replaces one modified at `than`, as the upsert decides it
    (`queries._records_upsert`): by `lastModifiedTime`, when both have one."""
    modified: datetime | None = row["last_modified_time"]
    return modified is None or than is None or modified >= than
