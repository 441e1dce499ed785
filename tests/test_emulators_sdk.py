"""Faithfulness tests for the provider emulators, driven by the official SDKs.

`anthropic` (2.14) and `llama-api-client` (0.6) parse what the emulators send into their typed models
and map error statuses to their exception classes, so these tests prove the emulators speak the wire
formats of docs/wire-formats.md §1 / §2.  A few raw-HTTP tests check what the SDKs hide (SSE `event:`
lines, `ping`, headers, no `[DONE]`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import llama_api_client
import pytest

from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator, ToolCall, Turn

# anthropic 2.14 warns that claude-sonnet-4-5 is deprecated (EOL 2026-11-30); it is still the model the
# gateway is configured with, so keep using it and silence the SDK's warning.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

REPO_ROOT = str(Path(__file__).resolve().parents[1])
CLAUDE = "claude-sonnet-4-5"
LLAMA = "Llama-3.3-70B-Instruct"
SSE_ACCEPT = {"Accept": "text/event-stream"}

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Get the weather", "input_schema": WEATHER_SCHEMA}]
LLAMA_TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Get the weather", "parameters": WEATHER_SCHEMA},
    }
]


# --------------------------------------------------------------------------------------------------
# fixtures / helpers
# --------------------------------------------------------------------------------------------------


@pytest.fixture
async def aemu() -> AsyncIterator[AnthropicEmulator]:
    async with AnthropicEmulator() as emu:
        yield emu


@pytest.fixture
async def lemu() -> AsyncIterator[LlamaEmulator]:
    async with LlamaEmulator() as emu:
        yield emu


@pytest.fixture
async def aclient(aemu: AnthropicEmulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(api_key="sk-test", base_url=aemu.base_url, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def lclient(lemu: LlamaEmulator) -> AsyncIterator[llama_api_client.AsyncLlamaAPIClient]:
    client = llama_api_client.AsyncLlamaAPIClient(api_key="LLM|test", base_url=lemu.base_url, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def wait_for(cond: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def parse_sse(raw: str) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event; asserts no stray lines."""
    out = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        event, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        assert data is not None
        out.append((event, data))
    return out


ANTHROPIC_HEADERS = {
    "x-api-key": "sk-test",
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
}
LLAMA_HEADERS = {"authorization": "Bearer LLM|test", "content-type": "application/json"}


# ==================================================================================================
# Anthropic
# ==================================================================================================


async def test_anthropic_text_turn(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(Turn(text="Hi there, friend.", usage=(10, 3)))
    msg = await aclient.messages.create(model=CLAUDE, max_tokens=100, messages=user("Hello"))
    assert isinstance(msg, anthropic.types.Message)
    assert msg.id.startswith("msg_01")
    assert msg.type == "message" and msg.role == "assistant" and msg.model == CLAUDE
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Hi there, friend."
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (10, 3)
    assert msg.usage.cache_creation_input_tokens == 0 and msg.usage.cache_read_input_tokens == 0
    assert msg._request_id is not None and msg._request_id.startswith("req_")

    rec = aemu.requests[-1]
    assert (rec.method, rec.path, rec.status) == ("POST", "/v1/messages", 200)
    assert rec.api_key == "sk-test"  # anthropic 2.14 sends Authorization: Bearer
    assert rec.headers["authorization"] == "Bearer sk-test"
    assert "anthropic-version" in rec.headers
    assert rec.json == {"model": CLAUDE, "max_tokens": 100, "messages": user("Hello")}


async def test_anthropic_cache_usage_and_stop_mapping(
    aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic
) -> None:
    aemu.enqueue(
        Turn(text="cached", usage=(4, 1), cache_read=100, cache_creation=50),
        Turn(text="cut", stop="max_tokens"),
        Turn(text="halt", stop="stop_sequence"),
        Turn(text="no", stop="refusal"),
        Turn(text="x", stop="model_context_window_exceeded"),
        Turn(text="raw", stop="pause_turn"),
    )
    msg = await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("a"))
    assert msg.usage.cache_read_input_tokens == 100 and msg.usage.cache_creation_input_tokens == 50
    assert msg.usage.input_tokens == 4
    reasons = []
    for _ in range(5):
        m = await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("a"), stop_sequences=["END"])
        reasons.append((m.stop_reason, m.stop_sequence))
    assert reasons == [
        ("max_tokens", None),
        ("stop_sequence", "END"),
        ("refusal", None),
        ("model_context_window_exceeded", None),
        ("pause_turn", None),
    ]


async def test_anthropic_tool_use_round_trip(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    msg = await aclient.messages.create(
        model=CLAUDE, max_tokens=100, system="You are terse.", tools=ANTHROPIC_TOOLS, messages=messages
    )
    assert msg.stop_reason == "tool_use"
    (block,) = msg.content
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.input == {"city": "example"}
    assert block.id.startswith("toolu_01")
    # mock tokenizer: system 3 + user 3 + tools JSON 3 words = 9; one tool call = 5
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (9, 5)

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "18C and sunny"}],
        },
    ]
    msg2 = await aclient.messages.create(
        model=CLAUDE, max_tokens=100, system="You are terse.", tools=ANTHROPIC_TOOLS, messages=messages
    )
    assert msg2.stop_reason == "end_turn"
    assert msg2.content[0].text == "Tool results received: 18C and sunny"
    # + tool_use input {"city":"example"} (1 word) + tool result (3 words) = 13; answer = 6 words
    assert (msg2.usage.input_tokens, msg2.usage.output_tokens) == (13, 6)


async def test_anthropic_scripted_tool_calls(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(
        Turn(
            text="Checking both.",
            tool_calls=[
                ToolCall("get_weather", {"city": "Paris"}),
                ToolCall("get_weather", {"city": "Rome"}, id="t2"),
            ],
        )
    )
    msg = await aclient.messages.create(model=CLAUDE, max_tokens=100, tools=ANTHROPIC_TOOLS, messages=user("x"))
    assert [b.type for b in msg.content] == ["text", "tool_use", "tool_use"]
    assert msg.content[1].input == {"city": "Paris"} and msg.content[2].input == {"city": "Rome"}
    assert msg.content[2].id == "t2" and msg.content[1].id.startswith("toolu_01")
    assert msg.stop_reason == "tool_use"
    assert msg.usage.output_tokens == 2 + 10  # "Checking both." + 2 tool calls
    with pytest.raises(ValueError):
        aemu.enqueue(Turn(tool_calls=[ToolCall("get_weather", '{"city": "Paris"}')]))


STREAM_TURN = Turn(
    text="Let me check the weather for you right now.",
    tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_01FIXEDFIXEDFIXEDFIXED")],
    usage=(20, 9),
)


async def test_anthropic_streams_match_non_streamed(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(STREAM_TURN, STREAM_TURN, STREAM_TURN)
    kwargs: dict[str, Any] = dict(model=CLAUDE, max_tokens=100, tools=ANTHROPIC_TOOLS, messages=user("Paris?"))
    plain = await aclient.messages.create(**kwargs)

    raw = await aclient.messages.create(**kwargs, stream=True)
    events = [ev async for ev in raw]
    types = [ev.type for ev in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    start = events[0].message
    assert start.stop_reason is None and start.content == []
    assert (start.usage.input_tokens, start.usage.output_tokens) == (20, 1)
    text = "".join(ev.delta.text for ev in events if ev.type == "content_block_delta" and ev.delta.type == "text_delta")
    assert text == STREAM_TURN.text
    assert sum(1 for ev in events if ev.type == "content_block_delta" and ev.delta.type == "text_delta") >= 3
    frags = [
        ev.delta.partial_json
        for ev in events
        if ev.type == "content_block_delta" and ev.delta.type == "input_json_delta"
    ]
    assert frags[0] == "" and 2 <= len(frags) <= 3 and json.loads("".join(frags)) == {"city": "Paris"}
    assert [ev.index for ev in events if ev.type == "content_block_start"] == [0, 1]
    delta = events[-2]
    assert delta.delta.stop_reason == "tool_use" and delta.usage.output_tokens == 9

    async with aclient.messages.stream(**kwargs) as stream:
        final = await stream.get_final_message()
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in plain.content]
    assert final.stop_reason == plain.stop_reason == "tool_use"
    assert final.usage.input_tokens == plain.usage.input_tokens == 20
    assert final.usage.output_tokens == plain.usage.output_tokens == 9
    assert final.model == CLAUDE


async def test_anthropic_stream_wire_format(aemu: AnthropicEmulator, http: aiohttp.ClientSession) -> None:
    aemu.enqueue(Turn(text="One two three four", tool_calls=[ToolCall("noop", {})], usage=(3, 9)))
    body = {"model": CLAUDE, "max_tokens": 50, "stream": True, "messages": user("hi")}
    async with http.post(aemu.base_url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["request-id"].startswith("req_")
        raw = await resp.text()
    events = parse_sse(raw)
    for name, data in events:
        assert name is not None and json.loads(data)["type"] == name  # event: line matches data.type
    names = [n for n, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",  # no-arg tool: one empty fragment only
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    datas = [json.loads(d) for _, d in events]
    assert datas[3]["delta"] == {"type": "text_delta", "text": "One two three"}
    assert datas[4]["delta"] == {"type": "text_delta", "text": " four"}
    assert datas[6]["content_block"] == {
        "type": "tool_use",
        "id": datas[6]["content_block"]["id"],
        "name": "noop",
        "input": {},
    }
    assert datas[7]["delta"] == {"type": "input_json_delta", "partial_json": ""}
    assert datas[9]["usage"]["output_tokens"] == 9


async def test_anthropic_stream_helper_no_arg_tool(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(Turn(tool_calls=[ToolCall("noop", {})]))
    async with aclient.messages.stream(model=CLAUDE, max_tokens=10, messages=user("x")) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == {}


ANTHROPIC_ERRORS = [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (404, anthropic.NotFoundError, "not_found_error"),
    (413, anthropic.ContentTooLargeError, "request_too_large"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (504, anthropic.GatewayTimeoutError, "timeout_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "exc_class", "error_type"), ANTHROPIC_ERRORS)
async def test_anthropic_error_statuses(
    aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic, status: int, exc_class: type, error_type: str
) -> None:
    aemu.enqueue(Fault(status=status, retry_after=7 if status == 429 else None))
    with pytest.raises(exc_class) as info:
        await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    err = info.value
    assert err.status_code == status
    assert err.body["type"] == "error"
    assert err.body["error"]["type"] == error_type and err.type == error_type
    assert err.body["request_id"].startswith("req_") and err.request_id.startswith("req_")
    if status == 429:
        assert err.response.headers["retry-after"] == "7"
    assert aemu.pending == 0


async def test_anthropic_fault_custom_message_and_headers(
    aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic
) -> None:
    aemu.enqueue(
        Fault(status=400, error_type="invalid_request_error", message="prompt is too long", headers={"x-a": "b"})
    )
    with pytest.raises(anthropic.BadRequestError) as info:
        await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    assert info.value.body["error"]["message"] == "prompt is too long"
    assert info.value.response.headers["x-a"] == "b"


async def test_anthropic_in_stream_error(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(Fault(stream_error_after=4))
    stream = await aclient.messages.create(model=CLAUDE, max_tokens=50, messages=user("a b c d e f"), stream=True)
    seen = []
    with pytest.raises(anthropic.APIStatusError) as info:
        async for ev in stream:
            seen.append(ev.type)
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert seen == ["message_start", "content_block_start", "content_block_delta"]  # 4th event was the ping


async def test_anthropic_stream_fault_on_non_stream_request(
    aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic
) -> None:
    aemu.enqueue(Fault(stream_error_after=2))
    with pytest.raises(anthropic.OverloadedError):
        await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))


async def test_anthropic_drop_mid_stream(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(Fault(drop_after=4))
    stream = await aclient.messages.create(model=CLAUDE, max_tokens=50, messages=user("a b c d e f"), stream=True)
    seen = []
    with pytest.raises(Exception) as info:  # noqa: B017 - httpx2 RemoteProtocolError (incomplete chunked read)
        async for ev in stream:
            seen.append(ev.type)
    assert "message_stop" not in seen and len(seen) == 3
    assert "incomplete" in str(info.value) or isinstance(info.value, anthropic.APIConnectionError)


async def test_anthropic_sdk_retry_after_529(aemu: AnthropicEmulator) -> None:
    aemu.enqueue(Fault(status=529, retry_after=0.01), Turn(text="ok"))
    async with anthropic.AsyncAnthropic(api_key="sk-test", base_url=aemu.base_url, max_retries=2) as client:
        msg = await client.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    assert msg.content[0].text == "ok"
    assert [r.status for r in aemu.requests] == [529, 200]
    assert [r.headers["x-stainless-retry-count"] for r in aemu.requests] == ["0", "1"]


async def test_anthropic_connection_reset(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(Fault(reset=True), Turn(text="after"))
    with pytest.raises(anthropic.APIConnectionError):
        await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    assert aemu.requests[-1].status is None
    msg = await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    assert msg.content[0].text == "after"


async def test_anthropic_slow_headers_timeout(aemu: AnthropicEmulator) -> None:
    aemu.enqueue(Fault(delay=2.0))
    async with anthropic.AsyncAnthropic(api_key="k", base_url=aemu.base_url, max_retries=0, timeout=0.2) as client:
        with pytest.raises(anthropic.APITimeoutError):
            await client.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))


async def test_anthropic_delay_only_fault_then_answers(
    aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic
) -> None:
    aemu.enqueue(Fault(delay=0.05))
    t0 = time.monotonic()
    msg = await aclient.messages.create(model=CLAUDE, max_tokens=50, messages=user("hi"))
    assert time.monotonic() - t0 >= 0.05
    assert msg.content[0].text == f"Hello from the {CLAUDE} emulator. You said: hi"


async def test_anthropic_malformed_body(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(Fault(body=b'{"type": "message", "content": [', status=200))
    with pytest.raises(ValueError):  # json.JSONDecodeError from the SDK's response parser
        await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    aemu.enqueue(Fault(status=502, body=b"<html>Bad Gateway</html>", headers={"content-type": "text/html"}))
    with pytest.raises(anthropic.InternalServerError) as info:
        await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    assert info.value.body == "<html>Bad Gateway</html>"


async def test_anthropic_valid_keys(aemu: AnthropicEmulator, http: aiohttp.ClientSession) -> None:
    aemu.valid_keys = {"sk-good"}
    async with anthropic.AsyncAnthropic(api_key="sk-bad", base_url=aemu.base_url, max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError) as info:
            await client.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    assert info.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    async with anthropic.AsyncAnthropic(api_key="sk-good", base_url=aemu.base_url, max_retries=0) as client:
        await client.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    # the older x-api-key header form is accepted too
    headers = {**ANTHROPIC_HEADERS, "x-api-key": "sk-good"}
    body = {"model": CLAUDE, "max_tokens": 5, "messages": user("x")}
    async with http.post(aemu.base_url + "/v1/messages", json=body, headers=headers) as resp:
        assert resp.status == 200
    assert aemu.requests[-1].api_key == "sk-good"


def _tool_history(*, results: list[dict[str, Any]], tools: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": CLAUDE,
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
            },
            {"role": "user", "content": results},
        ],
    }
    if tools:
        body["tools"] = ANTHROPIC_TOOLS
    return body


def _base_anthropic(**extra: Any) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 100, "messages": user("hi"), **extra}


def _without(key: str) -> dict[str, Any]:
    body = _base_anthropic()
    del body[key]
    return body


RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
MISSING = "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"

ANTHROPIC_INVALID = [
    ("missing_model", _without("model"), 400, "model: Field required"),
    ("missing_max_tokens", _without("max_tokens"), 400, "max_tokens: Field required"),
    ("missing_messages", _without("messages"), 400, "messages: Field required"),
    (
        "max_tokens_zero",
        _base_anthropic(max_tokens=0),
        400,
        "max_tokens: Input should be greater than or equal to 1",
    ),
    ("max_tokens_too_big", _base_anthropic(max_tokens=64001), 400, "max_tokens: 64001 > 64000"),
    ("opus_cap", _base_anthropic(model="claude-opus-4-1", max_tokens=32001), 400, "32001 > 32000"),
    (
        "temperature",
        _base_anthropic(temperature=1.5),
        400,
        "temperature: Input should be less than or equal to 1",
    ),
    ("role_system", _base_anthropic(messages=[{"role": "system", "content": "x"}]), 400, "messages.0.role"),
    (
        "empty_string",
        _base_anthropic(messages=user("")),
        400,
        "messages: text content blocks must be non-empty",
    ),
    (
        "empty_text_block",
        _base_anthropic(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
        400,
        "messages: text content blocks must be non-empty",
    ),
    ("missing_tool_result", _tool_history(results=[{"type": "text", "text": "next"}]), 400, MISSING),
    ("tool_result_not_first", _tool_history(results=[{"type": "text", "text": "x"}, RESULT]), 400, MISSING),
    (
        "unknown_tool_use_id",
        _tool_history(results=[RESULT, {**RESULT, "tool_use_id": "toolu_X"}]),
        400,
        "unexpected `tool_use_id` found in `tool_result` blocks: toolu_X",
    ),
    ("tool_history_without_tools", _tool_history(results=[RESULT], tools=False), 400, "must define tools"),
    (
        "tool_choice_none_parallel",
        _base_anthropic(tools=ANTHROPIC_TOOLS, tool_choice={"type": "none", "disable_parallel_tool_use": True}),
        400,
        "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted",
    ),
    (
        "tool_without_input_schema",
        _base_anthropic(tools=[{"name": "t", "description": "d"}]),
        400,
        "tools.0.custom.input_schema: Field required",
    ),
    ("openai_parameters_key", _base_anthropic(tools=[{"name": "t", "parameters": {}}]), 400, "input_schema"),
    (
        "metadata_extra",
        _base_anthropic(metadata={"user_id": "u1", "foo": "x"}),
        400,
        "metadata.foo: Extra inputs",
    ),
    ("metadata_email", _base_anthropic(metadata={"user_id": "bob@example.com"}), 400, "email address"),
    (
        "image_media_type",
        _base_anthropic(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/bmp", "data": "AA"},
                        }
                    ],
                }
            ]
        ),
        400,
        "media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
    ),
    ("openai_field_n", _base_anthropic(n=1), 400, "n: Extra inputs are not permitted"),
    ("openai_field_stop", _base_anthropic(stop=["x"]), 400, "stop: Extra inputs are not permitted"),
    (
        "trailing_whitespace_prefill",
        _base_anthropic(messages=[*user("hi"), {"role": "assistant", "content": "Sure "}]),
        400,
        "final assistant content cannot end with trailing whitespace",
    ),
    ("whitespace_stop_sequence", _base_anthropic(stop_sequences=[" "]), 400, "stop_sequences"),
    ("unknown_model", _base_anthropic(model="gpt-4o"), 404, "model: gpt-4o"),
]


@pytest.mark.parametrize(
    ("body", "status", "message"), [c[1:] for c in ANTHROPIC_INVALID], ids=[c[0] for c in ANTHROPIC_INVALID]
)
async def test_anthropic_validation(
    aemu: AnthropicEmulator, http: aiohttp.ClientSession, body: dict[str, Any], status: int, message: str
) -> None:
    aemu.enqueue(Turn(text="should not be consumed"))
    async with http.post(aemu.base_url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS) as resp:
        assert resp.status == status
        assert resp.headers["request-id"].startswith("req_")
        err = await resp.json()
    assert err["type"] == "error"
    assert err["error"]["type"] == ("not_found_error" if status == 404 else "invalid_request_error")
    assert message in err["error"]["message"]
    assert aemu.pending == 1  # a rejected request does not consume the script
    assert aemu.requests[-1].status == status


async def test_anthropic_valid_tool_history_accepted(aemu: AnthropicEmulator, http: aiohttp.ClientSession) -> None:
    body = _tool_history(results=[RESULT, {"type": "text", "text": "thanks"}])
    async with http.post(aemu.base_url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS) as resp:
        assert resp.status == 200
        data = await resp.json()
    assert data["content"] == [{"type": "text", "text": "Tool results received: sunny"}]


@pytest.mark.parametrize(
    ("headers", "raw", "status", "message"),
    [
        ({"anthropic-version": "2023-06-01"}, None, 401, "x-api-key header is required"),
        ({"x-api-key": "k"}, None, 400, "anthropic-version: header is required"),
        (
            {"x-api-key": "k", "anthropic-version": "2023-06-01"},
            b"{nope",
            400,
            "The request body is not valid JSON",
        ),
    ],
    ids=["no_key", "no_version", "not_json"],
)
async def test_anthropic_header_and_json_checks(
    aemu: AnthropicEmulator,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    raw: bytes | None,
    status: int,
    message: str,
) -> None:
    data = raw if raw is not None else json.dumps(_base_anthropic()).encode()
    async with http.post(aemu.base_url + "/v1/messages", data=data, headers=headers) as resp:
        assert resp.status == status
        err = await resp.json()
    assert message in err["error"]["message"]


async def test_anthropic_validation_through_sdk(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        await aclient.messages.create(
            model=CLAUDE,
            max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}],
        )
    assert info.value.body["error"]["message"] == "messages: text content blocks must be non-empty"
    with pytest.raises(anthropic.BadRequestError) as info:
        await aclient.messages.create(**_tool_history(results=[{"type": "text", "text": "next"}]))
    assert info.value.body["error"]["message"] == MISSING
    with pytest.raises(anthropic.NotFoundError):
        await aclient.messages.create(model="claude-2.0", max_tokens=10, messages=user("x"))


async def test_anthropic_mock_model_defaults(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    msg = await aclient.messages.create(
        model=CLAUDE, max_tokens=50, system="You are terse.", messages=user("What is up?")
    )
    assert msg.content[0].text == "Hello from the claude-sonnet-4-5 emulator. You said: What is up?"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (6, 10)

    truncated = await aclient.messages.create(model=CLAUDE, max_tokens=3, messages=user("What is up?"))
    assert truncated.content[0].text == "Hello from the"
    assert truncated.stop_reason == "max_tokens" and truncated.usage.output_tokens == 3

    tools = [
        {
            "name": "first",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
        {
            "name": "second",
            "input_schema": {
                "type": "object",
                "properties": {
                    "s": {"type": "string"},
                    "i": {"type": "integer"},
                    "n": {"type": "number"},
                    "b": {"type": "boolean"},
                    "a": {"type": "array", "items": {"type": "string"}},
                    "o": {"type": "object"},
                    "optional": {"type": "string"},
                },
                "required": ["s", "i", "n", "b", "a", "o"],
            },
        },
    ]
    forced = await aclient.messages.create(
        model=CLAUDE,
        max_tokens=50,
        tools=tools,
        tool_choice={"type": "tool", "name": "second"},
        messages=user("go"),
    )
    assert forced.content[0].name == "second"
    assert forced.content[0].input == {"s": "example", "i": 1, "n": 1.0, "b": True, "a": [], "o": {}}
    first = await aclient.messages.create(
        model=CLAUDE, max_tokens=50, tools=tools, tool_choice={"type": "any"}, messages=user("go")
    )
    assert (first.content[0].name, first.content[0].input) == ("first", {"q": "example"})
    none = await aclient.messages.create(
        model=CLAUDE, max_tokens=50, tools=tools, tool_choice={"type": "none"}, messages=user("go")
    )
    assert none.content[0].type == "text" and none.stop_reason == "end_turn"


async def test_anthropic_models_endpoint(aclient: anthropic.AsyncAnthropic) -> None:
    ids = [m.id async for m in aclient.models.list()]
    assert CLAUDE in ids and "claude-opus-4-1-20250805" in ids
    info = await aclient.models.retrieve("claude-haiku-4-5")
    assert info.id == "claude-haiku-4-5" and info.type == "model"
    with pytest.raises(anthropic.NotFoundError):
        await aclient.models.retrieve("nope")


async def test_anthropic_aborted_stream_counted(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.stream_delay = 0.05
    aemu.enqueue(Turn(text=" ".join(["word"] * 90)))  # 30 deltas * 50 ms = 1.5 s if read to the end
    stream = await aclient.messages.create(model=CLAUDE, max_tokens=100, messages=user("x"), stream=True)
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == 3:
            break
    assert aemu.active_streams == 1
    t0 = time.monotonic()
    await stream.close()
    await wait_for(lambda: aemu.aborted_streams == 1)
    assert time.monotonic() - t0 < 0.5
    await wait_for(lambda: aemu.active_streams == 0)


async def test_anthropic_completed_stream_not_aborted(
    aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic
) -> None:
    aemu.stream_delay = 0.001
    async with aclient.messages.stream(model=CLAUDE, max_tokens=100, messages=user("a b c d")) as stream:
        text = await stream.get_final_text()
    assert text.endswith("You said: a b c d")
    await wait_for(lambda: aemu.active_streams == 0)
    assert aemu.aborted_streams == 0


async def test_reset_and_response_delay(aemu: AnthropicEmulator, aclient: anthropic.AsyncAnthropic) -> None:
    aemu.enqueue(Turn(text="a"), Turn(text="b"))
    await aclient.messages.create(model=CLAUDE, max_tokens=10, messages=user("x"))
    assert len(aemu.requests) == 1 and aemu.pending == 1
    aemu.reset()
    assert aemu.requests == [] and aemu.pending == 0 and aemu.aborted_streams == 0
    aemu.response_delay = 0.05
    t0 = time.monotonic()
    msg = await aclient.messages.create(model=CLAUDE, max_tokens=50, messages=user("x"))
    assert time.monotonic() - t0 >= 0.05
    assert msg.content[0].text.startswith("Hello from the")


# ==================================================================================================
# Llama
# ==================================================================================================


async def test_llama_text_turn(lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    lemu.enqueue(Turn(text="Hi there", usage=(12, 2)))
    resp = await lclient.chat.completions.create(model=LLAMA, messages=user("Hello"))
    msg = resp.completion_message
    assert msg.role == "assistant"
    assert msg.content.type == "text" and msg.content.text == "Hi there"
    assert msg.stop_reason == "stop" and msg.tool_calls == []
    assert resp.id
    metrics = {m.metric: m.value for m in resp.metrics}
    assert metrics == {"num_completion_tokens": 2.0, "num_prompt_tokens": 12.0, "num_total_tokens": 14.0}
    assert all(isinstance(m.value, float) and m.unit == "tokens" for m in resp.metrics)

    rec = lemu.requests[-1]
    assert (rec.path, rec.api_key, rec.status) == ("/v1/chat/completions", "LLM|test", 200)
    assert rec.json == {"model": LLAMA, "messages": user("Hello")}


async def test_llama_raw_response_shape(lemu: LlamaEmulator, http: aiohttp.ClientSession) -> None:
    lemu.enqueue(Turn(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")], usage=(5, 5)))
    body = {"model": LLAMA, "messages": user("x"), "tools": LLAMA_TOOLS}
    async with http.post(lemu.base_url + "/chat/completions", json=body, headers=LLAMA_HEADERS) as resp:
        assert resp.status == 200 and resp.headers["x-request-id"]
        assert resp.headers["content-type"].startswith("application/json")
        data = await resp.json()
    assert set(data) == {"id", "completion_message", "metrics"}
    assert data["completion_message"] == {
        "role": "assistant",
        "content": {"type": "text", "text": ""},
        "stop_reason": "tool_calls",
        "tool_calls": [{"id": "call_1", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
    }


async def test_llama_tool_calls(lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    lemu.enqueue(
        Turn(
            tool_calls=[
                ToolCall("get_weather", {"city": "Paris"}, id="call_abc"),
                ToolCall("get_weather", '{"city": "Par'),  # invalid JSON, sent verbatim
            ]
        )
    )
    resp = await lclient.chat.completions.create(model=LLAMA, messages=user("x"), tools=LLAMA_TOOLS)
    calls = resp.completion_message.tool_calls
    assert resp.completion_message.stop_reason == "tool_calls"
    assert calls[0].id == "call_abc" and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert calls[1].function.arguments == '{"city": "Par'
    assert calls[1].id.startswith("call_") and all(c in "0123456789abcdef" for c in calls[1].id[5:])


async def test_llama_tool_round_trip_and_tokenizer(
    lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient
) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    resp = await lclient.chat.completions.create(model=LLAMA, messages=messages, tools=LLAMA_TOOLS)
    (call,) = resp.completion_message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "example"}
    metrics = {m.metric: m.value for m in resp.metrics}
    # same content as the Anthropic round trip -> same numbers (9 prompt words, 5 per tool call)
    assert (metrics["num_prompt_tokens"], metrics["num_completion_tokens"]) == (9.0, 5.0)

    messages += [
        {
            "role": "assistant",
            "content": "",
            "stop_reason": "tool_calls",
            "tool_calls": [
                {
                    "id": call.id,
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    resp2 = await lclient.chat.completions.create(model=LLAMA, messages=messages, tools=LLAMA_TOOLS)
    assert resp2.completion_message.content.text == "Tool results received: 18C and sunny"
    assert resp2.completion_message.stop_reason == "stop"
    metrics = {m.metric: m.value for m in resp2.metrics}
    assert (metrics["num_prompt_tokens"], metrics["num_completion_tokens"]) == (13.0, 6.0)


async def test_llama_mock_model_defaults(lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    resp = await lclient.chat.completions.create(model=LLAMA, messages=user("What is up?"))
    assert resp.completion_message.content.text == f"Hello from the {LLAMA} emulator. You said: What is up?"
    cut = await lclient.chat.completions.create(model=LLAMA, messages=user("What is up?"), max_completion_tokens=2)
    assert cut.completion_message.content.text == "Hello from"
    assert cut.completion_message.stop_reason == "length"
    none = await lclient.chat.completions.create(model=LLAMA, messages=user("x"), tools=LLAMA_TOOLS, tool_choice="none")
    assert none.completion_message.tool_calls == [] and none.completion_message.stop_reason == "stop"
    lemu.enqueue(Turn(text="long", stop="max_tokens"), Turn(text="raw", stop="weird_reason"))
    r1 = await lclient.chat.completions.create(model=LLAMA, messages=user("x"))
    r2 = await lclient.chat.completions.create(model=LLAMA, messages=user("x"))
    assert (r1.completion_message.stop_reason, r2.completion_message.stop_reason) == (
        "length",
        "weird_reason",
    )


async def test_llama_stream(lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    turn = Turn(
        text="The weather in Paris is being checked.",
        tool_calls=[ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}, id="call_1")],
        usage=(30, 12),
    )
    lemu.enqueue(turn)
    stream = await lclient.chat.completions.create(
        model=LLAMA, messages=user("x"), tools=LLAMA_TOOLS, stream=True, extra_headers=SSE_ACCEPT
    )
    chunks = [c async for c in stream]
    kinds = [c.event.event_type for c in chunks]
    assert kinds[0] == "start" and kinds[-2:] == ["complete", "metrics"]
    assert set(kinds[1:-2]) == {"progress"}
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.event.delta.text for c in chunks if c.event.delta.type == "text")
    assert text == turn.text
    tool_deltas = [c.event.delta for c in chunks if c.event.delta.type == "tool_call"]
    first, *rest = tool_deltas
    assert (first.id, first.function.name, first.function.arguments) == ("call_1", "get_weather", "")
    assert rest and all(d.id is None and d.function.name is None for d in rest)
    assert json.loads("".join(d.function.arguments for d in rest)) == {"city": "Paris", "unit": "celsius"}
    assert chunks[-2].event.stop_reason == "tool_calls"
    metrics = {m.metric: m.value for m in chunks[-1].event.metrics}
    assert metrics == {"num_completion_tokens": 12.0, "num_prompt_tokens": 30.0, "num_total_tokens": 42.0}


async def test_llama_stream_wire_format(lemu: LlamaEmulator, http: aiohttp.ClientSession) -> None:
    body = {"model": LLAMA, "messages": user("hello there"), "stream": True}
    async with http.post(
        lemu.base_url + "/chat/completions", json=body, headers={**LLAMA_HEADERS, **SSE_ACCEPT}
    ) as resp:
        assert resp.status == 200 and resp.headers["content-type"].startswith("text/event-stream")
        raw = await resp.text()
    events = parse_sse(raw)
    assert all(name is None for name, _ in events)  # data: lines only
    assert "[DONE]" not in raw
    assert [json.loads(d)["event"]["event_type"] for _, d in events][-2:] == ["complete", "metrics"]


async def test_llama_stream_requires_sse_accept(
    lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient, http: aiohttp.ClientSession
) -> None:
    # llama-api-client 0.6.0 sends "Accept: application/json" even with stream=True: the real API's
    # quirk (docs/wire-formats.md §2.1) makes that a 400, so callers must add the header themselves.
    with pytest.raises(llama_api_client.BadRequestError):
        await lclient.chat.completions.create(model=LLAMA, messages=user("x"), stream=True)
    assert lemu.requests[-1].headers["accept"] == "application/json"
    # Accept: text/event-stream without stream -> plain JSON
    body = {"model": LLAMA, "messages": user("x")}
    async with http.post(
        lemu.base_url + "/chat/completions", json=body, headers={**LLAMA_HEADERS, **SSE_ACCEPT}
    ) as resp:
        assert resp.status == 200 and resp.headers["content-type"].startswith("application/json")
    lemu.require_sse_accept = False
    stream = await lclient.chat.completions.create(model=LLAMA, messages=user("x"), stream=True)
    assert [c.event.event_type async for c in stream][-1] == "metrics"


LLAMA_ERRORS = [
    (400, llama_api_client.BadRequestError, "invalid_request_error"),
    (401, llama_api_client.AuthenticationError, "authentication_error"),
    (403, llama_api_client.PermissionDeniedError, "permission_error"),
    (404, llama_api_client.NotFoundError, "not_found_error"),
    (409, llama_api_client.ConflictError, "conflict_error"),
    (422, llama_api_client.UnprocessableEntityError, "invalid_request_error"),
    (429, llama_api_client.RateLimitError, "rate_limit_error"),
    (500, llama_api_client.InternalServerError, "api_error"),
    (503, llama_api_client.InternalServerError, "service_unavailable"),
]


@pytest.mark.parametrize(("status", "exc_class", "error_type"), LLAMA_ERRORS)
async def test_llama_error_statuses(
    lemu: LlamaEmulator,
    lclient: llama_api_client.AsyncLlamaAPIClient,
    status: int,
    exc_class: type,
    error_type: str,
) -> None:
    lemu.enqueue(Fault(status=status, message="boom", retry_after=3 if status == 429 else None))
    with pytest.raises(exc_class) as info:
        await lclient.chat.completions.create(model=LLAMA, messages=user("x"))
    err = info.value
    assert err.status_code == status
    assert err.body == {"error": {"message": "boom", "type": error_type, "code": status}}
    if status == 429:
        assert err.response.headers["retry-after"] == "3"
        assert err.response.headers["x-ratelimit-remaining-requests"] == "0"


async def test_llama_valid_keys(lemu: LlamaEmulator) -> None:
    lemu.valid_keys = {"LLM|good"}
    async with llama_api_client.AsyncLlamaAPIClient(api_key="LLM|bad", base_url=lemu.base_url, max_retries=0) as c:
        with pytest.raises(llama_api_client.AuthenticationError) as info:
            await c.chat.completions.create(model=LLAMA, messages=user("x"))
    assert info.value.body["error"]["type"] == "authentication_error"
    async with llama_api_client.AsyncLlamaAPIClient(api_key="LLM|good", base_url=lemu.base_url, max_retries=0) as c:
        await c.chat.completions.create(model=LLAMA, messages=user("x"))


async def test_llama_in_stream_error(lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    lemu.enqueue(Fault(stream_error_after=2, status=500, message="model crashed"))
    stream = await lclient.chat.completions.create(
        model=LLAMA, messages=user("a b c"), stream=True, extra_headers=SSE_ACCEPT
    )
    seen = []
    with pytest.raises(llama_api_client.APIError) as info:
        async for chunk in stream:
            seen.append(chunk.event.event_type)
    assert seen == ["start", "progress"]
    assert info.value.body == {"error": {"message": "model crashed", "type": "api_error", "code": 500}}


async def test_llama_reset_retry_and_drop(lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    lemu.enqueue(Fault(reset=True))
    with pytest.raises(llama_api_client.APIConnectionError):
        await lclient.chat.completions.create(model=LLAMA, messages=user("x"))

    lemu.enqueue(Fault(status=429, retry_after=0.01), Turn(text="ok"))
    async with llama_api_client.AsyncLlamaAPIClient(api_key="k", base_url=lemu.base_url, max_retries=2) as c:
        resp = await c.chat.completions.create(model=LLAMA, messages=user("x"))
    assert resp.completion_message.content.text == "ok"
    assert [r.status for r in lemu.requests[-2:]] == [429, 200]

    lemu.enqueue(Fault(drop_after=2))
    stream = await lclient.chat.completions.create(
        model=LLAMA, messages=user("a b c d e f g"), stream=True, extra_headers=SSE_ACCEPT
    )
    seen = []
    with pytest.raises(Exception):  # noqa: B017 - httpx.RemoteProtocolError (incomplete chunked read)
        async for chunk in stream:
            seen.append(chunk.event.event_type)
    assert seen == ["start", "progress"]

    lemu.enqueue(Fault(drop_after=1))  # non-streaming: half a body, then the connection drops
    with pytest.raises(llama_api_client.APIConnectionError):
        await lclient.chat.completions.create(model=LLAMA, messages=user("x"))


def _base_llama(**extra: Any) -> dict[str, Any]:
    return {"model": LLAMA, "messages": user("hi"), **extra}


LLAMA_INVALID = [
    ("openai_max_tokens", _base_llama(max_tokens=10), 400, "max_tokens"),
    ("openai_stop", _base_llama(stop=["x"]), 400, "stop"),
    ("openai_n", _base_llama(n=1), 400, "n"),
    ("openai_parallel_tool_calls", _base_llama(parallel_tool_calls=False), 400, "parallel_tool_calls"),
    ("openai_stream_options", _base_llama(stream_options={"include_usage": True}), 400, "stream_options"),
    (
        "assistant_content_list",
        _base_llama(
            messages=[
                *user("a"),
                {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
                *user("c"),
            ]
        ),
        400,
        "assistant content must be a string or a single text content object",
    ),
    (
        "tool_without_call_id",
        _base_llama(messages=[*user("a"), {"role": "tool", "content": "r"}]),
        400,
        "tool_call_id",
    ),
    ("max_completion_tokens_zero", _base_llama(max_completion_tokens=0), 400, "max_completion_tokens"),
    ("max_completion_tokens_big", _base_llama(max_completion_tokens=4029), 400, "max_completion_tokens"),
    ("temperature", _base_llama(temperature=1.5), 400, "temperature"),
    ("role_developer", _base_llama(messages=[{"role": "developer", "content": "x"}]), 400, "role"),
    ("empty_messages", _base_llama(messages=[]), 400, "messages"),
    ("json_object_format", _base_llama(response_format={"type": "json_object"}), 400, "response_format"),
    ("unknown_model", _base_llama(model="gpt-4o"), 404, "gpt-4o"),
]


@pytest.mark.parametrize(
    ("body", "status", "message"), [c[1:] for c in LLAMA_INVALID], ids=[c[0] for c in LLAMA_INVALID]
)
async def test_llama_validation(
    lemu: LlamaEmulator, http: aiohttp.ClientSession, body: dict[str, Any], status: int, message: str
) -> None:
    async with http.post(lemu.base_url + "/chat/completions", json=body, headers=LLAMA_HEADERS) as resp:
        assert resp.status == status
        err = await resp.json()
    assert message in err["error"]["message"] and err["error"]["code"] == status


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "application/json"}, 401),
        ({"authorization": "Bearer k", "content-type": "application/x-www-form-urlencoded"}, 400),
    ],
    ids=["no_auth", "form_content_type"],
)
async def test_llama_header_checks(
    lemu: LlamaEmulator, http: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    data = json.dumps(_base_llama()).encode()
    async with http.post(lemu.base_url + "/chat/completions", data=data, headers=headers) as resp:
        assert resp.status == status
        assert "error" in await resp.json()


async def test_llama_openai_field_through_sdk(lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    with pytest.raises(llama_api_client.BadRequestError) as info:
        await lclient.chat.completions.create(model=LLAMA, messages=user("x"), extra_body={"max_tokens": 5})
    assert "max_tokens" in info.value.body["error"]["message"]
    with pytest.raises(llama_api_client.NotFoundError):
        await lclient.chat.completions.create(model="Llama-2-7b", messages=user("x"))


async def test_llama_models_endpoint(lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    models = await lclient.models.list()
    assert [m.id for m in models] == [
        "Llama-4-Maverick-17B-128E-Instruct-FP8",
        "Llama-4-Scout-17B-16E-Instruct-FP8",
        "Llama-3.3-70B-Instruct",
        "Llama-3.3-8B-Instruct",
    ]
    assert all(m.object == "model" for m in models)
    model = await lclient.models.retrieve(LLAMA)
    assert model.id == LLAMA


async def test_llama_aborted_stream_counted(lemu: LlamaEmulator, lclient: llama_api_client.AsyncLlamaAPIClient) -> None:
    lemu.stream_delay = 0.05
    lemu.enqueue(Turn(text=" ".join(["word"] * 90)))
    stream = await lclient.chat.completions.create(
        model=LLAMA, messages=user("x"), stream=True, extra_headers=SSE_ACCEPT
    )
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == 2:
            break
    assert lemu.active_streams == 1
    await stream.response.aclose()
    await wait_for(lambda: lemu.aborted_streams == 1, within=0.5)
    await wait_for(lambda: lemu.active_streams == 0)


# ==================================================================================================
# command line
# ==================================================================================================


async def test_main_runs_both_until_sigterm(http: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulators",
        "--anthropic-port",
        "0",
        "--llama-port",
        "0",
        "--delay-ms",
        "1",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip() for _ in range(2)]
        urls = dict(line.split("=", 1) for line in lines)
        assert urls["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
        assert urls["META_API_BASE_URL"].endswith("/v1")
        body = {"model": CLAUDE, "max_tokens": 20, "messages": user("ping")}
        async with http.post(urls["ANTHROPIC_BASE_URL"] + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS) as r:
            assert (await r.json())["content"][0]["text"].endswith("You said: ping")
        async with http.get(urls["META_API_BASE_URL"] + "/models", headers=LLAMA_HEADERS) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        out = await asyncio.wait_for(proc.stdout.read(), 10)
        assert b"emulators stopped" in out
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
