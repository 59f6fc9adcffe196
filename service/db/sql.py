"""SQL building blocks shared by every area's queries, the same on SQLite and PostgreSQL: the one
place that asks which database it is talking to.

Lists of ids go to PostgreSQL as one array parameter (`= ANY($1)`), so each statement has one
text however many ids it is given: asyncpg and PostgreSQL reuse its prepared plan, and SQLAlchemy
does not render hundreds of bound parameters per call. SQLite, which has no arrays, gets `IN (...)`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    FromClause,
    Select,
    String,
    Table,
    TextClause,
    any_,
    literal,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

SelectT = TypeVar("SelectT", bound=Select[Any])


def is_postgres(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


async def begin_snapshot(connection: AsyncConnection) -> None:
    """Make every later statement of the connection's transaction read one snapshot; the first
    statement sent on it. PostgreSQL: a REPEATABLE READ, READ ONLY transaction. SQLite (WAL):
    an explicit BEGIN, since the driver leaves reads outside a transaction, each with its own
    snapshot; the snapshot is taken at the first read and kept until the rollback."""
    if is_postgres(connection):
        await connection.exec_driver_sql(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
        )
    else:
        await connection.exec_driver_sql("BEGIN")


def insert_on_conflict(
    connection: AsyncConnection, table: Table
) -> postgresql.Insert | sqlite.Insert:
    """The database's own INSERT, which takes `ON CONFLICT ... DO NOTHING | DO UPDATE` (both
    databases spell it the same; `excluded` names the row that was refused)."""
    return postgresql.insert(table) if is_postgres(connection) else sqlite.insert(table)


def insert_ignoring(
    connection: AsyncConnection, table: Table, keys: Sequence[str]
) -> postgresql.Insert | sqlite.Insert:
    """INSERT that skips rows whose `keys` are already stored (another replica, a retry)."""
    return insert_on_conflict(connection, table).on_conflict_do_nothing(index_elements=keys)


def claiming(
    connection: AsyncConnection, statement: SelectT, *, of: FromClause | None = None
) -> SelectT:
    """Rows selected to work on, locked until commit and skipped by other workers on PostgreSQL
    (`FOR UPDATE SKIP LOCKED`). SQLite runs one writing transaction at a time: nothing to add."""
    if is_postgres(connection):
        return statement.with_for_update(skip_locked=True, of=of)
    return statement


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


def postgres_unnest_insert(
    table: Table, columns: Sequence[Column[Any]], suffix: str = ""
) -> TextClause:
    """PostgreSQL's `INSERT ... SELECT FROM unnest(...)` of `columns`: one array per column, bound
    by the column's name, so a batch is one statement with one parameter per column instead of a
    statement per row (SQLAlchemy does no per-row work, PostgreSQL plans once). `suffix` follows
    the SELECT (an `ON CONFLICT` clause)."""
    dialect: Dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in columns)
    arrays = ", ".join(
        f"CAST(:{column.name} AS {column.type.compile(dialect=dialect)}[])" for column in columns
    )
    into = f"INSERT INTO {quote(table.name)} ({names})"
    return text(f"{into} SELECT * FROM unnest({arrays}) {suffix}")  # noqa: S608 (our names)


def as_arrays(columns: Sequence[Column[Any]], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of `postgres_unnest_insert`: each column's values in row order."""
    return {column.name: [row[column.name] for row in rows] for column in columns}
