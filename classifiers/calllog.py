"""What a session's call-log records say, read into one call-log verdict.

RingCentral's call log gives each extension that took part in a call a record with a `result`
(`CallResultEnum`, ~45 values) and often a `reason` (`CallResultReasonEnum`); the Detailed view
adds `legs`, one per hop of the call, the master leg mirroring the record. `read_result` gives
every result (with its reason) a meaning, a `LogResult`; `read_call_log` reads all the records
and legs of one session (several extensions' records of the same call, In Progress and final
versions) into a `CallLogView`: the session's final result by a fixed precedence, whether
voicemail was reached, whether a queue held the call, the call's direction, times and numbers.

docs/outcomes.md section 8 is the table this module implements. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from classifiers.events import to_utc
from classifiers.outcome import Direction, DirectoryEntry, Stage
from classifiers.payloads import CallLogLeg, CallLogParty, CallLogRecord
from classifiers.roles import Role, role_of_kind


class LogResult(StrEnum):
    """What a call-log result means for the call, strongest first (see `PRECEDENCE`)."""

    IN_PROGRESS = "in_progress"  # the record is not final yet
    CONNECTED = "connected"  # a person (or, outbound, the far end) answered
    ANSWERED_ELSEWHERE = "answered_elsewhere"  # another party or device answered (Stopped)
    VOICEMAIL_LEFT = "voicemail_left"  # a message was left (result Voicemail, linked message)
    CALLBACK = "callback"  # the caller asked for a callback
    FORWARDED = "forwarded"  # the call left for an outside number (forwarding, exit key)
    GAVE_UP = "gave_up"  # the caller hung up before any answer
    CLOSED = "closed"  # not accepted at this time (a schedule or a rule)
    BUSY_REJECTED = "busy_rejected"  # busy, rejected, declined
    NOT_ANSWERED = "not_answered"  # rang until the system gave up
    FAILED = "failed"  # a technical failure
    UNANSWERED = "unanswered"  # Missed with no cause given: no answer and no message
    UNKNOWN = "unknown"  # the call log does not say (Unknown, or a value we do not know)


PRECEDENCE: tuple[LogResult, ...] = tuple(LogResult)
_RANK = {result: rank for rank, result in enumerate(PRECEDENCE)}

# Results that say the same whatever the reason (lower case).
_BY_RESULT: dict[str, LogResult] = {
    "in progress": LogResult.IN_PROGRESS,
    "accepted": LogResult.CONNECTED,
    "call connected": LogResult.CONNECTED,
    "received": LogResult.CONNECTED,  # a fax received
    "sent": LogResult.CONNECTED,  # a fax sent
    "fax on demand": LogResult.CONNECTED,
    "stopped": LogResult.ANSWERED_ELSEWHERE,
    "answered elsewhere": LogResult.ANSWERED_ELSEWHERE,
    "voicemail": LogResult.VOICEMAIL_LEFT,
    "callback requested": LogResult.CALLBACK,
    "hang up": LogResult.GAVE_UP,
    "abandoned": LogResult.GAVE_UP,
    "busy": LogResult.BUSY_REJECTED,
    "rejected": LogResult.BUSY_REJECTED,
    "declined": LogResult.BUSY_REJECTED,
    "blocked": LogResult.BUSY_REJECTED,
    "reply": LogResult.BUSY_REJECTED,  # answered with a text message instead
    "no answer": LogResult.NOT_ANSWERED,
    "call failed": LogResult.FAILED,
    "call failure": LogResult.FAILED,
    "internal error": LogResult.FAILED,
    "ip phone offline": LogResult.FAILED,
    "wrong number": LogResult.FAILED,
    "restricted number": LogResult.FAILED,
    "international disabled": LogResult.FAILED,
    "international restricted": LogResult.FAILED,
    "no calling credit": LogResult.FAILED,
    "not allowed": LogResult.FAILED,
    "suspended account": LogResult.FAILED,
    "carrier is not active": LogResult.FAILED,
    "edge trunk misconfigured": LogResult.FAILED,
    "fax not sent": LogResult.FAILED,
    "fax partially sent": LogResult.FAILED,
    "fax poor line": LogResult.FAILED,
    "fax receipt error": LogResult.FAILED,
    "partial receive": LogResult.FAILED,
    "receive error": LogResult.FAILED,
    "send error": LogResult.FAILED,
    "unknown": LogResult.UNKNOWN,
    "phone login": LogResult.UNKNOWN,  # a device login call, not a conversation
    "911": LogResult.UNKNOWN,  # an emergency call: how it ended is not said
    "933": LogResult.UNKNOWN,  # an emergency address test call
}

# What a reason says when the result itself is open (`Missed`, `Answered Not Accepted`, ...).
_BY_REASON: dict[str, LogResult] = {
    "hang up": LogResult.GAVE_UP,
    "no answer": LogResult.NOT_ANSWERED,
    "not answered": LogResult.NOT_ANSWERED,
    "stopped": LogResult.ANSWERED_ELSEWHERE,
    "line busy": LogResult.BUSY_REJECTED,
    "calls not accepted": LogResult.CLOSED,
    "internal error": LogResult.FAILED,
    "no credit": LogResult.FAILED,
    "restricted number": LogResult.FAILED,
    "wrong number": LogResult.FAILED,
    "international disabled": LogResult.FAILED,
    "international restricted": LogResult.FAILED,
    "bad number": LogResult.FAILED,
    "info 411 restricted": LogResult.FAILED,
    "customer 611 restricted": LogResult.FAILED,
    "no digital line": LogResult.FAILED,
    "failed try again": LogResult.FAILED,
    "max call limit": LogResult.FAILED,
    "too many calls": LogResult.FAILED,
    "number not allowed": LogResult.FAILED,
    "number blocked": LogResult.FAILED,
    "number disabled": LogResult.FAILED,
    "resource error": LogResult.FAILED,
    "call loop": LogResult.FAILED,
    "emergency address not defined": LogResult.FAILED,
    "carrier is not active": LogResult.FAILED,
    "edge trunk misconfigured": LogResult.FAILED,
    "internal call error": LogResult.FAILED,
}
_OPEN_RESULTS = frozenset({"missed", "answered not accepted"})
VOICEMAIL_REACHED_RESULT = "sent to voicemail"
# Legs that send the call to another number: forwarding rules, and transfers out of a queue/IVR.
_FORWARDING = frozenset({"findme", "followme", "sipforwarding", "sip forwarding"})
_TRANSFERS = frozenset({"transfercall", "transfer"})
QUEUE_FORWARDING = "queueforwarding"


def read_result(result: str | None, reason: str | None = None) -> LogResult:
    """The meaning of one `result` (with its `reason`), matched case-insensitively.

    `Missed` (and `Answered Not Accepted`) takes its cause from the reason: `Hang Up` = the
    caller gave up, `No Answer`/`Not Answered` = a ring timeout, `Stopped` = answered elsewhere,
    `Line Busy`, `Calls Not Accepted`, a failure; with no reason it only says that nobody answered
    and no message was left (`UNANSWERED`). Any value we do not know is `UNKNOWN`.
    """
    key = (result or "").strip().lower()
    known = _BY_RESULT.get(key)
    if known is not None:
        return known
    if key in _OPEN_RESULTS:
        return _BY_REASON.get((reason or "").strip().lower(), LogResult.UNANSWERED)
    return LogResult.UNKNOWN


def strongest(results: Iterable[LogResult]) -> LogResult:
    return min(results, key=_RANK.__getitem__, default=LogResult.UNKNOWN)


@dataclass(frozen=True, slots=True)
class LogItem:
    """One record or leg as read: its meaning and where in the call it was."""

    record_id: str
    result: LogResult
    raw_result: str
    raw_reason: str | None
    owner_extension_id: str | None  # whose record it is
    delegate_queue: str | None  # a queue agent's record: the queue's name (or id)
    forwarded_out: str | None  # "exit_key" / "forwarded_external" for a leg that left us
    voicemail_reached: bool
    message_id: str | None


@dataclass(frozen=True, slots=True)
class CallLogView:
    """Every record of one session, read together (see the module docstring)."""

    records: tuple[CallLogRecord, ...]
    items: tuple[LogItem, ...]
    result: LogResult
    deciding: LogItem | None
    direction: Direction
    voicemail_reached: bool
    message_id: str | None
    queue: str | None
    queue_involved: bool
    forwarded: str | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    from_number: str | None
    to_number: str | None
    extension_ids: tuple[str, ...]
    owner_roles: frozenset[Role]  # what the records' owners are, as far as the directory says

    @property
    def final(self) -> bool:
        return self.result is not LogResult.IN_PROGRESS

    @property
    def settles(self) -> bool:
        """Whether the call log says how the call ended (a final, meaningful result)."""
        return self.result not in (LogResult.IN_PROGRESS, LogResult.UNKNOWN)

    def evidence(self) -> list[str]:
        found: list[str] = []
        deciding = self.deciding
        if deciding is not None:
            found.append(f"call_log:result={deciding.raw_result}")
            if deciding.raw_reason and deciding.raw_reason != deciding.raw_result:
                found.append(f"call_log:reason={deciding.raw_reason}")
        if self.message_id is not None:
            found.append(f"call_log:message={self.message_id}")
        if self.voicemail_reached and self.message_id is None:
            found.append("call_log:sent_to_voicemail")
        if self.forwarded is not None:
            found.append(f"call_log:forwarded={self.forwarded}")
        return found

    def stage(self) -> Stage:
        """Where the caller was when the call ended, as far as the call log tells."""
        if self.result in (LogResult.CONNECTED, LogResult.ANSWERED_ELSEWHERE):
            return Stage.CONNECTED
        if self.voicemail_reached or self.result is LogResult.VOICEMAIL_LEFT:
            return Stage.VOICEMAIL
        if self.queue_involved:
            return Stage.QUEUE
        roles = self.owner_roles
        only_routed = Role.ROUTING in roles and Role.PERSON not in roles
        if only_routed and self.direction is not Direction.OUTBOUND:
            return Stage.IVR
        return Stage.RINGING


def session_key(record: CallLogRecord) -> str:
    """The session a record belongs to when no events link it: its `telephonySessionId`, else
    `session:<sessionId>` (the older id), else `record:<id>`."""
    if record.telephony_session_id:
        return record.telephony_session_id
    if record.session_id and record.session_id != "0":
        return f"session:{record.session_id}"
    return f"record:{record.id}"


def sessions_of(record: CallLogRecord) -> set[str]:
    """Every session the record is about: its own (`session_key`) and each of its legs'."""
    names = {session_key(record)}
    names.update(leg.telephony_session_id for leg in record.legs if leg.telephony_session_id)
    return names


def belongs_to(record: CallLogRecord, session_ids: Collection[str]) -> bool:
    """Whether the record (or one of its legs) is about the session known by `session_ids`
    (its `telephonySessionId`, and `session:<sessionId>` for records that carry only that)."""
    return not sessions_of(record).isdisjoint(session_ids)


def read_call_log(
    records: Sequence[CallLogRecord],
    session_ids: Collection[str],
    directory: Mapping[str, DirectoryEntry],
) -> CallLogView | None:
    """The call log's view of one session (known by `session_ids`, see `belongs_to`), or None
    when no record is about it.

    Records are deduplicated by id (the latest `lastModifiedTime` wins, then the final version);
    a Detailed record is read through its legs (the master leg mirrors the record), a Simple one
    through the record itself; legs of other sessions (transfers) are left out.
    """
    latest = _latest_versions(record for record in records if belongs_to(record, session_ids))
    if not latest:
        return None
    items: list[LogItem] = []
    for record in latest:
        items.extend(_items(record, session_ids))
    ordered = tuple(items)
    result = strongest(item.result for item in ordered)
    deciding = next((item for item in ordered if item.result is result), None)
    result, forwarded = _forwarding(ordered, result)
    if forwarded is not None:
        deciding = next((item for item in ordered if item.forwarded_out), deciding)
    own = [r for r in latest if session_key(r) in session_ids] or latest
    started = _earliest_start(own)
    duration = _longest_duration(own, started)
    roles = _owner_roles(ordered, directory)
    queue_name = _queue_name(ordered, latest, directory)
    return CallLogView(
        records=tuple(latest),
        items=ordered,
        result=result,
        deciding=deciding,
        direction=_direction(own),
        voicemail_reached=any(item.voicemail_reached for item in ordered),
        message_id=next((item.message_id for item in ordered if item.message_id), None),
        queue=queue_name,
        queue_involved=queue_name is not None
        or Role.QUEUE in roles
        or any(item.delegate_queue for item in ordered),
        forwarded=forwarded,
        started_at=started,
        ended_at=started + timedelta(seconds=duration)
        if started is not None and duration is not None and result is not LogResult.IN_PROGRESS
        else None,
        duration_s=duration,
        from_number=_number(own, "from"),
        to_number=_number(own, "to"),
        extension_ids=tuple(sorted(_extension_ids(latest))),
        owner_roles=roles,
    )


def _latest_versions(records: Iterable[CallLogRecord]) -> list[CallLogRecord]:
    """One record per id: the latest version by `lastModifiedTime`, a final one before an In
    Progress one at the same time, a Detailed one before a Simple one; order: by start time,
    then id."""
    best: dict[str, CallLogRecord] = {}
    for record in records:
        kept = best.get(record.id)
        if kept is None or _later_version(record, kept):
            best[record.id] = record
    return sorted(best.values(), key=lambda r: (_ts(r.start_time), r.id))


def _later_version(candidate: CallLogRecord, kept: CallLogRecord) -> bool:
    first, second = _version_key(candidate), _version_key(kept)
    if first != second:
        return first > second
    # the same version in two forms: any fixed choice keeps the order of records irrelevant
    return candidate.model_dump_json() > kept.model_dump_json()


def _version_key(record: CallLogRecord) -> tuple[float, int, int]:
    modified = _ts(record.last_modified_time)
    final = 0 if (record.result or "").lower() == "in progress" else 1
    return (modified, final, len(record.legs))


def _ts(moment: datetime | None) -> float:
    return to_utc(moment).timestamp() if moment is not None else float("-inf")


def _items(record: CallLogRecord, session_ids: Collection[str]) -> list[LogItem]:
    owner = _owner(record)
    own_session = session_key(record) in session_ids
    if not record.legs:
        return [_item(record, record, owner)] if own_session else []
    legs = [
        leg
        for leg in record.legs
        if leg.telephony_session_id in session_ids
        or (leg.telephony_session_id is None and own_session)
    ]
    items = [_item(record, leg, owner) for leg in legs]
    if own_session and _voicemail_message_id(record) is not None:
        items.append(_item(record, record, owner))  # the record's own message, beside its legs
    return items


def _item(record: CallLogRecord, source: CallLogLeg, owner: str | None) -> LogItem:
    raw_result = source.result or ""
    result_key = raw_result.strip().lower()
    message_id = _voicemail_message_id(source)
    meaning = read_result(source.result, source.reason)
    if message_id is not None:
        meaning = strongest((meaning, LogResult.VOICEMAIL_LEFT))
    forwarded = _forwarded_out(source)
    delegate = _delegate_queue(source) or _delegate_queue(record)
    return LogItem(
        record_id=record.id,
        result=meaning,
        raw_result=raw_result or "(none)",
        raw_reason=source.reason,
        owner_extension_id=owner,
        delegate_queue=delegate,
        forwarded_out=forwarded,
        voicemail_reached=result_key == VOICEMAIL_REACHED_RESULT
        or meaning is LogResult.VOICEMAIL_LEFT,
        message_id=message_id,
    )


def _voicemail_message_id(source: CallLogLeg) -> str | None:
    """The id of the voicemail message linked to a record or leg (`linked` if it has no id)."""
    message = source.message
    if message is None or (message.type is not None and message.type.lower() != "voicemail"):
        return None
    return str(message.id) if message.id is not None else "linked"


def _owner_roles(
    items: Sequence[LogItem], directory: Mapping[str, DirectoryEntry]
) -> frozenset[Role]:
    roles: set[Role] = set()
    for item in items:
        entry = directory.get(item.owner_extension_id) if item.owner_extension_id else None
        role = role_of_kind(entry.kind) if entry is not None else None
        if role is not None:
            roles.add(role)
    return frozenset(roles)


def _owner(record: CallLogRecord) -> str | None:
    extension = record.extension or {}
    owner = extension.get("id")
    if isinstance(owner, int | str) and not isinstance(owner, bool) and str(owner):
        return str(owner)
    return None


def _forwarded_out(leg: CallLogLeg) -> str | None:
    """`exit_key` for a transfer out of a queue or IVR, `forwarded_external` for a forwarding
    rule's leg, when the leg goes to a number outside the account (no extension id)."""
    to = leg.to
    if to is None or to.extension_id or not to.phone_number:
        return None
    kinds = {(leg.leg_type or "").lower(), (leg.action or "").lower()}
    if kinds & _TRANSFERS:
        return "exit_key"
    if kinds & _FORWARDING:
        return "forwarded_external"
    return None


def _delegate_queue(leg: CallLogLeg) -> str | None:
    """The queue a queue agent's record came through (its name, else its id)."""
    if (leg.delegation_type or "").lower() != QUEUE_FORWARDING:
        return None
    delegate = leg.delegate
    if delegate is not None and delegate.name:
        return delegate.name
    if delegate is not None and delegate.id is not None:
        return str(delegate.id)
    return "queue"


def _forwarding(items: Sequence[LogItem], result: LogResult) -> tuple[LogResult, str | None]:
    """A call that left for an outside number is `FORWARDED`, unless one of our parties (not
    the outside leg) answered, a message was left or the caller asked for a callback."""
    forwarded = next((item.forwarded_out for item in items if item.forwarded_out), None)
    if forwarded is None:
        return result, None
    ours = [item for item in items if not item.forwarded_out]
    if ours and _RANK[strongest(item.result for item in ours)] < _RANK[LogResult.FORWARDED]:
        return strongest(item.result for item in ours), None
    if result is LogResult.IN_PROGRESS:
        return result, forwarded
    return LogResult.FORWARDED, forwarded


def _queue_name(
    items: Sequence[LogItem],
    records: Sequence[CallLogRecord],
    directory: Mapping[str, DirectoryEntry],
) -> str | None:
    for item in items:
        if item.delegate_queue and item.delegate_queue != "queue":
            entry = directory.get(item.delegate_queue)
            return entry.name if entry is not None and entry.name else item.delegate_queue
    for record in records:
        owner = _owner(record)
        entry = directory.get(owner) if owner else None
        if entry is not None and role_of_kind(entry.kind) is Role.QUEUE:
            to_name = record.to.name if record.to is not None else None
            return entry.name or to_name
    return None


def _earliest_start(records: Sequence[CallLogRecord]) -> datetime | None:
    starts = [to_utc(r.start_time) for r in records if r.start_time is not None]
    return min(starts) if starts else None


def _duration_s(record: CallLogLeg) -> float | None:
    if record.duration_ms is not None:
        return record.duration_ms / 1000.0
    if record.duration is not None:
        return float(record.duration)
    return None


def _longest_duration(records: Sequence[CallLogRecord], started: datetime | None) -> float | None:
    """The call's length: from the earliest start to the latest end of its records."""
    ends: list[float] = []
    for record in records:
        duration = _duration_s(record)
        if record.start_time is None or duration is None:
            continue
        ends.append(to_utc(record.start_time).timestamp() + duration)
    if not ends or started is None:
        return None
    return round(max(0.0, max(ends) - started.timestamp()), 3)


def _direction(records: Sequence[CallLogRecord]) -> Direction:
    """Inbound, outbound, or internal when both ends are our extensions."""
    directions = set()
    for record in records:
        ours_from = _has_extension(record.from_)
        ours_to = _has_extension(record.to)
        if ours_from and ours_to:
            return Direction.INTERNAL
        if (record.direction or "").lower() == "inbound":
            directions.add(Direction.INTERNAL if ours_from else Direction.INBOUND)
        elif (record.direction or "").lower() == "outbound":
            directions.add(Direction.INTERNAL if ours_to else Direction.OUTBOUND)
    for direction in (Direction.INTERNAL, Direction.INBOUND, Direction.OUTBOUND):
        if direction in directions:
            return direction
    return Direction.INBOUND


def _has_extension(party: CallLogParty | None) -> bool:
    return party is not None and bool(party.extension_id)


def _number(records: Sequence[CallLogRecord], side: str) -> str | None:
    for record in records:
        party = record.from_ if side == "from" else record.to
        if party is not None and party.phone_number:
            return party.phone_number
    return None


def _extension_ids(records: Sequence[CallLogRecord]) -> set[str]:
    found: set[str] = set()
    for record in records:
        owner = _owner(record)
        if owner:
            found.add(owner)
        for party in (record.from_, record.to):
            if party is not None and party.extension_id:
                found.add(party.extension_id)
    return found
