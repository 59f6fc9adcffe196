"""The costliest requests an analyst can make: the widest range every grouping accepts, and a
statement that runs past the API's time limit (once, one stats request held the event loop for
105 s and froze the webhook; now the work is bounded and a slow statement is stopped)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Integer, String, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.api import buckets
from service.db.engine import create_engine
from service.db.tables import call_outcomes
from service.settings import Settings
from tests.api.conftest import Api
from tests.api.day import DAY, NEXT_DAY
from tests.api.test_stats import DAY_RANGE, stats

WIDEST = {"from": "1970-01-01T00:00:00Z", "to": "2200-01-01T00:00:00Z"}
YEAR = timedelta(days=365)


class OffsetLookups:
    """Counts the time-zone offset lookups a report makes: the Python work that once grew with
    the range (2 per 3 hours of it, 1.3 million for 1970-2200) on the event loop."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        lookup = buckets.offset_at

        def counted(zone: ZoneInfo, epoch: int) -> int:
            self.count += 1
            return lookup(zone, epoch)

        monkeypatch.setattr(buckets, "offset_at", counted)


@pytest.mark.parametrize("group_by", ["extension", "queue"])
async def test_the_widest_range_of_a_grouping_by_key(
    day_api: Api, group_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extension and queue groups take any range the API accepts, count what the data holds,
    and look up no time-zone offset."""
    lookups = OffsetLookups(monkeypatch)
    widest = await stats(day_api, **WIDEST, group_by=group_by)
    assert lookups.count == 0
    around = {"from": (DAY - YEAR).isoformat(), "to": (NEXT_DAY + YEAR).isoformat()}
    year_around = await stats(day_api, **around, group_by=group_by)
    assert widest["groups"] == year_around["groups"]
    assert widest["totals"] == year_around["totals"]
    assert widest["totals"]["offered"] > 0


@pytest.mark.parametrize(("group_by", "unit"), [("hour", "hours"), ("day", "days")])
async def test_the_most_time_buckets_a_report_may_have(
    day_api: Api, group_by: str, unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """9,999 hours or days (10,000 buckets at most), in a zone with summer time: every bucket is
    there once, in order, and they add up to the totals; one more bucket is refused. The offset
    lookups grow with the buckets, not with the seconds of the range."""
    lookups = OffsetLookups(monkeypatch)
    start = NEXT_DAY - timedelta(**{unit: 9_999})
    report = await stats(
        day_api,
        **{"from": start.isoformat(), "to": NEXT_DAY.isoformat()},
        group_by=group_by,
        tz="America/New_York",
    )
    starts = [group["start"] for group in report["groups"]]
    assert 9_999 <= len(starts) <= 10_000
    assert len(set(starts)) == len(starts)
    assert [group["key"] for group in report["groups"]] == starts
    assert sum(group["offered"] for group in report["groups"]) == report["totals"]["offered"]
    assert report["totals"]["offered"] > 0
    assert lookups.count < 3 * len(starts)
    too_wide = {"from": (start - timedelta(**{unit: 2})).isoformat(), "to": NEXT_DAY.isoformat()}
    refused = await day_api.client.get(
        "/v1/stats/outcomes", params={**too_wide, "group_by": group_by}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["parameter"] == "group_by"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The API with a statement time limit short enough for a test to pass it."""
    return settings.model_copy(update={"processor_enabled": False, "api_statement_timeout_s": 0.5})


@pytest.fixture
async def engine(api_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(api_settings)
    yield engine
    await engine.dispose()


async def test_a_statement_past_the_time_limit_gives_503_query_timeout(
    day_api: Api, engine: AsyncEngine, api_settings: Settings
) -> None:
    """PostgreSQL: a statement that waits behind a lock is cancelled at the limit. SQLite: a
    statement that runs long is interrupted. The next request is served (that the pooled
    connection keeps no limit is tests/service/test_statement_deadline.py's)."""
    params = {**DAY_RANGE, "group_by": "extension"}
    if engine.dialect.name == "postgresql":
        async with engine.connect() as holder:
            await holder.execute(text("LOCK TABLE call_outcomes IN ACCESS EXCLUSIVE MODE"))
            response = await day_api.client.get("/v1/stats/outcomes", params=params)
            await holder.rollback()
    else:
        await _copy_outcomes(engine, copies=400)
        limited = api_settings.model_copy(update={"api_statement_timeout_s": 1e-9})
        day_api.app.state.services.settings = limited
        response = await day_api.client.get("/v1/stats/outcomes", params=params)
        day_api.app.state.services.settings = api_settings
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "query_timeout"
    assert "CALLSIFT_API_STATEMENT_TIMEOUT_S" in error["message"]
    assert (await day_api.client.get("/v1/stats/outcomes", params=params)).status_code == 200


async def _copy_outcomes(engine: AsyncEngine, *, copies: int) -> None:
    """Copies of every stored outcome under new ids (and new change numbers), in one statement."""
    numbers = select(literal(1, Integer).label("n")).cte("numbers", recursive=True)
    copy = numbers.union_all(select(numbers.c.n + 1).where(numbers.c.n < copies))
    source = call_outcomes.c
    columns = []
    for column in call_outcomes.columns:
        if column.name == "telephony_session_id":
            value: Any = source.telephony_session_id + "-copy-" + copy.c.n.cast(String)
        elif column.name == "change_seq":
            value = source.change_seq + copy.c.n.cast(Integer) * 1_000_000
        else:
            value = getattr(source, column.name)
        columns.append(value.label(column.name))
    async with engine.begin() as connection:
        await connection.execute(
            insert(call_outcomes).from_select(
                [column.name for column in call_outcomes.columns],
                select(*columns).select_from(call_outcomes.join(copy, literal(True))),
            )
        )
