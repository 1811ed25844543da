"""A database that cannot be reached answers `503 Service Unavailable`, not a 500 or a hang.

Only the failures that say "the database is away" qualify; an integrity error or a bug in a
query stays what it is. The pool replaces connections the server closed, and a failure on a
broken one invalidates the pool's other connections, so the service recovers by itself once
the database is back. A connection that failed is dropped at once (`shared.database`), so a
hung database costs a request the command timeout, not more.
"""

from __future__ import annotations

import errno
import logging
import socket
import sqlite3
from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from shared.problem_types import DATABASE_UNAVAILABLE
from shared.problems import problem_response

logger = logging.getLogger(__name__)

# Long enough for a restarting database to come back, short enough not to idle clients.
RETRY_AFTER_SECONDS = 5

# SQLSTATEs of a server that is away or refuses work for now (not of a wrong request):
# class 08 is "connection exception"; 57P01-57P03 are an administrator's or a crash's
# shutdown and "the database system is starting up"; 53300 is "too many connections";
# 57014 is a statement cancelled, by its `statement_timeout` (the server's side of the
# command timeout) or by an administrator.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08",)
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "57014"})

# Socket errors that mean the server cannot be reached; filesystem errors are not among them.
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.EADDRNOTAVAIL,
    }
)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it was raised from, outermost first: SQLAlchemy's error, the
    driver's, and the socket's. Not `__context__`: an error raised while handling an outage
    is a bug of its own."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, DBAPIError) and current.orig is not None:
            current = current.orig
        else:
            current = current.__cause__


def _is_network_failure(error: BaseException) -> bool:
    # The driver raises these bare when it cannot open a connection: refused, reset,
    # unknown host, connect or command timeout. With several addresses to try, asyncio
    # raises a plain OSError ("Multiple exceptions") that carries no errno.
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return type(error) is OSError and (error.errno is None or error.errno in _NETWORK_ERRNOS)


def _is_unavailable_sqlstate(error: BaseException) -> bool:
    # asyncpg and SQLAlchemy's adaptation of it say `sqlstate`, psycopg2 says `pgcode`.
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if not isinstance(sqlstate, str):
        return False
    return sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)


def _is_busy_sqlite(error: BaseException) -> bool:
    # SQLite's "database is locked": another transaction held the lock past busy_timeout.
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class DatabaseUnavailable(Exception):
    """Raised from a driver's failure that says the database is away, by code that runs
    statements on the driver's connection itself (SQLAlchemy wraps the failures of the
    statements it runs): the failure is its cause."""


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot serve right now (as opposed to a bug)."""
    for cause in _causes(error):
        if isinstance(cause, DatabaseUnavailable):
            return True
        # The pool had no connection to give within `pool_timeout`: the database is too
        # slow or away, and requests queue up behind it.
        if isinstance(cause, PoolTimeoutError):
            return True
        # The dialect judged the connection lost (closed, reset, terminated by the server).
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if _is_unavailable_sqlstate(cause) or _is_network_failure(cause):
            return True
        if _is_busy_sqlite(cause):
            return True
    return False


def _cause_names(error: BaseException) -> str:
    # Type names and no messages: a message may quote SQL parameters or the database URL.
    return " <- ".join(type(cause).__name__ for cause in _causes(error))


async def _answer_database_unavailable(_: Request, error: Exception) -> JSONResponse:
    if not is_database_unavailable(error):
        # Not an outage: the last-resort handler logs it and answers 500.
        raise error
    logger.warning("database_unavailable", extra={"error": _cause_names(error)})
    return problem_response(
        DATABASE_UNAVAILABLE,
        "The service cannot reach its database right now; try again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_database_outage_handler(app: FastAPI) -> None:
    """Answer requests that fail because the database is away with a 503 problem.

    For the services that own a database; it imports SQLAlchemy, which the gateway lacks.
    """
    # Raw network errors reach the app from the driver's connect, bypassing SQLAlchemy's
    # wrapping; everything else the database says arrives as a SQLAlchemy error, or, from
    # statements run on the driver's connection itself, as `DatabaseUnavailable`.
    for error_type in (SQLAlchemyError, OSError, DatabaseUnavailable):
        app.add_exception_handler(error_type, _answer_database_unavailable)
