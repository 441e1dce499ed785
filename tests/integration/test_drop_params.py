"""No silent drops: a parameter the gateway or the chosen provider cannot honour is refused (400
unsupported_parameter naming it), or, with `drop_params` (request) or DROP_UNSUPPORTED_PARAMS (server),
dropped and named in `x-dropped-params` (gRPC: the same metadata)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from service.config import Settings
from tests.conftest import Running, run_gateway
from tests.emulators import AnthropicEmulator, LlamaEmulator

LLAMA = {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "hi"}]}
CLAUDE = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


async def post(http: aiohttp.ClientSession, url: str, body: Any, stream: bool = False) -> tuple[int, Any, Any]:
    async with http.post(f"{url}/v1/chat/completions", json={**body, **({"stream": True} if stream else {})}) as resp:
        text = await resp.text()
        return resp.status, resp.headers.copy(), text


@pytest.mark.parametrize(("body", "param"), [
    ({**CLAUDE, "seed": 7}, "seed"),
    ({**CLAUDE, "response_format": {"type": "json_object"}}, "response_format"),
    ({**LLAMA, "presence_penalty": 0.5}, "presence_penalty"),
    ({**LLAMA, "stop": ["END"]}, "stop"),
])
async def test_unsupported_parameters_are_refused_naming_them(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    body: dict, param: str,
) -> None:
    sent = len(anthropic_emu.requests) + len(llama_emu.requests)
    status, headers, text = await post(http, gateway.url, body)
    assert status == 400, text
    error = json.loads(text)["error"]
    assert (error["code"], error["param"], error["type"]) == ("unsupported_parameter", param, "invalid_request_error")
    assert "x-dropped-params" not in headers
    assert len(anthropic_emu.requests) + len(llama_emu.requests) == sent  # no provider call


async def test_a_null_parameter_is_absent(gateway: Running, http: aiohttp.ClientSession) -> None:
    status, headers, _ = await post(http, gateway.url, {**CLAUDE, "seed": None, "logprobs": None})
    assert status == 200 and "x-dropped-params" not in headers


@pytest.mark.parametrize("stream", [False, True])
async def test_drop_params_drops_and_names_what_was_dropped(
    gateway: Running, http: aiohttp.ClientSession, llama_emu: LlamaEmulator, stream: bool
) -> None:
    body = {**LLAMA, "stop": ["END"], "parallel_tool_calls": False, "seed": 3, "frequency_penalty": 0.1,
            "drop_params": True}
    status, headers, text = await post(http, gateway.url, body, stream)
    assert status == 200, text
    assert headers["x-dropped-params"] == "seed,frequency_penalty,stop,parallel_tool_calls"
    sent = llama_emu.requests[-1].json
    assert not {"stop", "parallel_tool_calls", "seed", "frequency_penalty", "drop_params"} & set(sent)


async def test_what_the_provider_honours_is_not_dropped(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    status, headers, text = await post(http, gateway.url, {**CLAUDE, "stop": ["END"], "drop_params": True})
    assert status == 200, text
    assert "x-dropped-params" not in headers
    assert anthropic_emu.requests[-1].json["stop_sequences"] == ["END"]


@pytest.fixture
async def dropping(settings: Settings) -> AsyncIterator[Running]:
    running, runners = await run_gateway(dataclasses.replace(settings, drop_unsupported_params=True), "grpc")
    yield running
    for runner in runners:
        await runner.cleanup()
    await running.gateway.stop(grace=0.5)


async def test_the_server_setting_drops_for_every_request_rest_and_grpc(
    dropping: Running, http: aiohttp.ClientSession, llama_emu: LlamaEmulator
) -> None:
    # REST through a separate bridge: the bridge's own drop and the service's, merged
    status, headers, text = await post(http, dropping.url, {**LLAMA, "stop": "END", "logit_bias": {"1": 2}})
    assert status == 200, text
    assert headers["x-dropped-params"] == "logit_bias,stop"
    assert "stop" not in llama_emu.requests[-1].json
    req = pb.CreateChatCompletionRequest(model="Llama-3.3-70B-Instruct", stop=["END"], messages=[
        pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])])
    async with grpc.aio.insecure_channel(dropping.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        call = stub.CreateChatCompletion(req)
        await call
        assert dict(await call.trailing_metadata())["x-dropped-params"] == "stop"
        stream = stub.StreamChatCompletion(pb.StreamChatCompletionRequest(request=req))
        assert dict(await stream.initial_metadata())["x-dropped-params"] == "stop"
        assert [c async for c in stream]


async def test_grpc_drop_params_field(gateway: Running) -> None:
    req = pb.CreateChatCompletionRequest(model="Llama-3.3-70B-Instruct", stop=["END"], messages=[
        pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])])
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateChatCompletion(req)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        req.drop_params = True
        call = stub.CreateChatCompletion(req)
        await call
        assert dict(await call.trailing_metadata())["x-dropped-params"] == "stop"


@pytest.mark.parametrize(("body", "message"), [
    ({**CLAUDE, "temperature": 1.5}, "temperature must be between 0 and 1 for Anthropic"),
    ({**LLAMA, "temperature": 1.2}, "temperature must be between 0 and 1 for Meta Llama API"),
    ({**CLAUDE, "temperature": 2.5}, "temperature must be between 0 and 2"),
    ({**LLAMA, "top_k": 0}, "top_k must be at least 1"),
])
async def test_temperature_takes_openais_range_then_the_providers(
    gateway: Running, http: aiohttp.ClientSession, body: dict, message: str
) -> None:
    status, _, text = await post(http, gateway.url, body)
    error = json.loads(text)["error"]
    assert (status, error["code"], error["param"], error["message"]) == (
        400, "invalid_request", "temperature" if "temperature" in body else "top_k", message)


@pytest.mark.parametrize("stream", [False, True])
async def test_top_k_reaches_both_providers(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    stream: bool,
) -> None:
    for body, emu in ((CLAUDE, anthropic_emu), (LLAMA, llama_emu)):
        status, headers, text = await post(http, gateway.url, {**body, "top_k": 40, "temperature": 1.0}, stream)
        assert status == 200, text
        assert "x-dropped-params" not in headers
        sent = emu.requests[-1].json
        assert (sent["top_k"], sent["temperature"]) == (40, 1.0)
