"""The embedded ledger: SQLite (WAL) under DATA_DIR, on one worker thread of its own.

All database work runs on a single-thread executor, so the connection is never
used by two threads at once and the event loop never waits on disk. A write that
fails (BEGIN, INSERT or COMMIT) is rolled back before the error is reported, so
the connection never stays inside a failed transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

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

T = TypeVar("T")
INSERT_SQL = (f"INSERT INTO usage_records ({','.join(INSERT_COLUMNS)}) VALUES ({','.join('?' * len(INSERT_COLUMNS))}) "
              "ON CONFLICT (record_id) DO NOTHING")
# The store refused the data: text it cannot encode (a lone surrogate), a constraint, a value of a type or
# size it cannot bind. Anything else (locked, I/O error, disk full, cannot open) is the store being down.
REFUSED = (UnicodeError, sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, OverflowError)


class SQLiteLedger(Ledger):
    def __init__(self, path: Path, flush_interval_s: float, *, buffer_records: int = DEFAULT_BUFFER_RECORDS,
                 busy_timeout_ms: int = 5000, max_backoff_s: float = MAX_BACKOFF_S):
        super().__init__(flush_interval_s, data_dir=path.parent, buffer_records=buffer_records,
                         max_backoff_s=max_backoff_s)
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")

    @property
    def in_transaction(self) -> bool:
        return self._db is not None and self._db.in_transaction

    async def _run_in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)")
        db.execute("BEGIN IMMEDIATE")  # one process migrates at a time
        try:
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            for version, sql in migrations():
                if version not in done:
                    for statement in filter(str.strip, sql.split(";")):
                        db.execute(statement)
                    db.execute("INSERT INTO schema_migrations VALUES (?, strftime('%s','now'))", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.rollback()
            db.close()
            raise
        self._db = db

    async def _open(self) -> None:
        await self._run_in_thread(self._connect)

    def _insert(self, rows: list[tuple]) -> None:
        db = self._db
        if db is None:
            raise sqlite3.OperationalError("the ledger database is closed")
        try:
            db.execute("BEGIN IMMEDIATE")  # the write lock now, or "database is locked" after busy_timeout
            db.executemany(INSERT_SQL, rows)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.rollback()
            raise

    async def _write(self, rows: list[tuple]) -> None:
        await self._run_in_thread(lambda: self._insert(rows))

    def _refused(self, exc: BaseException) -> bool:
        return isinstance(exc, REFUSED)

    def _select(self, user: str, from_day: str, to_day: str) -> list[GroupRow]:
        assert self._db is not None
        return self._db.execute(REPORT_SQL.format("?", "?", "?"), (user, from_day, to_day)).fetchall()

    async def _query(self, user: str, from_day: str, to_day: str) -> list[GroupRow]:
        return await self._run_in_thread(lambda: self._select(user, from_day, to_day))

    def _select_spent(self, user: str | None, day: str) -> float | None:
        if self._db is None:
            raise sqlite3.OperationalError("the ledger database is closed")
        if user is None:
            return self._db.execute(SPENT_ANONYMOUS_SQL.format("?"), (day,)).fetchone()[0]
        return self._db.execute(SPENT_SQL.format("?", "?"), (user, day)).fetchone()[0]

    async def _spent(self, user: str | None, day: str) -> float | None:
        return await self._run_in_thread(lambda: self._select_spent(user, day))

    async def _close(self) -> None:
        if self._db is not None:
            await self._run_in_thread(self._db.close)
            self._db = None
        self._thread.shutdown(wait=True)
