"""Limits per caller through the gateway (issue 12), as a client sees them: 429s with Retry-After and
OpenAI's x-ratelimit-* headers on REST, RESOURCE_EXHAUSTED with ErrorInfo, RetryInfo and the same as
metadata on gRPC, GET /v1/limits and GetLimits, and the limits shared by two gateway processes through
one Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import jwt
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc
from google.rpc import error_details_pb2, status_pb2

from service.config import Settings
from tests.conftest import Running, run_gateway
from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator, Turn
from tests.integration.test_grpc import error_info
from tests.integration.test_openapi import validate
from tests.integration.test_process import spawn
from tests.support.redis import RedisServer

SECRET = "limits-test-secret-that-is-long-enough-0123456789"
CLAUDE = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
USER_KEY = "sk-ant-test-limits-users-own-key-ABC456"


def bearer(sub: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode({"sub": sub, "exp": int(time.time()) + 300}, SECRET,
                                                    algorithm="HS256")}


@pytest.fixture
def limits() -> dict[str, Any]:
    """The test's limit settings (a test sets them with `with_limits`)."""
    return {}


def with_limits(**values: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("limits", [values], ids=[""])


@pytest.fixture
def limited(settings: Settings, limits: dict[str, Any]) -> Settings:
    """The settings with a JWT secret and the test's limits."""
    return dataclasses.replace(settings, jwt_secret=SECRET, **limits)


@pytest.fixture(params=["inprocess", "grpc"])
async def gw(request: pytest.FixtureRequest, limited: Settings) -> AsyncIterator[Running]:
    running, runners = await run_gateway(limited, request.param)
    yield running
    for runner in runners:
        await runner.cleanup()
    await running.gateway.stop(grace=0.5)


async def chat(http: aiohttp.ClientSession, url: str, headers: dict | None = None,
               body: dict | None = None) -> tuple[int, dict, Any]:
    async with http.post(f"{url}/v1/chat/completions", json=body or CLAUDE, headers=headers or {}) as resp:
        return resp.status, dict(resp.headers), await resp.json()


def ratelimit(headers: dict) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-ratelimit-")}


def records(settings: Settings) -> int:
    with sqlite3.connect(Path(settings.data_dir) / "usage.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM usage_records").fetchone()[0]


async def settle(gw: Running) -> None:
    await gw.gateway.ledger.flush()


@with_limits(rate_limit_rpm=5)
async def test_sixth_call_in_a_minute_is_429_with_retry_after_and_headers(
    gw: Running, limited: Settings, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    alice = bearer("alice")
    for n in range(5):
        status, headers, _ = await chat(http, gw.url, alice)
        assert status == 200
        got = ratelimit(headers)
        assert (got["x-ratelimit-limit-requests"], got["x-ratelimit-remaining-requests"]) == ("5", str(4 - n))
        assert got["x-ratelimit-reset-requests"].endswith("s")
        assert "x-ratelimit-limit-tokens" not in got  # no tpm: no token headers
    await settle(gw)
    sent, stored = len(anthropic_emu.requests), records(limited)
    status, headers, body = await chat(http, gw.url, alice)
    assert status == 429
    assert body["error"] == {"message": body["error"]["message"], "type": "rate_limit_error",
                             "code": "rate_limited", "param": None}
    validate(body, "Error")
    assert headers["Retry-After"] == "12"  # 60 s / 5: the oldest request's share comes back in 12 s
    got = ratelimit(headers)
    assert (got["x-ratelimit-limit-requests"], got["x-ratelimit-remaining-requests"]) == ("5", "0")
    # a refused call reached no provider and wrote no usage record
    await settle(gw)
    assert (len(anthropic_emu.requests), records(limited)) == (sent, stored)
    # another caller has a bucket of its own
    status, headers, _ = await chat(http, gw.url, bearer("bob"))
    assert (status, ratelimit(headers)["x-ratelimit-remaining-requests"]) == (200, "4")


@with_limits(rate_limit_rpm=2)
async def test_anonymous_callers_share_one_bucket(gw: Running, http: aiohttp.ClientSession) -> None:
    assert (await chat(http, gw.url))[0] == 200
    assert (await chat(http, gw.url, {"X-Request-Id": "someone-else"}))[0] == 200
    status, headers, body = await chat(http, gw.url)
    assert (status, body["error"]["code"], headers["Retry-After"]) == (429, "rate_limited", "30")
    assert (await chat(http, gw.url, bearer("anonymous")))[0] == 200  # a JWT sub is never the anonymous bucket


@with_limits(budget_usd_per_day=0.000001)
async def test_budget_refuses_the_call_after_the_one_that_spent_it_except_on_own_key(
    gw: Running, limited: Settings, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    carol = bearer("carol")
    assert (await chat(http, gw.url, carol))[0] == 200
    sent = len(anthropic_emu.requests)
    status, headers, body = await chat(http, gw.url, carol)
    now = time.time()
    assert (status, body["error"]["code"], body["error"]["type"]) == (429, "budget_exceeded", "rate_limit_error")
    assert abs(int(headers["Retry-After"]) - (86400 - now % 86400)) <= 2  # the next UTC midnight
    assert ratelimit(headers) == {}  # no rate limit: no x-ratelimit-*
    assert len(anthropic_emu.requests) == sent
    # the caller's own provider key is exempt from the budget
    status, _, _ = await chat(http, gw.url, {**carol, "X-Provider-Key": USER_KEY})
    assert status == 200
    assert anthropic_emu.requests[-1].api_key == USER_KEY
    # the ledger is the source: a fresh read of today's spending still refuses
    await settle(gw)
    assert await gw.gateway.ledger.spent_today("carol") > 0.000001
    assert await gw.gateway.ledger.spent_today("dave") == 0.0


@with_limits(budget_usd_per_day=0.0001)
async def test_spending_on_the_callers_own_key_does_not_count_toward_the_budget(
    gw: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    erin = bearer("erin")
    for _ in range(3):  # each call costs more than the whole budget, paid with erin's own key
        assert (await chat(http, gw.url, {**erin, "X-Provider-Key": USER_KEY}))[0] == 200
    await settle(gw)
    assert await gw.gateway.ledger.spent_today("erin") == 0.0  # what the budget counts: the operator's keys
    async with http.get(f"{gw.url}/v1/limits", headers=erin) as resp:
        assert (await resp.json())["budget_usd_per_day"]["spent"] == 0.0
    assert (await chat(http, gw.url, erin))[0] == 200  # the first call on the operator's key is admitted
    assert anthropic_emu.requests[-1].api_key != USER_KEY
    status, _, body = await chat(http, gw.url, erin)  # and that one spent the budget
    assert (status, body["error"]["code"]) == (429, "budget_exceeded")
    async with http.get(f"{gw.url}/v1/usage", headers=erin) as resp:
        assert (await resp.json())["totals"]["requests"] == 4  # the usage report still shows every call


@with_limits(max_concurrent=2)
async def test_third_concurrent_call_is_too_many_concurrent(
    gw: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.enqueue(Fault(delay=1.0), Fault(delay=1.0))
    erin = bearer("erin")
    held = [asyncio.create_task(chat(http, gw.url, erin)) for _ in range(2)]
    async with asyncio.timeout(10):  # both reached the provider
        while len(anthropic_emu.requests) < 2:  # noqa: ASYNC110 - the emulator has no event to wait on
            await asyncio.sleep(0.01)
    status, headers, body = await chat(http, gw.url, erin)
    assert (status, body["error"]["code"], headers["Retry-After"]) == (429, "too_many_concurrent", "1")
    assert len(anthropic_emu.requests) == 2
    assert [r[0] for r in await asyncio.gather(*held)] == [200, 200]
    assert (await chat(http, gw.url, erin))[0] == 200  # the slots came back


@with_limits(rate_limit_tpm=100)
@pytest.mark.parametrize("stream", [False, True])
async def test_tokens_are_charged_after_the_response_streams_at_their_end(
    gw: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, stream: bool
) -> None:
    anthropic_emu.enqueue(Turn(text="hello there", usage=(60, 50)))
    frank = bearer("frank")
    body = {**CLAUDE, "stream": True, "stream_options": {"include_usage": True}} if stream else CLAUDE
    async with http.post(f"{gw.url}/v1/chat/completions", json=body, headers=frank) as resp:
        assert resp.status == 200
        # stream or not, in process or through a separate bridge: the headers as admitted, before any token
        assert ratelimit(dict(resp.headers)) == {"x-ratelimit-limit-tokens": "100",
                                                 "x-ratelimit-remaining-tokens": "100",
                                                 "x-ratelimit-reset-tokens": "0s"}
        await resp.read()
    # 110 tokens against 100 per minute: the caller owes 10 tokens (6 s) plus one token's interval
    status, headers, body = await chat(http, gw.url, frank)
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert headers["Retry-After"] == "7"
    assert ratelimit(headers)["x-ratelimit-remaining-tokens"] == "0"


@with_limits(rate_limit_rpm=1)
async def test_grpc_refusal_is_resource_exhausted_with_error_info_retry_info_and_metadata(gw: Running) -> None:
    meta = tuple(bearer("gina").items())
    meta = ((meta[0][0].lower(), meta[0][1]),)
    req = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5",
                                         messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])])
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        call = stub.CreateChatCompletion(req, metadata=meta)
        await call
        trailers = dict(await call.trailing_metadata())
        assert (trailers["x-ratelimit-limit-requests"], trailers["x-ratelimit-remaining-requests"]) == ("1", "0")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateChatCompletion(req, metadata=meta)
        exc = refused.value
        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info = error_info(exc)
        assert (info.reason, info.metadata["retry_after"]) == ("rate_limited", "60")
        trailers = dict(exc.trailing_metadata())
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        retry = error_details_pb2.RetryInfo()
        assert [d.Unpack(retry) for d in status.details if d.Is(retry.DESCRIPTOR)] == [True]
        assert retry.retry_delay.seconds == 60
        assert (trailers["x-ratelimit-limit-requests"], trailers["x-ratelimit-remaining-requests"]) == ("1", "0")
        # a stream is refused before its first message, the same way
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stub.StreamChatCompletion(pb.StreamChatCompletionRequest(request=req), metadata=meta):
                pass
        assert error_info(refused.value).reason == "rate_limited"


@with_limits(rate_limit_rpm=2)
async def test_grpc_stream_sends_the_rate_headers_before_its_first_chunk(gw: Running) -> None:
    meta = (("authorization", bearer("hugo")["Authorization"]), ("x-request-id", "limits-stream-1"))
    req = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5",
                                         messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])])
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        call = chat_pb2_grpc.ChatServiceStub(channel).StreamChatCompletion(
            pb.StreamChatCompletionRequest(request=req), metadata=meta)
        head = dict(await call.initial_metadata())  # before any chunk is read
        assert {k: v for k, v in head.items() if k.startswith("x-")} == {
            "x-request-id": "limits-stream-1", "x-ratelimit-limit-requests": "2",
            "x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "30s"}
        assert len([chunk async for chunk in call]) > 1
        # refused before its first message: the request id still comes in the initial metadata
        await chat_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(req, metadata=meta)
        call = chat_pb2_grpc.ChatServiceStub(channel).StreamChatCompletion(
            pb.StreamChatCompletionRequest(request=req), metadata=meta)
        assert dict(await call.initial_metadata())["x-request-id"] == "limits-stream-1"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.read()
        assert error_info(refused.value).reason == "rate_limited"


@with_limits(rate_limit_rpm=5, rate_limit_tpm=60, max_concurrent=3)
async def test_limits_report_exact_remaining_counts(
    gw: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.enqueue(Turn(text="a", usage=(10, 10)), Turn(text="b", usage=(10, 10)))
    hana = bearer("hana")
    for _ in range(2):
        assert (await chat(http, gw.url, hana))[0] == 200
    async with http.get(f"{gw.url}/v1/limits", headers=hana) as resp:
        assert resp.status == 200
        got = await resp.json()
    validate(got, "Limits")
    assert got["requests"]["reset_s"] == pytest.approx(24, abs=2)
    assert got["tokens"]["reset_s"] == pytest.approx(40, abs=2)
    got["requests"]["reset_s"] = got["tokens"]["reset_s"] = None
    assert got == {"object": "limits", "user": "hana",
                   "requests": {"limit": 5, "remaining": 3, "reset_s": None},
                   "tokens": {"limit": 60, "remaining": 20, "reset_s": None},
                   "budget_usd_per_day": {"limit": None, "spent": None, "remaining": None},
                   "max_concurrent": {"limit": 3, "in_flight": 0}}
    async with http.get(f"{gw.url}/v1/limits") as resp:  # the anonymous callers: untouched
        anon = await resp.json()
    assert (anon["user"], anon["requests"], anon["tokens"]["remaining"]) == (
        None, {"limit": 5, "remaining": 5, "reset_s": 0.0}, 60)
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        resp = await chat_pb2_grpc.ChatServiceStub(channel).GetLimits(
            pb.GetLimitsRequest(), metadata=(("authorization", hana["Authorization"]),))
    assert (resp.user, resp.requests.limit, resp.requests.remaining, resp.tokens.remaining) == ("hana", 5, 3, 20)
    assert (resp.max_concurrent.limit, resp.max_concurrent.in_flight) == (3, 0)
    assert not resp.HasField("budget_usd_per_day")


@with_limits(budget_usd_per_day=1.5)
async def test_limits_report_the_budget(gw: Running, http: aiohttp.ClientSession) -> None:
    ivy = bearer("ivy")
    assert (await chat(http, gw.url, ivy))[0] == 200
    async with http.get(f"{gw.url}/v1/limits", headers=ivy) as resp:
        got = await resp.json()
    validate(got, "Limits")
    budget = got["budget_usd_per_day"]
    assert budget["limit"] == 1.5 and 0 < budget["spent"] < 0.01
    assert budget["remaining"] == pytest.approx(1.5 - budget["spent"], abs=1e-6)
    assert got["requests"] == {"limit": None, "remaining": None, "reset_s": None}


async def test_without_limits_nothing_is_added(gw: Running, http: aiohttp.ClientSession) -> None:
    status, headers, _ = await chat(http, gw.url, bearer("jack"))
    assert (status, ratelimit(headers)) == (200, {})
    async with http.get(f"{gw.url}/readyz") as resp:
        assert await resp.json() == {"status": "ready"}
    async with http.get(f"{gw.url}/v1/limits") as resp:
        assert (await resp.json())["max_concurrent"] == {"limit": None, "in_flight": None}


async def test_limits_need_a_token_when_auth_is_required(settings: Settings, http: aiohttp.ClientSession) -> None:
    running, _ = await run_gateway(dataclasses.replace(settings, jwt_secret=SECRET, require_auth=True,
                                                       rate_limit_rpm=5), "inprocess")
    try:
        async with http.get(f"{running.url}/v1/limits") as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (401, "missing_token")
        async with http.get(f"{running.url}/v1/limits", headers=bearer("kim")) as resp:
            assert resp.status == 200
    finally:
        await running.gateway.stop(grace=0.1)


async def test_redis_down_fails_open_and_readyz_says_degraded(
    limited: Settings, redis_url: str, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    running, _ = await run_gateway(dataclasses.replace(limited, redis_url=redis_url, rate_limit_rpm=2),
                                   "inprocess")
    leo = bearer("leo")
    try:
        assert [(await chat(http, running.url, leo))[0] for _ in range(3)] == [200, 200, 429]
        async with http.get(f"{running.url}/readyz") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ready", "limits": "ok"})
        redis_server.stop()
        # rates fail open: no request fails because Redis is gone
        assert [(await chat(http, running.url, leo))[0] for _ in range(3)] == [200, 200, 200]
        async with http.get(f"{running.url}/readyz") as resp:
            ready = await resp.json()
            assert (resp.status, ready) == (200, {"status": "ready", "limits": "degraded"})
            validate(ready, "Status")
        redis_server.start()  # back, empty: enforced again once the store's probe sees it
        deadline = time.monotonic() + 10
        while running.gateway.limiter.healthy is False and time.monotonic() < deadline:
            await chat(http, running.url, bearer("probe"))
            await asyncio.sleep(0.2)
        assert [(await chat(http, running.url, leo))[0] for _ in range(3)] == [200, 200, 429]
        async with http.get(f"{running.url}/readyz") as resp:
            assert (await resp.json())["limits"] == "ok"
    finally:
        redis_server.start()
        await running.gateway.stop(grace=0.1)


@pytest.fixture
def process_env(anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator, tmp_path: Path) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": anthropic_emu.base_url, "META_API_BASE_URL": llama_emu.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-test-limits-server-key-XYZ123", "META_API_KEY": "LLM|test|limits-key",
            "GRPC_PORT": "0", "HTTP_PORT": "0", "UPSTREAM_MAX_RETRIES": "0", "JWT_SECRET": SECRET,
            "DATA_DIR": str(tmp_path / "data")}


async def test_two_gateway_processes_on_one_redis_admit_exactly_the_limit(
    process_env: dict[str, str], redis_url: str, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    env = {**process_env, "REDIS_URL": redis_url, "RATE_LIMIT_RPM": "5"}
    procs = [await spawn("service", {**env, "DATA_DIR": f"{env['DATA_DIR']}{i}"}) for i in range(2)]
    try:
        urls = [f"http://{(await p.wait_for('gateway_started'))['http']}" for p in procs]
        mona = bearer("mona")
        statuses = await asyncio.gather(*(chat(http, urls[i % 2], mona) for i in range(12)))
        assert sorted(s[0] for s in statuses) == [200] * 5 + [429] * 7
        assert len(anthropic_emu.requests) == 5
    finally:
        for p in procs:
            assert await p.stop() == 0, p.output
    lines = [json.loads(line) for p in procs for line in p.output.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("event") == "request" and line.get("error") == "rate_limited"]
    # a refusal is logged sampled (the first per caller and reason in 10 s per process), not once each
    assert 1 <= len(refused) <= 2
    assert sum(line["refusals"] for line in refused) <= 7


async def test_sighup_reloads_the_limits_file(
    process_env: dict[str, str], tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    limits_file = tmp_path / "limits.json"
    limits_file.write_text(json.dumps({"default": {"rpm": 100}}))
    proc = await spawn("service", {**process_env, "LIMITS_FILE": str(limits_file)})
    try:
        url = f"http://{(await proc.wait_for('gateway_started'))['http']}"
        nina = bearer("nina")
        status, headers, _ = await chat(http, url, nina)
        assert (status, ratelimit(headers)["x-ratelimit-limit-requests"]) == (200, "100")
        limits_file.write_text("{not json")  # a bad file: logged, the limits in force stay
        os.kill(proc.proc.pid, signal.SIGHUP)
        await proc.wait_for("limits_reload_failed")
        assert (await chat(http, url, nina))[0] == 200
        limits_file.write_text(json.dumps({"default": {"rpm": 1}, "callers": {"omar": {"rpm": 0}}}))
        os.kill(proc.proc.pid, signal.SIGHUP)
        await proc.wait_for("limits_reloaded")
        status, headers, body = await chat(http, url, nina)
        assert (status, body["error"]["code"], ratelimit(headers)["x-ratelimit-limit-requests"]) == (
            429, "rate_limited", "1")
        status, headers, _ = await chat(http, url, bearer("omar"))  # lifted for omar
        assert (status, ratelimit(headers)) == (200, {})
    finally:
        assert await proc.stop() == 0, proc.output
