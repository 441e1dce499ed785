"""The usage ledger on both backends: batching, reports, restarts, and several replicas on one PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bridge.translate import usage_to_json
from service.ledger import Ledger, UsageRecord
from service.ledger.postgres import PostgresLedger
from service.ledger.sqlite import SQLiteLedger
from tests.conftest import fresh_database
from tests.support.postgres import PostgresServer

DAY1 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC).timestamp()
DAY2 = dt.datetime(2026, 11, 24, 23, 59, 59, tzinfo=dt.UTC).timestamp()
DAY3 = dt.datetime(2026, 11, 25, 0, 0, 1, tzinfo=dt.UTC).timestamp()


def rec(user: str | None, model: str, provider: str, prompt: int, completion: int, cost: float, at: float,
        status: str = "ok", iterations: int = 1) -> UsageRecord:
    return UsageRecord(f"req-{user}-{at}-{prompt}", user, provider, model, iterations, prompt, completion,
                       prompt + completion, cost, status, 12.5, at)


@pytest.fixture(params=["sqlite", "postgres"])
async def make_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Ledger]]:
    """A factory of ledgers that share one store (so a second one sees a restart or another replica)."""
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        dsn = await fresh_database(server)
        yield lambda: PostgresLedger(dsn, flush_interval_s=0.05)
    else:
        yield lambda: SQLiteLedger(tmp_path / "usage.sqlite3", flush_interval_s=0.05)


async def test_report_groups_by_model_and_day_and_never_shows_others(make_ledger: Callable[[], Ledger]) -> None:
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
                       "cost_usd": 0.001165},
            "by_model": [
                {"model": "Llama-3.3-70B-Instruct", "provider": "meta_llama", "requests": 1, "prompt_tokens": 7,
                 "completion_tokens": 3, "total_tokens": 10, "cost_usd": 0.00001},
                {"model": "claude-sonnet-4-5", "provider": "anthropic", "requests": 3, "prompt_tokens": 110,
                 "completion_tokens": 55, "total_tokens": 165, "cost_usd": 0.001155}],
            "by_day": [
                {"date": "2026-11-23", "requests": 1, "prompt_tokens": 100, "completion_tokens": 50,
                 "total_tokens": 150, "cost_usd": 0.00105},
                {"date": "2026-11-24", "requests": 1, "prompt_tokens": 10, "completion_tokens": 5,
                 "total_tokens": 15, "cost_usd": 0.000105},
                {"date": "2026-11-25", "requests": 2, "prompt_tokens": 7, "completion_tokens": 3,
                 "total_tokens": 10, "cost_usd": 0.00001}],
        }
        window = usage_to_json(await ledger.report("alice", "2026-11-24", "2026-11-24"))
        assert (window["from"], window["to"], window["totals"]["requests"]) == ("2026-11-24", "2026-11-24", 1)
        assert [d["date"] for d in window["by_day"]] == ["2026-11-24"]
        assert usage_to_json(await ledger.report("carol", "", ""))["totals"]["requests"] == 0
        # the anonymous rows are stored but belong to nobody
        assert usage_to_json(await ledger.report("None", "", ""))["totals"]["requests"] == 0
    finally:
        await ledger.close()


async def test_records_survive_a_restart(make_ledger: Callable[[], Ledger]) -> None:
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


async def test_background_flush_without_report(make_ledger: Callable[[], Ledger]) -> None:
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
