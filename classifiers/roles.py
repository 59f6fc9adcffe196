"""Who is who in a session: the caller, the call's direction, and each callee party's role.

The caller is the first party whose own direction is `Outbound`: the external caller's party
(no `extensionId`) for inbound calls, our extension's party for outbound and internal calls.
Extension-level views of an inbound call show no caller party at all.

A callee party with an `extensionId` is a person (a user who can answer), a queue, a routing
party (IVR menu, auto-attendant, announcement) or a park location. The directory says which when
it knows the extension; otherwise the events do (docs/outcomes.md section 2):
- a party whose extension is the `to.extensionId` of `queueCall` agent parties is the queue;
- a `queueCall` party, or one that rang, answered, held or took voicemail, is a person;
- a party that stays in Setup is a routing party, unless it ends the way only queues end
  (`Timeout`, `NoAnswer`, `DtmfTransfer`: a queue) or only people end (`TargetBusy`,
  `Rejected`, `CallReplied`: a person).
A callee party without an `extensionId` is external (a PSTN number: the far end of an outbound
call, or a forwarding target of an inbound one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from classifiers.events import ReasonKind, StatusCode
from classifiers.outcome import Direction, DirectoryEntry, ExtensionKind
from classifiers.timeline import PartyTrack, Timeline


class Role(StrEnum):
    CALLER = "caller"
    PERSON = "person"
    QUEUE = "queue"
    ROUTING = "routing"
    PARK = "park"
    EXTERNAL = "external"


_ROLE_BY_KIND: dict[str, Role] = {
    ExtensionKind.USER.lower(): Role.PERSON,
    ExtensionKind.LIMITED.lower(): Role.PERSON,
    ExtensionKind.SHARED_LINES_GROUP.lower(): Role.PERSON,
    ExtensionKind.DEPARTMENT.lower(): Role.QUEUE,
    ExtensionKind.IVR_MENU.lower(): Role.ROUTING,
    ExtensionKind.ANNOUNCEMENT.lower(): Role.ROUTING,
    ExtensionKind.VOICEMAIL.lower(): Role.ROUTING,
    ExtensionKind.SITE.lower(): Role.ROUTING,
    ExtensionKind.PARK_LOCATION.lower(): Role.PARK,
    # RingCentral also reports these user-like types.
    "digitaluser": Role.PERSON,
    "virtualuser": Role.PERSON,
    "faxuser": Role.PERSON,
}

_BEYOND_SETUP = frozenset(
    {
        StatusCode.PROCEEDING,
        StatusCode.ANSWERED,
        StatusCode.HOLD,
        StatusCode.PARKED,
        StatusCode.VOICEMAIL,
        StatusCode.VOICEMAIL_SCREENING,
        StatusCode.FAX_RECEIVE,
    }
)
_QUEUE_ONLY_ENDS = frozenset({ReasonKind.NO_ANSWER, ReasonKind.EXIT_KEY})


def role_of_kind(kind: str) -> Role | None:
    """The role an extension of this directory kind (`ExtensionKind`, any case) plays, if the
    kind says."""
    return _ROLE_BY_KIND.get(kind.lower())


@dataclass(slots=True)
class CallShape:
    """The session's caller, direction and callee roles."""

    direction: Direction
    caller: PartyTrack | None
    roles: dict[str, Role]

    def role(self, party: PartyTrack) -> Role:
        return self.roles[party.party_id]

    def callees(self, timeline: Timeline) -> list[PartyTrack]:
        return [party for party in timeline.parties if party is not self.caller]

    def with_role(self, timeline: Timeline, *roles: Role) -> list[PartyTrack]:
        return [party for party in timeline.parties if self.roles[party.party_id] in roles]


def shape_call(timeline: Timeline, directory: Mapping[str, DirectoryEntry]) -> CallShape:
    """Find the caller, the direction and every party's role."""
    caller = _find_caller(timeline)
    direction = _direction(timeline, caller)
    queue_extensions = {
        party.to_extension_id
        for party in timeline.parties
        if party.queue_call and party.to_extension_id
    }
    roles: dict[str, Role] = {}
    for party in timeline.parties:
        entry = directory.get(party.extension_id) if party.extension_id else None
        if party is caller:
            roles[party.party_id] = Role.CALLER
        elif party.extension_id is None:
            roles[party.party_id] = Role.EXTERNAL
        else:
            directory_role = role_of_kind(entry.kind) if entry else None
            roles[party.party_id] = directory_role or _inferred_role(party, queue_extensions)
    return CallShape(direction, caller, roles)


def _find_caller(timeline: Timeline) -> PartyTrack | None:
    for party in timeline.parties:
        if party.direction == "outbound":
            return party
    return None


def _direction(timeline: Timeline, caller: PartyTrack | None) -> Direction:
    if caller is not None:
        if caller.extension_id is None:
            return Direction.INBOUND
        calls_extension = any(
            party.extension_id is not None for party in timeline.parties if party is not caller
        )
        dialled_extension = caller.to_extension_id not in (None, caller.extension_id)
        return Direction.INTERNAL if calls_extension or dialled_extension else Direction.OUTBOUND
    for party in timeline.parties:
        if party.extension_id is not None and party.from_extension_id is not None:
            return Direction.INTERNAL
    for party in timeline.parties:
        if party.extension_id is None and party.from_extension_id is not None:
            return Direction.OUTBOUND  # only the far end of our outbound call is visible
    return Direction.INBOUND


def _inferred_role(party: PartyTrack, queue_extensions: set[str]) -> Role:
    if party.extension_id in queue_extensions and not party.queue_call:
        return Role.QUEUE
    if party.queue_call or not party.statuses.isdisjoint(_BEYOND_SETUP):
        return Role.PERSON
    end = party.end_event
    if end is not None and end.reason_kind in _QUEUE_ONLY_ENDS:
        return Role.QUEUE
    if end is not None and end.reason_kind is ReasonKind.BUSY_OR_REJECTED:
        return Role.PERSON  # only a person is busy or declines
    return Role.ROUTING
