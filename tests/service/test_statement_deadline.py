"""The time limit on each statement of an API request (service/db/deadline.py): a statement past
it fails as a statement timeout, on both databases, and the pooled connection carries no limit
once the request is over."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy import text

from service.db.deadline import is_statement_timeout, statement_time_limit
from service.db.engine import create_engine
from service.settings import Settings

SQLITE_LONG = (  # well over the progress handler's 10,000 steps between checks
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) "
    "SELECT count(*) FROM n"
)
POSTGRES_LONG = "SELECT pg_sleep(0.2)"  # far past the 1 ms limit below


async def test_a_statement_past_the_limit_fails_and_the_connection_goes_back_unlimited(
    settings: Settings,
) -> None:
    one_connection = settings.model_copy(update={"db_pool_size": 1})
    engine = create_engine(one_connection)
    long = text(SQLITE_LONG if settings.is_sqlite else POSTGRES_LONG)
    try:
        async with engine.connect() as connection:
            async with statement_time_limit(connection, 0.001):
                with pytest.raises(sqlalchemy_exc.DBAPIError) as stopped:
                    await connection.execute(long)
            assert is_statement_timeout(stopped.value)
            await connection.rollback()
        async with engine.connect() as connection:  # the same pooled connection
            await connection.execute(long)
            with pytest.raises(sqlalchemy_exc.DBAPIError) as other:
                await connection.execute(text("SELECT * FROM no_such_table"))
            assert not is_statement_timeout(other.value)
    finally:
        await engine.dispose()
