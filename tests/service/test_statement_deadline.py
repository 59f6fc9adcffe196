"""The time limit on each statement of an API request (service/db/deadline.py): a statement past
it fails as a statement timeout, on both databases, and the pooled connection carries no limit
once the request is over; and the PostgreSQL connections carry `backend_flush_after`."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy import text

from service.db.deadline import is_statement_timeout, statement_time_limit
from service.db.engine import create_engine
from service.settings import Settings
from tests.support.databases import PostgresTestDatabase

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


@pytest.mark.parametrize("flush_after_kb", [256, 0])
async def test_postgres_connections_carry_the_backend_flush_after_setting(
    postgres_database: PostgresTestDatabase, flush_after_kb: int
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=postgres_database.url,
        db_backend_flush_after_kb=flush_after_kb,
    )
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            shown = await connection.scalar(text("SHOW backend_flush_after"))
    finally:
        await engine.dispose()
    assert shown == ("256kB" if flush_after_kb else "0")
