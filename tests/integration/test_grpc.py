"""The gRPC API directly: unary create, models, rich errors, metadata, deadlines, health, reflection."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc
from google.protobuf import descriptor_pool
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from service.gateway import Gateway
from tests.conftest import ANTHROPIC_KEY
from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator, ToolCall, Turn


def user(text: str) -> pb.ChatMessage:
    return pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text=text)])


def error_info(exc: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for key, value in exc.trailing_metadata():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            return info
    raise AssertionError("no google.rpc.Status details")


async def test_unary_create_with_tool_calls(channel: grpc.aio.Channel, llama_emu: LlamaEmulator) -> None:
    llama_emu.enqueue(Turn(tool_calls=[ToolCall("get_weather", '{"location": "Bellevue"}', id="call_1")],
                           usage=(20, 5)))
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    req = pb.CreateChatCompletionRequest(
        provider="meta_llama", model="Llama-3.3-70B-Instruct", messages=[user("weather?")],
        tools=[pb.Tool(type="function", function=pb.FunctionDefinition(name="get_weather"))])
    call = stub.CreateChatCompletion(req, metadata=(("x-request-id", "grpc-trace-1"),))
    resp = await call
    assert dict(await call.initial_metadata())["x-request-id"] == "grpc-trace-1"
    c = resp.completion
    assert c.id.startswith("chatcmpl-") and c.model == "Llama-3.3-70B-Instruct" and c.provider == "meta_llama"
    assert c.choices[0].finish_reason == pb.FINISH_REASON_TOOL_CALLS
    assert list(c.choices[0].message.tool_calls) == [pb.ToolCall(
        id="call_1", type="function", function=pb.FunctionCall(name="get_weather", arguments='{"location": "Bellevue"}'))]
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (20, 5, 25)
    assert (c.iterations, c.total_tokens_used) == (1, 25)
    assert not req.HasField("temperature") and "temperature" not in llama_emu.requests[-1].json


async def test_optional_zero_temperature_is_sent(channel: grpc.aio.Channel, anthropic_emu: AnthropicEmulator) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(
        model="claude-sonnet-4-5", messages=[user("hi")], temperature=0.0, max_tokens=10))
    sent = anthropic_emu.requests[-1].json
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 10


async def test_errors_carry_error_info(channel: grpc.aio.Channel, anthropic_emu: AnthropicEmulator) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    cases = [
        (pb.CreateChatCompletionRequest(provider="xyz", model="m", messages=[user("x")]),
         grpc.StatusCode.INVALID_ARGUMENT, "unsupported_provider", "provider"),
        (pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[user("x")], temperature=3),
         grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", "temperature"),
        (pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[pb.ChatMessage(content=[
            pb.ContentPart(text="no role")])]), grpc.StatusCode.INVALID_ARGUMENT, "invalid_request",
         "messages[0].role"),
    ]
    for req, code, reason, param in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateChatCompletion(req)
        assert info.value.code() == code
        ei = error_info(info.value)
        assert (ei.reason, ei.metadata["param"]) == (reason, param)
    anthropic_emu.enqueue(*[Fault(status=429, retry_after=0.01)] * 3)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(model="claude-sonnet-4-5",
                                                                       messages=[user("x")]))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    ei = error_info(info.value)
    assert (ei.reason, ei.metadata["retry_after"]) == ("rate_limited", "0.01")


async def test_provider_key_metadata(channel: grpc.aio.Channel, anthropic_emu: AnthropicEmulator) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    req = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[user("x")])
    await stub.CreateChatCompletion(req, metadata=(("x-provider-key", "sk-ant-test-grpc-callers-key"),))
    assert anthropic_emu.requests[-1].api_key == "sk-ant-test-grpc-callers-key"
    await stub.CreateChatCompletion(req)
    assert anthropic_emu.requests[-1].api_key == ANTHROPIC_KEY


async def test_deadline_bounds_the_upstream_call(channel: grpc.aio.Channel, anthropic_emu: AnthropicEmulator) -> None:
    anthropic_emu.enqueue(Fault(delay=3.0))
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    started = time.perf_counter()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateChatCompletion(
            pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[user("x")]), timeout=0.4)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.perf_counter() - started < 1.5


async def test_list_models(channel: grpc.aio.Channel) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    resp = await stub.ListModels(pb.ListModelsRequest(provider="anthropic"))
    assert [(m.id, m.provider_model_id, m.max_output_tokens, m.created) for m in resp.models] == [
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 64000, 1759104000),
        ("claude-opus-4", "claude-opus-4-20250514", 32000, 1747872000)]


async def test_get_model(channel: grpc.aio.Channel) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    resp = await stub.GetModel(pb.GetModelRequest(model="claude-sonnet-4-5"))
    listed = await stub.ListModels(pb.ListModelsRequest())
    assert resp.model == next(m for m in listed.models if m.id == "claude-sonnet-4-5")
    for model, code, reason in (("gpt-4o", grpc.StatusCode.NOT_FOUND, "model_not_found"),
                                ("", grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetModel(pb.GetModelRequest(model=model))
        assert info.value.code() == code
        ei = error_info(info.value)
        assert (ei.reason, ei.metadata["param"]) == (reason, "model")


async def test_max_completion_tokens_is_its_own_field(channel: grpc.aio.Channel, llama_emu: LlamaEmulator) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(
        model="Llama-3.3-70B-Instruct", messages=[user("hi")], max_completion_tokens=12))
    assert llama_emu.requests[-1].json["max_completion_tokens"] == 12
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(
            model="Llama-3.3-70B-Instruct", messages=[user("hi")], max_completion_tokens=5000))
    assert error_info(info.value).metadata["param"] == "max_completion_tokens"


async def test_health_and_reflection(channel: grpc.aio.Channel, service: Gateway) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service_name in ("", "ainative.chat.v1.ChatService"):
        resp = await health.Check(health_pb2.HealthCheckRequest(service=service_name))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING

    # the reflection client grpcurl uses: list services, then resolve a method's descriptor
    # (a blocking client, so it runs in a thread while the server keeps this loop)
    def reflect() -> tuple[set[str], set[str], bool]:
        with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as sync_channel:
            db = ProtoReflectionDescriptorDatabase(sync_channel)
            services = set(db.get_services())
            pool = descriptor_pool.DescriptorPool(db)
            methods = {m.name for m in pool.FindServiceByName("ainative.chat.v1.ChatService").methods}
            has_field = "function" in pool.FindMessageTypeByName("ainative.chat.v1.ToolCall").fields_by_name
            return services, methods, has_field

    services, methods, has_field = await asyncio.to_thread(reflect)
    assert {"ainative.chat.v1.ChatService", "grpc.health.v1.Health"} <= services
    assert methods == {"CreateChatCompletion", "StreamChatCompletion", "ListModels", "GetModel", "ListTools",
                       "GetUsage", "GetLimits"}
    assert has_field
