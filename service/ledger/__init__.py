"""The usage ledger: one record per request that reached a provider.

`record()` never waits: records queue in memory and a background task writes them
in batches every USAGE_FLUSH_INTERVAL_S (so a record is readable well within
5 s), and `close()` flushes what is left, so a graceful shutdown loses nothing.
Embedded SQLite under DATA_DIR by default; PostgreSQL when DATABASE_URL is set,
so several gateway replicas share one ledger. Both run the same versioned
migrations (migrations/NNNN_*.sql).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import structlog
from ainative.chat.v1 import chat_pb2 as pb

from service.config import Settings

log = structlog.get_logger("ledger")
MIGRATIONS = sorted((Path(__file__).parent / "migrations").glob("*.sql"))
COLUMNS = ("request_id", "user_id", "provider", "model", "iterations", "prompt_tokens", "completion_tokens",
           "total_tokens", "cost_usd", "status", "latency_ms", "created_at", "day")


def migrations() -> list[tuple[int, str]]:
    return [(int(p.name.split("_", 1)[0]), p.read_text(encoding="utf-8")) for p in MIGRATIONS]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    request_id: str
    user_id: str | None
    provider: str
    model: str
    iterations: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None  # None: the model has no known price (stored NULL, counted as unpriced)
    status: str
    latency_ms: float
    created_at: float

    def row(self) -> tuple:
        day = dt.datetime.fromtimestamp(self.created_at, dt.UTC).strftime("%Y-%m-%d")
        return (self.request_id, self.user_id, self.provider, self.model, self.iterations, self.prompt_tokens,
                self.completion_tokens, self.total_tokens, self.cost_usd, self.status, self.latency_ms,
                self.created_at, day)


# (model, provider, day, requests, prompt, completion, total, cost of the priced requests (None: none), unpriced)
GroupRow = tuple[str, str, str, int, int, int, int, float | None, int]


def build_report(user: str, from_date: str, to_date: str, rows: list[GroupRow]) -> pb.GetUsageResponse:
    totals = pb.UsageTotals()
    by_model: dict[tuple[str, str], pb.UsageTotals] = defaultdict(pb.UsageTotals)
    by_day: dict[str, pb.UsageTotals] = defaultdict(pb.UsageTotals)
    for model, provider, day, requests, prompt, completion, total, cost, unpriced in rows:
        for t in (totals, by_model[(model, provider)], by_day[day]):
            t.requests += int(requests)
            t.prompt_tokens += int(prompt)
            t.completion_tokens += int(completion)
            t.total_tokens += int(total)
            t.cost_usd += float(cost or 0)  # the priced requests only: an unpriced one is counted, not summed
            t.unpriced_requests += int(unpriced)
    for t in (totals, *by_model.values(), *by_day.values()):
        t.cost_usd = round(t.cost_usd, 6)
    return pb.GetUsageResponse(
        user=user, from_date=from_date, to_date=to_date, totals=totals,
        by_model=[pb.ModelUsage(model=m, provider=p, totals=t) for (m, p), t in sorted(by_model.items())],
        by_day=[pb.DayUsage(date=d, totals=t) for d, t in sorted(by_day.items())],
    )


class Ledger:
    """Batching front shared by the backends; subclasses write batches and answer reports."""

    def __init__(self, flush_interval_s: float):
        self._pending: list[UsageRecord] = []
        self._interval = flush_interval_s
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self._open()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, rec: UsageRecord) -> None:
        self._pending.append(rec)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:  # keep the records and try again; the ledger must not stop serving
                log.exception("ledger_flush_failed", pending=len(self._pending))

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                await self._write([r.row() for r in batch])
            except Exception:
                self._pending[:0] = batch
                raise

    async def report(self, user: str, from_date: str, to_date: str) -> pb.GetUsageResponse:
        await self.flush()  # the caller's own latest requests count
        rows = await self._query(user, from_date or "0000-00-00", to_date or "9999-99-99")
        return build_report(user, from_date, to_date, rows)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
        await self._close()

    async def _open(self) -> None:
        raise NotImplementedError

    async def _write(self, rows: list[tuple]) -> None:
        raise NotImplementedError

    async def _query(self, user: str, from_day: str, to_day: str) -> list[GroupRow]:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


REPORT_SQL = (
    "SELECT model, provider, day, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), "
    "SUM(cost_usd), COUNT(*) - COUNT(cost_usd) "
    "FROM usage_records WHERE user_id = {0} AND day >= {1} AND day <= {2} GROUP BY model, provider, day"
)


def open_ledger(settings: Settings) -> Ledger:
    if settings.database_url:
        from service.ledger.postgres import PostgresLedger

        return PostgresLedger(settings.database_url, settings.usage_flush_interval_s)
    from service.ledger.sqlite import SQLiteLedger

    return SQLiteLedger(Path(settings.data_dir) / "usage.sqlite3", settings.usage_flush_interval_s)
