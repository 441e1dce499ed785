"""Faithfulness of the OpenAI Chat Completions emulator, driven by the official `openai` SDK.

The SDK parses what the emulator sends into its typed models (a missing required field or a wrong type
fails there), assembles streams with its own code and maps statuses and error bodies to its exception
classes, so passing these proves the emulator speaks OpenAI's format, not merely a format the gateway's
test provider happens to read. Raw-HTTP checks cover what the SDK hides (the SSE framing, [DONE]).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest

from tests.emulators import Fault, OpenAICompatEmulator, ToolCall, Turn

MODEL = "compat-chat-1"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture
async def emu() -> AsyncIterator[OpenAICompatEmulator]:
    async with OpenAICompatEmulator() as emu:
        emu.valid_keys = {"sk-compat-good"}
        yield emu


@pytest.fixture
async def oai(emu: OpenAICompatEmulator) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key="sk-compat-good", base_url=emu.base_url, max_retries=0)
    yield client
    await client.close()


async def test_plain_completion(emu: OpenAICompatEmulator, oai: openai.AsyncOpenAI) -> None:
    emu.enqueue(Turn(text="Hello there.", usage=(9, 2), cache_read=4))
    resp = await oai.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_tokens=50, temperature=0.2)
    assert resp.headers["x-request-id"].startswith("req_")
    completion = resp.parse()
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == MODEL
    [choice] = completion.choices
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert (choice.message.role, choice.message.content, choice.message.refusal) == ("assistant", "Hello there.", None)
    assert choice.message.tool_calls is None
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (9, 2, 11)
    assert usage.prompt_tokens_details.cached_tokens == 4
    sent = emu.last_request
    assert sent.headers["authorization"] == "Bearer sk-compat-good"
    assert sent.json["max_tokens"] == 50 and sent.json["temperature"] == 0.2


async def test_stream_with_usage(emu: OpenAICompatEmulator, oai: openai.AsyncOpenAI) -> None:
    emu.enqueue(Turn(text="one two three four five six seven", usage=(5, 7)))
    stream = await oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "count"}],
                                               stream=True, stream_options={"include_usage": True})
    text, finish, usage, ids = "", None, None, set()
    async for chunk in stream:
        ids.add(chunk.id)
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
            continue
        [choice] = chunk.choices
        text += choice.delta.content or ""
        finish = choice.finish_reason or finish
    assert text == "one two three four five six seven" and finish == "stop"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 7, 12)
    assert len(ids) == 1


async def test_tool_call_round_trip(emu: OpenAICompatEmulator, oai: openai.AsyncOpenAI) -> None:
    emu.enqueue(Turn(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_abc")], usage=(30, 5)),
                Turn(tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, id="call_def")], usage=(30, 5)),
                Turn(text="It is sunny.", usage=(40, 3)))
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    first = await oai.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="required")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_abc", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    # the same call streamed: the SDK's own accumulation of tool-call fragments
    async with oai.chat.completions.stream(model=MODEL, messages=messages, tools=TOOLS) as stream:
        final = await stream.get_final_completion()
    [streamed] = final.choices[0].message.tool_calls
    assert (streamed.id, streamed.function.name, json.loads(streamed.function.arguments)) == (
        "call_def", "get_weather", {"city": "Oslo"})
    assert final.choices[0].finish_reason == "tool_calls"

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": "call_abc", "content": "18 C, sunny"}]
    answer = await oai.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert answer.choices[0].message.content == "It is sunny."
    sent = emu.last_request.json
    assert sent["messages"][-1] == {"role": "tool", "tool_call_id": "call_abc", "content": "18 C, sunny"}


async def test_errors_map_to_the_sdk_classes(emu: OpenAICompatEmulator, oai: openai.AsyncOpenAI) -> None:
    bad_key = openai.AsyncOpenAI(api_key="sk-compat-wrong-0000", base_url=emu.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth:
        await bad_key.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    await bad_key.close()
    assert auth.value.status_code == 401 and auth.value.code == "invalid_api_key"
    assert auth.value.type == "invalid_request_error" and "sk-*****0000" in auth.value.message

    emu.enqueue(Fault(status=429, retry_after=2))
    with pytest.raises(openai.RateLimitError) as limited:
        await oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert limited.value.code == "rate_limit_exceeded" and limited.value.type == "requests"
    assert limited.value.response.headers["retry-after"] == "2"

    emu.enqueue(Fault(status=500))
    with pytest.raises(openai.InternalServerError) as server:
        await oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert server.value.type == "server_error"

    with pytest.raises(openai.NotFoundError) as missing:
        await oai.chat.completions.create(model="compat-nope", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "model_not_found"

    with pytest.raises(openai.BadRequestError) as bad:
        await oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                          tool_choice="auto")
    assert bad.value.param == "tool_choice"


async def test_mid_stream_error_raises_api_error(emu: OpenAICompatEmulator, oai: openai.AsyncOpenAI) -> None:
    emu.enqueue(Fault(stream_error_after=2))
    stream = await oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a b c d e f"}],
                                               stream=True)
    with pytest.raises(openai.APIError) as err:
        async for _ in stream:
            pass
    assert err.value.body["type"] == "server_error"


async def test_sse_framing(emu: OpenAICompatEmulator) -> None:
    """What the SDK does not show: no `event:` lines, usage: null on content chunks, [DONE] last."""
    emu.enqueue(Turn(text="hi", usage=(1, 1)))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True,
            "stream_options": {"include_usage": True}}
    async with aiohttp.ClientSession() as http, http.post(
            f"{emu.base_url}/chat/completions", json=body,
            headers={"Authorization": "Bearer sk-compat-good"}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = (await resp.read()).decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") and "\n" not in e for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert all(c["usage"] is None for c in chunks[:-1]) and chunks[-1]["choices"] == []
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
