"""One telephony session rebuilt from any number of party events, in order, without duplicates.

Events may come from several subscriptions (the account view and any number of extension views),
be delivered twice and arrive in any order. `build_timeline` orders them by `sequence` (ties:
`eventTime`, then party id), drops duplicates (same envelope `uuid` for the same party, or the
same party and `sequence` seen through another view) and groups them per party.

The result depends only on the set of events, never on the order they were given in.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from classifiers.events import (
    TERMINAL_STATUSES,
    VOICEMAIL_STATUSES,
    PartyEvent,
    StatusCode,
)

# A stretch of time a party spent in one status: (status, start, end) in POSIX seconds.
Span = tuple[StatusCode, float, float]


@dataclass(slots=True)
class PartyTrack:
    """Everything observed about one party, in sequence order.

    Identity fields (numbers, names, extension ids) come from the first event that has them:
    RingCentral fills some in only on later events (e.g. the caller's `to.name`).
    """

    party_id: str
    events: list[PartyEvent] = field(default_factory=list)
    extension_id: str | None = None
    direction: str = ""
    queue_call: bool = False
    to_extension_id: str | None = None
    queue_name: str | None = None
    statuses: set[StatusCode] = field(default_factory=set)
    _spans: tuple[float, list[Span]] | None = None

    @property
    def from_number(self) -> str | None:
        return next((e.from_number for e in self.events if e.from_number), None)

    @property
    def from_extension_id(self) -> str | None:
        return next((e.from_extension_id for e in self.events if e.from_extension_id), None)

    @property
    def to_number(self) -> str | None:
        return next((e.to_number for e in self.events if e.to_number), None)

    @property
    def to_name(self) -> str | None:
        return next((e.to_name for e in self.events if e.to_name), None)

    @property
    def first(self) -> PartyEvent:
        return self.events[0]

    @property
    def last(self) -> PartyEvent:
        return self.events[-1]

    @property
    def ended(self) -> bool:
        """Whether the party has left the session (its latest status is Disconnected/Gone)."""
        return self.events[-1].status in TERMINAL_STATUSES

    @property
    def end_event(self) -> PartyEvent | None:
        last = self.events[-1]
        return last if last.status in TERMINAL_STATUSES else None

    @property
    def rang(self) -> bool:
        return StatusCode.PROCEEDING in self.statuses

    @property
    def reached_voicemail(self) -> bool:
        return not self.statuses.isdisjoint(VOICEMAIL_STATUSES)

    def first_with(self, statuses: frozenset[StatusCode]) -> PartyEvent | None:
        for event in self.events:
            if event.status in statuses:
                return event
        return None

    def status_before(self, sequence: int) -> StatusCode | None:
        """The party's status just before `sequence`, or None if it had not appeared yet."""
        current: StatusCode | None = None
        for event in self.events:
            if event.sequence >= sequence:
                break
            current = event.status
        return current

    def active_before(self, sequence: int) -> bool:
        status = self.status_before(sequence)
        return status is not None and status not in TERMINAL_STATUSES

    def spans(self, until: float) -> list[Span]:
        """The party's status spans; the latest lasts until `until` unless it is terminal."""
        cached = self._spans
        if cached is not None and cached[0] == until:
            return cached[1]
        spans: list[Span] = []
        events = self.events
        previous = events[0]
        for event in events[1:]:
            spans.append((previous.status, previous.ts, max(event.ts, previous.ts)))
            previous = event
        if previous.status not in TERMINAL_STATUSES:
            spans.append((previous.status, previous.ts, max(until, previous.ts)))
        self._spans = (until, spans)
        return spans


@dataclass(slots=True)
class Timeline:
    """A session's deduplicated events in order, and its parties in order of appearance."""

    telephony_session_id: str
    events: list[PartyEvent]
    parties: list[PartyTrack]
    first_ts: float  # earliest eventTime (not necessarily the first by sequence)
    last_ts: float  # latest eventTime
    started_at: datetime
    has_sequence_gap: bool
    origin: str | None = None  # `origin.type` (the first given, in sequence order), as sent

    @property
    def all_ended(self) -> bool:
        return all(party.ended for party in self.parties)


_quick_order = operator.attrgetter("sequence", "ts", "party_id")


def _full_order(event: PartyEvent) -> tuple[int, float, str, str, str, str]:
    """A total order on event content: which of two conflicting duplicates is kept."""
    return (
        event.sequence,
        event.ts,
        event.party_id,
        event.uuid,
        event.status_raw,
        event.reason or "",
    )


def build_timeline(events: Iterable[PartyEvent]) -> Timeline:
    """Order, deduplicate and group one session's events.

    Raises ValueError if there are none, or if they belong to several sessions.
    """
    kept = _deduplicated(sorted(events, key=_quick_order))
    if not kept:
        raise ValueError("a timeline needs at least one telephony event")
    session_id = kept[0].telephony_session_id
    tracks: dict[str, PartyTrack] = {}
    earliest = latest = kept[0]
    for event in kept:
        if event.telephony_session_id != session_id:
            raise ValueError("events of several telephony sessions given to one timeline")
        track = tracks.get(event.party_id)
        if track is None:
            track = tracks[event.party_id] = PartyTrack(event.party_id)
        _add_event(track, event)
        if event.ts < earliest.ts:
            earliest = event
        elif event.ts > latest.ts:
            latest = event
    return Timeline(
        telephony_session_id=session_id,
        events=kept,
        parties=list(tracks.values()),
        first_ts=earliest.ts,
        last_ts=latest.ts,
        started_at=earliest.event_time,
        has_sequence_gap=_has_gap(kept),
        origin=next((event.origin for event in kept if event.origin), None),
    )


def _deduplicated(ordered: list[PartyEvent]) -> list[PartyEvent]:
    """Drop repeats of a party's sequence number (another view, a redelivery) and repeats of an
    envelope `uuid` for the same party. Of two different events claiming the same party and
    sequence, the one first in `_full_order` is kept, so input order never matters."""
    kept: list[PartyEvent] = []
    index_of: dict[tuple[str, int], int] = {}
    seen_uuid: set[tuple[str, str]] = set()
    for event in ordered:
        key = (event.party_id, event.sequence)
        index = index_of.get(key)
        if index is not None:
            if event != kept[index] and _full_order(event) < _full_order(kept[index]):
                kept[index] = event
            continue
        by_uuid = (event.uuid, event.party_id)
        if event.uuid and by_uuid in seen_uuid:
            continue
        seen_uuid.add(by_uuid)
        index_of[key] = len(kept)
        kept.append(event)
    return kept


def _add_event(track: PartyTrack, event: PartyEvent) -> None:
    track.events.append(event)
    track.statuses.add(event.status)
    if event.queue_call:
        track.queue_call = True
    # The first non-empty value wins (later events only fill gaps).
    if track.extension_id is None:
        track.extension_id = event.extension_id
    if not track.direction:
        track.direction = event.direction
    if track.to_extension_id is None:
        track.to_extension_id = event.to_extension_id
    if event.queue_name and track.queue_name is None:
        track.queue_name = event.queue_name


def _has_gap(events: list[PartyEvent]) -> bool:
    """Whether sequence numbers are missing between the first and the last one seen."""
    sequences = {event.sequence for event in events}
    return len(sequences) < max(sequences) - min(sequences) + 1
