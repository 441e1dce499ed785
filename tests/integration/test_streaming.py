"""Streaming end to end: SSE through the bridge (both transports), the OpenAI SDK, gRPC server streaming,
mid-stream errors and client disconnects."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import grpc
import openai
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from tests.conftest import Running
from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator, ToolCall, Turn

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get current weather for a location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]
PROVIDERS = [("claude-sonnet-4-5", "anthropic"), ("Llama-3.3-70B-Instruct", "llama")]


def emulator(name: str, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator) -> Any:
    return anthropic_emu if name == "anthropic" else llama_emu


def client(gateway: Running) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="sk-placeholder", max_retries=0)


async def read_sse(resp: aiohttp.ClientResponse) -> list[Any]:
    events = []
    async for line in resp.content:
        if line.startswith(b"data: "):
            payload = line[6:].strip()
            events.append(payload.decode() if payload == b"[DONE]" else json.loads(payload))
    return events


TURNS = [
    Turn(text="The weather in Oslo is mild, with light rain expected in the afternoon.", usage=(21, 14)),
    Turn(text="Let me look that up.", tool_calls=[ToolCall("get_weather", {"location": "Oslo"}, id="call_o"),
                                                  ToolCall("get_time", {}, id="call_t")], usage=(40, 22)),
]


@pytest.mark.parametrize("turn", TURNS, ids=["text", "tool_calls"])
@pytest.mark.parametrize(("model", "emu_name"), PROVIDERS)
async def test_openai_sdk_stream_assembles_to_the_non_streaming_answer(
    gateway: Running, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator, model: str, emu_name: str,
    turn: Turn,
) -> None:
    emu = emulator(emu_name, anthropic_emu, llama_emu)
    emu.enqueue(turn, turn)
    request: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Weather in Oslo?"}],
                               "tools": TOOLS}
    async with client(gateway) as oai:
        whole = await oai.chat.completions.create(**request)
        content, calls, finish, ids = "", {}, None, set()
        stream = await oai.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
        usage_chunks = []
        async for chunk in stream:
            ids.add(chunk.id)
            if not chunk.choices:
                usage_chunks.append(chunk)
                continue
            [choice] = chunk.choices
            assert choice.index == 0
            content += choice.delta.content or ""
            for tc in choice.delta.tool_calls or ():
                entry = calls.setdefault(tc.index, {"id": tc.id, "name": tc.function.name, "arguments": ""})
                if tc.id:  # id, type and name come only on a call's first fragment
                    assert entry["id"] == tc.id and tc.type == "function"
                entry["arguments"] += tc.function.arguments or ""
            finish = choice.finish_reason or finish
    expected = whole.choices[0]
    assert content == (expected.message.content or "")
    assert finish == expected.finish_reason
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        (t.id, t.function.name, json.loads(t.function.arguments)) for t in expected.message.tool_calls or ()]
    assert len(ids) == 1 and next(iter(ids)).startswith("chatcmpl-")
    [usage_chunk] = usage_chunks
    assert usage_chunk.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}) == \
        whole.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
    assert usage_chunk.model_extra["iterations"] == 1
    assert usage_chunk.model_extra["total_tokens_used"] == whole.usage.total_tokens
    assert emu.requests[-1].json.get("stream") is True


@pytest.mark.parametrize(("model", "emu_name"), PROVIDERS)
async def test_raw_sse_wire_format(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    model: str, emu_name: str,
) -> None:
    emulator(emu_name, anthropic_emu, llama_emu).enqueue(Turn(text="Hi there friend", usage=(3, 3)))
    async with http.post(f"{gateway.url}/v1/chat/completions", headers={"X-Request-Id": "sse-1"},
                         json={"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["X-Request-Id"] == "sse-1"
        events = await read_sse(resp)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == model for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hi there friend"
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert all("usage" not in c for c in chunks)  # no usage chunk unless asked for


@pytest.mark.parametrize(("model", "emu_name"), PROVIDERS)
async def test_errors_before_the_first_byte_are_ordinary_responses(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    model: str, emu_name: str,
) -> None:
    emu = emulator(emu_name, anthropic_emu, llama_emu)
    emu.enqueue(*[Fault(status=429, retry_after=0.01)] * 3)
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "0.01"
        assert (await resp.json())["error"]["code"] == "rate_limited"
    emu.enqueue(Fault(status=503), Turn(text="after one retry", usage=(1, 3)))
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        events = await read_sse(resp)
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == "after one retry"
    async with http.post(f"{gateway.url}/v1/chat/completions", json={**body, "temperature": 9}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "temperature"


@pytest.mark.parametrize("fault", [Fault(stream_error_after=4), Fault(drop_after=4)], ids=["error_event", "drop"])
@pytest.mark.parametrize(("model", "emu_name"), PROVIDERS)
async def test_mid_stream_failure_reaches_the_sdk_as_an_error(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    model: str, emu_name: str, fault: Fault,
) -> None:
    emu = emulator(emu_name, anthropic_emu, llama_emu)
    emu.enqueue(fault)
    body = {"model": model, "stream": True,
            "messages": [{"role": "user", "content": "tell me a long story about a lighthouse keeper"}]}
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        events = await read_sse(resp)
    assert "[DONE]" not in events  # never a silent, normal-looking end
    error = events[-1]["error"]
    expected = ("provider_overloaded" if emu_name == "anthropic" else "upstream_error") \
        if fault.stream_error_after else "upstream_error"
    assert error["code"] == expected and error["message"]
    assert all("choices" in e for e in events[:-1]) and len(events) >= 2
    assert len(emu.requests) == 1  # no retry once bytes went to the client

    emu.enqueue(fault)
    async with client(gateway) as oai:
        stream = await oai.chat.completions.create(model=model, messages=body["messages"], stream=True)
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass


@pytest.mark.parametrize(("model", "emu_name"), PROVIDERS)
async def test_client_disconnect_cancels_the_upstream_stream(
    gateway: Running, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator, model: str, emu_name: str
) -> None:
    emu = emulator(emu_name, anthropic_emu, llama_emu)
    emu.stream_delay = 0.05
    emu.enqueue(Turn(text=" ".join(f"word{i}" for i in range(400)), usage=(5, 400)))
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    async with aiohttp.ClientSession() as session:
        resp = await session.post(f"{gateway.url}/v1/chat/completions", json=body)
        assert resp.status == 200
        got = 0
        async for line in resp.content:
            got += line.startswith(b"data: ")
            if got >= 3:
                break
        assert emu.active_streams == 1
        resp.close()  # the client goes away mid-stream
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    while emu.aborted_streams == 0 and loop.time() < deadline:  # noqa: ASYNC110 - polls a counter
        await asyncio.sleep(0.02)
    assert emu.aborted_streams == 1, "the upstream stream was not cancelled within a second"
    assert emu.active_streams == 0


async def test_slow_reader_does_not_buffer_the_whole_answer(
    gateway: Running, llama_emu: LlamaEmulator
) -> None:
    # a large answer read slowly must still arrive whole and in order (flow control, not loss)
    words = [f"w{i}" for i in range(3000)]
    llama_emu.enqueue(Turn(text=" ".join(words), usage=(5, 3000)))
    body = {"model": "Llama-3.3-70B-Instruct", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    async with aiohttp.ClientSession(read_bufsize=1024) as session:
        async with session.post(f"{gateway.url}/v1/chat/completions", json=body) as resp:
            text, n = "", 0
            async for line in resp.content:
                if line.startswith(b"data: {"):
                    n += 1
                    if n % 200 == 0:
                        await asyncio.sleep(0.01)
                    text += json.loads(line[6:])["choices"][0]["delta"].get("content", "")
    assert text == " ".join(words)


async def test_grpc_server_streaming(gateway: Running, anthropic_emu: AnthropicEmulator) -> None:
    anthropic_emu.enqueue(Turn(text="Streaming over gRPC", tool_calls=[ToolCall("get_time", {}, id="toolu_t")],
                               usage=(8, 6)))
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        call = stub.StreamChatCompletion(pb.StreamChatCompletionRequest(
            include_usage=True, request=pb.CreateChatCompletionRequest(
                model="claude-sonnet-4-5", messages=[pb.ChatMessage(role=pb.ROLE_USER,
                                                                     content=[pb.ContentPart(text="hi")])],
                tools=[pb.Tool(type="function", function=pb.FunctionDefinition(name="get_time"))])),
            metadata=(("x-request-id", "grpc-stream-1"),))
        chunks = [r.chunk async for r in call]
        assert dict(await call.initial_metadata())["x-request-id"] == "grpc-stream-1"
    text = "".join(c.choices[0].delta.content for c in chunks if c.choices)
    assert text == "Streaming over gRPC"
    tool_deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls]
    assert tool_deltas[0].id == "toolu_t" and tool_deltas[0].function.name == "get_time"
    assert "".join(d.function.arguments for d in tool_deltas) == "{}"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [pb.FINISH_REASON_TOOL_CALLS]
    last = chunks[-1]
    assert not last.choices and (last.usage.prompt_tokens, last.usage.completion_tokens) == (8, 6)
    assert (last.iterations, last.total_tokens_used) == (1, 14)


async def test_grpc_stream_error_status(gateway: Running, llama_emu: LlamaEmulator) -> None:
    llama_emu.enqueue(Fault(stream_error_after=3))
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        call = stub.StreamChatCompletion(pb.StreamChatCompletionRequest(request=pb.CreateChatCompletionRequest(
            model="Llama-3.3-70B-Instruct", messages=[pb.ChatMessage(role=pb.ROLE_USER,
                                                                     content=[pb.ContentPart(text="hi there")])])))
        received = []
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for r in call:
                received.append(r)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert received  # the error came after chunks were delivered
