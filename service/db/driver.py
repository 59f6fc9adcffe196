"""The asyncpg connection under a pooled SQLAlchemy one, for the few statements that must skip
SQLAlchemy's implicit BEGIN/COMMIT (each round trip counts on the webhook and the poll).

A statement sent there outside a transaction is its own transaction. If anything fails while the
driver connection is in use, the pooled connection is invalidated rather than returned to the
pool: SQLAlchemy did not see the failure and cannot know the connection's state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


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
