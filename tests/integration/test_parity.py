"""One table of bad requests, each sent over REST and over gRPC to the real running gateway: both edges must
answer alike (the HTTP status and its gRPC code, the same `code`, `param` and message), streamed or not,
and no provider may be called.

Every value rule has one owner, service/validate.py (provider-specific rules read the provider's
Capabilities), so a row's gRPC request is the proto the REST bridge makes of the row's JSON: the bridge
does shape only and must carry every one of these values for the service to judge. The rows the proto
cannot carry (JSON type errors, shapes it has no field for) are REST-only, in their own table: there the
bridge itself must refuse, which the test checks too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import grpc
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc
from google.rpc import error_details_pb2, status_pb2

from bridge.translate import parse_chat_request
from service.errors import GatewayError
from tests.conftest import Running
from tests.emulators import AnthropicEmulator, LlamaEmulator

CLAUDE = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
LLAMA = {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "hi"}]}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
GRPC_CODE = {400: grpc.StatusCode.INVALID_ARGUMENT, 422: grpc.StatusCode.INVALID_ARGUMENT}


def answered(*calls: dict[str, Any]) -> list[dict[str, Any]]:
    """A user turn, an assistant turn making `calls`, and a tool message answering each."""
    return [{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": list(calls)},
            *({"role": "tool", "tool_call_id": c.get("id", ""), "content": "r"} for c in calls)]


def call(arguments: str = "{}", **fields: Any) -> dict[str, Any]:
    return {"id": "t1", "type": "function", "function": {"name": "f", "arguments": arguments}, **fields}


def image(url: str, role: str = "user") -> list[dict[str, Any]]:
    return [{"role": role, "content": [{"type": "text", "text": "what is it?"},
                                       {"type": "image_url", "image_url": {"url": url}}]}]


# name, body, HTTP status, code, param
ROWS: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    # the request itself
    ("missing model", {"messages": CLAUDE["messages"]}, 400, "invalid_request", "model"),
    ("model naming no provider", {**CLAUDE, "model": "gpt-4o"}, 400, "invalid_request", "provider"),
    ("unsupported provider", {**CLAUDE, "provider": "xyz"}, 400, "unsupported_provider", "provider"),
    ("NUL in user", {**CLAUDE, "user": "a\x00b"}, 400, "invalid_request", "user"),
    ("empty messages", {**CLAUDE, "messages": []}, 400, "invalid_request", "messages"),
    ("missing messages", {"model": "claude-sonnet-4-5"}, 400, "invalid_request", "messages"),
    # roles and where things may appear
    ("unknown role", {**CLAUDE, "messages": [{"role": "robot", "content": "x"}]}, 400, "invalid_request",
     "messages[0].role"),
    ("missing role", {**LLAMA, "messages": [{"content": "x"}]}, 400, "invalid_request", "messages[0].role"),
    ("tool_calls on a user message", {**CLAUDE, "messages": [{"role": "user", "content": "x",
                                                              "tool_calls": [call()]}]},
     400, "invalid_request", "messages[0].tool_calls"),
    ("tool_calls on a tool message, Llama", {**LLAMA, "messages": [
        *answered(call())[:2], {"role": "tool", "tool_call_id": "t1", "content": "r", "tool_calls": [call()]}]},
     400, "invalid_request", "messages[2].tool_calls"),
    ("tool_call_id on a user message", {**LLAMA, "messages": [{"role": "user", "content": "x",
                                                               "tool_call_id": "t1"}]},
     400, "invalid_request", "messages[0].tool_call_id"),
    ("image in an assistant message", {**CLAUDE, "messages": [
        {"role": "user", "content": "x"}, *image("https://x.test/a.png", "assistant")]},
     400, "invalid_request", "messages[1].content[1]"),
    # tool calls in the history
    ("tool call of another type", {**CLAUDE, "messages": answered(call(type="custom"))}, 400, "invalid_request",
     "messages[1].tool_calls[0].type"),
    ("tool call without id", {**LLAMA, "messages": [*answered(call())[:1], {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
     400, "invalid_request", "messages[1].tool_calls[0].id"),
    ("tool call without a function", {**CLAUDE, "messages": answered({"id": "t1", "type": "function"})},
     400, "invalid_request", "messages[1].tool_calls[0].function.name"),
    ("arguments not an object, Claude", {**CLAUDE, "messages": answered(call("[1]"))}, 400, "invalid_request",
     "messages[1].tool_calls[0].function.arguments"),
    ("arguments not an object, Llama", {**LLAMA, "messages": answered(call("[1]"))}, 400, "invalid_request",
     "messages[1].tool_calls[0].function.arguments"),
    ("arguments not JSON, Llama", {**LLAMA, "messages": answered(call("{not json"))}, 400, "invalid_request",
     "messages[1].tool_calls[0].function.arguments"),
    ("tool message without tool_call_id", {**CLAUDE, "messages": [{"role": "user", "content": "x"},
                                                                  {"role": "tool", "content": "r"}]},
     400, "invalid_request", "messages[1].tool_call_id"),
    ("tool message answering nothing", {**LLAMA, "messages": [
        {"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}]},
     400, "invalid_request", "messages[1].tool_call_id"),
    ("unanswered tool call", {**CLAUDE, "messages": answered(call())[:2]}, 400, "invalid_request",
     "messages[1].tool_calls"),
    # images
    ("http image URL", {**CLAUDE, "messages": image("http://x.test/a.png")}, 400, "invalid_request",
     "messages[0].content[1].image_url.url"),
    ("image without a URL", {**LLAMA, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {}}]}]}, 400, "invalid_request", "messages[0].content[0].image_url.url"),
    ("data URL not base64, Claude", {**CLAUDE, "messages": image("data:image/png,AAAA")}, 400, "invalid_request",
     "messages[0].content[1].image_url.url"),
    ("data URL not base64, Llama", {**LLAMA, "messages": image("data:image/png,AAAA")}, 400, "invalid_request",
     "messages[0].content[1].image_url.url"),
    ("image type Claude cannot take", {**CLAUDE, "messages": image("data:image/bmp;base64,Qk0=")}, 400,
     "invalid_request", "messages[0].content[1].image_url.url"),
    # Anthropic's own rules (its Capabilities)
    ("empty user message, Claude", {**CLAUDE, "messages": [{"role": "user", "content": ""}]}, 400,
     "invalid_request", "messages[0].content"),
    ("system prompt alone, Claude", {**CLAUDE, "messages": [{"role": "system", "content": "be terse"}]}, 400,
     "invalid_request", "messages"),
    ("e-mail user, Claude", {**CLAUDE, "user": "alice@example.com"}, 400, "invalid_request", "user"),
    ("e-mail metadata.user_id, Claude", {**CLAUDE, "metadata": {"user_id": "alice@example.com"}}, 400,
     "invalid_request", "metadata.user_id"),
    # what the Llama API cannot honour (its Capabilities)
    ("stop, Llama", {**LLAMA, "stop": "END"}, 400, "unsupported_parameter", "stop"),
    ("parallel_tool_calls false, Llama", {**LLAMA, "tools": [TOOL], "parallel_tool_calls": False}, 400,
     "unsupported_parameter", "parallel_tool_calls"),
    # sampling and limits
    ("n > 1", {**CLAUDE, "n": 2}, 400, "invalid_request", "n"),
    ("temperature above 1", {**LLAMA, "temperature": 1.5}, 400, "invalid_request", "temperature"),
    ("temperature below 0", {**CLAUDE, "temperature": -0.1}, 400, "invalid_request", "temperature"),
    ("top_p above 1", {**CLAUDE, "top_p": 2}, 400, "invalid_request", "top_p"),
    ("five stop sequences", {**CLAUDE, "stop": ["a", "b", "c", "d", "e"]}, 400, "invalid_request", "stop"),
    ("max_tokens 0", {**CLAUDE, "max_tokens": 0}, 400, "invalid_request", "max_tokens"),
    ("max_tokens over the model's", {**CLAUDE, "max_tokens": 1000000}, 400, "invalid_request", "max_tokens"),
    ("max_completion_tokens over the model's", {**LLAMA, "max_completion_tokens": 4029}, 400, "invalid_request",
     "max_completion_tokens"),
    ("both max_tokens fields", {**CLAUDE, "max_tokens": 10, "max_completion_tokens": 10}, 400, "invalid_request",
     "max_tokens"),
    ("max_iterations 0", {**CLAUDE, "tools": [TOOL], "max_iterations": 0}, 400, "invalid_request",
     "max_iterations"),
    ("max_iterations 26", {**LLAMA, "max_iterations": 26}, 400, "invalid_request", "max_iterations"),
    # tools and tool_choice
    ("tool_choice without tools", {**CLAUDE, "tool_choice": "auto"}, 400, "invalid_request", "tool_choice"),
    ("unknown tool_choice mode", {**LLAMA, "tools": [TOOL], "tool_choice": "sometimes"}, 400, "invalid_request",
     "tool_choice"),
    ("tool_choice naming no tool", {**CLAUDE, "tools": [TOOL],
                                    "tool_choice": {"type": "function", "function": {"name": "g"}}},
     400, "invalid_request", "tool_choice"),
    ("tool_choice with an empty name", {**CLAUDE, "tools": [TOOL],
                                        "tool_choice": {"type": "function", "function": {"name": ""}}},
     400, "invalid_request", "tool_choice"),
    ("129 tools", {**CLAUDE, "tools": ["bash_tool"] * 129}, 400, "invalid_request", "tools"),
    ("unknown catalog tool", {**CLAUDE, "tools": ["no_such_tool"]}, 400, "invalid_request", "tools"),
    ("empty catalog name", {**CLAUDE, "tools": [{"type": "catalog", "name": ""}]}, 422, "invalid_tool_schema",
     "tools[0].name"),
    ("tool of another type", {**LLAMA, "tools": [{"type": "custom", "function": {"name": "f"}}]}, 422,
     "invalid_tool_schema", "tools[0].type"),
    ("tool without a function", {**CLAUDE, "tools": [{"type": "function"}]}, 422, "invalid_tool_schema",
     "tools[0].function"),
    ("bad tool name", {**CLAUDE, "tools": [{"type": "function", "function": {"name": "has spaces"}}]}, 422,
     "invalid_tool_schema", "tools[0].function.name"),
    ("duplicate tool names", {**LLAMA, "tools": [TOOL, TOOL]}, 422, "invalid_tool_schema",
     "tools[1].function.name"),
    ("parameters not an object schema", {**CLAUDE, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "array"}}}]}, 422, "invalid_tool_schema",
     "tools[0].function.parameters"),
    ("parameters not a valid schema", {**LLAMA, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "nonsense"}}}}}]}, 422,
     "invalid_tool_schema", "tools[0].function.parameters"),
]



def _too_many_tools() -> pb.CreateChatCompletionRequest:
    req, _, _ = parse_chat_request({**CLAUDE, "tools": ["bash_tool"]})
    req.tools.extend([req.tools[0]] * 128)
    return req


# Rows whose gRPC request is built apart: the bridge refuses more than 128 tools itself, before converting
# them (the same rule and error as the service's, from one function: service.tools.schema)
GRPC_REQUESTS: dict[str, Callable[[], pb.CreateChatCompletionRequest]] = {"129 tools": _too_many_tools}

# JSON the proto cannot carry: the bridge refuses it before any gRPC request could be made
REST_ONLY: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("model not a string", {**CLAUDE, "model": 5}, 400, "invalid_request", "model"),
    ("messages not an array", {**CLAUDE, "messages": "hi"}, 400, "invalid_request", "messages"),
    ("message not an object", {**CLAUDE, "messages": ["hi"]}, 400, "invalid_request", "messages[0]"),
    ("role not a string", {**CLAUDE, "messages": [{"role": 1, "content": "x"}]}, 400, "invalid_request",
     "messages[0].role"),
    ("content part of no proto type", {**CLAUDE, "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]}, 400, "invalid_request",
     "messages[0].content[0].type"),
    ("arguments as an object", {**LLAMA, "messages": answered({"id": "t1", "type": "function",
                                                               "function": {"name": "f", "arguments": {"a": 1}}})},
     400, "invalid_request", "messages[1].tool_calls[0].function.arguments"),
    ("temperature not a number", {**CLAUDE, "temperature": "hot"}, 400, "invalid_request", "temperature"),
    ("max_tokens not an integer", {**CLAUDE, "max_tokens": 1.5}, 400, "invalid_request", "max_tokens"),
    ("max_tokens past int32", {**CLAUDE, "max_tokens": 10**12}, 400, "invalid_request", "max_tokens"),
    ("stop not strings", {**CLAUDE, "stop": 5}, 400, "invalid_request", "stop"),
    ("metadata not strings", {**CLAUDE, "metadata": {"a": 1}}, 400, "invalid_request", "metadata"),
    ("tool_choice object of no proto type", {**CLAUDE, "tools": [TOOL], "tool_choice": {"type": "allowed_tools"}},
     400, "invalid_request", "tool_choice"),
    ("tools not an array", {**CLAUDE, "tools": "f"}, 422, "invalid_tool_schema", "tools"),
    ("parameters not an object", {**CLAUDE, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": "{}"}}]}, 422, "invalid_tool_schema", "tools[0].function.parameters"),
]

# requests only gRPC can make: enum numbers past the proto's, which JSON names cannot reach
GRPC_ONLY: list[tuple[str, Callable[[pb.CreateChatCompletionRequest], None], str]] = [
    ("role past the enum", lambda r: setattr(r.messages[0], "role", 42), "messages[0].role"),
    ("tool_choice mode past the enum", lambda r: setattr(r.tool_choice, "mode", 42), "tool_choice"),
]

Answer = tuple[int | grpc.StatusCode, str | None, str | None, str | None]  # status, code, param, message


async def over_rest(http: aiohttp.ClientSession, gateway: Running, body: dict[str, Any], stream: bool) -> Answer:
    async with http.post(f"{gateway.url}/v1/chat/completions", json={**body, "stream": stream}) as resp:
        payload = await resp.json(content_type=None)
    err = payload.get("error") or {}
    return resp.status, err.get("code"), err.get("param"), err.get("message")


def _error_info(exc: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            info = error_details_pb2.ErrorInfo()
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Unpack(info):
                    return info
    return error_details_pb2.ErrorInfo()


async def over_grpc(stub: chat_pb2_grpc.ChatServiceStub, req: pb.CreateChatCompletionRequest,
                    stream: bool) -> Answer:
    try:
        if stream:
            async for _ in stub.StreamChatCompletion(pb.StreamChatCompletionRequest(request=req)):
                pass
        else:
            await stub.CreateChatCompletion(req)
    except grpc.aio.AioRpcError as exc:
        info = _error_info(exc)
        return exc.code(), info.reason or None, info.metadata.get("param") or None, exc.details()
    return grpc.StatusCode.OK, None, None, None


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
async def test_every_bad_request_gets_the_same_answer_over_rest_and_grpc(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    stream: bool,
) -> None:
    """All rows against one gateway (per transport of the bridge), every mismatch reported at once."""
    mismatches = []
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        for name, body, status, code, param in ROWS:
            try:
                # shape only: the bridge must carry every value
                req = GRPC_REQUESTS[name]() if name in GRPC_REQUESTS else parse_chat_request(body)[0]
            except GatewayError as err:
                mismatches.append(f"{name}: the bridge refused it ({err.code}, {err.param}): a value rule there")
                continue
            rest = await over_rest(http, gateway, body, stream)
            rpc = await over_grpc(stub, req, stream)
            expected = (status, code, param)
            if rest[:3] != expected:
                mismatches.append(f"{name}: REST answered {rest[:3]}, expected {expected} ({rest[3]})")
            if rpc[:3] != (GRPC_CODE[status], code, param):
                mismatches.append(f"{name}: gRPC answered {rpc[:3]}, expected {(GRPC_CODE[status], code, param)} "
                                  f"({rpc[3]})")
            if rest[3] != rpc[3]:
                mismatches.append(f"{name}: messages differ: REST {rest[3]!r}, gRPC {rpc[3]!r}")
    assert not mismatches, "\n".join(mismatches)
    assert anthropic_emu.requests == [] and llama_emu.requests == []  # every one refused before a provider call


@pytest.mark.parametrize(("name", "body", "status", "code", "param"), REST_ONLY, ids=[r[0] for r in REST_ONLY])
async def test_json_the_proto_cannot_carry_is_refused_by_the_bridge(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator,
    name: str, body: dict[str, Any], status: int, code: str, param: str | None,
) -> None:
    with pytest.raises(GatewayError) as info:
        parse_chat_request(body)
    assert (info.value.code, info.value.param) == (code, param)
    rest = await over_rest(http, gateway, body, False)
    assert rest[:3] == (status, code, param), rest
    assert anthropic_emu.requests == []


async def test_enum_values_past_the_proto_are_refused_over_grpc(
    gateway: Running, anthropic_emu: AnthropicEmulator
) -> None:
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        for name, mutate, param in GRPC_ONLY:
            req, _, _ = parse_chat_request({**CLAUDE, "tools": [TOOL]})
            mutate(req)
            for stream in (False, True):
                answer = await over_grpc(stub, req, stream)
                assert answer[:3] == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", param), (name, answer)
    assert anthropic_emu.requests == []


def test_the_table_covers_each_provider_rule_for_both_providers() -> None:
    """The rows that hold for every provider are sent to both where the rule once had a provider owner."""
    names = {r[0] for r in ROWS}
    assert {"arguments not an object, Claude", "arguments not an object, Llama",
            "data URL not base64, Claude", "data URL not base64, Llama"} <= names
    assert len(ROWS) >= 25
