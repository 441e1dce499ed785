"""Identity, the usage ledger, metrics and the overhead header, end to end over both transports."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import grpc
import jwt
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from service.config import Settings
from tests.conftest import Running, fresh_database, run_gateway
from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator, Turn
from tests.integration.test_grpc import error_info
from tests.integration.test_ledger import stored_request_ids

SECRET = "gateway-test-secret-that-is-long-enough-0123456789"


def token(sub: str, **claims: Any) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 300, **claims}, SECRET, algorithm="HS256")


def bearer(sub: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **claims)}"}


@pytest.fixture(params=["inprocess", "grpc"])
async def gw(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Running]:
    running, runners = await run_gateway(dataclasses.replace(settings, jwt_secret=SECRET), request.param)
    yield running
    for runner in runners:
        await runner.cleanup()
    await running.gateway.stop(grace=0.5)


async def chat(http: aiohttp.ClientSession, gw: Running, body: dict, headers: dict | None = None) -> tuple[int, Any]:
    async with http.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers or {}) as resp:
        return resp.status, await resp.json()


async def usage(http: aiohttp.ClientSession, gw: Running, headers: dict, query: str = "") -> tuple[int, Any]:
    async with http.get(f"{gw.url}/v1/usage{query}", headers=headers) as resp:
        return resp.status, await resp.json()


CLAUDE = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
LLAMA = {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "hi"}]}


async def test_alice_sees_her_usage_and_not_bobs(
    gw: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator
) -> None:
    anthropic_emu.enqueue(Turn(text="a", usage=(1000, 500)), Turn(text="b", usage=(10, 10)))
    llama_emu.enqueue(Turn(text="c", usage=(300, 100)), Fault(status=400))
    assert (await chat(http, gw, CLAUDE, bearer("alice")))[0] == 200
    assert (await chat(http, gw, LLAMA, bearer("alice")))[0] == 200
    assert (await chat(http, gw, LLAMA, bearer("alice")))[0] == 400  # reached the provider: counted
    assert (await chat(http, gw, CLAUDE, bearer("bob")))[0] == 200
    assert (await chat(http, gw, {**CLAUDE, "temperature": 5}, bearer("alice")))[0] == 400  # never left: not counted
    assert (await chat(http, gw, CLAUDE))[0] == 200  # anonymous: stored, readable by nobody
    status, report = await usage(http, gw, bearer("alice"))
    assert status == 200, report
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    claude_cost = round((1000 * 3.0 + 500 * 15.0) / 1e6, 6)
    llama_cost = round((300 * 0.6 + 100 * 1.8) / 1e6, 6)
    assert report == {
        "object": "usage", "user": "alice", "from": None, "to": None,
        "totals": {"requests": 3, "prompt_tokens": 1300, "completion_tokens": 600, "total_tokens": 1900,
                   "cost_usd": round(claude_cost + llama_cost, 6), "unpriced_requests": 0},
        "by_model": [
            {"model": "Llama-3.3-70B-Instruct", "provider": "meta_llama", "requests": 2, "prompt_tokens": 300,
             "completion_tokens": 100, "total_tokens": 400, "cost_usd": llama_cost, "unpriced_requests": 0},
            {"model": "claude-sonnet-4-5", "provider": "anthropic", "requests": 1, "prompt_tokens": 1000,
             "completion_tokens": 500, "total_tokens": 1500, "cost_usd": claude_cost, "unpriced_requests": 0}],
        "by_day": [{"date": today, "requests": 3, "prompt_tokens": 1300, "completion_tokens": 600,
                    "total_tokens": 1900, "cost_usd": round(claude_cost + llama_cost, 6), "unpriced_requests": 0}],
    }
    status, bob = await usage(http, gw, bearer("bob"))
    assert status == 200 and bob["user"] == "bob" and bob["totals"]["requests"] == 1
    assert bob["totals"]["total_tokens"] == 20
    status, window = await usage(http, gw, bearer("alice"), f"?from={today}&to={today}")
    assert status == 200 and window["from"] == today and window["totals"]["requests"] == 3
    status, empty = await usage(http, gw, bearer("alice"), "?from=2020-01-01&to=2020-12-31")
    assert status == 200 and empty["totals"]["requests"] == 0 and empty["by_model"] == []


async def test_streams_and_grpc_calls_are_counted_too(
    gw: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.enqueue(Turn(text="streamed answer", usage=(40, 2)), Turn(text="grpc answer", usage=(5, 5)))
    async with http.post(f"{gw.url}/v1/chat/completions", json={**CLAUDE, "stream": True},
                         headers=bearer("carol")) as resp:
        assert resp.status == 200
        await resp.read()
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        meta = (("authorization", f"Bearer {token('carol')}"),)
        await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(
            model="claude-sonnet-4-5", messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[
                pb.ContentPart(text="hi")])]), metadata=meta)
        report = await stub.GetUsage(pb.GetUsageRequest(), metadata=meta)
    assert report.user == "carol" and report.totals.requests == 2
    assert (report.totals.prompt_tokens, report.totals.completion_tokens) == (45, 7)


@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_token"),
    ({"Authorization": "Bearer sk-placeholder"}, "missing_token"),
    ({"Authorization": f"Bearer {jwt.encode({'sub': 'alice'}, 'x' * 40, algorithm='HS256')}"}, "invalid_token"),
])
async def test_usage_needs_a_verified_caller(gw: Running, http: aiohttp.ClientSession, headers: dict,
                                             code: str) -> None:
    status, body = await usage(http, gw, headers)
    assert status == 401 and body["error"]["code"] == code and body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(("query", "param"), [("?from=2026-13-01", "from"), ("?to=yesterday", "to"),
                                              ("?from=2026-11-25&to=2026-11-01", "from"),
                                              ("?from=20261101", "from")])
async def test_usage_date_errors(gw: Running, http: aiohttp.ClientSession, query: str, param: str) -> None:
    status, body = await usage(http, gw, bearer("alice"), query)
    assert status == 400 and body["error"]["param"] == param


async def test_bad_tokens_on_chat_are_401_and_placeholders_anonymous(
    gw: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    now = int(time.time())
    bad = [
        jwt.encode({"sub": "alice"}, "wrong-secret-wrong-secret-wrong-secret", algorithm="HS256"),  # forged
        jwt.encode({"sub": "alice", "exp": now - 120}, SECRET, algorithm="HS256"),  # expired
        jwt.encode({"sub": "alice"}, None, algorithm="none"),  # alg: none
    ]
    for value in bad:
        status, body = await chat(http, gw, CLAUDE, {"Authorization": f"Bearer {value}"})
        assert status == 401 and body["error"]["code"] == "invalid_token", body
    assert anthropic_emu.requests == []
    status, _ = await chat(http, gw, CLAUDE, {"Authorization": "Bearer sk-openai-sdk-placeholder"})
    assert status == 200


async def test_require_auth(settings: Settings, http: aiohttp.ClientSession) -> None:
    running, _ = await run_gateway(dataclasses.replace(settings, jwt_secret=SECRET, require_auth=True), "inprocess")
    try:
        for path in ("/v1/models", "/v1/tools"):
            async with http.get(running.url + path) as resp:
                assert resp.status == 401 and (await resp.json())["error"]["code"] == "missing_token"
            async with http.get(running.url + path, headers=bearer("alice")) as resp:
                assert resp.status == 200
        assert (await chat(http, running, CLAUDE))[0] == 401
        assert (await chat(http, running, CLAUDE, bearer("alice")))[0] == 200
        for path in ("/healthz", "/readyz", "/metrics"):
            async with http.get(running.url + path) as resp:
                assert resp.status == 200
        async with grpc.aio.insecure_channel(running.grpc_target) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await chat_pb2_grpc.ChatServiceStub(channel).ListModels(pb.ListModelsRequest())
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await running.gateway.stop(grace=0.1)


async def test_overhead_header_and_metrics(gw: Running, http: aiohttp.ClientSession,
                                           anthropic_emu: AnthropicEmulator) -> None:
    anthropic_emu.response_delay = 0.2
    started = time.perf_counter()
    async with http.post(f"{gw.url}/v1/chat/completions", json=CLAUDE, headers=bearer("alice")) as resp:
        assert resp.status == 200
        overhead = float(resp.headers["X-Gateway-Overhead-Ms"])
    total_ms = (time.perf_counter() - started) * 1000
    assert 0 <= overhead < 100 and total_ms >= 200 + overhead  # the 200 ms upstream wait is not overhead
    async with http.get(f"{gw.url}/v1/models") as resp:
        assert float(resp.headers["X-Gateway-Overhead-Ms"]) >= 0
    async with http.post(f"{gw.url}/v1/chat/completions", json={"model": 1}) as resp:
        assert resp.status == 400 and "X-Gateway-Overhead-Ms" in resp.headers
    async with http.get(f"{gw.url}/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    assert 'gateway_requests_total{code="ok",route="/v1/chat/completions",status="200",transport="http"}' in text
    assert ('gateway_requests_total{code="invalid_request",route="/v1/chat/completions",status="400",'
            'transport="http"}') in text
    assert "gateway_overhead_seconds_bucket" in text and "gateway_in_flight_requests" in text
    if gw.transport == "inprocess":  # model-call metrics live where the core runs
        assert 'gateway_tokens_total{kind="prompt",model="claude-sonnet-4-5",provider="anthropic"}' in text
        assert "gateway_upstream_duration_seconds_bucket" in text


async def test_grpc_overhead_trailer(gw: Running) -> None:
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        call = chat_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(pb.CreateChatCompletionRequest(
            model="claude-sonnet-4-5", messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[
                pb.ContentPart(text="hi")])]))
        await call
        trailers = dict(await call.trailing_metadata())
    assert float(trailers["x-gateway-overhead-ms"]) >= 0 and float(trailers["x-upstream-ms"]) > 0
    await asyncio.sleep(0)


# ---- pass-through ids priced by family; an unknown family is unpriced (cost_usd NULL), on both ledger backends ----

@pytest.fixture(params=["sqlite", "postgres"])
async def ledger_gw(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[tuple[Running, str]]:
    """A one-process gateway whose ledger is SQLite under DATA_DIR or a fresh PostgreSQL database; and where
    that ledger is (the SQLite file or the DSN)."""
    cfg = dataclasses.replace(settings, jwt_secret=SECRET)
    where = str(Path(settings.data_dir) / "usage.sqlite3")
    if request.param == "postgres":
        where = await fresh_database(request.getfixturevalue("postgres_server"))
        cfg = dataclasses.replace(cfg, database_url=where)
    running, _ = await run_gateway(cfg, "inprocess")
    yield running, where
    await running.gateway.stop(grace=0.5)


async def stored_costs(where: str) -> list[tuple[str, float | None]]:
    query = "SELECT model, cost_usd FROM usage_records ORDER BY created_at"
    if where.startswith("postgres"):
        conn = await asyncpg.connect(where)
        try:
            return [(r[0], r[1]) for r in await conn.fetch(query)]
        finally:
            await conn.close()
    db = sqlite3.connect(where)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


async def test_pass_through_ids_are_priced_by_family_and_unknown_ones_are_unpriced(
    ledger_gw: tuple[Running, str], http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator,
    llama_emu: LlamaEmulator,
) -> None:
    gw, where = ledger_gw
    anthropic_emu.models["claude-mystery-1"] = 8192  # a model of no known family that the provider serves
    llama_emu.models += ["Mystery-7B", "llama-4-scout-17b-16e-instruct-fp8"]  # the emulator matches ids exactly
    anthropic_emu.enqueue(Turn(text="a", usage=(1000, 500)), Turn(text="b", usage=(200, 100)))
    llama_emu.enqueue(Turn(text="c", usage=(300, 100)), Turn(text="d", usage=(40, 20)))
    hi = [{"role": "user", "content": "hi"}]
    for body in ({"model": "claude-sonnet-4-5-20250929", "messages": hi},  # the catalog entry's provider id
                 {"model": "claude-mystery-1", "messages": hi},
                 {"model": "meta_llama/llama-4-scout-17b-16e-instruct-fp8", "messages": hi},
                 {"provider": "meta_llama", "model": "Mystery-7B", "messages": hi}):
        status, reply = await chat(http, gw, body, bearer("ivy"))
        assert status == 200, reply
    status, report = await usage(http, gw, bearer("ivy"))
    assert status == 200, report
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    sonnet_cost = (1000 * 3.0 + 500 * 15.0) / 1e6  # claude-sonnet-4-5's catalog price
    scout_cost = (300 * 0.6 + 100 * 1.8) / 1e6  # the Llama 4 family's price
    priced = round(sonnet_cost + scout_cost, 6)
    assert report == {
        "object": "usage", "user": "ivy", "from": None, "to": None,
        "totals": {"requests": 4, "prompt_tokens": 1540, "completion_tokens": 720, "total_tokens": 2260,
                   "cost_usd": priced, "unpriced_requests": 2},
        "by_model": [
            {"model": "Mystery-7B", "provider": "meta_llama", "requests": 1, "prompt_tokens": 40,
             "completion_tokens": 20, "total_tokens": 60, "cost_usd": 0.0, "unpriced_requests": 1},
            {"model": "claude-mystery-1", "provider": "anthropic", "requests": 1, "prompt_tokens": 200,
             "completion_tokens": 100, "total_tokens": 300, "cost_usd": 0.0, "unpriced_requests": 1},
            {"model": "claude-sonnet-4-5-20250929", "provider": "anthropic", "requests": 1, "prompt_tokens": 1000,
             "completion_tokens": 500, "total_tokens": 1500, "cost_usd": round(sonnet_cost, 6),
             "unpriced_requests": 0},
            {"model": "meta_llama/llama-4-scout-17b-16e-instruct-fp8", "provider": "meta_llama", "requests": 1,
             "prompt_tokens": 300, "completion_tokens": 100, "total_tokens": 400, "cost_usd": round(scout_cost, 6),
             "unpriced_requests": 0}],
        "by_day": [{"date": today, "requests": 4, "prompt_tokens": 1540, "completion_tokens": 720,
                    "total_tokens": 2260, "cost_usd": priced, "unpriced_requests": 2}],
    }
    # the stored rows: exact costs for the priced, NULL (not 0) for the unpriced
    assert await stored_costs(where) == [
        ("claude-sonnet-4-5-20250929", sonnet_cost), ("claude-mystery-1", None),
        ("meta_llama/llama-4-scout-17b-16e-instruct-fp8", scout_cost), ("Mystery-7B", None)]
    # the GetUsage RPC carries the same counts
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        rpc = await chat_pb2_grpc.ChatServiceStub(channel).GetUsage(
            pb.GetUsageRequest(), metadata=(("authorization", f"Bearer {token('ivy')}"),))
    assert (rpc.totals.requests, rpc.totals.unpriced_requests, rpc.totals.cost_usd) == (4, 2, priced)
    assert {m.model: m.totals.unpriced_requests for m in rpc.by_model} == {
        "Mystery-7B": 1, "claude-mystery-1": 1, "claude-sonnet-4-5-20250929": 0,
        "meta_llama/llama-4-scout-17b-16e-instruct-fp8": 0}
    assert [(d.date, d.totals.unpriced_requests) for d in rpc.by_day] == [(today, 2)]


# --------------------------------------------------------------------------------------------------
# Text no store can hold (a NUL character, a lone UTF-16 surrogate) is refused at the edge, on both stores
# --------------------------------------------------------------------------------------------------

USER_KEY = {"X-Provider-Key": "sk-ant-test-callers-own-key-0123456789"}


@pytest.fixture(params=[("inprocess", "sqlite"), ("grpc", "sqlite"), ("inprocess", "postgres"), ("grpc", "postgres")],
                ids=lambda p: "-".join(p))
async def gw_store(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Running]:
    transport, store = request.param
    cfg = dataclasses.replace(settings, jwt_secret=SECRET)
    if store == "postgres":
        cfg = dataclasses.replace(cfg, database_url=await fresh_database(request.getfixturevalue("postgres_server")))
    running, runners = await run_gateway(cfg, transport)
    yield running
    for runner in runners:
        await runner.cleanup()
    await running.gateway.stop(grace=0.5)


def _raw(**fields: Any) -> bytes:
    """A chat body as JSON text: json.dumps escapes a NUL (\\u0000) and a lone surrogate (\\ud800) as a client
    would."""
    return json.dumps({**CLAUDE, **fields}).encode()


BAD_REST_BODIES = [
    (_raw(model="claude-\x00x"), "model"),
    (_raw(model="claude-\ud800x"), "model"),
    (_raw(model="claude-\udc00"), "model"),
    (_raw(user="u\x00"), "user"),
    (_raw(user="\udfff"), "user"),
    (_raw(metadata={"k\ud800": "v"}), "metadata"),
    (_raw(metadata={"k\x00": "v"}), "metadata"),
    (_raw(metadata={"k": "v\ud800"}), "metadata.k"),
    (_raw(metadata={"k": "v\x00"}), "metadata.k"),
    (_raw(messages=[{"role": "user", "content": "\ud83d"}]), "messages[0].content"),  # half an emoji
]


def _fit_for_logs(message: str) -> bool:
    """No NUL, no lone surrogate: the text can be written as UTF-8 and stored anywhere."""
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in message


async def _stored(gw: Running) -> int:
    return len(await stored_request_ids(gw.gateway.ledger))


async def test_text_no_store_can_hold_is_refused_at_the_rest_edge(
    gw_store: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    gw = gw_store
    for raw, param in BAD_REST_BODIES:
        async with http.post(f"{gw.url}/v1/chat/completions", data=raw,
                             headers={"Content-Type": "application/json", **USER_KEY}) as resp:
            body = await resp.json()
        assert resp.status == 400, (raw, body)
        assert (body["error"]["code"], body["error"]["param"]) == ("invalid_request", param), (raw, body)
        assert _fit_for_logs(body["error"]["message"]), body
    for sub in ("\ud800", "ali\udfffce", "ali\x00ce"):  # PyJWT accepts these; no store can hold them
        status, body = await chat(http, gw, CLAUDE, {**bearer(sub), **USER_KEY})
        assert (status, body["error"]["code"]) == (401, "invalid_token"), body
        assert _fit_for_logs(body["error"]["message"]), body
        status, body = await usage(http, gw, bearer(sub))
        assert (status, body["error"]["code"]) == (401, "invalid_token"), body
    assert anthropic_emu.requests == []  # nothing reached the provider...
    assert await _stored(gw) == 0  # ...and nothing was written
    # the ledger goes on: alice's call is recorded and her usage is served
    assert (await chat(http, gw, CLAUDE, bearer("alice")))[0] == 200
    status, report = await usage(http, gw, bearer("alice"))
    assert status == 200 and report["totals"]["requests"] == 1
    assert await _stored(gw) == 1


async def test_text_no_store_can_hold_is_refused_at_the_grpc_edge(
    gw_store: Running, anthropic_emu: AnthropicEmulator
) -> None:
    def request(**fields: Any) -> pb.CreateChatCompletionRequest:
        return pb.CreateChatCompletionRequest(**{"model": "claude-sonnet-4-5", **fields}, messages=[
            pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])])

    # a lone surrogate cannot travel in a protobuf string (UTF-8 only): a NUL character can
    cases = [(request(model="claude-\x00x"), "model"), (request(user="u\x00"), "user"),
             (request(metadata={"k\x00": "v"}), "metadata"), (request(metadata={"k": "v\x00"}), "metadata.k")]
    async with grpc.aio.insecure_channel(gw_store.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        for req, param in cases:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.CreateChatCompletion(req, metadata=(("x-provider-key", USER_KEY["X-Provider-Key"]),))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, req
            details = error_info(info.value)
            assert (details.reason, details.metadata["param"]) == ("invalid_request", param)
            assert _fit_for_logs(info.value.details() or "")
        for sub in ("\ud800", "ali\x00ce"):
            meta = (("authorization", bearer(sub)["Authorization"]),)
            for call in (stub.CreateChatCompletion(request(), metadata=meta),
                         stub.GetUsage(pb.GetUsageRequest(), metadata=meta)):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert error_info(info.value).reason == "invalid_token"
    assert anthropic_emu.requests == []
    assert await _stored(gw_store) == 0
