"""A time limit on each statement of one connection, on both databases (the API's requests).

PostgreSQL: `statement_timeout` set for the connection's transaction only (`set_config(...,
true)`), so the pooled connection goes back with the server-wide default. SQLite has no such
setting: a progress handler, called every few thousand VM steps of a statement, interrupts it
once the statement has run past its limit (each statement's clock starts when it is sent).
Either way the statement fails; `is_statement_timeout` tells that failure from others.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.errors import sqlstate_of
from service.db.sql import is_postgres

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout
SQLITE_INTERRUPTED = "interrupted"
SQLITE_STEPS_PER_CHECK = 10_000


class _SqliteDeadline:
    """The progress handler's state: when the running statement must stop."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    def restart(self, *_args: Any) -> None:
        self.until = time.monotonic() + self.seconds

    def passed(self) -> bool:
        return time.monotonic() > self.until


@asynccontextmanager
async def statement_time_limit(connection: AsyncConnection, seconds: float) -> AsyncIterator[None]:
    """Within the block, every statement on `connection` fails after `seconds`."""
    if is_postgres(connection):
        milliseconds = str(max(1, round(seconds * 1000)))
        await connection.execute(
            text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": milliseconds}
        )
        yield
        return
    driver = (await connection.get_raw_connection()).driver_connection
    sync_connection = connection.sync_connection
    assert driver is not None  # both exist once connected
    assert sync_connection is not None
    deadline = _SqliteDeadline(seconds)
    await driver.set_progress_handler(deadline.passed, SQLITE_STEPS_PER_CHECK)
    event.listen(sync_connection, "before_cursor_execute", deadline.restart)
    try:
        yield
    finally:
        event.remove(sync_connection, "before_cursor_execute", deadline.restart)
        if not connection.closed and not connection.invalidated:
            await driver.set_progress_handler(None, 0)


def is_statement_timeout(error: BaseException) -> bool:
    """Whether a statement failed because it ran past its time limit."""
    if sqlstate_of(error) == QUERY_CANCELED:
        return True
    if isinstance(error, sqlalchemy_exc.OperationalError):
        return str(error.orig) == SQLITE_INTERRUPTED
    return False
