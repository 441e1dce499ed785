"""POST /v1/chat/completions end to end: bridge -> service -> adapter -> emulator, both transports."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import ANTHROPIC_KEY, META_KEY, Running
from tests.emulators import AnthropicEmulator, LlamaEmulator, ToolCall, Turn

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get current weather for a location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string", "description": "City name"}},
                       "required": ["location"]},
    },
}


async def post(http: aiohttp.ClientSession, gateway: Running, body: Any, **kw: Any) -> tuple[int, Any, Any]:
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body, **kw) as resp:
        return resp.status, resp.headers.copy(), await resp.json(content_type=None)


async def test_quick_start_meta_llama(gateway: Running, http: aiohttp.ClientSession, llama_emu: LlamaEmulator) -> None:
    llama_emu.enqueue(Turn(text="2 + 2 = 4.", usage=(15, 10)))
    status, headers, body = await post(http, gateway, {
        "provider": "meta_llama", "model": "Llama-3.3-70B-Instruct",
        "messages": [{"role": "user", "content": "Hello! What is 2+2?"}], "temperature": 0.7, "max_tokens": 500})
    assert status == 200, body
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) > 12
    assert isinstance(body["created"], int)
    body.pop("id"), body.pop("created")
    assert body == {
        "object": "chat.completion", "model": "Llama-3.3-70B-Instruct", "provider": "meta_llama",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "2 + 2 = 4.", "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25},
        "iterations": 1, "total_tokens_used": 25, "finish_reason": "stop",
    }
    assert headers["X-Request-Id"]
    sent = llama_emu.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.api_key == META_KEY
    assert sent.json == {"model": "Llama-3.3-70B-Instruct",
                         "messages": [{"role": "user", "content": "Hello! What is 2+2?"}],
                         "max_completion_tokens": 500, "temperature": 0.7}


async def test_anthropic_text_with_system_and_model_mapping(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.enqueue(Turn(text="Hello! How can I help you today?", usage=(15, 10), cache_read=5))
    status, _, body = await post(http, gateway, {
        "provider": "anthropic", "model": "claude-sonnet-4-5",
        "messages": [{"role": "system", "content": "You are a helpful assistant."},
                     {"role": "user", "content": "Hello!"}]})
    assert status == 200, body
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello! How can I help you today?",
                                             "refusal": None}
    assert body["usage"] == {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
    assert (body["model"], body["provider"], body["total_tokens_used"]) == ("claude-sonnet-4-5", "anthropic", 30)
    sent = anthropic_emu.requests[-1]
    assert sent.api_key == ANTHROPIC_KEY
    assert sent.headers.get("anthropic-version")
    assert sent.json == {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096,
                         "system": [{"type": "text", "text": "You are a helpful assistant."}],
                         "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello!"}]}]}


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "Llama-3.3-70B-Instruct"])
async def test_tool_calling_request_answers_with_tool_calls(
    gateway: Running, http: aiohttp.ClientSession, model: str
) -> None:
    # no script: the emulators' mock model calls the first tool with schema-derived arguments
    status, _, body = await post(http, gateway, {
        "model": model, "messages": [{"role": "user", "content": "What's the weather in San Francisco?"}],
        "tools": [WEATHER_TOOL], "max_iterations": 5, "temperature": 0.7})
    assert status == 200, body
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" == body["finish_reason"]
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"location":"example"}'}
    assert body["iterations"] == 1 and body["total_tokens_used"] == body["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
async def test_client_side_tool_loop_round_trip(
    gateway: Running, http: aiohttp.ClientSession, provider: str,
    anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
) -> None:
    emu = anthropic_emu if provider == "anthropic" else llama_emu
    model = "claude-sonnet-4-5" if provider == "anthropic" else "Llama-3.3-70B-Instruct"
    emu.enqueue(Turn(tool_calls=[ToolCall("get_weather", {"location": "Paris"}, id="call_p"),
                                 ToolCall("get_weather", {"location": "Rome"}, id="call_r")], usage=(30, 12)),
                Turn(text="Paris 18C, Rome 24C.", usage=(60, 8)))
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    status, _, first = await post(http, gateway, {"model": model, "messages": messages, "tools": [WEATHER_TOOL]})
    assert status == 200, first
    calls = first["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["arguments"]) for c in calls] == [
        ("call_p", '{"location":"Paris"}'), ("call_r", '{"location":"Rome"}')]
    messages.append(first["choices"][0]["message"])
    messages += [{"role": "tool", "tool_call_id": "call_p", "content": "18C"},
                 {"role": "tool", "tool_call_id": "call_r", "content": "24C"}]
    status, _, second = await post(http, gateway, {"model": model, "messages": messages, "tools": [WEATHER_TOOL]})
    assert status == 200, second
    assert second["choices"][0]["message"]["content"] == "Paris 18C, Rome 24C."
    assert second["finish_reason"] == "stop" and second["usage"]["total_tokens"] == 68
    sent = emu.requests[-1].json["messages"]
    if provider == "anthropic":
        assert sent[1:] == [
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_p", "name": "get_weather", "input": {"location": "Paris"}},
                {"type": "tool_use", "id": "call_r", "name": "get_weather", "input": {"location": "Rome"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_p", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_r", "content": "24C"}]}]
    else:
        assert sent[1:] == [
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_p", "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}},
                {"id": "call_r", "function": {"name": "get_weather", "arguments": '{"location":"Rome"}'}}]},
            {"role": "tool", "tool_call_id": "call_p", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_r", "content": "24C"}]


async def test_provider_inferred_from_model(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator
) -> None:
    for model, emu, provider in (("claude-opus-4", anthropic_emu, "anthropic"),
                                 ("Llama-4-Maverick-17B-128E-Instruct-FP8", llama_emu, "meta_llama"),
                                 ("anthropic/claude-sonnet-4-5", anthropic_emu, "anthropic")):
        status, _, body = await post(http, gateway, {"model": model, "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200, body
        assert body["provider"] == provider and body["model"] == model
        assert len(emu.requests) >= 1
    assert anthropic_emu.requests[0].json["model"] == "claude-opus-4-20250514"
    assert anthropic_emu.requests[0].json["max_tokens"] == 4096


async def test_max_tokens_stop_maps_to_length(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.enqueue(Turn(text="Once upon", stop="max_tokens", usage=(5, 2)))
    status, _, body = await post(http, gateway, {"model": "claude-sonnet-4-5", "max_tokens": 2,
                                                 "messages": [{"role": "user", "content": "story"}]})
    assert status == 200 and body["finish_reason"] == "length"
    assert anthropic_emu.requests[-1].json["max_tokens"] == 2


async def test_byok_header_overrides_server_key_for_that_request_only(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator
) -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    user_key = "sk-ant-test-users-own-key-abcdef"
    status, headers, resp = await post(http, gateway, body, headers={"X-Provider-Key": user_key})
    assert status == 200
    assert anthropic_emu.requests[-1].api_key == user_key
    assert user_key not in str(headers) and user_key not in str(resp)
    status, _, _ = await post(http, gateway, body)
    assert status == 200 and anthropic_emu.requests[-1].api_key == ANTHROPIC_KEY
    status, _, _ = await post(http, gateway, {**body, "model": "Llama-3.3-8B-Instruct"},
                              headers={"X-Provider-Key": "LLM|999|users-own"})
    assert status == 200 and llama_emu.requests[-1].api_key == "LLM|999|users-own"


async def test_request_id_in_and_out(gateway: Running, http: aiohttp.ClientSession) -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    _, headers, _ = await post(http, gateway, body, headers={"X-Request-Id": "trace-abc-123"})
    assert headers["X-Request-Id"] == "trace-abc-123"
    _, headers, _ = await post(http, gateway, {"model": 1})
    assert len(headers["X-Request-Id"]) == 32


async def test_models_and_health(gateway: Running, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{gateway.url}/v1/models") as resp:
        assert resp.status == 200
        models = await resp.json()
    assert models["object"] == "list"
    by_id = {m["id"]: m for m in models["data"]}
    assert list(by_id) == ["Llama-4-Maverick-17B-128E-Instruct-FP8", "Llama-3.3-70B-Instruct",
                           "Llama-3.3-8B-Instruct", "claude-sonnet-4-5", "claude-opus-4"]
    assert by_id["claude-sonnet-4-5"] == {
        "id": "claude-sonnet-4-5", "object": "model", "created": 1759104000, "owned_by": "anthropic",
        "provider": "anthropic", "provider_model_id": "claude-sonnet-4-5-20250929", "context_window": 200000,
        "max_output_tokens": 64000, "pricing": {"input_per_mtok": 3.0, "output_per_mtok": 15.0}}
    assert by_id["Llama-3.3-70B-Instruct"]["pricing"] == {"input_per_mtok": 0.6, "output_per_mtok": 1.8}
    assert (by_id["Llama-3.3-70B-Instruct"]["created"], by_id["Llama-3.3-70B-Instruct"]["owned_by"]) == (
        1733443200, "meta_llama")
    async with http.get(f"{gateway.url}/v1/models?provider=anthropic") as resp:
        assert [m["id"] for m in (await resp.json())["data"]] == ["claude-sonnet-4-5", "claude-opus-4"]
    for path, expected in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
        async with http.get(gateway.url + path) as resp:
            assert (resp.status, await resp.json()) == (200, expected)


async def test_retrieve_one_model(gateway: Running, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{gateway.url}/v1/models") as resp:
        listed = {m["id"]: m for m in (await resp.json())["data"]}
    for asked, found in (("claude-sonnet-4-5", "claude-sonnet-4-5"), ("Llama-3.3-70B-Instruct", "Llama-3.3-70B-Instruct"),
                         ("llama-3.3-70b-instruct", "Llama-3.3-70B-Instruct"), ("anthropic/claude-opus-4", "claude-opus-4")):
        async with http.get(f"{gateway.url}/v1/models/{asked}") as resp:
            assert resp.status == 200, asked
            assert await resp.json() == listed[found]
    for unknown in ("gpt-4o", "Llama-4-Scout-17B-16E-Instruct-FP8"):  # a pass-through id is not a catalog entry
        async with http.get(f"{gateway.url}/v1/models/{unknown}") as resp:
            assert resp.status == 404
            assert await resp.json() == {"error": {
                "message": f"The model {unknown!r} is not in the gateway's catalog (GET /v1/models lists it)",
                "type": "invalid_request_error", "code": "model_not_found", "param": "model"}}


@pytest.mark.parametrize(("model", "emu_name"), [("claude-sonnet-4-5", "anthropic"),
                                                 ("Llama-3.3-70B-Instruct", "llama")])
async def test_every_completion_has_the_fields_openai_requires(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    model: str, emu_name: str,
) -> None:
    """choices[].logprobs and choices[].message.refusal are required (nullable) in OpenAI's document."""
    emu = anthropic_emu if emu_name == "anthropic" else llama_emu
    emu.enqueue(Turn(text="plain", usage=(3, 1)),
                Turn(text="", tool_calls=[ToolCall("get_weather", {"location": "Oslo"})], usage=(9, 4)),
                Turn(text="cut", stop="max_tokens", usage=(3, 1)))
    for extra in ({}, {"tools": [WEATHER_TOOL]}, {"max_tokens": 1}):
        status, _, body = await post(http, gateway, {"model": model, "messages": [{"role": "user", "content": "x"}],
                                                     **extra})
        assert status == 200, body
        for choice in body["choices"]:
            assert "logprobs" in choice and choice["logprobs"] is None, choice
            assert "refusal" in choice["message"] and choice["message"]["refusal"] is None, choice
