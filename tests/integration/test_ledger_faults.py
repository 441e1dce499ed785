"""The usage ledger when its store fails: a locked SQLite, a PostgreSQL stopped and started again, a flush
cancelled half-way, SIGTERM while the store is down. Nothing is lost, nothing is written twice, and the
gateway keeps serving (`/v1/usage` answers 503 `service_unavailable` while the store is down)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import grpc
import jwt
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from bridge.translate import usage_to_json
from service.config import ConfigError, Settings
from service.errors import GatewayError
from service.ledger import Ledger, decode_record
from service.ledger.postgres import PostgresLedger
from service.ledger.sqlite import SQLiteLedger
from service.logs import _render_json
from tests.conftest import fresh_database, run_gateway
from tests.emulators import AnthropicEmulator, LlamaEmulator
from tests.integration.test_grpc import error_info
from tests.integration.test_ledger import DAY1, metric, rec, stored_request_ids
from tests.integration.test_process import spawn
from tests.support.postgres import PostgresServer, start_postgres

SECRET = "ledger-faults-test-secret-long-enough-0123456789"
CLAUDE = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


def bearer(sub: str) -> dict[str, str]:
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own: its tests stop and start it, which no other test should see."""
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
async def pg_dsn(own_postgres: PostgresServer) -> AsyncIterator[str]:
    yield await fresh_database(own_postgres)
    if own_postgres.halted:  # a failed test must not leave it down for the next one
        own_postgres.resume()


class LockedSQLite:
    """Another connection holding SQLite's write lock: for the ledger, its store is down."""

    def __init__(self, path: Path):
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._db.close()


def spool_ids(path: Path) -> list[str]:
    return [decode_record(line).request_id for line in path.read_text(encoding="ascii").splitlines()]


async def test_a_locked_sqlite_does_not_wedge_the_connection(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    ledger = SQLiteLedger(path, flush_interval_s=0.05, busy_timeout_ms=100, max_backoff_s=0.2)
    await ledger.start()
    outages = metric("gateway_ledger_write_failures_total", kind="outage")
    lock = LockedSQLite(path)
    try:
        records = [rec("hank", "claude-sonnet-4-5", "anthropic", i, 1, 0.0, DAY1 + i) for i in range(1, 4)]
        for r in records:
            ledger.record(r)
        with pytest.raises(GatewayError) as info:  # the report flushes first: the store is down
            await ledger.report("hank", "", "")
        assert info.value.code == "service_unavailable" and info.value.kind.http_status == 503
        await asyncio.sleep(0.5)  # several failed flushes, each after busy_timeout
        assert metric("gateway_ledger_write_failures_total", kind="outage") - outages >= 2
        assert ledger.buffered == 3 and ledger.spooled == 0  # kept, in memory, none dropped
        assert not ledger.in_transaction  # every failed BEGIN/INSERT/COMMIT was rolled back
    finally:
        lock.release()
    try:
        report = usage_to_json(await ledger.report("hank", "", ""))
        assert report["totals"]["requests"] == 3 and report["totals"]["prompt_tokens"] == 6
        assert await stored_request_ids(ledger) == [r.request_id for r in records]
    finally:
        await ledger.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def outage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[
        tuple[Callable[..., Ledger], Callable[[], None], Callable[[], None]]]:
    """(a ledger factory on one store with DATA_DIR in tmp_path, take the store down, bring it back)."""
    if request.param == "sqlite":
        path = tmp_path / "usage.sqlite3"
        locks: list[LockedSQLite] = []
        yield (lambda **kw: SQLiteLedger(path, busy_timeout_ms=200, **kw),
               lambda: locks.append(LockedSQLite(path)), lambda: locks.pop().release())
        for lock in locks:
            lock.release()
    else:
        server: PostgresServer = request.getfixturevalue("own_postgres")
        dsn = await fresh_database(server)
        yield lambda **kw: PostgresLedger(dsn, data_dir=tmp_path, **kw), server.halt, server.resume
        if server.halted:
            server.resume()


async def test_a_cancelled_flush_and_a_close_while_the_store_is_down_lose_nothing(
    outage: tuple[Callable[..., Ledger], Callable[[], None], Callable[[], None]], tmp_path: Path
) -> None:
    make, down, up = outage
    ledger = make(flush_interval_s=60.0)  # no background flush: this test drives every write
    await ledger.start()
    records = [rec("ivan", "claude-sonnet-4-5", "anthropic", i, 1, 0.0, DAY1 + i) for i in range(1, 6)]
    for r in records[:2]:
        ledger.record(r)
    await ledger.flush()  # these two landed
    for r in records[2:]:
        ledger.record(r)
    down()
    try:
        flush = asyncio.create_task(ledger.flush())
        await asyncio.sleep(0.05)  # the write is under way (waiting on the lock, or on a dead server)
        flush.cancel()
        await asyncio.gather(flush, return_exceptions=True)
        assert ledger.buffered == 3  # the records the cancelled write had taken are back
        await ledger.close()  # the store is down: what is left goes to the spool
        spool = tmp_path / "ledger-spool.jsonl"
        assert spool_ids(spool) == [r.request_id for r in records[2:]]
    finally:
        up()
    again = make(flush_interval_s=0.05)
    await again.start()  # replays the spool
    try:
        report = usage_to_json(await again.report("ivan", "", ""))
        assert report["totals"]["requests"] == 5 and report["totals"]["prompt_tokens"] == 15
        assert await stored_request_ids(again) == [r.request_id for r in records]
        assert not (tmp_path / "ledger-spool.jsonl").exists()
    finally:
        await again.close()


@pytest.fixture
def pg_settings(settings: Settings, pg_dsn: str) -> Settings:
    return dataclasses.replace(settings, database_url=pg_dsn, jwt_secret=SECRET, ledger_buffer_records=3)


async def test_postgres_stopped_and_started_again_every_record_lands_exactly_once(
    pg_settings: Settings, own_postgres: PostgresServer, http: aiohttp.ClientSession
) -> None:
    running, _ = await run_gateway(pg_settings, "inprocess")
    spool = Path(pg_settings.data_dir) / "ledger-spool.jsonl"
    sent: list[str] = []

    async def chat(request_id: str) -> None:
        async with http.post(f"{running.url}/v1/chat/completions", json=CLAUDE,
                             headers={**bearer("judy"), "X-Request-Id": request_id}) as resp:
            assert resp.status == 200, await resp.text()
        sent.append(request_id)

    async def usage() -> tuple[int, dict]:
        async with http.get(f"{running.url}/v1/usage", headers=bearer("judy")) as resp:
            return resp.status, await resp.json()

    try:
        for i in (1, 2):
            await chat(f"before-{i}")
        status, report = await usage()
        assert status == 200 and report["totals"]["requests"] == 2
        own_postgres.halt()
        try:
            for i in range(1, 9):  # chat goes on while the ledger's store is down
                await chat(f"down-{i}")
            status, body = await usage()
            assert status == 503, body
            assert body["error"]["code"] == body["error"]["type"] == "service_unavailable"
            async with grpc.aio.insecure_channel(running.grpc_target) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await chat_pb2_grpc.ChatServiceStub(channel).GetUsage(
                        pb.GetUsageRequest(), metadata=(("authorization", bearer("judy")["Authorization"]),))
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert error_info(info.value).reason == "service_unavailable"
            await asyncio.sleep(0.3)
            # the buffer (3 records) spilled to the spool, in order; nothing was dropped
            ledger = running.gateway.ledger
            assert ledger.buffered <= 3 and ledger.buffered + ledger.spooled == 8
            spooled = spool_ids(spool)
            assert len(spooled) == ledger.spooled > 0
            first = sent.index(spooled[0])
            assert spooled == sent[first:first + len(spooled)]
            async with http.get(f"{running.url}/metrics") as resp:
                text = await resp.text()
            assert f"gateway_ledger_spooled_records {float(ledger.spooled)}" in text
            assert f"gateway_ledger_buffered_records {float(ledger.buffered)}" in text
            assert metric("gateway_ledger_write_failures_total", kind="outage") >= 1
        finally:
            own_postgres.resume()
        for _ in range(100):  # the first try after the restart may meet a connection the restart closed
            status, report = await usage()
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200, report
        assert report["totals"]["requests"] == 10
        conn = await asyncpg.connect(pg_settings.database_url)
        try:  # every record exactly once, in the order the requests were served
            rows = await conn.fetch("SELECT request_id, record_id FROM usage_records ORDER BY ctid")
        finally:
            await conn.close()
        assert [r["request_id"] for r in rows] == sent
        assert len({r["record_id"] for r in rows}) == 10
        assert not spool.exists() and running.gateway.ledger.spooled == 0
    finally:
        await running.gateway.stop(grace=0.5)


async def test_sigterm_while_the_store_is_down_loses_nothing(
    own_postgres: PostgresServer, pg_dsn: str, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    env = {
        "ANTHROPIC_BASE_URL": anthropic_emu.base_url, "META_API_BASE_URL": llama_emu.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-test-ledger-faults-server-key", "GRPC_PORT": "0", "HTTP_PORT": "0",
        "UPSTREAM_MAX_RETRIES": "0", "JWT_SECRET": SECRET, "DATABASE_URL": pg_dsn,
        "DATA_DIR": str(tmp_path / "data"), "LEDGER_BUFFER_RECORDS": "2", "USAGE_FLUSH_INTERVAL_S": "0.05",
    }
    spool = tmp_path / "data" / "ledger-spool.jsonl"
    proc = await spawn("service", env)
    sent: list[str] = []
    try:
        url = f"http://{(await proc.wait_for('gateway_started'))['http']}"
        own_postgres.halt()
        for i in range(1, 6):
            async with http.post(f"{url}/v1/chat/completions", json=CLAUDE,
                                 headers={**bearer("kate"), "X-Request-Id": f"kate-{i}"}) as resp:
                assert resp.status == 200
            sent.append(f"kate-{i}")
        # a caller whose `sub` is a lone surrogate gets our 401 (never a plain-text 500) and breaks nothing
        async with http.get(f"{url}/v1/usage", headers=bearer("\ud800")) as resp:
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_token"
        async with http.get(f"{url}/v1/usage", headers=bearer("kate")) as resp:
            assert resp.status == 503 and (await resp.json())["error"]["code"] == "service_unavailable"
    finally:
        proc.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.proc.wait(), 30)
        await proc._reader
    assert code == 0, proc.output
    assert spool_ids(spool) == sent  # spooled on the way out: the store was down
    lines = [json.loads(line) for line in proc.output.splitlines() if line.startswith("{")]
    assert any(line["event"] == "ledger_spooled" and line["records"] == 5 for line in lines), proc.output
    own_postgres.resume()
    again = await spawn("service", env)
    try:
        url = f"http://{(await again.wait_for('gateway_started'))['http']}"
        async with http.get(f"{url}/v1/usage", headers=bearer("kate")) as resp:
            report = await resp.json()
        assert resp.status == 200 and report["totals"]["requests"] == 5, report
        assert not spool.exists()
    finally:
        assert await again.stop() == 0
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert [r[0] for r in await conn.fetch("SELECT request_id FROM usage_records ORDER BY ctid")] == sent
    finally:
        await conn.close()


def test_a_log_line_holding_a_lone_surrogate_is_still_written() -> None:
    """The line that reports a refused record names its user and model, which may hold what orjson refuses."""
    line = _render_json({"event": "ledger_record_rejected", "user": "gi\udfffna", "model": "claude-\x00x"})
    assert line.isascii() and json.loads(line) == {"event": "ledger_record_rejected", "user": "gi\udfffna",
                                                   "model": "claude-\x00x"}


def test_the_buffer_size_is_a_validated_setting() -> None:
    assert Settings.from_env({}).ledger_buffer_records == 10_000
    assert Settings.from_env({"LEDGER_BUFFER_RECORDS": "50"}).ledger_buffer_records == 50
    for bad in ("0", "-1", "lots"):
        with pytest.raises(ConfigError, match="LEDGER_BUFFER_RECORDS"):
            Settings.from_env({"LEDGER_BUFFER_RECORDS": bad})
