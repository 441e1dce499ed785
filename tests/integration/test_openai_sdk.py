"""The official OpenAI Python SDK, pointed at the bridge, works unchanged for both providers."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import Running
from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator, ToolCall, Turn

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get current weather for a location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]


def client(gateway: Running) -> openai.AsyncOpenAI:
    # the SDK must send some key; a non-JWT bearer value is treated as anonymous
    return openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="sk-placeholder", max_retries=0)


@pytest.mark.parametrize(("model", "emu_name"), [("claude-sonnet-4-5", "anthropic"),
                                                 ("Llama-3.3-70B-Instruct", "llama")])
async def test_completion_and_tool_calls(
    gateway: Running, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator, model: str, emu_name: str
) -> None:
    emu = anthropic_emu if emu_name == "anthropic" else llama_emu
    emu.enqueue(Turn(text="Hi from the model.", usage=(7, 4)),
                Turn(text="Checking.", tool_calls=[ToolCall("get_weather", {"location": "Oslo"}, id="call_oslo")],
                     usage=(30, 9)))
    async with client(gateway) as oai:
        first = await oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello"}])
        assert first.choices[0].message.content == "Hi from the model."
        assert first.choices[0].finish_reason == "stop"
        assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (7, 4, 11)
        assert first.model == model and first.object == "chat.completion"
        assert first.model_extra["iterations"] == 1 and first.model_extra["total_tokens_used"] == 11

        second = await oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=TOOLS,
            tool_choice="auto")
        choice = second.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == "Checking."
        [call] = choice.message.tool_calls
        assert (call.id, call.type, call.function.name) == ("call_oslo", "function", "get_weather")
        assert json.loads(call.function.arguments) == {"location": "Oslo"}


async def test_sdk_error_classes(gateway: Running, anthropic_emu: AnthropicEmulator) -> None:
    async with client(gateway) as oai:
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.chat.completions.create(model="claude-sonnet-4-5", messages=[], extra_body={})
        assert bad.value.body["code"] == "invalid_request" and bad.value.body["param"] == "messages"
        anthropic_emu.enqueue(*[Fault(status=429, retry_after=0.01)] * 3)
        with pytest.raises(openai.RateLimitError):
            await oai.chat.completions.create(model="claude-sonnet-4-5",
                                              messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.NotFoundError):
            await oai.chat.completions.create(model="claude-no-such-model",
                                              messages=[{"role": "user", "content": "x"}])


async def test_models_list_and_retrieve(gateway: Running) -> None:
    """models.list / models.retrieve give entries that validate as the SDK's Model (created, owned_by required)."""
    async with client(gateway) as oai:
        page = await oai.models.list()
        assert [m.id for m in page.data] == ["Llama-4-Maverick-17B-128E-Instruct-FP8", "Llama-3.3-70B-Instruct",
                                             "Llama-3.3-8B-Instruct", "claude-sonnet-4-5", "claude-opus-4"]
        for m in page.data:
            strict = openai.types.Model.model_validate(m.to_dict())  # raises on a missing required field
            assert strict.object == "model" and strict.owned_by == m.model_extra["provider"]
            assert isinstance(strict.created, int) and strict.created > 1_700_000_000
        model = openai.types.Model.model_validate((await oai.models.retrieve("claude-sonnet-4-5")).to_dict())
        assert (model.id, model.object, model.created, model.owned_by) == (
            "claude-sonnet-4-5", "model", 1759104000, "anthropic")
        assert model.model_extra["provider_model_id"] == "claude-sonnet-4-5-20250929"
        with pytest.raises(openai.NotFoundError) as info:
            await oai.models.retrieve("claude-no-such-model")
        assert info.value.code == "model_not_found" and info.value.param == "model"
        assert info.value.body == {
            "message": "The model 'claude-no-such-model' is not in the gateway's catalog (GET /v1/models lists it)",
            "type": "invalid_request_error", "code": "model_not_found", "param": "model"}


async def test_completion_has_logprobs_and_refusal_keys(gateway: Running, llama_emu: LlamaEmulator) -> None:
    llama_emu.enqueue(Turn(text="fine", usage=(2, 1)))
    async with client(gateway) as oai:
        raw = await oai.chat.completions.with_raw_response.create(
            model="Llama-3.3-70B-Instruct", messages=[{"role": "user", "content": "x"}])
        choice = raw.http_response.json()["choices"][0]
        assert choice["logprobs"] is None and choice["message"]["refusal"] is None
        parsed = raw.parse().choices[0]
        assert {"logprobs"} <= parsed.model_fields_set and {"refusal"} <= parsed.message.model_fields_set


async def test_max_completion_tokens_error_names_it(gateway: Running) -> None:
    async with client(gateway) as oai:
        with pytest.raises(openai.BadRequestError) as info:
            await oai.chat.completions.create(model="claude-sonnet-4-5", max_completion_tokens=1000000,
                                              messages=[{"role": "user", "content": "x"}])
    assert info.value.param == "max_completion_tokens" and info.value.code == "invalid_request"
