"""`GET /v1/abandoned`: the dashboard poll.

A poll reads one row first: `outcome_changes.last_seq`, the last change number handed out. With
the cached summary (see `summary`) that decides the ETag; a caught-up poll whose `If-None-Match`
matches gets 304 without touching `call_outcomes`. Otherwise the answer lists, in change order,
the outcomes that are or once were abandoned and changed after the cursor (up to `last_seq`, so
a change committed meanwhile is picked up by the next poll, never skipped), flags those no longer
abandoned as `removed`, and hands back the cursor to send next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api import queries
from service.api.callbacks import callback_list, callbacks_etag
from service.api.cursors import BadCursor, decode_changes_cursor, encode_changes_cursor
from service.api.deps import ERROR_RESPONSES, snapshot_connection
from service.api.documents import iso, outcome_fragment
from service.api.params import api_time, invalid
from service.api.poll_request import MAX_LIMIT, MAX_SINCE_CHARS
from service.api.queries import SHORT_ABANDON, ChangeRow
from service.api.running_service import ApiServices, services_of
from service.api.schemas import AbandonedPoll, CallbackList
from service.api.summary import summary_as_of
from service.responses import OrjsonResponse, UtcOrjsonResponse

router = APIRouter(tags=["abandoned"])

FIRST_POLL_LOOKBACK = timedelta(hours=24)
NO_CACHE = {"Cache-Control": "no-cache"}


@dataclass(frozen=True, slots=True)
class Position:
    """Where a poll starts: after a change number, or (first poll) at a time."""

    after_seq: int | None = None
    since_time: datetime | None = None


def parse_since(since: str | None, now: datetime) -> Position:
    if since is None:
        return Position(since_time=now - FIRST_POLL_LOOKBACK)
    try:
        return Position(after_seq=decode_changes_cursor(since))
    except BadCursor:
        pass
    try:
        moment = datetime.fromisoformat(since)
    except ValueError as exc:
        message = "neither a cursor from a previous poll nor an ISO 8601 time"
        raise invalid("since", message) from exc
    return Position(since_time=api_time(moment, "since"))


def make_etag(last_seq: int, summary_digest: str, include_short: bool) -> str:
    return f'"{last_seq}-{summary_digest}-{"s" if include_short else "n"}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates or "*" in candidates


def is_removed(row: ChangeRow, include_short: bool) -> bool:
    return not row.is_abandoned or (not include_short and row.category == SHORT_ABANDON)


async def _changed_rows(
    connection: AsyncConnection,
    position: Position,
    *,
    last_seq: int,
    include_short: bool,
    limit: int,
) -> list[ChangeRow]:
    if position.since_time is not None:
        return await queries.abandoned_updated_since(
            connection,
            since=position.since_time,
            upto_seq=last_seq,
            include_short=include_short,
            limit=limit,
        )
    return await queries.abandoned_changes(
        connection, after_seq=position.after_seq or 0, upto_seq=last_seq, limit=limit
    )


def _answer(
    rows: list[ChangeRow], *, limit: int, last_seq: int, include_short: bool
) -> dict[str, Any]:
    has_more = len(rows) > limit
    page = rows[:limit]
    return {
        "changes": [
            {
                "removed": is_removed(row, include_short),
                "change_seq": row.change_seq,
                "outcome": outcome_fragment(row.document, row.storage),
            }
            for row in page
        ],
        "cursor": encode_changes_cursor(page[-1].change_seq if has_more else last_seq),
        "has_more": has_more,
    }


def _effective_limit(services: ApiServices, limit: int | None) -> int:
    most = services.settings.abandoned_poll_max
    return min(limit, most) if limit is not None else most


@router.get(
    "/abandoned",
    response_model=AbandonedPoll | CallbackList,
    responses={
        **ERROR_RESPONSES,
        200: {
            "headers": {
                "ETag": {
                    "description": "Send it back as If-None-Match with this answer's cursor.",
                    "schema": {"type": "string"},
                }
            }
        },
        304: {
            "description": "Nothing changed since the answer that carried this ETag "
            "(sent only when `since` is that answer's cursor). No body."
        },
    },
    summary="Dashboard poll: abandoned calls changed since the last poll, plus a summary",
)
async def poll_abandoned(
    request: Request,
    connection: Annotated[AsyncConnection, Depends(snapshot_connection)],
    since: Annotated[
        str | None,
        Query(
            description="The `cursor` of the previous answer, or for a first poll an ISO 8601 "
            "time (outcomes abandoned and stored since then). Default: the last 24 h.",
            examples=["WyJhMSIsMTIzNF0", "2026-03-02T00:00:00Z"],
            max_length=MAX_SINCE_CHARS,
        ),
    ] = None,
    include_short: Annotated[
        bool,
        Query(description="Include short abandons (false: they come as `removed`)."),
    ] = True,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_LIMIT,
            description="Most changes (or callback numbers) in one answer (capped by the "
            "service's `abandoned_poll_max`, 500 by default); `has_more` says when to poll "
            "again at once.",
        ),
    ] = None,
    unrecovered: Annotated[
        bool,
        Query(
            description="Answer the callback list instead: one row per caller number whose "
            "abandoned calls of the recovery window no later call has reached, oldest first "
            "(schema `CallbackList`). `since` is ignored: the list is whole each time."
        ),
    ] = False,
    if_none_match: Annotated[
        str | None,
        Header(description="The `ETag` of the previous answer: 304 when nothing changed."),
    ] = None,
) -> Response:
    """Outcomes that became abandoned or were revised since `since`, each flagged `removed` when
    the call no longer counts as abandoned; the next cursor; and a summary of the last hour, the
    last 24 h and today (offered, abandoned, short abandons, abandon rates)."""
    services = services_of(request)
    now = services.clock()
    if unrecovered:
        return await _callbacks(services, connection, include_short, limit, if_none_match, now=now)
    position = parse_since(since, now)
    last_seq = await queries.last_change_seq(connection)
    summary = await services.api.summaries.get(connection, last_seq=last_seq, now=now)
    etag = make_etag(last_seq, summary.digest, include_short)
    caught_up = position.after_seq is not None and position.after_seq >= last_seq
    if caught_up and etag_matches(if_none_match, etag):
        services.metrics.abandoned_polls.labels(result="not_modified").inc()
        return Response(status_code=304, headers={"ETag": etag, **NO_CACHE})
    page_size = _effective_limit(services, limit)
    rows = await _changed_rows(
        connection, position, last_seq=last_seq, include_short=include_short, limit=page_size + 1
    )
    body = _answer(rows, limit=page_size, last_seq=last_seq, include_short=include_short)
    body |= {
        "server_time": iso(now),
        "summary": summary.body,
        "demo": services.settings.demo_mode,
        "abandon_rate_target": services.settings.abandon_rate_target,
    }
    services.metrics.abandoned_polls.labels(result="changed" if rows else "empty").inc()
    return OrjsonResponse(body, headers={"ETag": etag, **NO_CACHE})


async def _callbacks(
    services: ApiServices,
    connection: AsyncConnection,
    include_short: bool,
    limit: int | None,
    if_none_match: str | None,
    *,
    now: datetime,
) -> Response:
    settings = services.settings
    as_of = summary_as_of(now, settings.summary_max_age_s)
    last_seq = await queries.last_change_seq(connection)
    etag = callbacks_etag(last_seq, as_of, include_short)
    if etag_matches(if_none_match, etag):
        services.metrics.abandoned_polls.labels(result="not_modified").inc()
        return Response(status_code=304, headers={"ETag": etag, **NO_CACHE})
    body = await callback_list(
        connection,
        as_of=as_of,
        window=timedelta(seconds=settings.recovery_window_s),
        include_short=include_short,
        limit=_effective_limit(services, limit),
    )
    services.metrics.abandoned_polls.labels(result="callbacks").inc()
    return UtcOrjsonResponse(body, headers={"ETag": etag, **NO_CACHE})
