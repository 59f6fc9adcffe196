"""Telling a database that is unavailable (down, unreachable, timed out, shutting down) from a
request or row it refuses: the first is answered 503 and retried later, the second is not."""

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
