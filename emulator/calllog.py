"""The call log: record versions, list queries and sync.

Each record has two versions: "In Progress" from the call's start plus
`call_log_in_progress_delay_s` (never when negative), then the final one from the call's end plus
`call_log_delay_s`; neither before the record was registered (a call played in the past shows
only its final version). Queries see the version current at `now`; the id never changes.

List (`readUserCallLog` / `readCompanyCallLog`): `dateFrom`/`dateTo` (default the last 24 h),
`view` Simple|Detailed, `perPage` 1-1000 or `max`, `page`, `direction`, `type`,
`telephonySessionId`, `sessionId`; newest first, with `paging` and `navigation`.
Sync (`call-log-sync`): FSync needs `recordCount` (1-250) and sets the sync frame; ISync returns
records whose current version appeared since the token (a record comes once In Progress and
again final), refuses more than 250 (a full resync is then needed), and tokens minted before an
admin reset answer the chosen CLG-10x error. `statusGroup=Missed` looks at final versions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from emulator.clock import iso, parse_iso
from emulator.config import EmulatorConfig
from emulator.errors import RCError, api_error, invalid_parameter
from emulator.ids import Ids
from emulator.scenarios.model import CallLogEntry, RecordVersion

MISSED_RESULTS = frozenset({"Missed", "Hang Up", "Voicemail", "Rejected", "Busy", "No Answer"})
SYNC_RESET_CODES = frozenset({"CLG-101", "CLG-102", "CLG-103", "CLG-104", "CLG-105"})
MAX_PER_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose call log: an extension's, or the whole account's (`extension_id` None)."""

    account_id: str
    extension_id: str | None

    def path(self) -> str:
        path = f"/restapi/v1.0/account/{self.account_id}"
        return path + (f"/extension/{self.extension_id}" if self.extension_id else "")

    def covers(self, entry: CallLogEntry) -> bool:
        if entry.account_id != self.account_id:
            return False
        return self.extension_id is None or entry.extension_id == self.extension_id


@dataclass(frozen=True, slots=True)
class LoggedRecord:
    """A registered record and when its versions become visible."""

    entry: CallLogEntry
    final_from: datetime
    in_progress_from: datetime | None  # None: the In Progress version is never visible

    def current(self, now: datetime) -> RecordVersion | None:
        """The version visible at `now`, if any."""
        if self.final_from <= now:
            return RecordVersion(self.final_from)
        if self.in_progress_from is not None and self.in_progress_from <= now:
            return RecordVersion(self.in_progress_from, in_progress_as_of=now)
        return None


@dataclass(frozen=True, slots=True)
class VisibleRecord:
    """A record in the version a query at some moment sees."""

    entry: CallLogEntry
    version: RecordVersion

    @property
    def is_final(self) -> bool:
        return self.version.in_progress_as_of is None

    def render(self, base: str, view: str, scope: Scope) -> dict[str, Any]:
        return self.entry.render(
            base, view=view, account_level=scope.extension_id is None, version=self.version
        )


@dataclass(slots=True)
class SyncState:
    scope: Scope
    generation: int
    synced_at: datetime
    missed_only: bool
    view: str


@dataclass(slots=True)
class CallLogStore:
    config: EmulatorConfig
    ids: Ids
    records: list[LoggedRecord] = field(default_factory=list)
    _by_extension: dict[str, list[LoggedRecord]] = field(default_factory=dict)
    _tokens: dict[str, SyncState] = field(default_factory=dict)
    _generation: dict[str, int] = field(default_factory=dict)
    _reset_code: dict[str, str] = field(default_factory=dict)

    def add(self, entry: CallLogEntry, now: datetime) -> None:
        """Register a record at `now`; its versions become visible no earlier than that."""
        final_from = max(entry.end_time + timedelta(seconds=self.config.call_log_delay_s), now)
        in_progress_from: datetime | None = None
        delay = self.config.call_log_in_progress_delay_s
        if delay >= 0:
            shown_from = max(entry.start_time + timedelta(seconds=delay), now)
            in_progress_from = shown_from if shown_from < final_from else None
        record = LoggedRecord(entry, final_from, in_progress_from)
        self.records.append(record)
        self._by_extension.setdefault(entry.extension_id, []).append(record)

    def visible(
        self,
        scope: Scope,
        now: datetime,
        *,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
    ) -> list[VisibleRecord]:
        """Records of `scope` visible at `now` in their current version (started in the range,
        when given), newest first."""
        candidates = (
            self._by_extension.get(scope.extension_id, [])
            if scope.extension_id is not None
            else self.records
        )
        found = []
        for record in candidates:
            entry = record.entry
            if not scope.covers(entry):
                continue
            if started_from is not None and entry.start_time < started_from:
                continue
            if started_to is not None and entry.start_time > started_to:
                continue
            version = record.current(now)
            if version is not None:
                found.append(VisibleRecord(entry, version))
        return sorted(found, key=lambda r: (r.entry.start_time, r.entry.id), reverse=True)

    def clear(self) -> None:
        self.records.clear()
        self._by_extension.clear()
        self._tokens.clear()
        self._generation.clear()
        self._reset_code.clear()

    # list ------------------------------------------------------------------------------------

    def list_page(
        self, scope: Scope, query: Mapping[str, list[str]], *, base: str, now: datetime
    ) -> dict[str, Any]:
        view = _view(query)
        date_to = _date(query, "dateTo") or now
        date_from = _date(query, "dateFrom") or date_to - timedelta(hours=24)
        per_page = _per_page(query)
        page = _positive(query, "page", 1)
        records = [
            record
            for record in self.visible(scope, now, started_from=date_from, started_to=date_to)
            if _matches(record.entry, query)
        ]
        start = (page - 1) * per_page
        chunk = records[start : start + per_page]
        uri_base = f"{base}{scope.path()}/call-log"
        params = {k: v[0] for k, v in query.items() if k not in ("page", "perPage") and v}
        params["view"] = view

        def page_uri(number: int) -> dict[str, str]:
            qs = urlencode({**params, "page": number, "perPage": per_page})
            return {"uri": f"{uri_base}?{qs}"}

        paging: dict[str, Any] = {"page": page, "perPage": per_page}
        if chunk:
            paging.update(pageStart=start, pageEnd=start + len(chunk) - 1)
        navigation = {"firstPage": page_uri(1)}
        if start + per_page < len(records):
            navigation["nextPage"] = page_uri(page + 1)
        if page > 1:
            navigation["previousPage"] = page_uri(page - 1)
        return {
            "uri": page_uri(page)["uri"],
            "records": [record.render(base, view, scope) for record in chunk],
            "paging": paging,
            "navigation": navigation,
        }

    # sync ------------------------------------------------------------------------------------

    def sync(
        self, scope: Scope, query: Mapping[str, list[str]], *, base: str, now: datetime
    ) -> dict[str, Any]:
        sync_type = _first(query, "syncType") or "FSync"
        if sync_type == "FSync":
            records, state = self._fsync(scope, query, now)
        elif sync_type == "ISync":
            records, state = self._isync(scope, query, now)
        else:
            raise invalid_parameter("syncType", sync_type)
        token = self.ids.b64(24)
        self._tokens[token] = state
        return {
            "uri": f"{base}{scope.path()}/call-log-sync?{urlencode({'syncType': sync_type})}",
            "records": [record.render(base, state.view, scope) for record in records],
            "syncInfo": {"syncType": sync_type, "syncToken": token, "syncTime": iso(now)},
        }

    def reset_sync(self, account_id: str, code: str) -> None:
        """Invalidate every sync token of the account (the call log "was reset")."""
        if code not in SYNC_RESET_CODES:
            msg = f"reset code must be one of {sorted(SYNC_RESET_CODES)}"
            raise ValueError(msg)
        self._generation[account_id] = self._generation.get(account_id, 0) + 1
        self._reset_code[account_id] = code

    def _fsync(
        self, scope: Scope, query: Mapping[str, list[str]], now: datetime
    ) -> tuple[list[VisibleRecord], SyncState]:
        count = _record_count(query, self.config.call_log_sync_max_records, required=True)
        oldest = now - timedelta(days=30)
        date_from = max(_date(query, "dateFrom") or oldest, oldest)
        missed_only = "Missed" in query.get("statusGroup", [])
        records = [
            record
            for record in self.visible(scope, now)
            if record.entry.start_time >= date_from and (not missed_only or _missed(record))
        ]
        state = SyncState(
            scope, self._generation.get(scope.account_id, 0), now, missed_only, _view(query)
        )
        return records[:count], state

    def _isync(
        self, scope: Scope, query: Mapping[str, list[str]], now: datetime
    ) -> tuple[list[VisibleRecord], SyncState]:
        token = _first(query, "syncToken")
        state = self._tokens.get(token or "")
        if state is None or state.scope != scope:
            raise invalid_parameter("syncToken", token)
        if state.generation != self._generation.get(scope.account_id, 0):
            raise _sync_error(
                self._reset_code.get(scope.account_id, "CLG-101"),
                "Sync token expired, call log was reset",
            )
        fresh = [
            record
            for record in self.visible(scope, now)
            if state.synced_at < record.version.visible_at
            and (not state.missed_only or _missed(record))
        ]
        if len(fresh) > self.config.call_log_sync_max_records:
            raise _sync_error("CMN-101", "max sync record number limit is exceeded")
        view = _first(query, "view") or state.view
        return fresh, SyncState(scope, state.generation, now, state.missed_only, view)


def _missed(record: VisibleRecord) -> bool:
    return record.is_final and record.entry.result in MISSED_RESULTS


def _sync_error(code: str, detail: str) -> RCError:
    return api_error(
        400, code, f"Parameter [syncToken] is invalid [{detail}]", parameter_name="syncToken"
    )


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _view(query: Mapping[str, list[str]]) -> str:
    view = _first(query, "view") or "Simple"
    if view not in ("Simple", "Detailed"):
        raise invalid_parameter("view", view)
    return view


def _date(query: Mapping[str, list[str]], name: str) -> datetime | None:
    value = _first(query, name)
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise invalid_parameter(name, value) from None


def _positive(query: Mapping[str, list[str]], name: str, default: int) -> int:
    value = _first(query, name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise invalid_parameter(name, value)
    return int(value)


def _per_page(query: Mapping[str, list[str]]) -> int:
    if _first(query, "perPage") == "max":
        return MAX_PER_PAGE
    return min(_positive(query, "perPage", 100), MAX_PER_PAGE)


def _record_count(query: Mapping[str, list[str]], cap: int, *, required: bool) -> int:
    value = _first(query, "recordCount")
    if value is None and not required:
        return 0
    if value is None or not value.isdigit() or not 1 <= int(value) <= cap:
        raise invalid_parameter("recordCount", value)
    return int(value)


def _matches(entry: CallLogEntry, query: Mapping[str, list[str]]) -> bool:
    directions = query.get("direction")
    if directions and entry.direction not in directions:
        return False
    types = query.get("type")
    if types and "Voice" not in types:
        return False
    session = _first(query, "telephonySessionId")
    if session and entry.telephony_session_id != session:
        return False
    legacy = _first(query, "sessionId")
    return not legacy or entry.fields.get("sessionId") == legacy
