"""What an operator reads: the request log line of every call (its error, whether it streamed, why an
upstream could not be reached) and the /metrics label vocabulary, over REST and gRPC."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import grpc
import pytest
import structlog
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from service.config import Settings
from service.errors import ERRORS
from service.providers.http import describe_failure, safe_url
from tests.conftest import Running, run_gateway
from tests.emulators import AnthropicEmulator, Fault

CLAUDE = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
CHAT = "/v1/chat/completions"


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the gateway under test, as the dict handed to the renderer."""
    with structlog.testing.capture_logs() as captured:
        yield captured


async def request_lines(logs: list[dict[str, Any]], count: int, transport: str | None = None) -> list[dict]:
    """The first `count` request lines (of `transport`), waiting briefly: a stream's line follows its last byte."""
    for _ in range(200):
        found = [e for e in logs if e["event"] == "request" and transport in (None, e["transport"])]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} request lines, got {logs}")


async def start(settings: Settings, transport: str) -> AsyncIterator[Running]:
    running, runners = await run_gateway(settings, transport)
    try:
        yield running
    finally:
        for runner in runners:
            await runner.cleanup()
        await running.gateway.stop(grace=0.2)


@pytest.fixture(params=["inprocess", "grpc"])
async def keyless(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Running]:
    """A gateway with no server-side provider keys."""
    async for running in start(dataclasses.replace(settings, provider_env={**settings.provider_env, "ANTHROPIC_API_KEY": ""}), request.param):
        yield running


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def user(text: str) -> pb.ChatMessage:
    return pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text=text)])


def error_fields(line: dict[str, Any]) -> dict[str, Any]:
    return {k: line[k] for k in ("status", "error", "error_message", "error_param", "stream") if k in line}


# --------------------------------------------------------------------------------------------------
# REST: every failed request's line names its error
# --------------------------------------------------------------------------------------------------

REST_FAILURES: list[tuple[str, Any, dict[str, Any]]] = [
    ("not json", b"{nope", {"status": 400, "error": "invalid_request", "stream": False}),
    ("bad temperature", {**CLAUDE, "temperature": 5},
     {"status": 400, "error": "invalid_request", "error_param": "temperature", "stream": False}),
    ("bad temperature, streamed", {**CLAUDE, "temperature": 5, "stream": True},
     {"status": 400, "error": "invalid_request", "error_param": "temperature", "stream": True}),
    ("no model", {"messages": CLAUDE["messages"]},
     {"status": 400, "error": "invalid_request", "error_param": "model", "stream": False}),
    ("unknown provider", {**CLAUDE, "provider": "xyz"},
     {"status": 400, "error": "unsupported_provider", "error_param": "provider", "stream": False}),
]


# the others are refused by the bridge itself
REACH_THE_SERVICE = ("bad temperature", "bad temperature, streamed", "unknown provider")


@pytest.mark.parametrize(("case", "body", "expected"), REST_FAILURES, ids=[c[0] for c in REST_FAILURES])
async def test_rest_validation_failures_log_code_message_param_and_stream(
    gateway: Running, http: aiohttp.ClientSession, logs: list[dict], case: str, body: Any, expected: dict
) -> None:
    kw: dict[str, Any] = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(
        body, bytes) else {"json": body}
    async with http.post(gateway.url + CHAT, **kw) as resp:
        sent = (await resp.json())["error"]
    assert resp.status == expected["status"]
    [line] = await request_lines(logs, 1, "http")
    assert line["route"] == f"POST {CHAT}" and line["request_id"] == resp.headers["X-Request-Id"]
    assert error_fields(line) == {**expected, "error_message": sent["message"]}
    assert sent["param"] == expected.get("error_param")
    if gateway.transport == "grpc" and case in REACH_THE_SERVICE:  # the service's own line says the same
        [rpc] = await request_lines(logs, 1, "grpc")
        assert rpc["grpc_code"] == "INVALID_ARGUMENT"
        assert error_fields(rpc) == {**expected, "error_message": sent["message"]}


async def test_missing_api_key_and_unknown_route_are_logged_with_their_error(
    keyless: Running, http: aiohttp.ClientSession, logs: list[dict]
) -> None:
    async with http.post(keyless.url + CHAT, json={**CLAUDE, "stream": True}) as resp:
        sent = (await resp.json())["error"]
    assert resp.status == 401 and sent["code"] == "missing_api_key"
    async with http.get(keyless.url + "/v1/nope") as resp:
        assert resp.status == 404
    first, second = await request_lines(logs, 2, "http")
    assert error_fields(first) == {"status": 401, "error": "missing_api_key", "stream": True,
                                   "error_message": sent["message"]}
    assert "ANTHROPIC_API_KEY" in first["error_message"]
    assert error_fields(second) == {"status": 404, "error": "not_found",
                                    "error_message": "No such route: /v1/nope"}  # not a chat line: no stream


async def test_successful_lines_say_whether_they_streamed_and_carry_no_error(
    gateway: Running, http: aiohttp.ClientSession, logs: list[dict]
) -> None:
    async with http.post(gateway.url + CHAT, json=CLAUDE) as resp:
        assert resp.status == 200
    async with http.post(gateway.url + CHAT, json={**CLAUDE, "stream": True}) as resp:
        assert resp.status == 200
        await resp.read()
    async with http.get(gateway.url + "/v1/models") as resp:
        assert resp.status == 200
    plain, streamed, models = await request_lines(logs, 3, "http")
    assert error_fields(plain) == {"status": 200, "error": None, "stream": False}
    assert error_fields(streamed) == {"status": 200, "error": None, "stream": True}
    assert error_fields(models) == {"status": 200, "error": None}


async def test_a_stream_that_breaks_mid_way_is_logged_as_failed(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, logs: list[dict]
) -> None:
    anthropic_emu.enqueue(Fault(stream_error_after=2, status=500, message="boom"))
    async with http.post(gateway.url + CHAT, json={**CLAUDE, "stream": True}) as resp:
        assert resp.status == 200
        text = await resp.text()
    assert '"upstream_error"' in text
    [line] = await request_lines(logs, 1, "http")
    assert line["stream_error"] == "upstream_error"
    assert error_fields(line) == {"status": 200, "error": "upstream_error", "stream": True,
                                  "error_message": "Anthropic returned HTTP 500: boom"}


# --------------------------------------------------------------------------------------------------
# gRPC
# --------------------------------------------------------------------------------------------------


async def test_grpc_lines_carry_http_status_grpc_code_error_and_stream(
    gateway: Running, logs: list[dict]
) -> None:
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        good = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[user("hi")])
        bad = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[user("hi")], temperature=3)
        await stub.CreateChatCompletion(good)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.CreateChatCompletion(bad)
        assert [c async for c in stub.StreamChatCompletion(pb.StreamChatCompletionRequest(request=good))]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in stub.StreamChatCompletion(pb.StreamChatCompletionRequest(request=bad)):
                pass
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.ListModels(pb.ListModelsRequest(provider="xyz"))
    lines = await request_lines(logs, 5, "grpc")
    got = [(line["route"], line["grpc_code"], error_fields(line)) for line in lines]
    message = info.value.details()
    assert got == [
        ("CreateChatCompletion", "OK", {"status": 200, "error": None, "stream": False}),
        ("CreateChatCompletion", "INVALID_ARGUMENT", {"status": 400, "error": "invalid_request", "stream": False,
                                                      "error_message": message, "error_param": "temperature"}),
        ("StreamChatCompletion", "OK", {"status": 200, "error": None, "stream": True}),
        ("StreamChatCompletion", "INVALID_ARGUMENT", {"status": 400, "error": "invalid_request", "stream": True,
                                                      "error_message": message, "error_param": "temperature"}),
        ("ListModels", "INVALID_ARGUMENT", {"status": 400, "error": "unsupported_provider",
                                            "error_message": "Unsupported provider: xyz",
                                            "error_param": "provider"}),
    ]


# --------------------------------------------------------------------------------------------------
# An upstream that cannot be reached: the cause and where
# --------------------------------------------------------------------------------------------------


async def test_unreachable_upstream_is_logged_with_cause_and_url(
    settings: Settings, http: aiohttp.ClientSession, logs: list[dict]
) -> None:
    port = closed_port()
    cfg = dataclasses.replace(
        settings, provider_env={**settings.provider_env, "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}/proxy"},
        upstream_max_retries=1)
    async for gw in start(cfg, "inprocess"):
        async with http.post(gw.url + CHAT, json=CLAUDE) as resp:
            assert resp.status == 502
            sent = (await resp.json())["error"]
        async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                async for _ in chat_pb2_grpc.ChatServiceStub(channel).StreamChatCompletion(
                        pb.StreamChatCompletionRequest(request=pb.CreateChatCompletionRequest(
                            model="claude-sonnet-4-5", messages=[user("hi")]))):
                    pass
    url = f"http://127.0.0.1:{port}/proxy/v1/messages"
    cause = re.compile(rf"ClientConnector\w*Error: Cannot connect to host 127\.0\.0\.1:{port} .*\(Connection refused\)")
    rest, rpc = await request_lines(logs, 2)
    for line, stream in ((rest, False), (rpc, True)):
        assert error_fields(line) == {"status": 502, "error": "upstream_error", "stream": stream,
                                      "error_message": sent["message"]}
        assert line["upstream_attempts"] == 2 and line["upstream_url"] == url
        assert cause.fullmatch(line["upstream_cause"]), line
    attempts = [e for e in logs if e["event"] == "upstream_attempt_failed"]
    assert len(attempts) == 4 and all(e["log_level"] == "warning" for e in attempts)
    assert [(e["attempt"], e["provider"], e["url"]) for e in attempts[:2]] == [
        (1, "anthropic", url), (2, "anthropic", url)]
    assert all(cause.fullmatch(e["cause"]) and e["request_id"] == rest["request_id"] for e in attempts[:2])


async def test_upstream_timeout_is_logged_with_cause_and_url(
    settings: Settings, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, logs: list[dict]
) -> None:
    anthropic_emu.response_delay = 1.0
    cfg = dataclasses.replace(settings, upstream_timeout_s=0.2, upstream_max_retries=0)
    async for gw in start(cfg, "inprocess"):
        async with http.post(gw.url + CHAT, json=CLAUDE) as resp:
            assert resp.status == 504
    [line] = await request_lines(logs, 1)
    assert line["error"] == "upstream_timeout"
    assert line["upstream_url"] == anthropic_emu.base_url + "/v1/messages"
    assert line["upstream_cause"] == "TimeoutError: no answer within 0.2 s"


def test_safe_url_keeps_scheme_host_port_and_path_only() -> None:
    assert safe_url("https://api.anthropic.com/v1/messages") == "https://api.anthropic.com:443/v1/messages"
    assert safe_url("http://user:sk-ant-api03-secretsecret@10.0.0.1/x/y?key=sk-ant-api03-abcdefgh#frag") == (
        "http://10.0.0.1:80/x/y")
    assert safe_url("http://[::1]:9101/v1/chat/completions?k=v") == "http://[::1]:9101/v1/chat/completions"
    assert safe_url("http://h:1/p/sk-ant-api03-inpathsecret") == "http://h:1/p/[redacted]"


def test_describe_failure_names_the_exception_and_scrubs_it() -> None:
    assert describe_failure(ConnectionResetError("peer reset, key sk-ant-api03-abcdefghijk"), 5) == (
        "ConnectionResetError: peer reset, key [redacted]")
    assert describe_failure(TimeoutError(), 2.5) == "TimeoutError: no answer within 2.5 s"


# --------------------------------------------------------------------------------------------------
# /metrics: one vocabulary per label
# --------------------------------------------------------------------------------------------------


def samples(text: str, metric: str) -> list[dict[str, str]]:
    out = []
    for raw in re.findall(rf"^{metric}\{{(.*?)\}} ", text, re.M):
        out.append(dict(re.findall(r'(\w+)="([^"]*)"', raw)))
    return out


async def test_request_metrics_use_http_status_and_gateway_code_on_both_transports(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    async with http.post(gateway.url + CHAT, json=CLAUDE) as resp:
        assert resp.status == 200
    async with http.post(gateway.url + CHAT, json={**CLAUDE, "temperature": 5}) as resp:
        assert resp.status == 400
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(model="claude-sonnet-4-5",
                                                                       messages=[user("hi")]))
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(model="claude-sonnet-4-5"))
        anthropic_emu.enqueue(*[Fault(status=529, retry_after=0.01)] * 3)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(
                model="claude-sonnet-4-5", messages=[user("hi")]), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    async with http.get(gateway.url + "/metrics") as resp:
        text = await resp.text()
    requests = samples(text, "gateway_requests_total")
    for labels in (
        {"transport": "http", "route": CHAT, "status": "200", "code": "ok"},
        {"transport": "http", "route": CHAT, "status": "400", "code": "invalid_request"},
        {"transport": "grpc", "route": "CreateChatCompletion", "status": "200", "code": "ok"},
        {"transport": "grpc", "route": "CreateChatCompletion", "status": "400", "code": "invalid_request"},
        {"transport": "grpc", "route": "CreateChatCompletion", "status": "503", "code": "provider_overloaded"},
    ):
        assert labels in requests, (labels, requests)
    codes = set(ERRORS) | {"ok", "cancelled"}
    for labels in requests:  # one vocabulary each, whatever the transport
        assert set(labels) == {"transport", "route", "status", "code"}
        assert re.fullmatch(r"[1-5]\d\d", labels["status"]) and labels["code"] in codes, labels
    calls = samples(text, "gateway_model_calls_total")
    assert {"provider": "anthropic", "model": "claude-sonnet-4-5", "code": "ok"} in calls, calls
    assert {"provider": "anthropic", "model": "claude-sonnet-4-5", "code": "provider_overloaded"} in calls
    assert all(set(labels) == {"provider", "model", "code"} for labels in calls)


async def test_a_client_that_goes_away_is_logged_and_counted_as_499(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, logs: list[dict]
) -> None:
    anthropic_emu.response_delay = 2.0
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(gateway.url + CHAT, json=CLAUDE, timeout=aiohttp.ClientTimeout(total=0.3)):
            pass
    gone = "Cancelled before the answer was complete (the client went away)"
    [line] = await request_lines(logs, 1, "http")
    assert error_fields(line) == {"status": 499, "error": "cancelled", "stream": False, "error_message": gone}
    if gateway.transport == "inprocess":  # it was waiting on the provider when the client left
        assert line["upstream_url"] == anthropic_emu.base_url + "/v1/messages"
        assert re.fullmatch(r"CancelledError: stopped waiting after 0\.\d+ s", line["upstream_cause"]), line
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        call = chat_pb2_grpc.ChatServiceStub(channel).StreamChatCompletion(pb.StreamChatCompletionRequest(
            request=pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[user("hi")])))
        await asyncio.sleep(0.3)
        call.cancel()
        for _ in range(200):
            streams = [e for e in logs if e["event"] == "request" and e["route"] == "StreamChatCompletion"]
            if streams:
                break
            await asyncio.sleep(0.01)
    [rpc] = streams
    assert rpc["grpc_code"] == "CANCELLED"
    assert error_fields(rpc) == {"status": 499, "error": "cancelled", "stream": True, "error_message": gone}
    anthropic_emu.response_delay = 0
    async with http.get(gateway.url + "/metrics") as resp:
        text = await resp.text()
    requests = samples(text, "gateway_requests_total")
    assert {"transport": "http", "route": CHAT, "status": "499", "code": "cancelled"} in requests
    assert {"transport": "grpc", "route": "StreamChatCompletion", "status": "499", "code": "cancelled"} in requests
