"""Hypothesis-generated webhook bodies against the live service, on SQLite and PostgreSQL (the
fault suite, tracker issue 12).

Two families of bodies go to `POST /webhooks/ringcentral` of the service served as `callsift run`
serves it (the `service` fixture), each request concurrently with the others of its example and
interleaved with valid notifications, so that good and bad rows share group commits:

- arbitrary JSON values, envelope-like objects with junk in their fields, and arbitrary bytes;
- valid telephony, voicemail and presence notifications, mutated: fields removed, values of the
  wrong type, strings longer than their columns, NUL characters, dates at and past the ends of
  the calendar (year 1, 9999, offsets that overflow UTC) and malformed ones, huge numbers, junk
  nested deeper than the parser allows, bytes that are not UTF-8, invalid escapes, and content
  types that are not JSON.

What every request must get: never a 5xx (the database is up). 415 for a content type that is not
JSON and 413 for a body over `max_body_bytes`, and then nothing stored; otherwise 200, and nothing
answered 200 is lost: a body with a usable envelope is in `raw_events` under its uuid, payload
byte for byte (or its uuid was already stored: a duplicate), any other body is in
`quarantined_events`, payload byte for byte, and no row appears that no request accounts for.
Whether a mutated body must be stored or quarantined is predicted here from the envelope rules
(the columns of `raw_events`, the fields service/webhooks/envelope.py says it reads, the
2000-2099 calendar of event times), independently of the service's code; where this module makes
no prediction (arbitrary JSON, junk in a field whose reading depends on it) either table will do,
but exactly one. Only a duplicate (a body whose uuid is already stored, acknowledged and not
stored again) is told apart with the service's own `read_envelope`. The valid notifications are
all stored, exactly once.
"""

from __future__ import annotations

import asyncio
import enum
import json
import uuid as uuid_module
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from random import Random
from typing import Any

import httpx
import hypothesis
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.builder import ACCOUNT, ALICE, CallBuilder
from fixtures.notifications import telephony_notification
from service.db.engine import create_engine
from service.db.tables import quarantined_events, raw_events
from service.settings import Settings
from service.webhooks.envelope import EnvelopeError, read_envelope
from tests.conftest import WEBHOOK_TOKEN, LiveService

WEBHOOK_PATH = "/webhooks/ringcentral"
JSON_TYPES = (
    "application/json",
    "application/json; charset=UTF-8",
    "APPLICATION/JSON",
    "application/json-patch+json",
    "application/json;charset=latin-1",
)
NOT_JSON_TYPES = (
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonl",
    "text/json",
    "application/json-patch",
    "",
)
# the calendar the envelope accepts event times in (service/webhooks/envelope.py)
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2100, 1, 1, tzinfo=UTC)
MAX_EVENT_LENGTH = 512
MAX_EXTENSION_LENGTH = 32
MAX_UUID_LENGTH = 128
JSON_DEPTH_LIMIT = 1024  # orjson refuses documents nested deeper
INT64_MAX = 2**63 - 1
BASE_TIME = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)

EXAMPLES_OF_MUTATIONS = 100
EXAMPLES_OF_JUNK = 60

Path = tuple[str | int, ...]


class Fate(enum.Enum):
    """Where a body answered 200 must be."""

    STORED = "stored in raw_events"
    QUARANTINED = "quarantined"
    EITHER = "stored or quarantined (not predicted)"


def combined(fates: Sequence[Fate]) -> Fate:
    """One field the envelope cannot take quarantines the body; only fields it takes store it."""
    if Fate.QUARANTINED in fates:
        return Fate.QUARANTINED
    if all(fate is Fate.STORED for fate in fates):
        return Fate.STORED
    return Fate.EITHER


class Role(enum.Enum):
    """What the ingest path makes of a field (service/webhooks/envelope.py)."""

    REQUIRED_ID = enum.auto()  # a non-empty string of at most `limit` characters, no NUL
    OPTIONAL_ID = enum.auto()  # absent, null, or a string or integer of at most `limit` characters
    EVENT = enum.auto()  # the event path: its suffix decides the kind, it may name an extension
    SEQUENCE = enum.auto()  # an integer in [0, 2**63 - 1]
    TIME = enum.auto()  # ISO 8601 with a zone, in [2000, 2100) UTC
    BODY = enum.auto()  # the object that holds the body fields the kind needs
    PARTIES = enum.auto()  # the first party's id is read from it when it is a list of objects
    FREE = enum.auto()  # not read when storing: anything goes


@dataclass(frozen=True, slots=True)
class Slot:
    role: Role
    limit: int = 0  # the column size of an id


@dataclass(frozen=True, slots=True)
class Shape:
    """A kind of valid notification and the fields a mutation may touch."""

    name: str
    build: Callable[[], dict[str, Any]]
    slots: Mapping[Path, Slot]
    event_suffix: str
    needs_body: bool


def _voicemail() -> dict[str, Any]:
    call = CallBuilder(f"faults-vm-{uuid_module.uuid4().hex}", BASE_TIME)
    return call.voicemail_notification(ALICE, created_offset=30.0, vm_duration=12)


def _presence() -> dict[str, Any]:
    return {
        "uuid": f"presence-{uuid_module.uuid4().hex}",
        "event": f"/restapi/v1.0/account/{ACCOUNT}/extension/{ALICE}/presence",
        "timestamp": "2026-11-02T14:00:01.000Z",
        "subscriptionId": "0b8e4d7a-4a52-4bfb-9d53-77ad37c0c0f5",
        "ownerId": ALICE,
        "body": {"extensionId": ALICE, "telephonyStatus": "Ringing", "sequence": 7},
    }


def _telephony() -> dict[str, Any]:
    return telephony_notification()


FREE = Slot(Role.FREE)
COMMON_SLOTS: dict[Path, Slot] = {
    ("uuid",): Slot(Role.REQUIRED_ID, MAX_UUID_LENGTH),
    ("event",): Slot(Role.EVENT),
    ("subscriptionId",): Slot(Role.OPTIONAL_ID, 64),
    ("ownerId",): Slot(Role.OPTIONAL_ID, 32),
    ("timestamp",): FREE,
    ("junk",): FREE,
}
TELEPHONY = Shape(
    "telephony",
    _telephony,
    COMMON_SLOTS
    | {
        ("body",): Slot(Role.BODY),
        ("body", "sequence"): Slot(Role.SEQUENCE),
        ("body", "telephonySessionId"): Slot(Role.REQUIRED_ID, 128),
        ("body", "eventTime"): Slot(Role.TIME),
        ("body", "sessionId"): FREE,
        ("body", "origin"): FREE,
        ("body", "junk"): FREE,
        ("body", "parties"): Slot(Role.PARTIES),
        ("body", "parties", 0): Slot(Role.PARTIES),
        ("body", "parties", 0, "id"): Slot(Role.OPTIONAL_ID, 128),
        ("body", "parties", 0, "status"): FREE,
        ("body", "parties", 0, "extensionId"): FREE,
        ("body", "parties", 0, "missedCall"): FREE,
    },
    "/telephony/sessions",
    needs_body=True,
)
VOICEMAIL = Shape(
    "voicemail",
    _voicemail,
    COMMON_SLOTS
    | {
        ("body",): Slot(Role.BODY),
        ("body", "creationTime"): Slot(Role.TIME),
        ("body", "id"): FREE,
        ("body", "from"): FREE,
        ("body", "attachments"): FREE,
        ("body", "junk"): FREE,
    },
    "/voicemail",
    needs_body=True,
)
PRESENCE = Shape(
    "presence",
    _presence,
    COMMON_SLOTS | {("body",): FREE, ("body", "telephonyStatus"): FREE, ("body", "sequence"): FREE},
    "/presence",
    needs_body=False,
)
SHAPES = (TELEPHONY, TELEPHONY, TELEPHONY, VOICEMAIL, PRESENCE)


# --- what the envelope makes of a value ------------------------------------------------------


def _as_parsed(value: Any) -> Any:
    """The value as the service's JSON parser reads it back: integers outside
    [-2**63, 2**64 - 1] come back as floats."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return float(value)
    return value


def _storable_id(value: str, limit: int) -> bool:
    return 0 < len(value) <= limit and "\x00" not in value


def fate_of(shape: Shape, slot: Slot, value: Any) -> Fate:
    """The fate of a notification whose field in `slot` now holds `value` (a JSON value as
    parsed), everything else being valid."""
    value = _as_parsed(value)
    role = slot.role
    if role is Role.FREE:
        return Fate.STORED
    if role is Role.REQUIRED_ID:
        ok = isinstance(value, str) and _storable_id(value, slot.limit)
        return Fate.STORED if ok else Fate.QUARANTINED
    if role is Role.OPTIONAL_ID:
        if value is None or value == "":
            return Fate.STORED
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        ok = isinstance(value, str) and _storable_id(value, slot.limit)
        return Fate.STORED if ok else Fate.QUARANTINED
    if role is Role.EVENT:
        if not isinstance(value, str) or not _storable_id(value, MAX_EVENT_LENGTH):
            return Fate.QUARANTINED
        return Fate.EITHER  # another path may make it another kind, with other needs
    if role is Role.SEQUENCE:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX
        return Fate.STORED if ok else Fate.QUARANTINED
    if role is Role.TIME:
        return Fate.EITHER if isinstance(value, str) else Fate.QUARANTINED
    if role is Role.BODY:
        return Fate.QUARANTINED if shape.needs_body else Fate.STORED
    # PARTIES: a first party that is an object has its id read
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return Fate.EITHER
    return Fate.STORED


def fate_of_moment(moment: datetime) -> Fate:
    """An event time inside the accepted calendar is stored, any other is quarantined."""
    if moment.tzinfo is None:
        return Fate.QUARANTINED
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        return Fate.QUARANTINED
    return Fate.STORED if EARLIEST_EVENT <= utc < LATEST_EVENT else Fate.QUARANTINED


# --- mutations -------------------------------------------------------------------------------


class _Removed:
    def __repr__(self) -> str:
        return "<removed>"


REMOVED = _Removed()


@dataclass(frozen=True, slots=True)
class Raw:
    """JSON text written as it is in place of a value (numbers json cannot write, deep nesting,
    bytes that are not UTF-8, invalid escapes)."""

    text: bytes


@dataclass(frozen=True, slots=True)
class Unique:
    """A string of exactly `length` characters that no other request sends: a fresh prefix, then
    `filler` repeated."""

    length: int
    filler: str

    def render(self) -> str:
        head = "u" + uuid_module.uuid4().hex
        return (head + self.filler * self.length)[: self.length]


@dataclass(frozen=True, slots=True)
class Mutation:
    path: Path
    what: str
    value: Any  # a JSON value, REMOVED, Raw or Unique
    fate: Fate

    def __repr__(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:80] + "..."
        return f"{'.'.join(map(str, self.path))}: {self.what} {shown} -> {self.fate.name}"


WRONG_TYPES: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, "", [], {}, [1, "x"], {"a": None})
NUMBERS = (
    "0",
    "-0",
    "-1",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "1e308",
    "1E-400",
    "-0.0",
    "1.0e2",
)
UNPARSEABLE_NUMBERS = ("1e400", "-1e400")
NOT_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xc0\xaf",
    b"\xed\xa0\x80",  # a UTF-16 surrogate, encoded
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xe2\x82",  # cut short
    b"caf\xe9",  # latin-1
)
NOT_JSON_STRINGS = (
    b"\x00",  # a raw NUL inside a string
    b"line\nbreak",
    b"\x1f",
    b"\\ud800",  # a lone surrogate escape
    b"\\udc00x",
    b"\\ud800\\u0041",
    b"\\x41",
    b"\\u12",
)
MALFORMED_TIMES: tuple[tuple[str, Fate], ...] = (
    ("", Fate.QUARANTINED),
    ("yesterday", Fate.QUARANTINED),
    ("2026-13-01T00:00:00Z", Fate.QUARANTINED),
    ("2026-02-30T00:00:00Z", Fate.QUARANTINED),
    ("2026-11-02T25:00:00Z", Fate.QUARANTINED),
    ("2026-11-02T14:60:00Z", Fate.QUARANTINED),
    ("2026-11-02T14:00:00+24:00", Fate.QUARANTINED),
    ("2026-11-02T14:00:00+99:99", Fate.QUARANTINED),
    ("2026-11-02T14:00:00+23:59:60", Fate.QUARANTINED),
    ("10000-01-01T00:00:00Z", Fate.QUARANTINED),
    ("0000-01-01T00:00:00Z", Fate.QUARANTINED),
    ("-2026-11-02T14:00:00Z", Fate.QUARANTINED),
    ("2026-11-02T14:00:00ZZ", Fate.QUARANTINED),
    ("2026-11-02T14:00:00", Fate.QUARANTINED),  # no zone
    ("1700000000", Fate.QUARANTINED),
    ("T14:00:00Z", Fate.QUARANTINED),
    ("2026-11-02T14:00:00+05", Fate.STORED),
    ("2026-11-02 14:00:00Z", Fate.STORED),
    ("0001-01-01T00:00:00Z", Fate.QUARANTINED),
    ("9999-12-31T23:59:59.999999Z", Fate.QUARANTINED),
    ("9999-12-31T23:59:59-23:59", Fate.QUARANTINED),  # past the calendar's end in UTC
    ("0001-01-01T00:00:00+23:59", Fate.QUARANTINED),  # before its start in UTC
)
EDGE_MOMENTS = (
    datetime(1, 1, 1),
    datetime(1970, 1, 1),
    datetime(1999, 12, 31, 23, 59, 59, 999999),
    datetime(2000, 1, 1),
    datetime(2026, 11, 2, 14),
    datetime(2099, 12, 31, 23, 59, 59, 999999),
    datetime(2100, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59, 999999),
)
LARGEST_OFFSET_US = 24 * 3600 * 10**6 - 1

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def moments(draw: st.DrawFn) -> tuple[str, Fate]:
    """An ISO 8601 time anywhere in Python's calendar, with any zone offset (or none), in any of
    the forms `datetime.fromisoformat` reads, and its fate as an event time."""
    moment = draw(
        st.sampled_from(EDGE_MOMENTS)
        | st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
    )
    offset_us = draw(
        st.none()
        | st.just(0)
        | st.sampled_from([LARGEST_OFFSET_US, -LARGEST_OFFSET_US, 3600 * 10**6, -60 * 10**6])
        | st.integers(-LARGEST_OFFSET_US, LARGEST_OFFSET_US)
    )
    if offset_us is not None:
        moment = moment.replace(tzinfo=timezone(timedelta(microseconds=offset_us)))
    timespec = draw(st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]))
    text = moment.isoformat(sep=draw(st.sampled_from("T ")), timespec=timespec)
    if offset_us == 0 and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    # the time the text says (the timespec may have cut the fraction of a second off)
    return text, fate_of_moment(datetime.fromisoformat(text))


@st.composite
def event_paths(draw: st.DrawFn, shape: Shape) -> Mutation:
    """An event path of the shape's kind: account-wide, naming an extension id of any length,
    or with a query string of any length; stored when the path and the id fit their columns."""
    segment = st.text(st.characters(codec="utf-8", exclude_characters="/?\x00"), max_size=8)
    form = draw(st.sampled_from(["account", "extension", "query"]))
    if form == "account":
        event = f"/restapi/v1.0/account/{draw(segment)}{shape.event_suffix}"
        extension = ""
    elif form == "extension":
        length = draw(st.sampled_from([0, 1, MAX_EXTENSION_LENGTH, MAX_EXTENSION_LENGTH + 1, 600]))
        extension = (draw(segment) + "9" * length)[:length] if length else draw(segment)
        event = f"/restapi/v1.0/account/~/extension/{extension}{shape.event_suffix}"
    else:
        base = f"/restapi/v1.0/account/{ACCOUNT}/extension/{ALICE}{shape.event_suffix}?"
        room = MAX_EVENT_LENGTH - len(base)
        length = draw(st.sampled_from([0, 10, room, room + 1, 5000]))
        query = draw(st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=5))
        event = base + (query + "q" * length)[:length]
        extension = ALICE
    fits = len(event) <= MAX_EVENT_LENGTH and len(extension) <= MAX_EXTENSION_LENGTH
    return Mutation(("event",), form, event, Fate.STORED if fits else Fate.QUARANTINED)


@st.composite
def mutations(draw: st.DrawFn, shape: Shape) -> Mutation:
    path = draw(st.sampled_from(sorted(shape.slots, key=repr)))
    slot = shape.slots[path]
    kinds = ["remove", "wrong type", "nul", "number", "nested", "bytes", "junk"]
    if slot.role is Role.EVENT:
        kinds += ["event path"] * 3
    else:
        kinds += ["long string"]
    if slot.role in (Role.TIME, Role.FREE):
        kinds += ["moment"] * (4 if slot.role is Role.TIME else 1)
    kind = draw(st.sampled_from(kinds))
    if kind == "event path":
        return draw(event_paths(shape))
    if kind == "remove":
        gone = slot.role in (Role.OPTIONAL_ID, Role.PARTIES, Role.FREE) or (
            slot.role is Role.BODY and not shape.needs_body
        )
        return Mutation(path, kind, REMOVED, Fate.STORED if gone else Fate.QUARANTINED)
    if kind == "wrong type":
        value = draw(st.sampled_from(WRONG_TYPES))
        return Mutation(path, kind, value, fate_of(shape, slot, value))
    if kind == "long string":
        limits = [slot.limit, slot.limit + 1] if slot.limit else [1]
        length = draw(st.sampled_from([*limits, 4096, 100_000]))
        filler = draw(
            st.text(
                st.characters(codec="utf-8", exclude_characters="\x00"),
                min_size=1,
                max_size=3,
            )
        )
        unique = Unique(length, filler)
        # starting with "u", it is no time either
        fate = Fate.QUARANTINED if slot.role is Role.TIME else fate_of(shape, slot, "u" * length)
        return Mutation(path, kind, unique, fate)
    if kind == "nul":
        text = draw(st.sampled_from(["\x00", "a\x00", "\x00b", "2026-11-02T14:00:00\x00Z"]))
        fate = fate_of(shape, slot, text)
        if slot.role is Role.TIME:
            fate = Fate.EITHER  # Python's fromisoformat reads some times with a NUL in them
        return Mutation(path, kind, text, fate)
    if kind == "moment":
        text, moment_fate = draw(moments() | st.sampled_from(MALFORMED_TIMES))
        fate = moment_fate if slot.role is Role.TIME else Fate.STORED
        return Mutation(path, kind, text, fate)
    if kind == "number":
        literal = draw(
            st.sampled_from(NUMBERS + UNPARSEABLE_NUMBERS) | st.integers(-(2**70), 2**70).map(str)
        )
        if literal in UNPARSEABLE_NUMBERS:
            return Mutation(path, kind, Raw(literal.encode()), Fate.QUARANTINED)
        parsed = json.loads(literal)
        return Mutation(path, kind, Raw(literal.encode()), fate_of(shape, slot, parsed))
    if kind == "nested":
        room = JSON_DEPTH_LIMIT - len(path)
        depth = draw(st.sampled_from([1, 40, room, room + 1, 50_000]))
        nested = Raw(b"[" * depth + b"]" * depth)
        if len(path) + depth > JSON_DEPTH_LIMIT:
            return Mutation(path, kind, nested, Fate.QUARANTINED)
        return Mutation(path, kind, nested, fate_of(shape, slot, [[]] if depth > 1 else []))
    if kind == "bytes":
        junk = draw(
            st.sampled_from(NOT_UTF8 + NOT_JSON_STRINGS)
            | st.binary(min_size=1, max_size=6).filter(_not_utf8)
        )
        return Mutation(path, kind, Raw(b'"' + junk + b'"'), Fate.QUARANTINED)
    value = draw(json_values)
    # a junk uuid may be one already stored: a duplicate, acknowledged and not stored again
    fate = Fate.EITHER if path == ("uuid",) else fate_of(shape, slot, value)
    return Mutation(path, kind, value, fate)


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False


@dataclass(frozen=True, slots=True)
class BadRequest:
    shape: Shape
    mutations: tuple[Mutation, ...]
    content_type: str | None
    ascii_only: bool


@st.composite
def bad_requests(draw: st.DrawFn) -> BadRequest:
    shape = draw(st.sampled_from(SHAPES))
    changes = draw(st.lists(mutations(shape), min_size=1, max_size=3))
    content_type = draw(st.sampled_from([*JSON_TYPES * 3, *NOT_JSON_TYPES, None]))
    return BadRequest(shape, tuple(changes), content_type, draw(st.booleans()))


# --- building and sending --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """One request of an example and what it must get."""

    label: str
    body: bytes
    content_type: str | None
    status: int  # the status it must get
    fate: Fate  # where it must be if answered 200

    def describe(self) -> str:
        shown = self.body if len(self.body) <= 600 else self.body[:600] + b"..."
        return (
            f"{self.label}\n  content-type: {self.content_type!r}, {len(self.body)} bytes: "
            f"{shown!r}"
        )


def _parent(document: Any, path: Path) -> Any:
    """The container holding `path`'s last step, or None when the path no longer exists."""
    node = document
    for step in path[:-1]:
        node = _child(node, step)
        if node is None:
            return None
    return node


def _child(node: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return node[step] if isinstance(node, list) and step < len(node) else None
    return node.get(step) if isinstance(node, dict) else None


def _applies(container: Any, step: str | int) -> bool:
    if isinstance(step, int):
        return isinstance(container, list) and step < len(container)
    return isinstance(container, dict)


def render(request: BadRequest, max_body_bytes: int) -> Sent:
    """The notification with the mutations applied, in order (one whose field's parent a
    previous mutation replaced changes nothing), its bytes and what it must get."""
    document = request.shape.build()
    fates: dict[Path, Fate] = {}
    raw: dict[str, bytes] = {}
    for mutation in request.mutations:
        container = _parent(document, mutation.path)
        step = mutation.path[-1]
        if container is None or not _applies(container, step):
            continue
        if mutation.value is REMOVED:
            if isinstance(step, int):
                del container[step]
            else:
                container.pop(step, None)
        else:
            value = mutation.value
            if isinstance(value, Unique):
                value = value.render()
            elif isinstance(value, Raw):
                token = f"@@raw-{len(raw)}-{uuid_module.uuid4().hex}@@"
                raw[token] = value.text
                value = token
            container[step] = value
        for path in [p for p in fates if p[: len(mutation.path)] == mutation.path]:
            del fates[path]  # overwritten with their parent
        fates[mutation.path] = mutation.fate
    body = json.dumps(document, ensure_ascii=request.ascii_only).encode()
    for token, text in raw.items():  # gone if its container was replaced after it was set
        body = body.replace(f'"{token}"'.encode(), text)
    label = f"{request.shape.name} with {list(request.mutations)}"
    if not _is_json(request.content_type):
        return Sent(label, body, request.content_type, 415, Fate.EITHER)
    if len(body) > max_body_bytes:
        return Sent(label, body, request.content_type, 413, Fate.EITHER)
    return Sent(label, body, request.content_type, 200, combined(list(fates.values())))


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type in JSON_TYPES


def valid_notifications(count: int) -> list[Sent]:
    """Fresh, valid notifications of each shape, to be stored exactly once."""
    sent = []
    for index in range(count):
        shape = SHAPES[index % len(SHAPES)]
        body = orjson.dumps(shape.build())
        sent.append(Sent(f"valid {shape.name}", body, "application/json", 200, Fate.STORED))
    return sent


async def send_all(base_url: str, requests: Sequence[Sent]) -> list[httpx.Response]:
    """Every request at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def one(sent: Sent) -> httpx.Response:
            headers = {"Verification-Token": WEBHOOK_TOKEN}
            if sent.content_type is not None:
                headers["Content-Type"] = sent.content_type
            return await client.post(WEBHOOK_PATH, content=sent.body, headers=headers)

        return list(await asyncio.gather(*(one(sent) for sent in requests)))


# --- checking --------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the service acknowledged over all examples of a test: uuid -> stored payload, and
    how many bodies were quarantined."""

    stored: dict[str, str] = field(default_factory=dict)
    quarantined: int = 0
    last_quarantine_id: int = 0


def uuid_in(body: bytes) -> str | None:
    """The uuid a body would be stored under, if it is one a column can hold."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    uuid = document.get("uuid") if isinstance(document, dict) else None
    return uuid if isinstance(uuid, str) and _storable_id(uuid, MAX_UUID_LENGTH) else None


def has_usable_envelope(body: bytes) -> bool:
    """The service's own reading, used only to accept a duplicate (a body whose uuid was already
    stored under another payload is acknowledged and not stored again)."""
    try:
        read_envelope(orjson.loads(body))
    except (orjson.JSONDecodeError, EnvelopeError):
        return False
    return True


async def stored_payloads(engine: AsyncEngine, uuids: set[str]) -> dict[str, str]:
    if not uuids:
        return {}
    async with engine.connect() as connection:
        query = select(raw_events.c.uuid, raw_events.c.payload).where(
            raw_events.c.uuid.in_(sorted(uuids))
        )
        return {row.uuid: row.payload for row in await connection.execute(query)}


async def quarantined_after(engine: AsyncEngine, last_id: int) -> list[tuple[int, bytes]]:
    async with engine.connect() as connection:
        query = select(quarantined_events.c.id, quarantined_events.c.payload).where(
            quarantined_events.c.id > last_id
        )
        return [(int(row.id), bytes(row.payload)) for row in await connection.execute(query)]


async def table_counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as connection:
        events = await connection.scalar(select(func.count()).select_from(raw_events))
        held = await connection.scalar(select(func.count()).select_from(quarantined_events))
        return int(events or 0), int(held or 0)


async def send_and_check(
    service: LiveService, engine: AsyncEngine, ledger: Ledger, requests: Sequence[Sent]
) -> None:
    for sent in requests:
        hypothesis.event(f"sends {sent.status} {sent.fate.name if sent.status == 200 else ''}")
    responses = await send_all(service.server.base_url, requests)
    for sent, response in zip(requests, responses, strict=True):
        assert response.status_code < 500, f"{response.status_code} {response.text}\n" + (
            sent.describe()
        )
        assert response.status_code == sent.status, (
            f"expected {sent.status}, got {response.status_code} {response.text}\n"
            + sent.describe()
        )

    uuids = {uuid for sent in requests if (uuid := uuid_in(sent.body)) is not None}
    payloads = await stored_payloads(engine, uuids)
    new_rows = await quarantined_after(engine, ledger.last_quarantine_id)
    expected_quarantine: Counter[bytes] = Counter()
    not_stored = []
    for sent in requests:
        uuid = uuid_in(sent.body)
        text = sent.body.decode(errors="replace")
        stored_as_sent = uuid is not None and payloads.get(uuid) == text
        if sent.status != 200:
            assert not stored_as_sent, "refused, yet stored:\n" + sent.describe()
        elif stored_as_sent:
            assert uuid is not None
            assert sent.fate is not Fate.QUARANTINED, (
                "stored, but its envelope cannot be stored:\n" + sent.describe()
            )
            ledger.stored[uuid] = text
        else:
            not_stored.append((sent, uuid))
    for sent, uuid in not_stored:
        if sent.fate is Fate.STORED:
            pytest.fail(
                f"answered 200 but not stored under uuid {uuid!r} "
                f"(found {payloads.get(uuid or '')!r:.200}):\n" + sent.describe()
            )
        elif sent.fate is Fate.EITHER and uuid in payloads and has_usable_envelope(sent.body):
            assert uuid in ledger.stored, "duplicate of a uuid never acknowledged"
        else:
            expected_quarantine[sent.body] += 1

    found = Counter(payload for _, payload in new_rows)
    missing = expected_quarantine - found
    extra = found - expected_quarantine
    assert not missing, "answered 200, neither stored nor quarantined:\n" + "\n".join(
        next(sent.describe() for sent in requests if sent.body == body) for body in missing
    )
    assert not extra, f"quarantined without a request that should be: {list(extra)!r:.2000}"
    if new_rows:
        ledger.last_quarantine_id = max(row_id for row_id, _ in new_rows)
    ledger.quarantined += len(new_rows)
    assert await table_counts(engine) == (len(ledger.stored), ledger.quarantined)


def interleave(bad: Sequence[Sent], valid: Sequence[Sent], shuffle: Random) -> list[Sent]:
    requests = [*bad, *valid]
    shuffle.shuffle(requests)
    return requests


# --- fixtures and tests ----------------------------------------------------------------------


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


# The service, the engine and the ledger are made once per test and shared by its examples: the
# examples are one long session against one service, as RingCentral's deliveries would be.
EXAMPLE_SETTINGS = hypothesis.settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@hypothesis.settings(EXAMPLE_SETTINGS, max_examples=EXAMPLES_OF_MUTATIONS)
@given(
    bad=st.lists(bad_requests(), min_size=1, max_size=10),
    valid=st.integers(1, 6),
    shuffle=st.randoms(use_true_random=False),
)
async def test_mutated_notifications_are_stored_or_quarantined_never_lost(
    service: LiveService,
    settings: Settings,
    engine: AsyncEngine,
    ledger: Ledger,
    bad: list[BadRequest],
    valid: int,
    shuffle: Random,
) -> None:
    requests = interleave(
        [render(request, settings.max_body_bytes) for request in bad],
        valid_notifications(valid),
        shuffle,
    )
    await send_and_check(service, engine, ledger, requests)


FRESH_UUIDS = st.uuids().map(str)
ENVELOPE_EVENTS = st.sampled_from(
    [
        f"/restapi/v1.0/account/{ACCOUNT}/telephony/sessions",
        f"/restapi/v1.0/account/{ACCOUNT}/extension/{ALICE}/telephony/sessions",
        f"/restapi/v1.0/account/{ACCOUNT}/extension/{ALICE}/voicemail",
        f"/restapi/v1.0/account/{ACCOUNT}/extension/{ALICE}/presence",
        "/restapi/v1.0/subscription/~?threshold=86400&interval=3600",
    ]
)
envelope_like: st.SearchStrategy[Any] = st.fixed_dictionaries(
    {},
    optional={
        "uuid": FRESH_UUIDS | json_values,
        "event": ENVELOPE_EVENTS | json_values,
        "subscriptionId": st.text(max_size=70) | json_values,
        "ownerId": st.text(max_size=40) | json_values,
        "body": st.fixed_dictionaries(
            {},
            optional={
                "telephonySessionId": FRESH_UUIDS | json_values,
                "sequence": st.integers(-5, 2**64) | json_values,
                "eventTime": moments().map(lambda moment: moment[0]) | json_values,
                "creationTime": moments().map(lambda moment: moment[0]) | json_values,
                "parties": st.lists(
                    st.fixed_dictionaries({}, optional={"id": st.text() | json_values}),
                    max_size=2,
                )
                | json_values,
            },
        )
        | json_values,
    },
)
RAW_DOCUMENTS = (
    b"",
    b" ",
    b"null",
    b"{",
    b'{"uuid": "1", "event": ',
    b"\xef\xbb\xbf{}",
    b"[" * 2000 + b"]" * 2000,
    b'{"uuid": "a", "uuid": "b", "event": "x"}',
    b"1e400",
)


@st.composite
def junk_bodies(draw: st.DrawFn) -> Sent:
    kind = draw(st.sampled_from(["json", "envelope", "envelope", "bytes", "raw"]))
    if kind == "bytes":
        body = draw(st.binary(max_size=200))
    elif kind == "raw":
        body = draw(st.sampled_from(RAW_DOCUMENTS))
    else:
        value = draw(json_values if kind == "json" else envelope_like)
        body = json.dumps(value, ensure_ascii=draw(st.booleans())).encode()
    content_type = draw(st.sampled_from(JSON_TYPES))
    return Sent(f"{kind} junk", body, content_type, 200, Fate.EITHER)


@hypothesis.settings(EXAMPLE_SETTINGS, max_examples=EXAMPLES_OF_JUNK)
@given(
    bad=st.lists(junk_bodies(), min_size=1, max_size=10),
    valid=st.integers(1, 6),
    shuffle=st.randoms(use_true_random=False),
)
async def test_arbitrary_json_is_stored_or_quarantined_never_lost(
    service: LiveService,
    engine: AsyncEngine,
    ledger: Ledger,
    bad: list[Sent],
    valid: int,
    shuffle: Random,
) -> None:
    requests = interleave(bad, valid_notifications(valid), shuffle)
    await send_and_check(service, engine, ledger, requests)
