"""Telling a database that is unavailable (down, unreachable, timed out, shutting down) from a
row it refuses for what the row holds: the first is waited for and retried as it is, the second
is isolated so that the other rows go on."""

from __future__ import annotations

from sqlalchemy import exc as sqlalchemy_exc

# SQLSTATE classes: connection exception, insufficient resources, operator intervention
# (statement timeout, shutdown), system error.
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57", "58")


def sqlstate_of(error: BaseException) -> str | None:
    """The error's SQLSTATE (PostgreSQL), whether SQLAlchemy wrapped it or not."""
    for candidate in (getattr(error, "orig", None), error):
        sqlstate = getattr(candidate, "sqlstate", None)
        if sqlstate:
            return str(sqlstate)
    return None


def is_unavailable(error: BaseException) -> bool:
    """Whether the database could not serve the request at all (worth a 503 and a retry)."""
    if isinstance(error, OSError | TimeoutError | sqlalchemy_exc.TimeoutError):
        return True  # asyncpg raises connection errors unwrapped; pool exhausted
    if isinstance(error, sqlalchemy_exc.DBAPIError) and error.connection_invalidated:
        return True
    sqlstate = sqlstate_of(error)
    if sqlstate is not None:
        return sqlstate.startswith(UNAVAILABLE_SQLSTATE_CLASSES)
    return isinstance(error, sqlalchemy_exc.OperationalError | sqlalchemy_exc.InterfaceError)


# SQLSTATE classes of errors caused by what a row holds: data exception, integrity constraint
# violation, an error raised by a trigger's code
REFUSED_VALUE_SQLSTATE_CLASSES = ("22", "23", "P0")


def is_refused_value(error: BaseException) -> bool:
    """Whether the database refused what a row holds (a value, a constraint, a trigger), looking
    through SQLAlchemy's wrapping and the driver's causes; never when the connection was lost."""
    if isinstance(error, sqlalchemy_exc.DBAPIError) and error.connection_invalidated:
        return False
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        refused = sqlalchemy_exc.IntegrityError | sqlalchemy_exc.DataError | ValueError
        if isinstance(current, refused | OverflowError):
            return True  # ValueError: asyncpg's DataError, a value it cannot encode
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(REFUSED_VALUE_SQLSTATE_CLASSES):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False
