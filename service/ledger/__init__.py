"""The usage ledger: one record per request that reached a provider.

`record()` never waits: records queue in memory and a background task writes them
in batches every USAGE_FLUSH_INTERVAL_S (so a record is readable well within
5 s), and `close()` flushes what is left, so a graceful shutdown loses nothing.
Embedded SQLite under DATA_DIR by default; PostgreSQL when DATABASE_URL is set,
so several gateway replicas share one ledger. Both run the same versioned
migrations (migrations/NNNN_*.sql).

A failed write is one of two kinds, and neither stops the ledger:
- the store refused a record (a data error: encoding, NUL, a constraint): the batch
  is split until each refused record stands alone; the others land, and each refused
  one is logged, counted and appended to DATA_DIR/ledger-rejected.jsonl;
- the store is down (refused connection, lock, shutdown, full disk): nothing is
  dropped; writes are retried with capped exponential backoff, the in-memory buffer
  (LEDGER_BUFFER_RECORDS) spills to DATA_DIR/ledger-spool.jsonl when full, and
  `close()` spools what could not be written, for the next start to replay.
Every record carries its own id (`record_id`, unique in the store), so a write
that is retried or replayed after it landed is skipped, never counted twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import math
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import structlog
from ainative.chat.v1 import chat_pb2 as pb

from service import metrics
from service.config import Settings
from service.errors import GatewayError
from service.ledger.spool import Spool, append_line

log = structlog.get_logger("ledger")
# Record ids: one random prefix per process and a counter, unique across processes and restarts without
# a call to the system's random source per request.
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


def new_record_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


MIGRATIONS = sorted((Path(__file__).parent / "migrations").glob("*.sql"))
COLUMNS = ("request_id", "user_id", "provider", "model", "iterations", "prompt_tokens", "completion_tokens",
           "total_tokens", "cost_usd", "status", "latency_ms", "created_at", "day")
# what a write stores: the columns of a row, the record's own id, and whether it ran on the caller's own key
INSERT_COLUMNS = (*COLUMNS, "record_id", "own_key")


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
    # this record's own id: request ids come from callers (X-Request-Id) and may repeat
    record_id: str = field(default_factory=new_record_id)
    own_key: bool = False  # paid with the caller's own provider key: not counted toward the caller's budget

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


MAX_BATCH = 500  # records per write
MAX_BACKOFF_S = 5.0  # the longest wait between two writes while the store is down
CLOSE_FLUSH_TIMEOUT_S = 5.0  # how long `close()` tries the store before it spools what is left
DEFAULT_BUFFER_RECORDS = 10_000
SPOOL_FILE = "ledger-spool.jsonl"
REJECTED_FILE = "ledger-rejected.jsonl"


class StoreUnavailable(Exception):
    """The store could not take a write (an outage, not a refusal): retried later, nothing dropped."""


def _fields(rec: UsageRecord) -> dict[str, Any]:
    return {f.name: getattr(rec, f.name) for f in fields(UsageRecord)}


def encode_record(rec: UsageRecord) -> str:
    """A record as one JSON line, ASCII: a lone surrogate is kept as its \\udXXX escape."""
    return json.dumps(_fields(rec), separators=(",", ":"))


def decode_record(line: str) -> UsageRecord:
    data = json.loads(line)
    return UsageRecord(**{f.name: data[f.name] for f in fields(UsageRecord) if f.name in data})


class Ledger:
    """The write path shared by the backends (buffer, spool, batches, refusals, outages); subclasses write
    rows, classify their store's errors and answer reports.

    Waiting records, oldest first: the batch being written (`_head`), the spool's lines not yet taken, then
    memory. A record leaves the head only once it landed or was set aside as refused, so a write that fails
    or is cancelled (shutdown) keeps its records, in order, for the next try.
    """

    def __init__(self, flush_interval_s: float, *, data_dir: Path, buffer_records: int = DEFAULT_BUFFER_RECORDS,
                 max_backoff_s: float = MAX_BACKOFF_S):
        self._memory: deque[UsageRecord] = deque()
        self._head: list[UsageRecord] = []
        self._head_end: int | None = None  # when the head came from the spool: the offset after its lines
        self._limit = buffer_records
        self._batch = min(MAX_BATCH, buffer_records)
        self._spool = Spool(Path(data_dir) / SPOOL_FILE)
        self.rejected_path = Path(data_dir) / REJECTED_FILE
        self._interval = flush_interval_s
        self._max_backoff = max(max_backoff_s, flush_interval_s)
        self._outages = 0  # consecutive failed writes
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._gauges()

    @property
    def buffered(self) -> int:
        """Records waiting in memory (the batch being written included, unless it came from the spool)."""
        return len(self._memory) + (len(self._head) if self._head_end is None else 0)

    @property
    def spooled(self) -> int:
        """Records waiting in the spool file."""
        return self._spool.pending

    def _gauges(self) -> None:
        """Point the gauges at this ledger: read when /metrics is scraped, so nothing is set per record."""
        metrics.LEDGER_BUFFERED.set_function(lambda: self.buffered)
        metrics.LEDGER_SPOOLED.set_function(lambda: self.spooled)

    async def start(self) -> None:
        await self._open()
        if self._spool.pending:
            log.info("ledger_spool_found", records=self._spool.pending, path=str(self._spool.path))
        self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, rec: UsageRecord) -> None:
        if self._closed or self.buffered >= self._limit:
            self._spill(rec)
        else:
            self._memory.append(rec)

    def _spill(self, rec: UsageRecord) -> None:
        """The buffer is full (or the ledger closed): memory, then `rec`, go to the end of the spool."""
        lines = [encode_record(r) for r in self._memory] + [encode_record(rec)]
        try:
            self._spool.append(lines)
        except OSError as exc:  # keep it in memory, over the bound, rather than drop it
            log.error("ledger_spool_failed", error=f"{type(exc).__name__}: {exc}", path=str(self._spool.path))
            self._memory.append(rec)
            return
        self._memory.clear()
        log.warning("ledger_spilled", records=len(lines), spooled=self._spool.pending, path=str(self._spool.path))

    async def _run(self) -> None:
        delay = self._interval
        while True:
            await asyncio.sleep(delay)
            try:
                await self.flush()
            except StoreUnavailable as exc:
                delay = self._backoff()
                log.warning("ledger_store_unavailable", error=str(exc), attempts=self._outages,
                            retry_in_s=round(delay, 3), buffered=self.buffered, spooled=self.spooled)
            except Exception:  # not the store's fault: keep everything and try again later
                delay = self._max_backoff
                log.exception("ledger_flush_failed", buffered=self.buffered, spooled=self.spooled)
            else:
                delay = self._interval

    def _backoff(self) -> float:
        return min(self._max_backoff, self._interval * 2 ** min(self._outages, 30))

    async def flush(self) -> None:
        """Write every waiting record, the spool's first. Raises StoreUnavailable while the store is down,
        with every record still waiting, in order."""
        async with self._lock:
            while self._head or self._take():
                if self._head:
                    await self._land(len(self._head))

    def _take(self) -> bool:
        """Make the oldest waiting records the head; False when nothing waits."""
        if self._spool.unread:
            lines, end = self._spool.take(self._batch)
            records = []
            for line in lines:
                try:
                    records.append(decode_record(line))
                except (ValueError, TypeError) as exc:  # a line torn by a crash: nothing to write
                    log.error("ledger_spool_line_unreadable", error=f"{type(exc).__name__}: {exc}", line=line[:200])
                    self._spool.skipped(1)
            self._head, self._head_end = records, end
            if not records:
                self._drop(0)
            return True
        if self._memory:
            self._head = [self._memory.popleft() for _ in range(min(self._batch, len(self._memory)))]
            self._head_end = None
            return True
        return False

    def _drop(self, n: int) -> None:
        """The first `n` records of the head landed (or were set aside)."""
        del self._head[:n]
        if self._head_end is not None:
            done = not self._head
            self._spool.landed(n, self._head_end if done else None)
            if done:
                self._head_end = None

    async def _land(self, n: int) -> None:
        """Write the first `n` records of the head; when the store refuses them, split them in two and try each
        half, down to single records, which are set aside."""
        batch = self._head[:n]
        try:
            await self._write([(*r.row(), r.record_id, int(r.own_key)) for r in batch])
        except Exception as exc:
            if not self._refused(exc):
                self._outages += 1
                metrics.child(metrics.LEDGER_WRITE_FAILURES, "outage").inc()
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
            metrics.child(metrics.LEDGER_WRITE_FAILURES, "refused").inc()
            if n == 1:
                self._reject(batch[0], exc)
                self._drop(1)
                return
            half = n // 2
            await self._land(half)
            await self._land(n - half)
            return
        self._outages = 0
        self._drop(n)

    def _reject(self, rec: UsageRecord, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        metrics.LEDGER_REJECTED.inc()
        line = json.dumps({"rejected_at": time.time(), "error": error, "record": _fields(rec)}, separators=(",", ":"))
        try:
            append_line(self.rejected_path, line)
        except OSError as write_error:  # the log line then holds the record itself
            log.error("ledger_rejected_file_failed", error=f"{type(write_error).__name__}: {write_error}",
                      path=str(self.rejected_path), line=line)
        log.error("ledger_record_rejected", request_id=rec.request_id, user=rec.user_id, model=rec.model,
                  error=error, path=str(self.rejected_path))

    async def report(self, user: str, from_date: str, to_date: str) -> pb.GetUsageResponse:
        try:
            await self.flush()  # the caller's own latest requests count
            rows = await self._query(user, from_date or "0000-00-00", to_date or "9999-99-99")
        except StoreUnavailable as exc:
            raise self._unavailable(exc) from None
        except Exception as exc:
            if self._refused(exc):
                raise
            raise self._unavailable(exc) from None
        return build_report(user, from_date, to_date, rows)

    async def spent_today(self, user: str | None) -> float:
        """The estimated cost (USD) of `user`'s requests today (UTC; None = the anonymous ones) on the
        operator's keys (a request on the caller's own key is not counted): what the store holds plus the
        records still waiting in memory, without forcing a write (the limits engine calls this about once a
        second per caller). Unpriced records add nothing; records spooled while the
        store was down are not counted until they land. Raises when the store cannot be read."""
        now = time.time()
        day, midnight = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d"), now - now % 86400
        waiting = self._memory if self._head_end is not None else (*self._head, *self._memory)
        pending = sum(r.cost_usd for r in waiting
                      if r.cost_usd and r.user_id == user and not r.own_key and r.created_at >= midnight)
        return float(await self._spent(user, day) or 0.0) + pending

    def _unavailable(self, exc: BaseException) -> GatewayError:
        log.warning("ledger_report_unavailable", error=str(exc) if isinstance(exc, StoreUnavailable)
                    else f"{type(exc).__name__}: {exc}")
        return GatewayError("service_unavailable",
                            "Usage cannot be read now: the usage ledger's store is unavailable; try again shortly",
                            retry_after=str(max(1, math.ceil(self._backoff()))))

    async def close(self) -> None:
        """Stop the background writer, write what is left, or spool it when the store is down (the next
        start replays it), then close the store."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.wait_for(self.flush(), CLOSE_FLUSH_TIMEOUT_S)
        except (StoreUnavailable, TimeoutError) as exc:
            self._persist(exc)
        except Exception as exc:
            log.exception("ledger_flush_failed", buffered=self.buffered, spooled=self.spooled)
            self._persist(exc)
        finally:
            self._closed = True
        await self._close()

    def _persist(self, reason: BaseException) -> None:
        """Everything still waiting, in order, becomes the spool."""
        lines = [encode_record(r) for r in self._head] + self._spool.rest() + [encode_record(r) for r in self._memory]
        if not lines:
            return
        try:
            self._spool.rewrite(lines)
        except OSError as exc:
            log.error("ledger_records_lost", records=len(lines), error=f"{type(exc).__name__}: {exc}",
                      path=str(self._spool.path))
            return
        self._head, self._head_end = [], None
        self._memory.clear()
        log.warning("ledger_spooled", records=len(lines), path=str(self._spool.path),
                    reason=str(reason) or type(reason).__name__)

    async def _open(self) -> None:
        raise NotImplementedError

    async def _write(self, rows: list[tuple]) -> None:
        """Insert `rows` (INSERT_COLUMNS) in one transaction, skipping any whose record_id is stored."""
        raise NotImplementedError

    def _refused(self, exc: BaseException) -> bool:
        """Whether `exc` means the store refused the data (else: it is down, and the write is retried)."""
        raise NotImplementedError

    async def _query(self, user: str, from_day: str, to_day: str) -> list[GroupRow]:
        raise NotImplementedError

    async def _spent(self, user: str | None, day: str) -> float | None:
        """SUM(cost_usd) of `user`'s records (None: user_id NULL) on `day` in the store."""
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


# the day's cost of one caller, and of the anonymous callers (both on the (user_id, day) index)
SPENT_SQL = "SELECT SUM(cost_usd) FROM usage_records WHERE user_id = {0} AND day = {1} AND own_key = 0"
SPENT_ANONYMOUS_SQL = "SELECT SUM(cost_usd) FROM usage_records WHERE user_id IS NULL AND day = {0} AND own_key = 0"

REPORT_SQL = (
    "SELECT model, provider, day, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), "
    "SUM(cost_usd), COUNT(*) - COUNT(cost_usd) "
    "FROM usage_records WHERE user_id = {0} AND day >= {1} AND day <= {2} GROUP BY model, provider, day"
)


def open_ledger(settings: Settings) -> Ledger:
    if settings.database_url:
        from service.ledger.postgres import PostgresLedger

        return PostgresLedger(settings.database_url, settings.usage_flush_interval_s, data_dir=Path(settings.data_dir),
                              buffer_records=settings.ledger_buffer_records)
    from service.ledger.sqlite import SQLiteLedger

    return SQLiteLedger(Path(settings.data_dir) / "usage.sqlite3", settings.usage_flush_interval_s,
                        buffer_records=settings.ledger_buffer_records)
