"""The embedded ledger: SQLite (WAL) under DATA_DIR, on one worker thread of its own.

All database work runs on a single-thread executor, so the connection is never
used by two threads at once and the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from service.ledger import COLUMNS, REPORT_SQL, GroupRow, Ledger, migrations

T = TypeVar("T")
INSERT_SQL = f"INSERT INTO usage_records ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})"


class SQLiteLedger(Ledger):
    def __init__(self, path: Path, flush_interval_s: float):
        super().__init__(flush_interval_s)
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")

    async def _run_in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    def _connect(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)")
        db.execute("BEGIN IMMEDIATE")  # one process migrates at a time
        done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
        for version, sql in migrations():
            if version not in done:
                for statement in filter(str.strip, sql.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, strftime('%s','now'))", (version,))
        db.execute("COMMIT")
        self._db = db

    async def _open(self) -> None:
        await self._run_in_thread(self._connect)

    def _insert(self, rows: list[tuple]) -> None:
        assert self._db is not None
        self._db.execute("BEGIN")
        self._db.executemany(INSERT_SQL, rows)
        self._db.execute("COMMIT")

    async def _write(self, rows: list[tuple]) -> None:
        await self._run_in_thread(lambda: self._insert(rows))

    def _select(self, user: str, from_day: str, to_day: str) -> list[GroupRow]:
        assert self._db is not None
        return self._db.execute(REPORT_SQL.format("?", "?", "?"), (user, from_day, to_day)).fetchall()

    async def _query(self, user: str, from_day: str, to_day: str) -> list[GroupRow]:
        return await self._run_in_thread(lambda: self._select(user, from_day, to_day))

    async def _close(self) -> None:
        if self._db is not None:
            await self._run_in_thread(self._db.close)
            self._db = None
        self._thread.shutdown(wait=True)
