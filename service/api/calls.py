"""`GET /v1/calls` (filtered, cursor-paginated outcomes) and `GET /v1/calls/{id}` (one call with
its legs and raw event timeline)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers import ParseError, party_events_from_envelope
from service.api import queries
from service.api.cursors import (
    BadCursor,
    CallsCursor,
    decode_calls_cursor,
    encode_calls_cursor,
)
from service.api.deps import ERROR_RESPONSES, read_connection
from service.api.documents import iso, outcome_fragment
from service.api.params import call_filters, invalid
from service.api.queries import CallFilters, EventRow, OutcomeRow
from service.api.schemas import CallDetail, CallPage, ErrorBody
from service.errors import ApiError
from service.responses import OrjsonResponse

router = APIRouter(tags=["calls"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def fragment_of(row: OutcomeRow) -> orjson.Fragment:
    return outcome_fragment(row.document, row.storage)


def parse_cursor(cursor: str | None) -> CallsCursor | None:
    if cursor is None:
        return None
    try:
        return decode_calls_cursor(cursor)
    except BadCursor as exc:
        raise invalid("cursor", "not a cursor from a previous page") from exc


def next_cursor(rows: list[OutcomeRow], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    if last.started_at is None:  # the list query only returns rows with a start time
        return None
    return encode_calls_cursor(CallsCursor(last.started_at, last.telephony_session_id))


@router.get(
    "/calls",
    response_model=CallPage,
    responses=ERROR_RESPONSES,
    summary="List call outcomes, newest first",
)
async def list_calls(
    connection: Annotated[AsyncConnection, Depends(read_connection)],
    filters: Annotated[CallFilters, Depends(call_filters)],
    cursor: Annotated[
        str | None,
        Query(description="`next_cursor` of the previous page.", max_length=512),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 1000).")
    ] = DEFAULT_LIMIT,
) -> OrjsonResponse:
    """Outcomes ordered by `started_at` then `telephony_session_id`, newest first. Pages are
    keyset-based: calls stored while you page never shift or repeat a page."""
    after = parse_cursor(cursor)
    rows = await queries.list_calls(connection, filters, after=after, limit=limit)
    return OrjsonResponse(
        {"items": [fragment_of(row) for row in rows], "next_cursor": next_cursor(rows, limit)}
    )


def timeline(events: list[EventRow]) -> list[dict[str, Any]]:
    """One entry per party snapshot of each stored notification (unreadable ones skipped)."""
    entries: list[dict[str, Any]] = []
    for event in events:
        try:
            parsed = party_events_from_envelope(orjson.loads(event.payload))
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, ParseError):
            continue
        entries.extend(
            {
                "sequence": party.sequence,
                "event_time": iso(party.event_time),
                "received_at": iso(event.received_at),
                "uuid": event.uuid,
                "party_id": party.party_id,
                "extension_id": party.extension_id,
                "direction": party.direction,
                "status_code": party.status_raw,
                "status_reason": party.reason,
                "missed_call": party.missed_call,
            }
            for party in parsed
        )
    return entries


@router.get(
    "/calls/{telephony_session_id}",
    response_model=CallDetail,
    responses={
        **ERROR_RESPONSES,
        404: {"model": ErrorBody, "description": "No outcome for this session (yet)."},
    },
    summary="One call: outcome, legs, raw event timeline and call-log records",
)
async def get_call(
    connection: Annotated[AsyncConnection, Depends(read_connection)],
    telephony_session_id: Annotated[
        str,
        Path(
            description="RingCentral telephonySessionId (a call known only from call-log "
            "records that carry no telephonySessionId: `session:<sessionId>` or "
            "`record:<record id>`).",
            examples=["s-52e839cb4ce5a9aa424d99ef43200490"],
            max_length=128,
        ),
    ],
) -> OrjsonResponse:
    """The stored outcome, its leg rows, every stored notification of the session in sequence
    order with its eventTime, party, status code/reason and arrival time, and its call-log
    records as RingCentral sent them."""
    row = await queries.get_call(connection, telephony_session_id)
    if row is None:
        message = f"no outcome for telephony session {telephony_session_id!r}"
        raise ApiError(404, "not_found", message)
    legs = await queries.legs_of(connection, telephony_session_id)
    events = await queries.events_of(connection, telephony_session_id)
    records = await queries.call_log_of(connection, telephony_session_id)
    return OrjsonResponse(
        {
            "outcome": fragment_of(row),
            "legs": [
                {
                    "party_id": leg.party_id,
                    "extension_id": leg.extension_id,
                    "outcome": leg.outcome,
                    "started_at": iso(leg.started_at),
                }
                for leg in legs
            ],
            "events": timeline(events),
            "call_log": [orjson.Fragment(record) for record in records],
        }
    )
