"""The shared ledger: PostgreSQL through asyncpg, for several gateway replicas.

A batch is one INSERT of unnested arrays (one statement: one implicit transaction,
all or nothing) that skips records already stored, so a batch retried after its
answer was lost is not counted twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from service.ledger import (
    DEFAULT_BUFFER_RECORDS,
    INSERT_COLUMNS,
    MAX_BACKOFF_S,
    REPORT_SQL,
    SPENT_ANONYMOUS_SQL,
    SPENT_SQL,
    GroupRow,
    Ledger,
    migrations,
)

MIGRATION_LOCK = 7_311_042  # pg_advisory_lock key: replicas starting together migrate one at a time
COLUMN_TYPES = {"iterations": "int", "prompt_tokens": "bigint", "completion_tokens": "bigint",
                "total_tokens": "bigint", "cost_usd": "float8", "latency_ms": "float8", "created_at": "float8",
                "own_key": "int"}
INSERT_SQL = (
    f"INSERT INTO usage_records ({', '.join(INSERT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{COLUMN_TYPES.get(c, 'text')}[]" for i, c in enumerate(INSERT_COLUMNS, 1))
    + ") ON CONFLICT (record_id) DO NOTHING"
)
# The store refused the data: a data exception (class 22: a NUL character, text the encoding cannot hold,
# a value out of range; asyncpg reports text it cannot encode, such as a lone surrogate, as one too) or an
# integrity constraint (class 23). Anything else (connection refused or lost, the server shutting down or
# out of disk, a timeout, the pool closed) is the store being down.
REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, UnicodeError)
CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 30.0


class PostgresLedger(Ledger):
    def __init__(self, dsn: str, flush_interval_s: float, *, data_dir: Path = Path("data"),
                 buffer_records: int = DEFAULT_BUFFER_RECORDS, max_backoff_s: float = MAX_BACKOFF_S):
        super().__init__(flush_interval_s, data_dir=data_dir, buffer_records=buffer_records,
                         max_backoff_s=max_backoff_s)
        self.dsn = dsn
        self._pool: asyncpg.Pool | None = None

    async def _open(self) -> None:
        # min_size=0: while the server is down, no background reconnection (and its log lines) between writes
        self._pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=4, timeout=CONNECT_TIMEOUT_S,
                                               command_timeout=COMMAND_TIMEOUT_S)
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)"
                )
                done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
                for version, sql in migrations():
                    if version not in done:
                        async with conn.transaction():
                            await conn.execute(sql)
                            await conn.execute("INSERT INTO schema_migrations VALUES ($1, now())", version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def _write(self, rows: list[tuple]) -> None:
        if self._pool is None:
            raise asyncpg.InterfaceError("the ledger's pool is closed")
        await self._pool.execute(INSERT_SQL, *(list(column) for column in zip(*rows, strict=True)))

    def _refused(self, exc: BaseException) -> bool:
        return isinstance(exc, REFUSED)

    async def _query(self, user: str, from_day: str, to_day: str) -> list[GroupRow]:
        assert self._pool is not None
        records = await self._pool.fetch(REPORT_SQL.format("$1", "$2", "$3"), user, from_day, to_day)
        return [tuple(r) for r in records]  # type: ignore[misc]

    async def _spent(self, user: str | None, day: str) -> float | None:
        if self._pool is None:
            raise asyncpg.InterfaceError("the ledger's pool is closed")
        if user is None:
            return await self._pool.fetchval(SPENT_ANONYMOUS_SQL.format("$1"), day)
        return await self._pool.fetchval(SPENT_SQL.format("$1", "$2"), user, day)

    async def _close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT_S)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()
