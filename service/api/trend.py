"""`GET /v1/stats/trend`: a day's calls in 15-minute buckets next to a normal day (the same
weekday of the weeks before); the definitions are in `service.api.trend_report`."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.deps import ERROR_RESPONSES, snapshot_connection
from service.api.params import IsoDate, invalid, parse_zone
from service.api.running_service import services_of
from service.api.schemas import AbandonFigures
from service.api.trend_report import build_trend
from service.responses import OrjsonResponse

router = APIRouter(tags=["stats"])

DEFAULT_WEEKS = 4
MAX_WEEKS = 12
# so that every compared day's local bounds stay within the API's 1970-2200 (UTC) in any zone
FIRST_DATE = date(1970, 1, 2)
LAST_DATE = date(2199, 12, 30)


class NormalFigures(BaseModel):
    """Averages over the compared days that had calls (null when there is none)."""

    offered: float | None = Field(description="Average offered calls.", examples=[12.5])
    answered: float | None
    abandoned: float | None = Field(description="Average L + S.")
    long_abandons: float | None = Field(description="Average L.")
    short_abandons: float | None = Field(description="Average S.")
    abandon_rate: float | None = Field(
        description="Net, from the summed counts: sum L / (sum offered - sum S)."
    )
    abandon_rate_gross: float | None = Field(description="sum (L + S) / sum offered.")
    days: int = Field(description="How many compared days the averages are over.")


class TrendBucket(BaseModel):
    start: datetime = Field(description="Bucket start, with the zone's offset.")
    end: datetime = Field(description="Bucket end (exclusive).")
    local_time: str = Field(
        description="Local wall-clock time of the start (twice in a repeated hour).",
        examples=["09:15"],
    )
    day: AbandonFigures = Field(description="The requested date's figures.")
    normal: NormalFigures = Field(description="The same bucket on a normal day.")


class ComparedDay(BaseModel):
    date: dt.date
    offered: int = Field(description="Offered calls of that whole day.")
    counted: bool = Field(description="True when it had calls, so it is part of the normal day.")


class TrendTotals(BaseModel):
    day: AbandonFigures = Field(description="The whole requested date.")
    normal: NormalFigures = Field(description="A whole normal day.")


class TrendReport(BaseModel):
    date: dt.date = Field(description="The local date reported.")
    tz: str = Field(description="The IANA zone its day and buckets are in.")
    start: datetime = Field(description="Its local midnight.")
    end: datetime = Field(description="The next local midnight (exclusive).")
    as_of: datetime = Field(description="When this was computed: later buckets are still empty.")
    bucket_s: int = Field(description="Bucket length in seconds (900).")
    weeks: int = Field(description="How many previous same weekdays were compared.")
    compared_days: list[ComparedDay] = Field(description="Newest first.")
    buckets: list[TrendBucket] = Field(
        description="Every quarter hour of the day in time order: 96, or 92 / 100 when the "
        "clocks change that day."
    )
    totals: TrendTotals


def _checked(day: date, weeks: int) -> date:
    if day < FIRST_DATE + timedelta(weeks=weeks) or day > LAST_DATE:
        message = f"must be between {FIRST_DATE} and {LAST_DATE}, with `weeks` weeks before it"
        raise invalid("date", message)
    return day


@router.get(
    "/stats/trend",
    response_model=TrendReport,
    responses=ERROR_RESPONSES,
    summary="A day in 15-minute buckets against the same weekday of the weeks before",
)
async def outcome_trend(
    request: Request,
    connection: Annotated[AsyncConnection, Depends(snapshot_connection)],
    day: Annotated[
        IsoDate | None,
        Query(
            alias="date",
            description="The local date (YYYY-MM-DD) in `tz`; default: today there.",
            examples=["2026-03-10"],
        ),
    ] = None,
    tz: Annotated[
        str | None,
        Query(
            description="IANA time zone of the day and its buckets; default: the service's "
            "`report_tz` (`CALLSIFT_REPORT_TZ`).",
            examples=["Europe/Paris"],
        ),
    ] = None,
    weeks: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_WEEKS,
            description="How many previous same weekdays make the normal day.",
            examples=[DEFAULT_WEEKS],
        ),
    ] = DEFAULT_WEEKS,
) -> OrjsonResponse:
    """Per quarter hour of the day: offered, answered, abandoned (gross L + S, net L, short S)
    and the net and gross abandon rates, beside the same figures averaged over the same weekday
    of the `weeks` weeks before that had calls (a normal day)."""
    services = services_of(request)
    zone = parse_zone(tz if tz is not None else services.settings.report_tz)
    now = services.clock()
    report = await build_trend(
        connection,
        day=_checked(day or now.astimezone(zone).date(), weeks),
        weeks=weeks,
        zone=zone,
        sla_s=services.settings.sla_s,
        as_of=now,
    )
    return OrjsonResponse(report)
