"""The asyncpg connection under a pooled SQLAlchemy one, for the few statements that must skip
SQLAlchemy's implicit BEGIN/COMMIT (each round trip counts on the webhook and the poll), and for
reads whose rows SQLAlchemy would cost more to build than the database to find (`DriverQuery`:
a statement compiled once, its records taken as asyncpg decodes them).

A statement sent there outside a transaction is its own transaction. If anything fails while the
driver connection is in use, the pooled connection is invalidated rather than returned to the
pool: SQLAlchemy did not see the failure and cannot know the connection's state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

ASYNCPG: Dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]


@asynccontextmanager
async def asyncpg_connection(connection: AsyncConnection) -> AsyncIterator[Any]:
    pooled = await connection.get_raw_connection()
    driver = pooled.driver_connection
    if driver is None:  # a pooled connection always has one; this keeps the types honest
        msg = "the pooled connection has no driver connection"
        raise RuntimeError(msg)
    try:
        yield driver
    except BaseException:
        pooled.invalidate()
        raise


class DriverQuery:
    """A SELECT built with SQLAlchemy, run on PostgreSQL straight through asyncpg: compiled once
    (its text and the order of its `$n` parameters), each answer's records as asyncpg decodes
    them, without SQLAlchemy's result rows. Elsewhere (SQLite) SQLAlchemy runs it. Parameters
    are `bindparam`s named in the statement; its literals are bound once here."""

    def __init__(self, statement: Select[Any]) -> None:
        compiled = statement.compile(dialect=ASYNCPG)
        self.statement = statement
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())
        self._bound = dict(compiled.params)

    async def fetch(self, connection: AsyncConnection, **values: Any) -> Sequence[Sequence[Any]]:
        if connection.dialect.name != "postgresql":
            rows: Sequence[Sequence[Any]] = (await connection.execute(self.statement, values)).all()
            return rows
        arguments = [values[name] if name in values else self._bound[name] for name in self._names]
        async with asyncpg_connection(connection) as driver:
            records: Sequence[Sequence[Any]] = await driver.fetch(self.sql, *arguments)
        return records
