"""SQL building blocks shared by every area's queries, the same on SQLite and PostgreSQL.

Lists of ids go to PostgreSQL as one array parameter (`= ANY($1)`), so each statement has one
text whatever the batch size: asyncpg and PostgreSQL reuse its prepared plan, and SQLAlchemy does
not render hundreds of bound parameters per call. SQLite, which has no arrays, gets `IN (...)`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, any_, literal
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine


def is_postgres(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


def one_of(
    connection: AsyncConnection,
    column: ColumnElement[Any],
    values: Collection[Any],
    element_type: TypeEngine[Any],
) -> ColumnElement[bool]:
    """`column = ANY(:array)` on PostgreSQL, `column IN (...)` on SQLite."""
    if is_postgres(connection):
        return column == any_(literal(list(values), postgresql.ARRAY(element_type)))
    return column.in_(list(values))


def ids_in(
    connection: AsyncConnection, column: ColumnElement[Any], ids: Collection[int]
) -> ColumnElement[bool]:
    return one_of(connection, column, ids, BigInteger())


def keys_in(
    connection: AsyncConnection, column: ColumnElement[Any], keys: Collection[str]
) -> ColumnElement[bool]:
    return one_of(connection, column, keys, String())
