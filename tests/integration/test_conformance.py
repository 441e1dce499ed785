"""Provider conformance: the same cases for every registered provider, through the real gateway.

One fixture (`subject`) runs each case once per provider: the built-in ones and the test-only
OpenAI-compatible provider (tests/providers/openai_compat), registered here with
`service.providers.register` and nothing else, so a provider that passes this suite needs no change to
the core. Each provider is pointed at the emulator of its wire format, found by the spec's own
variables (`key_variables`, `base_url_variable`).

Expectations come from the provider's spec, never from its name: where its `capabilities` say it cannot
honour something (images, stop sequences), the documented refusal is expected instead of an answer.
What each provider received is read back through its emulator's provider-neutral `view()` of the
recorded request (or, for the plain texts, the raw body), so the translation is checked without a table
of provider formats here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc
from google.rpc import error_details_pb2, status_pb2

from service import providers as registry
from service.config import Settings
from service.models import resolve_model
from service.providers.spec import ProviderSpec
from tests.conftest import Running, run_gateway
from tests.emulators import AnthropicEmulator, Emulator, Fault, LlamaEmulator, OpenAICompatEmulator, ToolCall, Turn
from tests.providers.openai_compat import SPEC as COMPAT_SPEC

# Test infrastructure per provider: the emulator speaking its wire format and a model id it serves. A
# provider registered without an entry here fails the suite (every provider must be covered).
EMULATORS: dict[str, tuple[type[Emulator], str]] = {
    "anthropic": (AnthropicEmulator, "claude-sonnet-4-5"),
    "meta_llama": (LlamaEmulator, "Llama-3.3-70B-Instruct"),
    "openai_compat": (OpenAICompatEmulator, "compat-chat-1"),
}
PROVIDERS = tuple(dict.fromkeys((*registry.names(), COMPAT_SPEC.name)))
SERVER_KEY = "conformance-server-side-key-0001"

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                           "parameters": WEATHER}}]
IMAGE = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"


@dataclass
class Subject:
    spec: ProviderSpec
    model: str
    emu: Emulator
    gateway: Running
    http: aiohttp.ClientSession

    @property
    def upstream_model(self) -> str:
        return resolve_model("", self.model).provider_model_id

    def sent(self) -> Any:
        """The emulator's provider-neutral view of the last request it received."""
        return self.emu.view(self.emu.last_request.json)

    async def post(self, body: dict[str, Any], **kw: Any) -> tuple[int, Any, Any]:
        async with self.http.post(f"{self.gateway.url}/v1/chat/completions", json={"model": self.model, **body},
                                  **kw) as resp:
            return resp.status, resp.headers.copy(), await resp.json(content_type=None)

    async def stream(self, body: dict[str, Any], **kw: Any) -> list[Any]:
        """The SSE events of a streamed answer: chunks (dicts), then "[DONE]" when it ended normally."""
        async with self.http.post(f"{self.gateway.url}/v1/chat/completions",
                                  json={"model": self.model, "stream": True, **body}, **kw) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            events = []
            async for line in resp.content:
                if line.startswith(b"data: "):
                    payload = line[6:].strip()
                    events.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
            return events

    def expect_refusal(self, status: int, body: Any, param: str, message: str) -> None:
        assert status == 400, body
        assert body["error"] == {"message": message, "type": "invalid_request_error",
                                 "code": "unsupported_parameter", "param": param}
        assert not self.emu.requests  # refused before any provider call


@pytest.fixture
def compat_provider() -> Any:
    registry.register(COMPAT_SPEC)
    yield COMPAT_SPEC
    registry.unregister(COMPAT_SPEC.name)


@pytest.fixture(params=PROVIDERS)
async def subject(request: pytest.FixtureRequest, compat_provider: ProviderSpec, tmp_path: Path
                  ) -> AsyncIterator[Subject]:
    spec = registry.get(request.param)
    assert spec is not None
    if spec.name not in EMULATORS:
        pytest.fail(f"provider {spec.name!r} is registered but has no emulator in EMULATORS")
    emulator_class, model = EMULATORS[spec.name]
    async with emulator_class() as emu, aiohttp.ClientSession() as http:
        emu.valid_keys = {SERVER_KEY}
        settings = Settings(
            data_dir=str(tmp_path / "data"), usage_flush_interval_s=0.05, grpc_port=0, http_port=0,
            provider_env={spec.key_variables[0]: SERVER_KEY, spec.base_url_variable: emu.base_url},
            upstream_timeout_s=5.0, upstream_max_retries=2, max_request_bytes=256 * 1024, shutdown_grace_s=1.0,
        )
        running, _ = await run_gateway(settings, "inprocess")
        try:
            yield Subject(spec, model, emu, running, http)
        finally:
            await running.gateway.stop(grace=0.5)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def tool_call(arguments: str = '{"city": "Paris"}') -> dict[str, Any]:
    return {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def in_order(raw: bytes, *texts: str) -> bool:
    at = 0
    for text in texts:
        at = raw.find(text.encode(), at)
        if at < 0:
            return False
    return True


def usage_of(body: Any) -> tuple[int, int, int]:
    u = body["usage"]
    return u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]


# --------------------------------------------------------------------------------------------------
# completions
# --------------------------------------------------------------------------------------------------


async def test_plain_completion(subject: Subject) -> None:
    subject.emu.enqueue(Turn(text="Hello there, friend.", usage=(12, 4)))
    status, headers, body = await subject.post({"messages": [user("Say hello")], "max_tokens": 100,
                                                "temperature": 0.3, "top_p": 0.9})
    assert status == 200, body
    assert body["id"].startswith("chatcmpl-") and headers["X-Request-Id"]
    assert (body["object"], body["model"], body["provider"]) == ("chat.completion", subject.model, subject.spec.name)
    assert body["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "Hello there, friend.", "refusal": None}}]
    assert usage_of(body) == (12, 4, 16)
    assert (body["iterations"], body["total_tokens_used"]) == (1, 16)
    sent = subject.sent()
    assert (sent.model, sent.last_kind, sent.last_user_text, sent.max_tokens) == (
        subject.upstream_model, "user_text", "Say hello", 100)
    raw = subject.emu.last_request.json
    assert (raw["temperature"], raw["top_p"]) == (0.3, 0.9)
    assert subject.emu.last_request.api_key == SERVER_KEY


async def test_default_max_tokens_and_usage_from_the_mock_tokenizer(subject: Subject) -> None:
    # nothing scripted: the emulators' shared tokenizer counts words, the same for every wire format, so
    # equal usage for every provider shows the translation added and dropped no text
    status, _, body = await subject.post({"messages": [user("Say hello to the team")]})
    assert status == 200, body
    answer = f"Hello from the {subject.upstream_model} emulator. You said: Say hello to the team"
    assert body["choices"][0]["message"]["content"] == answer
    assert usage_of(body) == (5, 12, 17)
    assert subject.sent().max_tokens == resolve_model("", subject.model).default_max_tokens


async def test_system_prompt(subject: Subject) -> None:
    subject.emu.enqueue(Turn(text="Ahoy.", usage=(9, 1)))
    status, _, body = await subject.post({"messages": [{"role": "system", "content": "Answer like a pirate."},
                                                       user("Greet me")]})
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "Ahoy."
    # a provider may carry the system prompt apart from the turns (Anthropic's `system`): present once, with
    # every word counted, is what holds for every format
    assert subject.emu.last_request.body.count(b"Answer like a pirate.") == 1
    sent = subject.sent()
    assert (sent.last_user_text, sent.prompt_tokens) == ("Greet me", 4 + 2)


async def test_multi_turn(subject: Subject) -> None:
    subject.emu.enqueue(Turn(text="Your name is Ada.", usage=(20, 5)))
    messages = [user("My name is Ada."), {"role": "assistant", "content": "Nice to meet you, Ada."},
                user("What is my name?")]
    status, _, body = await subject.post({"messages": messages})
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "Your name is Ada."
    assert in_order(subject.emu.last_request.body, "My name is Ada.", "Nice to meet you, Ada.", "What is my name?")
    # the mock tokenizer counts every word once: no turn lost or doubled
    assert subject.sent().prompt_tokens == 4 + 5 + 4


# --------------------------------------------------------------------------------------------------
# tools
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tool_choice", "neutral", "forced"), [
    (None, "auto", None), ("required", "any", None),
    ({"type": "function", "function": {"name": "get_weather"}}, "tool", "get_weather"),
], ids=["auto", "required", "named"])
async def test_model_calls_a_tool(subject: Subject, tool_choice: Any, neutral: str, forced: str | None) -> None:
    if subject.spec.capabilities.tools is False:
        pytest.skip("the provider's capabilities have no tools")
    subject.emu.enqueue(Turn(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_p1")], usage=(30, 8)))
    request: dict[str, Any] = {"messages": [user("Weather in Paris?")], "tools": TOOLS}
    if tool_choice is not None:
        request["tool_choice"] = tool_choice
    status, _, body = await subject.post(request)
    assert status == 200, body
    [choice] = body["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert (call["id"], call["type"], call["function"]["name"]) == ("call_p1", "function", "get_weather")
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert usage_of(body) == (30, 8, 38)
    sent = subject.sent()
    assert sent.tools == [("get_weather", WEATHER)]
    assert (sent.tool_choice, sent.forced_tool) == (neutral, forced)


async def test_tool_results_turn(subject: Subject) -> None:
    subject.emu.enqueue(Turn(text="It is 18 C and sunny in Paris.", usage=(45, 9)))
    messages = [user("Weather in Paris?"), {"role": "assistant", "content": None, "tool_calls": [tool_call()]},
                {"role": "tool", "tool_call_id": "call_w1", "content": "18 C and sunny"}]
    status, _, body = await subject.post({"messages": messages, "tools": TOOLS})
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "It is 18 C and sunny in Paris."
    assert body["choices"][0]["finish_reason"] == "stop"
    sent = subject.sent()
    assert (sent.last_kind, sent.tool_results) == ("tool_results", ["18 C and sunny"])
    assert in_order(subject.emu.last_request.body, "call_w1", "get_weather", "Paris", "call_w1", "18 C and sunny")


# --------------------------------------------------------------------------------------------------
# images, stop reasons, stop sequences
# --------------------------------------------------------------------------------------------------


async def test_image_part(subject: Subject) -> None:
    subject.emu.enqueue(Turn(text="An ant.", usage=(800, 2)))
    content = [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": IMAGE}}]
    status, _, body = await subject.post({"messages": [{"role": "user", "content": content}]})
    if not subject.spec.capabilities.images:
        subject.expect_refusal(status, body, "messages[0].content[1]", f"{subject.spec.label} does not support images")
        return
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "An ant."
    assert in_order(subject.emu.last_request.body, "What is in this picture?", IMAGE)


@pytest.mark.parametrize(("turn", "finish"), [
    (Turn(text="Done.", usage=(3, 1)), "stop"),
    (Turn(text="This answer was cut", stop="max_tokens", usage=(3, 4)), "length"),
    (Turn(tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, id="call_o1")], usage=(3, 5)), "tool_calls"),
], ids=["stop", "length", "tool_calls"])
async def test_finish_reasons(subject: Subject, turn: Turn, finish: str) -> None:
    subject.emu.enqueue(turn, turn)
    request = {"messages": [user("Go")], "tools": TOOLS, "max_tokens": 4}
    status, _, body = await subject.post(request)
    assert status == 200, body
    assert body["choices"][0]["finish_reason"] == finish
    events = await subject.stream(request)
    assert [e["choices"][0]["finish_reason"] for e in events[:-1] if e["choices"][0].get("finish_reason")] == [finish]


async def test_stop_sequences(subject: Subject) -> None:
    subject.emu.enqueue(Turn(text="One, two,", stop="stop_sequence", usage=(6, 3)))
    status, _, body = await subject.post({"messages": [user("Count to five")], "stop": ["three", "END"]})
    if not subject.spec.capabilities.stop_sequences:
        subject.expect_refusal(status, body, "stop", f"{subject.spec.label} does not support stop")
        return
    assert status == 200, body
    assert body["choices"][0]["finish_reason"] == "stop"
    assert subject.sent().stop_sequences == ["three", "END"]


# --------------------------------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------------------------------


async def test_stream_with_usage(subject: Subject) -> None:
    text = "The lighthouse keeper counted the waves until dawn."
    subject.emu.enqueue(Turn(text=text, usage=(11, 9)))
    events = await subject.stream({"messages": [user("A story")], "stream_options": {"include_usage": True}})
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == subject.model for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = chunks[:-1]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in content) == text
    assert len(content) > 2  # streamed in pieces, not one answer at the end
    assert content[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    last = chunks[-1]
    assert last["choices"] == [] and usage_of(last) == (11, 9, 20)
    assert subject.emu.last_request.json["stream"] is True


async def test_stream_without_usage(subject: Subject) -> None:
    subject.emu.enqueue(Turn(text="Short one.", usage=(2, 2)))
    events = await subject.stream({"messages": [user("Hi")]})
    assert events[-1] == "[DONE]"
    assert all(e["choices"] and "usage" not in e for e in events[:-1])


async def test_stream_tool_call(subject: Subject) -> None:
    subject.emu.enqueue(Turn(tool_calls=[ToolCall("get_weather", {"city": "Lima"}, id="call_l1")], usage=(30, 6)))
    events = await subject.stream({"messages": [user("Weather in Lima?")], "tools": TOOLS,
                                   "stream_options": {"include_usage": True}})
    deltas = [d for e in events[:-1] if e["choices"] for d in e["choices"][0]["delta"].get("tool_calls", ())]
    first, rest = deltas[0], deltas[1:]
    assert (first["index"], first["id"], first["type"], first["function"]["name"]) == (
        0, "call_l1", "function", "get_weather")
    assert all(set(d) == {"index", "function"} and d["index"] == 0 for d in rest)
    assert json.loads("".join(d["function"].get("arguments", "") for d in deltas)) == {"city": "Lima"}
    assert events[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert usage_of(events[-2]) == (30, 6, 36)


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


async def test_provider_401_is_invalid_api_key(subject: Subject) -> None:
    status, _, body = await subject.post({"messages": [user("hi")]},
                                         headers={"X-Provider-Key": "not-the-right-key-0000"})
    assert status == 401, body
    err = body["error"]
    assert (err["type"], err["code"], err["param"]) == ("authentication_error", "invalid_api_key", None)
    assert err["message"].startswith(f"{subject.spec.label} rejected the API key")
    assert "not-the-right-key-0000" not in err["message"]
    assert [r.api_key for r in subject.emu.requests] == ["not-the-right-key-0000"]  # the caller's key; no retry


async def test_provider_429_is_rate_limited_with_retry_after(subject: Subject) -> None:
    subject.emu.enqueue(*[Fault(status=429, retry_after=0.01)] * 3)
    status, headers, body = await subject.post({"messages": [user("hi")]})
    assert status == 429, body
    err = body["error"]
    assert (err["type"], err["code"], err["param"]) == ("rate_limit_error", "rate_limited", None)
    assert err["message"].startswith(f"{subject.spec.label} rate limit reached")
    assert headers["Retry-After"] == "0.01"
    assert len(subject.emu.requests) == 3  # the first try and UPSTREAM_MAX_RETRIES=2


async def test_provider_500_is_502_after_retries(subject: Subject) -> None:
    subject.emu.enqueue(*[Fault(status=500)] * 3)
    status, _, body = await subject.post({"messages": [user("hi")]})
    assert status == 502, body
    err = body["error"]
    assert (err["type"], err["code"], err["param"]) == ("provider_error", "upstream_error", None)
    assert err["message"].startswith(f"{subject.spec.label} returned HTTP 500")
    assert len(subject.emu.requests) == 3
    subject.emu.enqueue(Fault(status=500), Turn(text="Recovered.", usage=(1, 1)))
    status, _, body = await subject.post({"messages": [user("hi")]})
    assert status == 200 and body["choices"][0]["message"]["content"] == "Recovered."
    assert len(subject.emu.requests) == 5


async def test_stream_errors(subject: Subject) -> None:
    # before the first byte: an ordinary error response; after it: an error event and no [DONE]
    subject.emu.enqueue(*[Fault(status=429, retry_after=0.01)] * 3)
    async with subject.http.post(f"{subject.gateway.url}/v1/chat/completions",
                                 json={"model": subject.model, "stream": True, "messages": [user("hi")]}) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "0.01"
        assert (await resp.json())["error"]["code"] == "rate_limited"
    subject.emu.reset()
    subject.emu.enqueue(Fault(stream_error_after=3, status=500))
    events = await subject.stream({"messages": [user("tell me a long story about a lighthouse keeper")]})
    assert "[DONE]" not in events
    assert events[-1]["error"]["code"] == "upstream_error" and events[-1]["error"]["message"]
    assert all("choices" in e for e in events[:-1])
    assert len(subject.emu.requests) == 1  # no retry once bytes went to the client


# --------------------------------------------------------------------------------------------------
# gRPC
# --------------------------------------------------------------------------------------------------


def grpc_request(subject: Subject, text: str, **kw: Any) -> pb.CreateChatCompletionRequest:
    return pb.CreateChatCompletionRequest(
        model=subject.model, messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text=text)])], **kw)


async def test_grpc_unary_and_stream(subject: Subject) -> None:
    subject.emu.enqueue(Turn(text="Over gRPC.", usage=(4, 3)),
                        Turn(tool_calls=[ToolCall("get_weather", {"city": "Rome"}, id="call_r1")], usage=(25, 6)))
    tools = [pb.Tool(type="function", function=pb.FunctionDefinition(name="get_weather"))]
    tools[0].function.parameters.update(WEATHER)
    async with grpc.aio.insecure_channel(subject.gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        resp = await stub.CreateChatCompletion(grpc_request(subject, "hi"))
        c = resp.completion
        assert (c.model, c.provider) == (subject.model, subject.spec.name)
        assert c.choices[0].message.content[0].text == "Over gRPC."
        assert c.choices[0].finish_reason == pb.FINISH_REASON_STOP
        assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (4, 3, 7)

        call = stub.StreamChatCompletion(pb.StreamChatCompletionRequest(
            include_usage=True, request=grpc_request(subject, "Weather in Rome?", tools=tools)))
        chunks = [r.chunk async for r in call]
    deltas = [d for ch in chunks if ch.choices for d in ch.choices[0].delta.tool_calls]
    assert (deltas[0].id, deltas[0].function.name) == ("call_r1", "get_weather")
    assert json.loads("".join(d.function.arguments for d in deltas)) == {"city": "Rome"}
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == [pb.FINISH_REASON_TOOL_CALLS]
    last = chunks[-1]
    assert not last.choices and (last.usage.prompt_tokens, last.usage.completion_tokens) == (25, 6)


async def test_grpc_rate_limited(subject: Subject) -> None:
    subject.emu.enqueue(*[Fault(status=429, retry_after=0.01)] * 3)
    async with grpc.aio.insecure_channel(subject.gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateChatCompletion(grpc_request(subject, "hi"))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = dict(info.value.trailing_metadata())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(details)
    ei = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(ei)
    assert (ei.reason, ei.metadata["retry_after"]) == ("rate_limited", "0.01")


async def test_grpc_refusal_follows_capabilities(subject: Subject) -> None:
    # the same capability rule as over REST, decided by the spec: an image
    req = grpc_request(subject, "What is this?")
    req.messages[0].content.add(image_url=pb.ImageUrl(url=IMAGE))
    subject.emu.enqueue(Turn(text="A picture.", usage=(5, 2)))
    async with grpc.aio.insecure_channel(subject.gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        if subject.spec.capabilities.images:
            resp = await stub.CreateChatCompletion(req)
            assert resp.completion.choices[0].message.content[0].text == "A picture."
            return
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateChatCompletion(req)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == f"{subject.spec.label} does not support images"
    assert not subject.emu.requests

