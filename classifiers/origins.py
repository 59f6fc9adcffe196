"""What a session's `origin.type` says about how to read it (docs/outcomes.md section 12).

RingCentral tags every telephony session with where it came from (SPEC `OriginInfo.type`: `Call`,
`RingOut`, `RingMe`, `Conference`, `GreetingsRecording`, `VerificationCall`, `Zoom`, `CallOut`;
older docs also list `TestCall`). Three readings follow:
- an ordinary call (`Call`, `Zoom`, or no origin at all): the rules as they are;
- a two-legged call (`RingOut`, `RingMe`, `CallOut`): RingCentral first rings the initiator's own
  phone and dials the far end only once that leg is up, so the initiator's *Answered* connects
  nobody; the verdict of an outbound one depends on the far end's party alone;
- a service session (`GreetingsRecording`, `VerificationCall`, `TestCall`, and `Conference`: the
  bridge that calls merged into a conference move to, counted already in their own sessions):
  kept, with category `service_call`, and never counted as offered, answered or abandoned.
A value none of these name is read as an ordinary call, with the data gap `origin_unknown`.
"""

from __future__ import annotations

from enum import StrEnum


class OriginKind(StrEnum):
    CALL = "call"
    TWO_LEG = "two_leg"
    SERVICE = "service"


_KINDS: dict[str, OriginKind] = {
    "call": OriginKind.CALL,
    "zoom": OriginKind.CALL,
    "ringout": OriginKind.TWO_LEG,
    "ringme": OriginKind.TWO_LEG,
    "callout": OriginKind.TWO_LEG,
    "conference": OriginKind.SERVICE,
    "greetingsrecording": OriginKind.SERVICE,
    "verificationcall": OriginKind.SERVICE,
    "testcall": OriginKind.SERVICE,
}


def origin_kind(origin: str | None) -> OriginKind | None:
    """How a session of this origin is read (any case); None for a value we do not know. A
    session without an origin (older notifications, REST snapshots) is an ordinary call."""
    if not origin:
        return OriginKind.CALL
    return _KINDS.get(origin.lower())


def is_two_leg(origin: str | None) -> bool:
    return origin_kind(origin) is OriginKind.TWO_LEG


def is_service(origin: str | None) -> bool:
    return origin_kind(origin) is OriginKind.SERVICE


def origin_notes(origin: str | None) -> tuple[list[str], list[str]]:
    """The evidence and data gaps an origin adds: `origin:<type>` for any origin but an
    ordinary `Call`, and `origin_unknown` for a value we do not know."""
    if not origin or origin.lower() == "call":
        return [], []
    gaps = ["origin_unknown"] if origin_kind(origin) is None else []
    return [f"origin:{origin}"], gaps
