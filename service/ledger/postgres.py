"""The shared ledger: PostgreSQL through asyncpg, for several gateway replicas."""

from __future__ import annotations

import asyncpg

from service.ledger import COLUMNS, REPORT_SQL, GroupRow, Ledger, migrations

MIGRATION_LOCK = 7_311_042  # pg_advisory_lock key: replicas starting together migrate one at a time


class PostgresLedger(Ledger):
    def __init__(self, dsn: str, flush_interval_s: float):
        super().__init__(flush_interval_s)
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None

    async def _open(self) -> None:
        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
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
        assert self._pool is not None
        await self._pool.copy_records_to_table("usage_records", records=rows, columns=list(COLUMNS))

    async def _query(self, user: str, from_day: str, to_day: str) -> list[GroupRow]:
        assert self._pool is not None
        records = await self._pool.fetch(REPORT_SQL.format("$1", "$2", "$3"), user, from_day, to_day)
        return [tuple(r) for r in records]  # type: ignore[misc]

    async def _close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
