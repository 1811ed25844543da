"""How the store runs its statements: each is built with SQLAlchemy once, at import; on Postgres
it is compiled once, to the text asyncpg takes, and run on the driver's own connection; on
SQLite it runs through SQLAlchemy as usual.

SQLAlchemy defines the tables, the migrations and every statement; only its execution layer
(an execution context, a compiled-cache lookup and a greenlet switch per statement, result
processing) is left out on Postgres, where it cost more CPU than the database's own work. What
its types would do there, asyncpg does already: UUIDs, exact decimals (money keeps its two
places), aware timestamps. JSON travels as text (the codec SQLAlchemy sets up on its
connections), so `Query` encodes JSON parameters itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import bindparam
from sqlalchemy import insert as insert_into
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

# As the engine's dialect compiles (`$1` placeholders with their casts): the text is the same.
_POSTGRES: Dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]

Row = Mapping[str, Any]
Params = Mapping[str, Any]
_NO_PARAMS: Params = {}


class JsonText(str):
    """A JSON parameter already rendered (the same text is then stored and answered)."""

    __slots__ = ()


def _encode_json(value: Any) -> str:
    return value if isinstance(value, JsonText) else json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Query:
    """A statement, with its Postgres text and the order of its parameters there."""

    statement: Executable
    sql: str
    names: tuple[str, ...]
    # Values the statement fixes itself (`version + 1`): in its text as parameters too.
    fixed: Mapping[str, Any]
    json_names: frozenset[str]

    def args(self, params: Params) -> list[Any]:
        """The parameters in the order of the Postgres text."""
        args = [params[name] if name in params else self.fixed[name] for name in self.names]
        if self.json_names:
            for index, name in enumerate(self.names):
                if name in self.json_names and args[index] is not None:
                    args[index] = _encode_json(args[index])
        return args


def query(statement: Executable, *, params: Iterable[str] | None = None) -> Query:
    """`statement`, compiled for Postgres once. `params` names the columns an INSERT or an
    UPDATE is given at execution (as SQLAlchemy would from the parameters' keys)."""
    return _compiled(statement, params)


def one_off(statement: Executable) -> Query:
    """A statement with its values in it, compiled for one run: one with a list of values
    (`IN (…)`), whose text changes with the list's length. Not for a hot path."""
    compiled = _compiler(statement, None, {"render_postcompile": True})
    return _query_of(statement, compiled, compiled.construct_params())


class RowsInsert:
    """An INSERT of any number of rows as one statement: one round trip, and one execution
    on the server. Its Postgres text is compiled once per number of rows."""

    def __init__(self, table: Any, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._by_count: dict[int, Query] = {}

    def for_rows(self, count: int) -> Query:
        statement = self._by_count.get(count)
        if statement is None:
            rows: list[dict[str, Any]] = [
                {
                    column: bindparam(f"{column}_{index}", type_=self.table.c[column].type)
                    for column in self.columns
                }
                for index in range(count)
            ]
            statement = self._by_count[count] = query(insert_into(self.table).values(rows))
        return statement

    def parameters(self, rows: Sequence[Params]) -> dict[str, Any]:
        return {
            f"{column}_{index}": row[column]
            for index, row in enumerate(rows)
            for column in self.columns
        }


def sqlite_query(statement: Executable) -> Query:
    """A statement in SQLite's own dialect (an upsert, say): run through SQLAlchemy only."""
    return Query(statement=statement, sql="", names=(), fixed={}, json_names=frozenset())


def _compiler(
    statement: Executable, params: Iterable[str] | None, options: Mapping[str, Any]
) -> SQLCompiler:
    return cast(
        SQLCompiler,
        cast(ClauseElement, statement).compile(
            dialect=_POSTGRES,
            column_keys=list(params) if params is not None else None,
            compile_kwargs=dict(options),
        ),
    )


def _compiled(statement: Executable, params: Iterable[str] | None) -> Query:
    compiled = _compiler(statement, params, {})
    fixed = {
        name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
    }
    return _query_of(statement, compiled, fixed)


def _query_of(statement: Executable, compiled: SQLCompiler, fixed: Mapping[str, Any]) -> Query:
    names = tuple(compiled.positiontup or ())
    binds = compiled.binds
    return Query(
        statement=statement,
        sql=str(compiled),
        names=names,
        fixed=fixed,
        json_names=frozenset(
            name
            for name, bind in binds.items()
            if isinstance(bind.type, sqltypes.JSON)
            or isinstance(getattr(bind.type, "impl", None), sqltypes.JSON)
        ),
    )


class Connection(Protocol):
    """What a use case holds while it works, and hands to the statements' functions."""

    @property
    def dialect_name(self) -> str: ...

    async def fetch(self, query: Query, params: Params = _NO_PARAMS) -> Sequence[Row]: ...

    async def fetchrow(self, query: Query, params: Params = _NO_PARAMS) -> Row | None: ...

    async def fetchval(self, query: Query, params: Params = _NO_PARAMS) -> Any: ...

    async def execute(self, query: Query, params: Params = _NO_PARAMS) -> int:
        """The statement's row count."""

    async def executemany(self, query: Query, rows: Sequence[Params]) -> None:
        """The statement once per row, in one round trip."""

    async def insert_rows(self, insert: RowsInsert, rows: Sequence[Params]) -> None:
        """`rows`, in one statement."""


def _row_count(status: str) -> int:
    """asyncpg's command tag (`UPDATE 1`, `INSERT 0 3`) as a row count."""
    count = status.rpartition(" ")[2]
    return int(count) if count.isdigit() else 0


class PostgresConnection:
    """An asyncpg connection running the statements' compiled text."""

    __slots__ = ("driver",)
    dialect_name = "postgresql"

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def fetch(self, query: Query, params: Params = _NO_PARAMS) -> Sequence[Row]:
        rows: Sequence[Row] = await self.driver.fetch(query.sql, *query.args(params))
        return rows

    async def fetchrow(self, query: Query, params: Params = _NO_PARAMS) -> Row | None:
        row: Row | None = await self.driver.fetchrow(query.sql, *query.args(params))
        return row

    async def fetchval(self, query: Query, params: Params = _NO_PARAMS) -> Any:
        return await self.driver.fetchval(query.sql, *query.args(params))

    async def execute(self, query: Query, params: Params = _NO_PARAMS) -> int:
        return _row_count(await self.driver.execute(query.sql, *query.args(params)))

    async def executemany(self, query: Query, rows: Sequence[Params]) -> None:
        await self.driver.executemany(query.sql, [query.args(row) for row in rows])

    async def insert_rows(self, insert: RowsInsert, rows: Sequence[Params]) -> None:
        statement = insert.for_rows(len(rows))
        await self.driver.execute(statement.sql, *statement.args(insert.parameters(rows)))


class SQLAlchemyConnection:
    """A SQLAlchemy connection running the statements themselves (SQLite)."""

    __slots__ = ("connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @property
    def dialect_name(self) -> str:
        return self.connection.dialect.name

    async def fetch(self, query: Query, params: Params = _NO_PARAMS) -> Sequence[Row]:
        result = await self.connection.execute(query.statement, _as_values(params))
        return cast(Sequence[Row], result.mappings().all())

    async def fetchrow(self, query: Query, params: Params = _NO_PARAMS) -> Row | None:
        result = await self.connection.execute(query.statement, _as_values(params))
        return cast(Row | None, result.mappings().first())

    async def fetchval(self, query: Query, params: Params = _NO_PARAMS) -> Any:
        return (await self.connection.execute(query.statement, _as_values(params))).scalar()

    async def execute(self, query: Query, params: Params = _NO_PARAMS) -> int:
        result = await self.connection.execute(query.statement, _as_values(params))
        return int(getattr(result, "rowcount", 0))

    async def executemany(self, query: Query, rows: Sequence[Params]) -> None:
        await self.connection.execute(query.statement, [_as_values(row) for row in rows])

    async def insert_rows(self, insert: RowsInsert, rows: Sequence[Params]) -> None:
        await self.connection.execute(insert_into(insert.table), [_as_values(row) for row in rows])


def _as_values(params: Params) -> dict[str, Any]:
    """SQLAlchemy renders JSON itself: JSON already rendered is given to it as the value."""
    return {
        name: json.loads(value) if isinstance(value, JsonText) else value
        for name, value in params.items()
    }
