"""The Python client (clients/python) against the real gateway on port 0 and the provider emulators.

Library tests import the package from its source tree and run every case over both transports (REST, gRPC)
with both clients (async, and sync driven from a worker thread so the gateway's event loop keeps running).
CLI tests install the package into a fresh virtualenv once per session (`pip install ./clients/python`,
dependencies from the package index) and run the installed `gateway-chat` entry point.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import venv
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "clients" / "python"
sys.path.insert(0, str(CLIENT_DIR / "src"))

from ainative_gateway import (  # noqa: E402
    AsyncGatewayClient,
    BudgetExceededError,
    BudgetLimit,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ConcurrencyLimit,
    DayUsage,
    GatewayClient,
    GatewayConnectionError,
    GatewayError,
    GatewayTimeoutError,
    InvalidRequestError,
    InvalidTokenError,
    InvalidToolSchemaError,
    Limits,
    Message,
    MissingTokenError,
    Model,
    ModelUsage,
    Pricing,
    ProviderOverloadedError,
    RateLimit,
    RateLimitedError,
    StreamAssembler,
    Tool,
    ToolCall,
    TooManyConcurrentError,
    UnsupportedProviderError,
    Usage,
    UsageReport,
    UsageTotals,
)

from service.config import Settings  # noqa: E402
from tests.conftest import ANTHROPIC_KEY, Running, run_gateway  # noqa: E402
from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator, Turn  # noqa: E402
from tests.emulators import ToolCall as EmuToolCall  # noqa: E402

SECRET = "python-client-test-secret-0123456789abcdef"
CLAUDE, LLAMA = "claude-sonnet-4-5", "Llama-3.3-70B-Instruct"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get current weather for a location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}
CATALOG_MODELS = ["Llama-4-Maverick-17B-128E-Instruct-FP8", "Llama-3.3-70B-Instruct", "Llama-3.3-8B-Instruct",
                  "claude-sonnet-4-5", "claude-opus-4"]


def token(sub: str, secret: str = SECRET) -> str:
    return jwt.encode({"sub": sub}, secret, algorithm="HS256")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[Running]:
    running, _ = await run_gateway(dataclasses.replace(settings, jwt_secret=SECRET), "inprocess")
    yield running
    await running.gateway.stop(grace=0.5)


class Api:
    """One client, async or sync, over one transport, driven from the test's event loop."""

    def __init__(self, transport: str, mode: str, gw: Running | None, **options: Any) -> None:
        where = (gw.url if transport == "rest" else gw.grpc_target) if gw else f"127.0.0.1:{closed_port()}"
        kw: dict[str, Any] = {"base_url": where} if transport == "rest" else {"grpc_target": where}
        options = {"backoff": 0.0, "timeout": 10.0, **options}
        self.mode = mode
        self.client: Any = (AsyncGatewayClient if mode == "async" else GatewayClient)(
            **kw, transport=transport, **options)

    async def call(self, method: str, *args: Any, **kw: Any) -> Any:
        fn = getattr(self.client, method)
        if self.mode == "async":
            return await fn(*args, **kw)
        return await asyncio.to_thread(fn, *args, **kw)

    async def stream(self, *args: Any, **kw: Any) -> tuple[list[ChatCompletionChunk], GatewayError | None]:
        """The chunks received, and the error that ended the stream (None: it ended normally)."""
        chunks: list[ChatCompletionChunk] = []
        if self.mode == "async":
            try:
                async for chunk in self.client.stream(*args, **kw):
                    chunks.append(chunk)
            except GatewayError as err:
                return chunks, err
            return chunks, None

        def consume() -> GatewayError | None:
            try:
                for chunk in self.client.stream(*args, **kw):
                    chunks.append(chunk)
            except GatewayError as err:
                return err
            return None

        return chunks, await asyncio.to_thread(consume)

    async def close(self) -> None:
        if self.mode == "async":
            await self.client.aclose()
        else:
            self.client.close()


MakeApi = Callable[..., Api]


@pytest.fixture(params=["rest-async", "rest-sync", "grpc-async", "grpc-sync"])
async def make_api(request: pytest.FixtureRequest, gw: Running) -> AsyncIterator[MakeApi]:
    transport, mode = request.param.split("-")
    made: list[Api] = []

    def make(*, reachable: bool = True, **options: Any) -> Api:
        made.append(Api(transport, mode, gw if reachable else None, **options))
        return made[-1]

    yield make
    for api in made:
        await api.close()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return make_api()


# --- library ---------------------------------------------------------------------------------------------

async def test_chat_text(api: Api, anthropic_emu: AnthropicEmulator) -> None:
    anthropic_emu.enqueue(Turn(text="Hello! How can I help you today?", usage=(15, 10)))
    reply = await api.call("chat", [Message.system("You are a helpful assistant."), {"role": "user", "content": "Hi"}],
                           model=CLAUDE, temperature=0.5, max_tokens=100, request_id="py-client-1")
    assert isinstance(reply, ChatCompletion) and reply.id.startswith("chatcmpl-") and reply.created > 0
    assert reply.choices == [Choice(0, Message("assistant", "Hello! How can I help you today?"), "stop")]
    assert (reply.content, reply.finish_reason, reply.tool_calls) == ("Hello! How can I help you today?", "stop", [])
    assert reply.usage == Usage(15, 10, 25)
    assert (reply.model, reply.provider, reply.iterations, reply.total_tokens_used) == (CLAUDE, "anthropic", 1, 25)
    assert reply.request_id == "py-client-1"
    assert anthropic_emu.requests[-1].json == {
        "model": "claude-sonnet-4-5-20250929", "max_tokens": 100, "temperature": 0.5,
        "system": [{"type": "text", "text": "You are a helpful assistant."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}


async def test_tool_calls_are_typed_and_the_loop_round_trips(api: Api, llama_emu: LlamaEmulator) -> None:
    llama_emu.enqueue(Turn(tool_calls=[EmuToolCall("get_weather", {"location": "Paris"}, id="call_p"),
                                       EmuToolCall("get_weather", {"location": "Rome"}, id="call_r")], usage=(30, 12)),
                      Turn(text="Paris 18C, Rome 24C.", usage=(60, 8)))
    first = await api.call("chat", "Weather in Paris and Rome?", model=LLAMA, tools=[WEATHER_TOOL],
                           tool_choice="required", max_iterations=3)
    assert first.finish_reason == "tool_calls" and first.content is None
    assert first.tool_calls == [ToolCall("call_p", "get_weather", '{"location":"Paris"}'),
                                ToolCall("call_r", "get_weather", '{"location":"Rome"}')]
    assert [c.parsed_arguments() for c in first.tool_calls] == [{"location": "Paris"}, {"location": "Rome"}]
    sent = llama_emu.requests[-1].json
    assert sent["messages"] == [{"role": "user", "content": "Weather in Paris and Rome?"}]
    assert sent["tool_choice"] == "required" and [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]
    conversation: list[Any] = [{"role": "user", "content": "Weather in Paris and Rome?"}, first.message,
                               Message.tool_result("call_p", "18C"), Message.tool_result("call_r", "24C")]
    second = await api.call("chat", conversation, model=LLAMA, tools=[WEATHER_TOOL])
    assert (second.content, second.finish_reason, second.usage) == ("Paris 18C, Rome 24C.", "stop", Usage(60, 8, 68))
    assert llama_emu.requests[-1].json["messages"][1:] == [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_p", "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}},
            {"id": "call_r", "function": {"name": "get_weather", "arguments": '{"location":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_p", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_r", "content": "24C"}]


async def test_tool_result_sends_dicts_and_lists_as_json_strings(api: Api, llama_emu: LlamaEmulator) -> None:
    calls = [EmuToolCall("get_weather", {"location": place}, id=f"call_{place[0].lower()}")
             for place in ("Zürich", "Bern", "Chur")]
    llama_emu.enqueue(Turn(tool_calls=calls, usage=(30, 12)), Turn(text="Done.", usage=(60, 2)))
    first = await api.call("chat", "Weather in Zürich, Bern and Chur?", model=LLAMA, tools=[WEATHER_TOOL])
    results = [Message.tool_result("call_z", {"location": "Zürich", "temp_c": 18.5, "rain": False, "alerts": None}),
               Message.tool_result("call_b", [{"hour": 9, "temp_c": 11}, "sunny"]),
               Message.tool_result("call_c", '{"already": "a JSON string"}')]
    second = await api.call("chat", [{"role": "user", "content": "Weather in Zürich, Bern and Chur?"}, first.message,
                                     *results], model=LLAMA, tools=[WEATHER_TOOL])
    assert (second.content, second.finish_reason) == ("Done.", "stop")
    assert llama_emu.requests[-1].json["messages"][2:] == [
        {"role": "tool", "tool_call_id": "call_z",
         "content": '{"location": "Zürich", "temp_c": 18.5, "rain": false, "alerts": null}'},
        {"role": "tool", "tool_call_id": "call_b", "content": '[{"hour": 9, "temp_c": 11}, "sunny"]'},
        {"role": "tool", "tool_call_id": "call_c", "content": '{"already": "a JSON string"}'}]
    assert [m.content for m in results] == [
        '{"location": "Zürich", "temp_c": 18.5, "rain": false, "alerts": null}',
        '[{"hour": 9, "temp_c": 11}, "sunny"]',
        '{"already": "a JSON string"}']


@pytest.mark.parametrize("turn", [
    Turn(text="The weather in Oslo is mild, with light rain expected in the afternoon.", usage=(21, 14)),
    Turn(text="Let me look that up.", tool_calls=[EmuToolCall("get_weather", {"location": "Oslo"}, id="call_o")],
         usage=(40, 22)),
], ids=["text", "tool_calls"])
@pytest.mark.parametrize("model", [CLAUDE, LLAMA])
async def test_stream_assembles_to_the_non_streaming_answer(
    api: Api, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator, model: str, turn: Turn
) -> None:
    (anthropic_emu if model == CLAUDE else llama_emu).enqueue(turn, turn)
    request: dict[str, Any] = {"model": model, "tools": [WEATHER_TOOL]}
    whole = await api.call("chat", "Weather in Oslo?", **request)
    chunks, error = await api.stream("Weather in Oslo?", include_usage=True, **request)
    assert error is None and all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.text for c in chunks) == turn.text
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    *_, last_choice, usage_chunk = chunks
    assert last_choice.finish_reason == whole.finish_reason and usage_chunk.choices == []
    assert (usage_chunk.usage, usage_chunk.iterations, usage_chunk.total_tokens_used) == (whole.usage, 1,
                                                                                           whole.total_tokens_used)
    assembled = StreamAssembler().add_all(chunks).completion()
    assert [(c.id, c.name, c.parsed_arguments()) for c in assembled.tool_calls] == [
        (c.id, c.name, c.parsed_arguments()) for c in whole.tool_calls]
    for call, expected in zip(assembled.tool_calls, whole.tool_calls, strict=True):
        call.arguments = expected.arguments  # the same JSON, possibly spaced differently when streamed
    assert dataclasses.replace(assembled, id=whole.id, created=whole.created) == whole
    plain, error = await api.stream("Weather in Oslo?", model=model)  # the mock model answers, no usage chunk
    assert error is None and all(c.usage is None for c in plain) and plain[-1].finish_reason == "stop"


async def test_models_and_tools(api: Api) -> None:
    models = await api.call("models")
    assert [m.id for m in models] == CATALOG_MODELS
    assert models[3] == Model("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5-20250929", 200_000, 64_000,
                              Pricing(3.0, 15.0))
    assert [m.id for m in await api.call("models", provider="meta_llama")] == CATALOG_MODELS[:3]
    zerodb = await api.call("tools", group="zerodb")
    assert len(zerodb) == 15 and all(isinstance(t, Tool) and t.group == "zerodb" for t in zerodb)
    query = next(t for t in zerodb if t.name == "zerodb_query_table")
    assert query.parameters["type"] == "object" and query.description
    picked = await api.call("tools", names=["bash_tool", "zerodb_query_table"])
    assert sorted((t.name, t.group) for t in picked) == [("bash_tool", "agent"), ("zerodb_query_table", "zerodb")]
    assert len(await api.call("tools")) == 30


async def test_catalog_tools_by_name_or_object(api: Api, anthropic_emu: AnthropicEmulator) -> None:
    [bash] = await api.call("tools", names="bash_tool")
    await api.call("chat", "Show me the users table", model=CLAUDE, tools=["zerodb_query_table", bash])
    sent = anthropic_emu.requests[-1].json["tools"]
    assert [t["name"] for t in sent] == ["zerodb_query_table", "bash_tool"]
    assert sent[1]["input_schema"] == bash.parameters


async def test_usage_with_a_jwt(make_api: MakeApi, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator) -> None:
    alice = make_api(token=token("alice"))
    anthropic_emu.enqueue(Turn(text="a", usage=(1000, 500)))
    llama_emu.enqueue(Turn(text="b", usage=(300, 100)))
    await alice.call("chat", "hi", model=CLAUDE)
    await alice.call("chat", "hi", model=LLAMA)
    await make_api(token=token("bob")).call("chat", "hi", model=CLAUDE)
    today = dt.datetime.now(dt.UTC).date()
    claude_cost, llama_cost = round((1000 * 3.0 + 500 * 15.0) / 1e6, 6), round((300 * 0.6 + 100 * 1.8) / 1e6, 6)
    total = UsageTotals(2, 1300, 600, 1900, round(claude_cost + llama_cost, 6))
    assert await alice.call("usage") == UsageReport(
        user="alice", from_date=None, to_date=None, totals=total,
        by_model=[ModelUsage(LLAMA, "meta_llama", UsageTotals(1, 300, 100, 400, llama_cost)),
                  ModelUsage(CLAUDE, "anthropic", UsageTotals(1, 1000, 500, 1500, claude_cost))],
        by_day=[DayUsage(today.isoformat(), total)])
    window = await alice.call("usage", today, today.isoformat())
    assert (window.from_date, window.to_date, window.totals) == (today.isoformat(), today.isoformat(), total)
    empty = await alice.call("usage", from_date="2020-01-01", to_date="2020-12-31")
    assert (empty.totals, empty.by_model, empty.by_day) == (UsageTotals(), [], [])
    with pytest.raises(MissingTokenError) as anonymous:
        await make_api().call("usage")
    assert (anonymous.value.code, anonymous.value.status) == ("missing_token", 401)
    with pytest.raises(InvalidTokenError):
        await make_api(token=token("mallory", secret="x" * 40)).call("usage")
    with pytest.raises(InvalidRequestError) as bad_date:
        await alice.call("usage", from_date="2026-13-01")
    assert bad_date.value.param == "from"


async def test_max_completion_tokens_reaches_the_gateway_as_sent(make_api: MakeApi) -> None:
    api = make_api(max_retries=0)
    with pytest.raises(InvalidRequestError) as too_many:
        await api.call("chat", "hi", model=CLAUDE, max_completion_tokens=1_000_000)
    assert (too_many.value.param, too_many.value.message) == (
        "max_completion_tokens", "max_completion_tokens 1000000 exceeds the maximum output of claude-sonnet-4-5 (64000)")
    with pytest.raises(InvalidRequestError) as both:
        await api.call("chat", "hi", model=CLAUDE, max_tokens=10, max_completion_tokens=10)
    assert both.value.param == "max_tokens"


async def test_errors_are_classes_named_after_the_codes(make_api: MakeApi, llama_emu: LlamaEmulator) -> None:
    api = make_api(max_retries=1)
    with pytest.raises(InvalidRequestError) as bad:
        await api.call("chat", "hi", model=CLAUDE, temperature=9)
    err = bad.value
    assert (err.code, err.status, err.param, err.type) == ("invalid_request", 400, "temperature",
                                                           "invalid_request_error")
    assert str(err) == err.message == "temperature must be between 0 and 2" and err.request_id
    with pytest.raises(InvalidRequestError) as role:
        await api.call("chat", [{"role": "robot", "content": "hi"}], model=CLAUDE)
    assert role.value.param == "messages[0].role"
    with pytest.raises(UnsupportedProviderError) as provider:
        await api.call("chat", "hi", model=CLAUDE, provider="xyz")
    assert (provider.value.code, provider.value.status) == ("unsupported_provider", 400)
    with pytest.raises(InvalidToolSchemaError) as schema:
        await api.call("chat", "hi", model=CLAUDE, tools=[{"type": "function", "function": {"name": "bad name!"}}])
    assert (schema.value.status, schema.value.param) == (422, "tools[0].function.name")
    # 429 after the gateway's retries (3 upstream attempts) and this client's (2 attempts): Retry-After kept
    llama_emu.enqueue(*[Fault(status=429, retry_after=0.01)] * 6)
    with pytest.raises(RateLimitedError) as limited:
        await api.call("chat", "hi", model=LLAMA)
    assert (limited.value.code, limited.value.status, limited.value.retry_after) == ("rate_limited", 429, 0.01)
    assert len(llama_emu.requests) == 6
    with pytest.raises(TypeError, match="stream"):
        await api.call("chat", "hi", model=CLAUDE, stream=True)


async def test_mid_stream_error_is_raised_after_the_chunks_received(
    api: Api, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.enqueue(Fault(stream_error_after=4))
    chunks, error = await api.stream("tell me a long story about a lighthouse keeper", model=CLAUDE)
    assert chunks and chunks[0].choices[0].delta.role == "assistant"
    assert isinstance(error, ProviderOverloadedError) and (error.code, error.status) == ("provider_overloaded", 503)
    assert len(anthropic_emu.requests) == 1  # never retried once a chunk arrived


async def test_client_retries_5xx_but_never_other_4xx(make_api: MakeApi, llama_emu: LlamaEmulator) -> None:
    api = make_api(max_retries=1)
    # the gateway's 3 upstream attempts fail (502 upstream_error); the client's second attempt succeeds
    llama_emu.enqueue(*[Fault(status=503, retry_after=0.01)] * 3, Turn(text="third time lucky", usage=(1, 3)))
    reply = await api.call("chat", "hi", model=LLAMA)
    assert reply.content == "third time lucky" and len(llama_emu.requests) == 4
    llama_emu.enqueue(*[Fault(status=503, retry_after=0.01)] * 3, Turn(text="streamed after a retry", usage=(1, 4)))
    chunks, error = await api.stream("hi", model=LLAMA)
    assert error is None and "".join(c.text for c in chunks) == "streamed after a retry"
    assert len(llama_emu.requests) == 8
    llama_emu.enqueue(Fault(status=400))
    with pytest.raises(InvalidRequestError):
        await api.call("chat", "hi", model=LLAMA)
    assert len(llama_emu.requests) == 9  # a 400 is not retried
    no_retry = make_api(max_retries=0)
    llama_emu.enqueue(*[Fault(status=503, retry_after=0.01)] * 3)
    with pytest.raises(GatewayError) as failed:
        await no_retry.call("chat", "hi", model=LLAMA)
    assert (failed.value.code, failed.value.status) == ("upstream_error", 502) and len(llama_emu.requests) == 12


async def test_provider_key_per_client_and_per_request(make_api: MakeApi, anthropic_emu: AnthropicEmulator) -> None:
    api = make_api()
    await api.call("chat", "hi", model=CLAUDE, provider_key="sk-ant-test-per-request-key-0042")
    assert anthropic_emu.requests[-1].api_key == "sk-ant-test-per-request-key-0042"
    await api.call("chat", "hi", model=CLAUDE)
    assert anthropic_emu.requests[-1].api_key == ANTHROPIC_KEY
    own = make_api(provider_key="sk-ant-test-client-default-key-7")
    await own.call("chat", "hi", model=CLAUDE)
    assert anthropic_emu.requests[-1].api_key == "sk-ant-test-client-default-key-7"
    await own.stream("hi", model=CLAUDE)
    assert anthropic_emu.requests[-1].api_key == "sk-ant-test-client-default-key-7"


async def test_transport_failures(make_api: MakeApi, anthropic_emu: AnthropicEmulator) -> None:
    down = make_api(reachable=False, max_retries=1)
    with pytest.raises(GatewayConnectionError) as refused:
        await down.call("models")
    assert refused.value.code == "connection_error" and refused.value.retryable
    _, error = await down.stream("hi", model=CLAUDE)
    assert isinstance(error, GatewayConnectionError)
    # this client's own deadline (gRPC may see the gateway's propagated deadline expire first: upstream_timeout)
    anthropic_emu.enqueue(Fault(delay=2.0))
    with pytest.raises(GatewayError) as slow:
        await make_api(timeout=0.3, max_retries=0).call("chat", "hi", model=CLAUDE)
    assert isinstance(slow.value, GatewayTimeoutError) or slow.value.code == "upstream_timeout"


async def test_clients_take_their_default_address_from_the_environment(
    gw: Running, anthropic_emu: AnthropicEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GATEWAY_URL / GATEWAY_GRPC pick the gateway when no address is passed, as for gateway-chat."""
    monkeypatch.delenv("GATEWAY_GRPC", raising=False)
    monkeypatch.setenv("GATEWAY_URL", gw.url)
    anthropic_emu.enqueue(Turn(text="sync over REST", usage=(2, 3)), Turn(text="async over REST", usage=(2, 3)),
                          Turn(text="sync over gRPC", usage=(2, 3)), Turn(text="async over gRPC", usage=(2, 3)))
    with GatewayClient(model=CLAUDE, backoff=0.0) as sync:
        assert (sync.transport, sync.base_url) == ("rest", gw.url)
        assert (await asyncio.to_thread(sync.chat, "Hi")).content == "sync over REST"
    async with AsyncGatewayClient(model=CLAUDE, backoff=0.0) as client:
        assert (client.transport, client.base_url) == ("rest", gw.url)
        assert (await client.chat("Hi")).content == "async over REST"
    elsewhere = f"http://127.0.0.1:{closed_port()}"
    with GatewayClient(elsewhere) as explicit:  # an address passed in wins over the environment
        assert (explicit.transport, explicit.base_url) == ("rest", elsewhere)

    monkeypatch.setenv("GATEWAY_GRPC", gw.grpc_target)  # as for the CLI: gRPC when set and no URL is passed
    with GatewayClient(model=CLAUDE, backoff=0.0) as sync:
        assert (sync.transport, sync.grpc_target) == ("grpc", gw.grpc_target)
        assert (await asyncio.to_thread(sync.chat, "Hi")).content == "sync over gRPC"
    async with AsyncGatewayClient(model=CLAUDE, backoff=0.0) as client:
        assert (client.transport, client.grpc_target) == ("grpc", gw.grpc_target)
        assert (await client.chat("Hi")).content == "async over gRPC"
    with GatewayClient(transport="rest") as rest, GatewayClient(elsewhere) as explicit:
        assert (rest.transport, rest.base_url, explicit.transport) == ("rest", gw.url, "rest")
    monkeypatch.delenv("GATEWAY_URL")
    with GatewayClient(transport="grpc") as grpc_only:
        assert (grpc_only.transport, grpc_only.grpc_target) == ("grpc", gw.grpc_target)
    assert [r.json["messages"][0]["content"][0]["text"] for r in anthropic_emu.requests] == ["Hi"] * 4

    monkeypatch.delenv("GATEWAY_GRPC")
    with GatewayClient() as default, GatewayClient(transport="grpc") as default_grpc:
        assert (default.transport, default.base_url) == ("rest", "http://127.0.0.1:8080")
        assert (default_grpc.transport, default_grpc.grpc_target) == ("grpc", "127.0.0.1:50051")


def test_vendored_grpc_stubs_match_a_fresh_generation() -> None:
    spec = importlib.util.spec_from_file_location("client_generate", CLIENT_DIR / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    fresh = generate.generate()
    stale = [name for name, text in fresh.items() if (generate.OUT / name).read_text() != text]
    assert not stale, "run: python clients/python/generate.py"
    # the protobuf floor in pyproject.toml is the gencode version of the vendored stubs
    gencode = re.search(r"Protobuf Python Version: (\S+)", fresh["ainative/chat/v1/chat_pb2.py"])
    assert gencode and f'"protobuf>={gencode[1]},' in (CLIENT_DIR / "pyproject.toml").read_text()


# --- CLI (installed into a fresh virtualenv) -------------------------------------------------------------

@pytest.fixture(scope="session")
def gateway_chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install ./clients/python` into a clean virtualenv; the installed `gateway-chat`."""
    env_dir = tmp_path_factory.mktemp("client-venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             str(CLIENT_DIR)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return env_dir / "bin" / "gateway-chat"


RunCli = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def cli(gateway_chat: Path, gw: Running) -> RunCli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_URL"] = gw.url

    async def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            str(gateway_chat), *args, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(stdin or b""), timeout=30)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    return run


async def test_cli_chat_streams_the_answer(cli: RunCli, anthropic_emu: AnthropicEmulator) -> None:
    anthropic_emu.enqueue(Turn(text="Hello! How can I help you today?", usage=(5, 9)))
    assert await cli("chat", "Hello") == (0, "Hello! How can I help you today?\n", "")
    sent = anthropic_emu.requests[-1].json
    assert sent["stream"] is True and sent["model"] == "claude-sonnet-4-5-20250929"
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]


async def test_cli_chat_over_grpc_with_system_tools_and_tool_calls(
    cli: RunCli, gw: Running, llama_emu: LlamaEmulator
) -> None:
    llama_emu.enqueue(Turn(text="Let me check.", usage=(5, 9), tool_calls=[
        EmuToolCall("zerodb_query_table", {"table_name": "users"}, id="call_q")]))
    code, out, err = await cli("--grpc", gw.grpc_target, "chat", "Show me the users table", "--model", LLAMA,
                               "--provider", "meta_llama", "--system", "Be brief", "--tool", "zerodb_query_table",
                               "--tool", "bash_tool,git_tool")
    assert (code, err) == (0, "")
    assert out == 'Let me check.\n[tool call] zerodb_query_table({"table_name":"users"})\n'
    sent = llama_emu.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Be brief"}
    assert [t["function"]["name"] for t in sent["tools"]] == ["zerodb_query_table", "bash_tool", "git_tool"]


@pytest.mark.parametrize("mode", [[], ["--no-stream"]], ids=["stream", "no-stream"])
async def test_cli_chat_json(cli: RunCli, anthropic_emu: AnthropicEmulator, mode: list[str]) -> None:
    anthropic_emu.enqueue(Turn(text="2 + 2 = 4.", usage=(15, 10)))
    code, out, err = await cli("chat", "What is 2+2?", "--json", *mode)
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert body.pop("id").startswith("chatcmpl-") and isinstance(body.pop("created"), int)
    assert body == {
        "object": "chat.completion", "model": CLAUDE, "provider": "anthropic",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "2 + 2 = 4."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25},
        "iterations": 1, "total_tokens_used": 25, "finish_reason": "stop"}


async def test_cli_catalogs_and_usage(cli: RunCli, anthropic_emu: AnthropicEmulator) -> None:
    code, out, err = await cli("models")
    lines = out.splitlines()
    assert (code, err, len(lines)) == (0, "", 6)
    assert lines[0].split()[:2] == ["MODEL", "PROVIDER"]
    assert lines[4].split() == ["claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5-20250929", "200,000", "64,000",
                                "3.00", "15.00"]
    code, out, _ = await cli("models", "--json")
    assert code == 0 and [m["id"] for m in json.loads(out)["data"]] == CATALOG_MODELS
    code, out, err = await cli("tools", "--group", "zerodb")
    rows = [line.split()[:2] for line in out.splitlines()[1:]]
    assert (code, err, len(rows)) == (0, "", 15) and all(group == "zerodb" for _, group in rows)
    assert ["zerodb_query_table", "zerodb"] in rows
    code, out, _ = await cli("tools", "--group", "agent", "--json")
    assert code == 0 and {t["group"] for t in json.loads(out)["data"]} == {"agent"}
    anthropic_emu.enqueue(Turn(text="hi", usage=(1000, 500)))
    alice = token("alice")
    assert (await cli("--token", alice, "chat", "hi"))[0] == 0
    code, out, err = await cli("usage", "--token", alice, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["totals"] == {"requests": 1, "prompt_tokens": 1000, "completion_tokens": 500,
                                         "total_tokens": 1500, "cost_usd": 0.0105, "unpriced_requests": 0}
    code, out, _ = await cli("--token", alice, "usage", "--from", "2020-01-01")
    assert code == 0 and out.startswith("usage of alice, 2020-01-01 to now\n")


async def test_cli_errors_exit_1_with_one_clean_line(cli: RunCli, anthropic_emu: AnthropicEmulator) -> None:
    assert await cli("chat", "Hello", "--temperature", "9") == (
        1, "", "error: invalid_request: temperature must be between 0 and 2\n")
    code, out, err = await cli("usage")
    assert (code, out) == (1, "") and err.startswith("error: missing_token: ") and err.count("\n") == 1
    code, out, err = await cli("--url", f"http://127.0.0.1:{closed_port()}", "--retries", "0", "models")
    assert (code, out) == (1, "") and err.startswith("error: connection_error: cannot reach http://127.0.0.1:")
    assert "Traceback" not in err and err.count("\n") == 1
    anthropic_emu.enqueue(Fault(stream_error_after=4))
    code, out, err = await cli("chat", "tell me a long story")
    assert code == 1 and out.endswith("\n") and err.startswith("error: provider_overloaded: ")


async def test_cli_usage_errors_and_help(cli: RunCli, anthropic_emu: AnthropicEmulator) -> None:
    code, out, err = await cli("--help")
    assert code == 0 and err == "" and out.startswith("usage: gateway-chat")
    for text in ("chat", "models", "tools", "usage", "--grpc HOST:PORT", "GATEWAY_URL", "exit status"):
        assert text in out
    code, out, _ = await cli("chat", "--help")
    assert code == 0 and "--tool NAME" in out and "--no-stream" in out and "--json" in out
    code, out, err = await cli("frobnicate")
    assert (code, out) == (2, "") and "invalid choice: 'frobnicate'" in err and "Traceback" not in err
    code, _, err = await cli("chat", "hi", "--url", "http://x", "--grpc", "y:1")
    assert code == 2 and "not allowed with argument" in err
    code, _, err = await cli("chat")  # empty standard input
    assert code == 2 and "the prompt is empty" in err
    anthropic_emu.enqueue(Turn(text="read from stdin", usage=(3, 3)))
    assert await cli("chat", stdin=b"Hello from a pipe") == (0, "read from stdin\n", "")
    assert anthropic_emu.requests[-1].json["messages"][0]["content"][0]["text"] == "Hello from a pipe"


# --- limits per caller (issue 12) ------------------------------------------------------------------------

MODES = ["rest-async", "rest-sync", "grpc-async", "grpc-sync"]


async def start_limited(settings: Settings, **limits: Any) -> Running:
    """A one-process gateway that passes a provider's 429 straight through (no upstream retries), with `limits`
    (Settings fields: rate_limit_rpm, rate_limit_tpm, budget_usd_per_day, max_concurrent)."""
    running, _ = await run_gateway(
        dataclasses.replace(settings, jwt_secret=SECRET, upstream_max_retries=0, **limits), "inprocess")
    return running


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> tuple[str, str]:
    transport, how = request.param.split("-")
    return transport, how


@pytest.fixture
async def clients() -> AsyncIterator[list[Api]]:
    made: list[Api] = []
    yield made
    for api in made:
        await api.close()


async def test_retry_after_is_waited_within_max_retry_wait_and_a_far_one_raised_at_once(
    settings: Settings, llama_emu: LlamaEmulator, mode: tuple[str, str], clients: list[Api]
) -> None:
    gw = await start_limited(settings)
    try:
        # a provider 429 with Retry-After 0.4 s: waited (backoff 0 would retry at once), then the retry succeeds
        api = Api(*mode, gw, max_retries=1)
        clients.append(api)
        llama_emu.enqueue(Fault(status=429, retry_after=0.4), Turn(text="after the wait", usage=(1, 3)))
        started = time.monotonic()
        reply = await api.call("chat", "hi", model=LLAMA)
        assert reply.content == "after the wait" and len(llama_emu.requests) == 2
        assert time.monotonic() - started >= 0.4
        # Retry-After an hour away: raised at once, never slept on, never retried; retry_after tells when
        llama_emu.enqueue(Fault(status=429, retry_after=3600))
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as far:
            await api.call("chat", "hi", model=LLAMA)
        assert time.monotonic() - started < 2.0 and len(llama_emu.requests) == 3
        assert (type(far.value), far.value.code, far.value.status, far.value.retry_after) == (
            RateLimitedError, "rate_limited", 429, 3600)
        # "far" is the client's max_retry_wait: 0.4 s is too far for a client that waits at most 0.1 s
        impatient = Api(*mode, gw, max_retries=2, max_retry_wait=0.1)
        clients.append(impatient)
        llama_emu.enqueue(Fault(status=429, retry_after=0.4))
        with pytest.raises(RateLimitedError) as near:
            await impatient.call("chat", "hi", model=LLAMA)
        assert near.value.retry_after == 0.4 and len(llama_emu.requests) == 4
        # streams alike, before their first chunk
        llama_emu.enqueue(Fault(status=429, retry_after=3600))
        chunks, error = await api.stream("hi", model=LLAMA)
        assert chunks == [] and isinstance(error, RateLimitedError) and error.retry_after == 3600
        assert len(llama_emu.requests) == 5
    finally:
        await gw.gateway.stop(grace=0.5)


def seconds_to_utc_midnight() -> float:
    return 86400 - time.time() % 86400


async def test_each_limit_refusal_raises_its_own_class_with_retry_after(
    settings: Settings, anthropic_emu: AnthropicEmulator, mode: tuple[str, str], clients: list[Api]
) -> None:
    if seconds_to_utc_midnight() < 120:
        pytest.skip("the daily budget starts afresh within two minutes")
    gw = await start_limited(settings, rate_limit_rpm=2, max_concurrent=1, budget_usd_per_day=0.01)

    def client(sub: str, **options: Any) -> Api:
        clients.append(Api(*mode, gw, token=token(sub), **options))
        return clients[-1]

    try:
        # requests per minute: the third of a minute is refused; rpm 2 refills one every 30 s
        rpm = client("rpm-user", max_retry_wait=5.0)
        for _ in range(2):
            anthropic_emu.enqueue(Turn(text="ok", usage=(1, 1)))
            assert (await rpm.call("chat", "hi", model=CLAUDE)).content == "ok"
        with pytest.raises(RateLimitedError) as limited:
            await rpm.call("chat", "hi", model=CLAUDE)
        err = limited.value
        assert (type(err), err.code, err.status, err.type) == (RateLimitedError, "rate_limited", 429, "rate_limit_error")
        assert err.retry_after is not None and 5 < err.retry_after <= 30  # beyond max_retry_wait: raised at once
        # the daily budget: 0.0105 USD spent of 0.01; refused until 00:00 UTC, raised at once (never slept on)
        spender = client("spender")  # max_retries 2, max_retry_wait 60
        anthropic_emu.enqueue(Turn(text="pricey", usage=(1000, 500)))
        await spender.call("chat", "hi", model=CLAUDE)
        started = time.monotonic()
        with pytest.raises(BudgetExceededError) as budget:
            await spender.call("chat", "hi", model=CLAUDE)
        err = budget.value
        assert time.monotonic() - started < 2.0
        assert (err.code, err.status, err.type) == ("budget_exceeded", 429, "rate_limit_error")
        assert isinstance(err, RateLimitedError) and err.retry_after is not None
        assert abs(err.retry_after - seconds_to_utc_midnight()) <= 3
        # requests in flight: a second one while the first is running is refused, Retry-After 1
        busy, eager = client("busy"), client("busy", max_retries=0)
        anthropic_emu.enqueue(Fault(delay=1.5))
        first = asyncio.create_task(busy.call("chat", "slow one", model=CLAUDE))
        await asyncio.sleep(0.5)
        with pytest.raises(TooManyConcurrentError) as concurrent:
            await eager.call("chat", "hi", model=CLAUDE)
        err = concurrent.value
        assert (err.code, err.status, err.retry_after) == ("too_many_concurrent", 429, 1)
        assert isinstance(err, RateLimitedError)
        await first
        # the client waits that 1 s and retries: admitted once the slow one has finished
        patient = client("patient")
        anthropic_emu.enqueue(Fault(delay=0.6), Turn(text="after my turn", usage=(1, 1)))
        first = asyncio.create_task(patient.call("chat", "slow one", model=CLAUDE))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        assert (await patient.call("chat", "hi", model=CLAUDE)).content == "after my turn"
        assert time.monotonic() - started >= 1.0
        await first
        # every refusal was answered by the gateway: none reached the provider
        assert len(anthropic_emu.requests) == 2 + 1 + 1 + 2
    finally:
        await gw.gateway.stop(grace=0.5)


def refilled(limit: int, reset_s: float) -> int:
    """What is left of a per-minute bucket that is full again in reset_s (the gateway rounds reset_s to ms)."""
    return int((60 - reset_s) * limit / 60 + 1e-6)


FULL_LIMITS = {"rate_limit_rpm": 60, "rate_limit_tpm": 10000, "budget_usd_per_day": 5.0, "max_concurrent": 4}


async def test_limits_reports_the_callers_limits_and_where_it_stands(
    settings: Settings, anthropic_emu: AnthropicEmulator, mode: tuple[str, str], clients: list[Api]
) -> None:
    if seconds_to_utc_midnight() < 60:
        pytest.skip("the daily budget starts afresh within a minute")
    gw = await start_limited(settings, **FULL_LIMITS)
    try:
        alice = Api(*mode, gw, token=token("alice"))
        clients.append(alice)
        assert await alice.call("limits") == Limits(
            user="alice", requests=RateLimit(60, 60, 0.0), tokens=RateLimit(10000, 10000, 0.0),
            budget_usd_per_day=BudgetLimit(5.0, 0.0, 5.0), max_concurrent=ConcurrencyLimit(4, 0))
        anthropic_emu.enqueue(Turn(text="hi", usage=(1000, 500)))  # 1,500 tokens, 0.0105 USD
        await alice.call("chat", "hi", model=CLAUDE)
        got = await alice.call("limits")
        assert (got.user, got.requests.limit, got.requests.remaining) == ("alice", 60, 59)
        assert 0.5 < got.requests.reset_s <= 1.0  # one request is 1 s of a 60 rpm bucket
        # 1,500 tokens are 9 s of a 10,000 tpm bucket, refilling 166.7 tokens a second since
        assert got.tokens.limit == 10000 and 8.0 < got.tokens.reset_s <= 9.0
        assert abs(got.tokens.remaining - refilled(10000, got.tokens.reset_s)) <= 1  # reset_s is rounded to 1 ms
        assert 8500 <= got.tokens.remaining < 8667
        assert got.budget_usd_per_day == BudgetLimit(5.0, pytest.approx(0.0105), pytest.approx(4.9895))
        assert got.max_concurrent == ConcurrencyLimit(4, 0)
        anonymous = Api(*mode, gw)
        clients.append(anonymous)
        assert (await anonymous.call("limits")).user is None
    finally:
        await gw.gateway.stop(grace=0.5)
    # a gateway without limits: every group unset
    unlimited = await start_limited(settings)
    try:
        api = Api(*mode, unlimited, token=token("alice"))
        clients.append(api)
        got = await api.call("limits")
        assert got == Limits(user="alice")
        # to_dict() (gateway-chat limits --json) is the REST body, whichever transport answered
        async with httpx.AsyncClient() as http:
            raw = await http.get(f"{unlimited.url}/v1/limits", headers={"authorization": f"Bearer {token('alice')}"})
        assert got.to_dict() == raw.json() == {
            "object": "limits", "user": "alice", "requests": {"limit": None, "remaining": None, "reset_s": None},
            "tokens": {"limit": None, "remaining": None, "reset_s": None},
            "budget_usd_per_day": {"limit": None, "spent": None, "remaining": None},
            "max_concurrent": {"limit": None, "in_flight": None}}
    finally:
        await unlimited.gateway.stop(grace=0.5)


async def test_cli_limits_prints_a_table_and_json(settings: Settings, anthropic_emu: AnthropicEmulator,
                                                  gateway_chat: Path) -> None:
    if seconds_to_utc_midnight() < 60:
        pytest.skip("the daily budget starts afresh within a minute")
    gw = await start_limited(settings, **FULL_LIMITS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_URL"] = gw.url

    async def cli(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(str(gateway_chat), *args, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    try:
        assert await cli("--token", token("bob"), "limits") == (0, (
            "limits of bob\n"
            "\n"
            "LIMIT                   MAX  REMAINING\n"
            "requests per minute      60         60  full again in 0s\n"
            "tokens per minute    10,000     10,000  full again in 0s\n"
            "USD per day (UTC)      5.00       5.00  spent 0.00 today\n"
            "requests in flight        4          4  in flight 0\n"), "")
        anthropic_emu.enqueue(Turn(text="hi", usage=(1000, 500)))
        assert (await cli("--token", token("carol"), "chat", "hi"))[0] == 0
        code, out, err = await cli("limits", "--token", token("carol"), "--json")
        assert (code, err) == (0, "")
        body = json.loads(out)
        assert 0.0 < body["requests"].pop("reset_s") <= 1.0
        tokens_reset = body["tokens"].pop("reset_s")
        assert 8.0 < tokens_reset <= 9.0 and abs(body["tokens"]["remaining"] - refilled(10000, tokens_reset)) <= 1
        body["tokens"].pop("remaining")
        assert body == {"object": "limits", "user": "carol", "requests": {"limit": 60, "remaining": 59},
                        "tokens": {"limit": 10000},
                        "budget_usd_per_day": {"limit": 5.0, "spent": 0.0105, "remaining": 4.9895},
                        "max_concurrent": {"limit": 4, "in_flight": 0}}
        code, out, err = await cli("--grpc", gw.grpc_target, "limits")  # no token: the anonymous callers
        assert (code, err) == (0, "") and out.startswith("limits of anonymous callers\n\nLIMIT ")
    finally:
        await gw.gateway.stop(grace=0.5)
