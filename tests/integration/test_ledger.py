"""The usage ledger on both backends: batching, reports, restarts, and several replicas on one PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
import structlog
from prometheus_client import REGISTRY

from bridge.translate import usage_to_json
from service.ledger import Ledger, UsageRecord, encode_record
from service.ledger.postgres import PostgresLedger
from service.ledger.sqlite import SQLiteLedger
from tests.conftest import fresh_database
from tests.support.postgres import PostgresServer

DAY1 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC).timestamp()
DAY2 = dt.datetime(2026, 11, 24, 23, 59, 59, tzinfo=dt.UTC).timestamp()
DAY3 = dt.datetime(2026, 11, 25, 0, 0, 1, tzinfo=dt.UTC).timestamp()


def rec(user: str | None, model: str, provider: str, prompt: int, completion: int, cost: float | None, at: float,
        status: str = "ok", iterations: int = 1) -> UsageRecord:
    return UsageRecord(f"req-{user}-{at}-{prompt}", user, provider, model, iterations, prompt, completion,
                       prompt + completion, cost, status, 12.5, at)


@pytest.fixture(params=["sqlite", "postgres"])
async def make_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[..., Ledger]]:
    """A factory of ledgers that share one store (so a second one sees a restart or another replica),
    with DATA_DIR (the spool and the rejected records) in `tmp_path`."""
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        dsn = await fresh_database(server)
        yield lambda **kw: PostgresLedger(dsn, flush_interval_s=0.05, data_dir=tmp_path, **kw)
    else:
        yield lambda **kw: SQLiteLedger(tmp_path / "usage.sqlite3", flush_interval_s=0.05, **kw)


async def test_report_groups_by_model_and_day_and_never_shows_others(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger()
    await ledger.start()
    try:
        for r in (
            rec("alice", "claude-sonnet-4-5", "anthropic", 100, 50, 0.00105, DAY1),
            rec("alice", "claude-sonnet-4-5", "anthropic", 10, 5, 0.000105, DAY2, iterations=2),
            rec("alice", "Llama-3.3-70B-Instruct", "meta_llama", 7, 3, 0.0000096, DAY3),
            rec("alice", "claude-sonnet-4-5", "anthropic", 0, 0, 0.0, DAY3, status="rate_limited"),
            rec("bob", "claude-sonnet-4-5", "anthropic", 1000, 1000, 0.018, DAY2),
            rec(None, "claude-sonnet-4-5", "anthropic", 5000, 5000, 0.09, DAY2),
        ):
            ledger.record(r)
        report = usage_to_json(await ledger.report("alice", "", ""))
        assert report == {
            "object": "usage", "user": "alice", "from": None, "to": None,
            "totals": {"requests": 4, "prompt_tokens": 117, "completion_tokens": 58, "total_tokens": 175,
                       "cost_usd": 0.001165, "unpriced_requests": 0},
            "by_model": [
                {"model": "Llama-3.3-70B-Instruct", "provider": "meta_llama", "requests": 1, "prompt_tokens": 7,
                 "completion_tokens": 3, "total_tokens": 10, "cost_usd": 0.00001, "unpriced_requests": 0},
                {"model": "claude-sonnet-4-5", "provider": "anthropic", "requests": 3, "prompt_tokens": 110,
                 "completion_tokens": 55, "total_tokens": 165, "cost_usd": 0.001155, "unpriced_requests": 0}],
            "by_day": [
                {"date": "2026-11-23", "requests": 1, "prompt_tokens": 100, "completion_tokens": 50,
                 "total_tokens": 150, "cost_usd": 0.00105, "unpriced_requests": 0},
                {"date": "2026-11-24", "requests": 1, "prompt_tokens": 10, "completion_tokens": 5,
                 "total_tokens": 15, "cost_usd": 0.000105, "unpriced_requests": 0},
                {"date": "2026-11-25", "requests": 2, "prompt_tokens": 7, "completion_tokens": 3,
                 "total_tokens": 10, "cost_usd": 0.00001, "unpriced_requests": 0}],
        }
        window = usage_to_json(await ledger.report("alice", "2026-11-24", "2026-11-24"))
        assert (window["from"], window["to"], window["totals"]["requests"]) == ("2026-11-24", "2026-11-24", 1)
        assert [d["date"] for d in window["by_day"]] == ["2026-11-24"]
        assert usage_to_json(await ledger.report("carol", "", ""))["totals"]["requests"] == 0
        # the anonymous rows are stored but belong to nobody
        assert usage_to_json(await ledger.report("None", "", ""))["totals"]["requests"] == 0
    finally:
        await ledger.close()


async def test_records_survive_a_restart(make_ledger: Callable[..., Ledger]) -> None:
    first = make_ledger()
    await first.start()
    first.record(rec("dave", "claude-opus-4", "anthropic", 3, 4, 0.000345, DAY1))
    await first.close()  # flushes what is pending
    second = make_ledger()
    await second.start()
    try:
        assert usage_to_json(await second.report("dave", "", ""))["totals"]["total_tokens"] == 7
    finally:
        await second.close()


async def test_background_flush_without_report(make_ledger: Callable[..., Ledger]) -> None:
    import asyncio

    writer, reader = make_ledger(), make_ledger()
    await writer.start()
    await reader.start()
    try:
        writer.record(rec("erin", "claude-opus-4", "anthropic", 1, 1, 0.0, DAY1))
        await asyncio.sleep(0.3)  # several flush intervals
        assert usage_to_json(await reader.report("erin", "", ""))["totals"]["requests"] == 1
    finally:
        await writer.close()
        await reader.close()


async def test_two_replicas_share_one_postgres_ledger(postgres_dsn: str) -> None:
    a, b = PostgresLedger(postgres_dsn, 0.05), PostgresLedger(postgres_dsn, 0.05)
    await a.start()
    await b.start()  # both ran the migrations; the advisory lock made that safe
    try:
        a.record(rec("frank", "claude-sonnet-4-5", "anthropic", 10, 10, 0.00033, DAY1))
        b.record(rec("frank", "claude-sonnet-4-5", "anthropic", 20, 20, 0.00066, DAY1))
        await a.flush()
        report = usage_to_json(await b.report("frank", "", ""))
        assert report["totals"]["requests"] == 2 and report["totals"]["total_tokens"] == 60
    finally:
        await a.close()
        await b.close()


# ---- unpriced requests (cost_usd NULL) and migration 0002 ----------------------------------------------------------

class Store:
    """One ledger store on either backend, with raw access for checks below the Ledger API."""

    def __init__(self, kind: str, where: str):
        self.kind, self.where = kind, where

    def ledger(self) -> Ledger:
        if self.kind == "postgres":
            return PostgresLedger(self.where, flush_interval_s=0.05)
        return SQLiteLedger(Path(self.where), flush_interval_s=0.05)

    async def execute(self, *statements: str) -> None:
        if self.kind == "postgres":
            conn = await asyncpg.connect(self.where)
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()
        else:
            db = sqlite3.connect(self.where, isolation_level=None)
            try:
                for statement in statements:
                    db.execute(statement)
            finally:
                db.close()

    async def fetch(self, query: str) -> list[tuple]:
        if self.kind == "postgres":
            conn = await asyncpg.connect(self.where)
            try:
                return [tuple(r) for r in await conn.fetch(query)]
            finally:
                await conn.close()
        db = sqlite3.connect(self.where)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()

    async def nullable_cost(self) -> bool:
        if self.kind == "postgres":
            rows = await self.fetch("SELECT is_nullable FROM information_schema.columns "
                                    "WHERE table_name = 'usage_records' AND column_name = 'cost_usd'")
            return rows == [("YES",)]
        return [r[3] for r in await self.fetch("PRAGMA table_info(usage_records)") if r[1] == "cost_usd"] == [0]


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "postgres":
        return Store("postgres", await fresh_database(request.getfixturevalue("postgres_server")))
    return Store("sqlite", str(tmp_path / "usage.sqlite3"))


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    return f"'{value}'" if isinstance(value, str) else repr(value)


async def test_unpriced_requests_are_null_and_counted_apart(store: Store) -> None:
    ledger = store.ledger()
    await ledger.start()
    try:
        for r in (
            rec("gina", "claude-sonnet-4-5-20250929", "anthropic", 1000, 500, 0.0105, DAY1),
            rec("gina", "claude-mystery-1", "anthropic", 200, 100, None, DAY1),
            rec("gina", "claude-mystery-1", "anthropic", 20, 10, None, DAY2),
            rec("gina", "Mystery-7B", "meta_llama", 7, 3, None, DAY2),
        ):
            ledger.record(r)
        report = usage_to_json(await ledger.report("gina", "", ""))
    finally:
        await ledger.close()
    assert report == {
        "object": "usage", "user": "gina", "from": None, "to": None,
        "totals": {"requests": 4, "prompt_tokens": 1227, "completion_tokens": 613, "total_tokens": 1840,
                   "cost_usd": 0.0105, "unpriced_requests": 3},
        "by_model": [
            {"model": "Mystery-7B", "provider": "meta_llama", "requests": 1, "prompt_tokens": 7,
             "completion_tokens": 3, "total_tokens": 10, "cost_usd": 0.0, "unpriced_requests": 1},
            {"model": "claude-mystery-1", "provider": "anthropic", "requests": 2, "prompt_tokens": 220,
             "completion_tokens": 110, "total_tokens": 330, "cost_usd": 0.0, "unpriced_requests": 2},
            {"model": "claude-sonnet-4-5-20250929", "provider": "anthropic", "requests": 1, "prompt_tokens": 1000,
             "completion_tokens": 500, "total_tokens": 1500, "cost_usd": 0.0105, "unpriced_requests": 0}],
        "by_day": [
            {"date": "2026-11-23", "requests": 2, "prompt_tokens": 1200, "completion_tokens": 600,
             "total_tokens": 1800, "cost_usd": 0.0105, "unpriced_requests": 1},
            {"date": "2026-11-24", "requests": 2, "prompt_tokens": 27, "completion_tokens": 13,
             "total_tokens": 40, "cost_usd": 0.0, "unpriced_requests": 2}],
    }
    stored = await store.fetch("SELECT model, cost_usd FROM usage_records ORDER BY created_at, prompt_tokens")
    assert stored == [("claude-mystery-1", None), ("claude-sonnet-4-5-20250929", 0.0105),
                      ("Mystery-7B", None), ("claude-mystery-1", None)]


async def test_migration_0002_keeps_the_rows_of_a_0001_database(store: Store) -> None:
    """A ledger created before cost_usd could be NULL is upgraded in place: rows, costs and the index survive."""
    from service.ledger import COLUMNS, migrations

    version, first = migrations()[0]
    assert version == 1
    old = [rec("hana", "claude-opus-4", "anthropic", 3, 4, 0.000345, DAY1),
           rec("hana", "Llama-3.3-70B-Instruct", "meta_llama", 300, 100, 0.00036, DAY2, status="rate_limited"),
           rec(None, "claude-sonnet-4-5", "anthropic", 10, 10, 0.00018, DAY2)]
    inserts = [f"INSERT INTO usage_records ({','.join(COLUMNS)}) VALUES ({','.join(map(_literal, r.row()))})"
               for r in old]
    applied_at = "now()" if store.kind == "postgres" else "0"
    await store.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at "
        + ("TIMESTAMPTZ)" if store.kind == "postgres" else "REAL)"),
        *filter(str.strip, first.split(";")),
        f"INSERT INTO schema_migrations VALUES (1, {applied_at})",
        *inserts)
    assert not await store.nullable_cost()

    ledger = store.ledger()
    await ledger.start()
    try:
        assert await store.nullable_cost()
        ledger.record(rec("hana", "claude-mystery-1", "anthropic", 5, 5, None, DAY3))
        report = usage_to_json(await ledger.report("hana", "", ""))
    finally:
        await ledger.close()
    assert report["totals"] == {"requests": 3, "prompt_tokens": 308, "completion_tokens": 109,
                                "total_tokens": 417, "cost_usd": 0.000705, "unpriced_requests": 1}
    columns = "request_id, user_id, provider, model, iterations, prompt_tokens, completion_tokens, total_tokens, " \
              "cost_usd, status, latency_ms, created_at, day"
    assert columns == ", ".join(COLUMNS)
    rows = await store.fetch(f"SELECT {columns} FROM usage_records ORDER BY created_at, prompt_tokens")
    assert rows == sorted([r.row() for r in old], key=lambda r: (r[11], r[5])) + [
        rec("hana", "claude-mystery-1", "anthropic", 5, 5, None, DAY3).row()]
    assert sorted(r[0] for r in await store.fetch("SELECT version FROM schema_migrations")) == [
        v for v, _ in migrations()]
    if store.kind == "postgres":  # 0003 added the unique index of record ids
        index = await store.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'usage_records' ORDER BY 1")
        assert index == [
            ("CREATE INDEX usage_records_user_day ON public.usage_records USING btree (user_id, day)",),
            ("CREATE UNIQUE INDEX usage_records_record_id ON public.usage_records USING btree (record_id)",)]
    else:
        index = await store.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records' ORDER BY name")
        assert index == [("usage_records_record_id",), ("usage_records_user_day",)]
    # a restart runs no migration twice
    again = store.ledger()
    await again.start()
    try:
        assert usage_to_json(await again.report("hana", "", ""))["totals"]["requests"] == 3
    finally:
        await again.close()


# --------------------------------------------------------------------------------------------------
# A record the store refuses is set aside alone; a full buffer spills to the spool; replays are idempotent
# --------------------------------------------------------------------------------------------------

def another(r: UsageRecord, **changes: object) -> UsageRecord:
    """A new record (its own record id) like `r`, with `changes`."""
    return dataclasses.replace(r, record_id=uuid.uuid4().hex, **changes)  # type: ignore[arg-type]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def stored_request_ids(ledger: Ledger) -> list[str]:
    """The request ids in the store, in the order they were inserted."""
    if isinstance(ledger, SQLiteLedger):
        db = sqlite3.connect(ledger.path)
        try:
            return [r[0] for r in db.execute("SELECT request_id FROM usage_records ORDER BY rowid")]
        finally:
            db.close()
    assert isinstance(ledger, PostgresLedger)
    conn = await asyncpg.connect(ledger.dsn)
    try:  # an append-only table: physical order is insertion order
        return [r[0] for r in await conn.fetch("SELECT request_id FROM usage_records ORDER BY ctid")]
    finally:
        await conn.close()


async def test_a_record_the_store_refuses_is_set_aside_alone(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    await ledger.start()
    good = [rec("gina", "claude-sonnet-4-5", "anthropic", i, 1, 0.001, DAY1 + i) for i in range(1, 8)]
    # neither store can hold a lone UTF-16 surrogate; PostgreSQL refuses a NUL character too
    bad = [another(good[0], request_id="bad-model", model="claude-\ud800x"),
           another(good[0], request_id="bad-user", user_id="gi\udfffna")]
    if isinstance(ledger, PostgresLedger):
        bad.append(another(good[0], request_id="bad-nul", model="claude-\x00x"))
    batch = [good[0], bad[0], *good[1:4], bad[1], *good[4:], *bad[2:]]
    rejected = metric("gateway_ledger_rejected_records_total")
    refused = metric("gateway_ledger_write_failures_total", kind="refused")
    try:
        with structlog.testing.capture_logs() as logs:
            for r in batch:
                ledger.record(r)
            report = usage_to_json(await ledger.report("gina", "", ""))  # one flush: the whole batch
        # every good record of the batch landed, once, in order; the refused ones alone were set aside
        assert {k: report["totals"][k] for k in ("requests", "prompt_tokens", "completion_tokens", "total_tokens",
                                                 "cost_usd")} == {"requests": 7, "prompt_tokens": 28,
                                                                  "completion_tokens": 7, "total_tokens": 35,
                                                                  "cost_usd": 0.007}
        assert await stored_request_ids(ledger) == [r.request_id for r in good]
        assert metric("gateway_ledger_rejected_records_total") - rejected == len(bad)
        assert metric("gateway_ledger_write_failures_total", kind="refused") - refused >= 1
        events = [e for e in logs if e["event"] == "ledger_record_rejected"]
        assert [(e["request_id"], e["log_level"]) for e in events] == [(r.request_id, "error") for r in bad]
        # one JSON line each, ASCII (a lone surrogate is kept as its escape), the record whole
        text = (tmp_path / "ledger-rejected.jsonl").read_bytes().decode("ascii")
        lines = [json.loads(line) for line in text.splitlines()]
        assert [line["record"] for line in lines] == [dataclasses.asdict(r) for r in bad]
        assert all(line["error"] and line["rejected_at"] > 0 for line in lines)
        # the store is not wedged: the next record lands with the next flush
        ledger.record(rec("gina", "claude-opus-4", "anthropic", 100, 1, 0.0, DAY2))
        assert usage_to_json(await ledger.report("gina", "", ""))["totals"]["requests"] == 8
        assert ledger.buffered == 0 and ledger.spooled == 0
    finally:
        await ledger.close()


async def test_a_full_buffer_spills_to_the_spool_and_lands_in_order(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger(buffer_records=3)
    await ledger.start()
    try:
        records = [rec("hugo", "claude-sonnet-4-5", "anthropic", i, 1, 0.0, DAY1 + i) for i in range(1, 11)]
        for r in records:  # faster than any flush: the buffer holds 3, the rest goes to the spool
            ledger.record(r)
        assert ledger.buffered <= 3 and ledger.buffered + ledger.spooled == 10
        assert metric("gateway_ledger_buffered_records") == ledger.buffered
        assert metric("gateway_ledger_spooled_records") == ledger.spooled > 0
        spool = tmp_path / "ledger-spool.jsonl"
        assert len(spool.read_text().splitlines()) == ledger.spooled
        assert usage_to_json(await ledger.report("hugo", "", ""))["totals"]["requests"] == 10
        assert await stored_request_ids(ledger) == [r.request_id for r in records]
        assert not spool.exists() and ledger.spooled == 0
        assert metric("gateway_ledger_spooled_records") == 0
    finally:
        await ledger.close()


async def test_a_replayed_spool_writes_no_record_twice(make_ledger: Callable[..., Ledger], tmp_path: Path) -> None:
    """A process that stops after its spooled records landed but before the spool was removed replays them
    at its next start: the records already in the store are skipped (each record has its own id, even when
    two requests share an X-Request-Id)."""
    first = make_ledger()
    await first.start()
    landed = [rec("iris", "claude-sonnet-4-5", "anthropic", i, 1, 0.0, DAY1) for i in (1, 2, 3)]
    for r in landed:
        first.record(r)
    await first.close()
    later = another(landed[0], prompt_tokens=40, total_tokens=41)  # same request id, new record
    (tmp_path / "ledger-spool.jsonl").write_text("".join(encode_record(r) + "\n" for r in [*landed, later]))
    second = make_ledger()
    await second.start()
    try:
        report = usage_to_json(await second.report("iris", "", ""))
        assert report["totals"]["requests"] == 4 and report["totals"]["prompt_tokens"] == 46
        assert await stored_request_ids(second) == [r.request_id for r in [*landed, later]]
        assert not (tmp_path / "ledger-spool.jsonl").exists()
    finally:
        await second.close()
