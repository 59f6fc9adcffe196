"""`GET /v1/calls.csv`: every outcome field of the calls /v1/calls would list, streamed as CSV.

Rows are read in keyset pages and written as they come, so an export of any size holds one page
in memory. RFC 4180 quoting comes from the csv module; list fields are joined with `;`. A cell a
spreadsheet would read as a formula is neutralised (OWASP, CSV injection): see `neutralised`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api import queries
from service.api.cursors import CallsCursor
from service.api.deps import ERROR_RESPONSES, read_connection
from service.api.documents import outcome_dict
from service.api.params import call_filters
from service.api.queries import CallFilters

router = APIRouter(tags=["calls"])

PAGE = 1000
COLUMNS = (
    "telephony_session_id",
    "direction",
    "category",
    "reason",
    "stage",
    "is_abandoned",
    "final",
    "started_at",
    "answered_at",
    "ended_at",
    "ring_s",
    "wait_s",
    "talk_s",
    "hold_s",
    "voicemail_s",
    "time_to_abandon_s",
    "queue",
    "extension_ids",
    "from_number",
    "to_number",
    "evidence",
    "data_gaps",
    "sources",
    "reconciliation",
    "legs",
    "rules_version",
    "thresholds",
    "revision",
    "updated_at",
    # added after the first release: at the end, so columns read by position keep their place
    "category_label",
    "names",
    "recovered_at",
    "recovered_by",
    "time_to_recovery_s",
)
LIST_SEPARATOR = ";"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralised(text: str) -> str:
    """`text` with a leading `'` when a spreadsheet would read it as a formula (it starts with
    `=`, `+`, `-`, `@`, tab or CR), per OWASP's CSV-injection guidance. A plain signed number
    (`+16505550101`, `-3`) is left as it is: it cannot run anything."""
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def cell(value: Any) -> str:
    """One CSV cell: lists joined with `;`, legs as `party_id:extension_id:outcome`, thresholds
    as `name=value`, booleans as true/false, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return LIST_SEPARATOR.join(f"{k}={cell(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return LIST_SEPARATOR.join(_item(item) for item in value)
    return str(value)


def _item(item: Any) -> str:
    if isinstance(item, dict):
        parts = (item.get("party_id"), item.get("extension_id"), item.get("outcome"))
        return ":".join(cell(part) for part in parts)
    return cell(item)


def render(rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


async def csv_lines(connection: AsyncConnection, filters: CallFilters) -> AsyncIterator[str]:
    yield render([list(COLUMNS)])
    after: CallsCursor | None = None
    while True:
        rows = await queries.list_calls(connection, filters, after=after, limit=PAGE)
        outcomes = (outcome_dict(row.document, row.storage) for row in rows)
        yield render(
            [neutralised(cell(outcome.get(column))) for column in COLUMNS] for outcome in outcomes
        )
        last = rows[-1] if rows else None
        if last is None or len(rows) < PAGE or last.started_at is None:
            return
        after = CallsCursor(last.started_at, last.telephony_session_id)


@router.get(
    "/calls.csv",
    response_class=StreamingResponse,
    responses={
        **ERROR_RESPONSES,
        200: {
            "description": "CSV with a header row; one call per row, newest first.",
            "content": {
                "text/csv": {
                    "example": "telephony_session_id,direction,category,...\r\n"
                    "s-52e839cb,inbound,abandoned_queue,...\r\n"
                }
            },
        },
    },
    summary="Export call outcomes as CSV (streamed)",
)
async def export_calls(
    connection: Annotated[AsyncConnection, Depends(read_connection)],
    filters: Annotated[CallFilters, Depends(call_filters)],
) -> StreamingResponse:
    """Same filters as /v1/calls, no paging: every matching call, streamed."""
    return StreamingResponse(
        csv_lines(connection, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="calls.csv"'},
    )
