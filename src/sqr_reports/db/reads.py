"""Reads that are one statement, as cheaply as each database allows: the API's hot path."""

from __future__ import annotations

import logging
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Dialect, Select
from sqlalchemy.exc import OperationalError

from sqr_reports.db.engine import Engines

log = logging.getLogger(__name__)

#: What a failed read on PostgreSQL means the database (or the way to it) is gone: answered as
#: SQLAlchemy would have, as an `OperationalError` (the API's 503).
_OUTAGES = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutdown, cancelled by an administrator
    # The server's goodbye (a terminated backend) arrived while the connection sat in the pool,
    # and the next statement finds the protocol mid-way through it: "cannot switch to state 12;
    # another operation (2) is in progress". Seen when a backend was killed under the pool.
    asyncpg.InternalClientError,
)


class StatementReads:
    """One SELECT built with SQLAlchemy Core, one row or none, in autocommit: the statement is
    its own snapshot, so it needs no BEGIN or ROLLBACK. Rows answer by position and by column
    key, as SQLAlchemy's do, with the columns' types applied.

    - SQLite: on the event loop itself (`Engines.inline`), through SQLAlchemy: about 40 µs of
      CPU for a read by primary key, where aiosqlite's four thread hand-offs per statement cost
      0.3 ms of CPU and more in waiting. A reader in WAL mode takes no lock that a writer holds;
      if SQLite does make it wait (recovery, or the moment another process's last connection
      closes), the short busy timeout ends the wait and the read goes through aiosqlite's
      thread instead.
    - PostgreSQL: SQLAlchemy compiles the statement (once) and lends a connection of the
      `autocommit` pool (`AsyncEngine.raw_connection`); asyncpg runs it, one round trip.
      Through an `AsyncConnection` the same read cost 0.27 ms of CPU instead of 0.10 (greenlet
      hand-overs, the execution context, the asyncpg adapter), and a status poll 0.7 ms
      instead of 0.5: the difference between the API meeting its 2,000 polls per second on
      one process and not. The price: SQLAlchemy's statement events do not see this read, and
      it translates its own errors (an outage is an `OperationalError`, as from SQLAlchemy).
    """

    def __init__(self, engines: Engines):
        self._pooled = engines.autocommit
        self._inline = engines.inline
        self._by_driver = self._pooled.dialect.driver == "asyncpg"
        self._compiled: dict[int, _Compiled] = {}

    async def one_or_none(self, statement: Select[Any], params: Mapping[str, Any]) -> Any:
        if self._inline is not None:
            try:
                with self._inline.connect() as connection:
                    return connection.execute(statement, params).one_or_none()
            except OperationalError as error:
                log.warning("inline read failed (%s); reading through a thread", error.orig)
        if self._by_driver:
            return await self._asyncpg(statement, params)
        async with self._pooled.connect() as connection:
            return (await connection.execute(statement, params)).one_or_none()

    async def _asyncpg(self, statement: Select[Any], params: Mapping[str, Any]) -> Any:
        compiled = self._compile(statement)
        connection = await self._pooled.raw_connection()
        driver = connection.driver_connection
        assert driver is not None  # a checked-out connection has one
        try:
            record = await driver.fetchrow(compiled.sql, *compiled.args(params))
        except BaseException as error:
            # SQLAlchemy did not see the statement, so it cannot know that the connection's
            # state is now unknown (an outage, a request cancelled mid-read): tell it, and the
            # pool replaces the connection (asyncpg closes it at once, without awaiting).
            outage = isinstance(error, _OUTAGES) or (
                isinstance(error, Exception) and driver.is_closed()
            )
            connection.invalidate(error if isinstance(error, Exception) else None)
            if outage:
                raise OperationalError(compiled.sql, None, error) from error
            raise
        finally:
            # Back to the pool with nothing to await: in autocommit there is no transaction
            # for the pool's reset to roll back.
            connection.close()
        return compiled.row(record) if record is not None else None

    def _compile(self, statement: Select[Any]) -> _Compiled:
        compiled = self._compiled.get(id(statement))
        if compiled is None or compiled.statement is not statement:
            compiled = _Compiled.of(statement, self._pooled.dialect)
            self._compiled[id(statement)] = compiled
        return compiled


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled for the driver: its SQL, its parameters in order, and the result
    processors of its columns' types (what SQLAlchemy applies to a row)."""

    statement: Select[Any]
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    make_row: Callable[..., Any]

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> _Compiled:
        compiled = statement.compile(dialect=dialect)
        columns = list(statement.selected_columns)
        keys = [str(column.key) for column in columns]
        return cls(
            statement=statement,
            sql=compiled.string,
            names=tuple(compiled.positiontup or ()),
            processors=tuple(column.type.result_processor(dialect, None) for column in columns),
            make_row=namedtuple("Row", keys),
        )

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]

    def row(self, values: Any) -> Any:
        processed = (
            value if process is None or value is None else process(value)
            for value, process in zip(values, self.processors, strict=True)
        )
        return self.make_row(*processed)
