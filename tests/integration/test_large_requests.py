"""Large and deep requests: the tool limits, no 500 from nesting, and an event loop that keeps serving.

Limits (the same on REST and gRPC, with the same `code` and `param`): at most 128 tools per request,
catalog names included (400 `invalid_request`, param `tools`); a tool's `parameters` at most 32 JSON
levels deep and at most 64 KiB as canonical JSON (422 `invalid_tool_schema`, param
`tools[i].function.parameters`, the message naming the tool). A body nested past what a parser can take
is a 4xx, never a 500, on both bridge transports and for a direct gRPC client. And the largest legal
request (128 tools of ~60 KB) does not hold up the small requests the same process serves meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc
from google.rpc import error_details_pb2, status_pb2

from service import offload
from service.config import Settings
from service.tools.catalog import ToolCatalog
from service.wire import decode_request, encode_chat_request
from tests.conftest import Running, run_gateway
from tests.emulators import AnthropicEmulator

CHAT = "/ainative.chat.v1.ChatService/CreateChatCompletion"
STREAM = "/ainative.chat.v1.ChatService/StreamChatCompletion"
CATALOG = [entry.name for entry in ToolCatalog.load().select()]  # the 30 catalog tools, by name


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Room for the largest legal body (128 tools of ~60 KB)."""
    return dataclasses.replace(settings, max_request_bytes=16 * 1024 * 1024)


@pytest.fixture(scope="module")
def emulators_apart() -> Iterator[dict[str, str]]:
    """The provider emulators in a process of their own, as a provider is: the latency tests measure the
    gateway's process, not an emulator parsing a 7.7 MB request on the same event loop."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.emulators", "--anthropic-port", "0", "--llama-port", "0"],
                            cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(params=["inprocess", "grpc"])
async def gateway_apart(
    request: pytest.FixtureRequest, settings: Settings, emulators_apart: dict[str, str]
) -> AsyncIterator[Running]:
    """`gateway` (both bridge transports), with the providers in another process."""
    cfg = dataclasses.replace(settings, provider_env={
        **settings.provider_env, "ANTHROPIC_BASE_URL": emulators_apart["ANTHROPIC_BASE_URL"],
        "META_API_BASE_URL": emulators_apart["META_API_BASE_URL"]})
    running, runners = await run_gateway(cfg, request.param)
    yield running
    for runner in runners:
        await runner.cleanup()
    await running.gateway.stop(grace=0.5)


# ---- bodies ----------------------------------------------------------------------------------------

def deep_parameters_json(levels: int, array: bool = False) -> str:
    """`parameters` exactly `levels` JSON levels deep (the parameters object is level 1), as JSON text:
    {"type":"object","x":{"x":...{}}} or, with `array`, {"type":"object","x":[[...[]]]}. Unknown keywords
    are annotations in JSON Schema 2020-12, so any depth is a valid schema."""
    assert levels >= 2
    inner = levels - 1
    nest = "[" * inner + "]" * inner if array else '{"x":' * (inner - 1) + "{}" + "}" * (inner - 1)
    return '{"type":"object","x":' + nest + "}"


def chat_body_json(tools_json: list[str], model: str = "claude-sonnet-4-5") -> bytes:
    head = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    return head[:-1] + b',"tools":[' + ",".join(tools_json).encode() + b"]}"


def tool_json(name: str, parameters_json: str) -> str:
    return '{"type":"function","function":{"name":"' + name + '","parameters":' + parameters_json + "}}"


def small_tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}}


def sized_parameters(size: int) -> dict[str, Any]:
    """Parameters whose canonical JSON (compact, keys sorted) is exactly `size` bytes."""
    base = len(orjson.dumps({"description": "", "type": "object"}, option=orjson.OPT_SORT_KEYS))
    params = {"type": "object", "description": "x" * (size - base)}
    assert len(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)) == size
    return params


def big_parameters(seed: str, target: int = 60_000) -> dict[str, Any]:
    """A legal (< 64 KiB, shallow) schema of ~`target` bytes whose properties differ for every `seed`."""
    props: dict[str, Any] = {}
    i = 0
    while True:
        props[f"field_{seed}_{i}"] = {"type": "string", "maxLength": 100 + i,
                                      "description": f"Field {i} of tool {seed}, a plain string value"}
        i += 1
        if i % 25 == 0 and len(orjson.dumps(props)) > target - 200:
            return {"type": "object", "properties": props, "required": [f"field_{seed}_0"]}


def worst_case_body(unique: bool = True, **extra: Any) -> bytes:
    """128 tools of ~60 KB each (7.7 MB): the largest legal request. With `unique`, no two schemas are alike,
    nor like any sent before in this process, so none can be answered from the verdict cache."""
    salt = uuid.uuid4().hex[:8]
    shared = big_parameters("shared")
    tools = [{"type": "function", "function": {"name": f"big_tool_{k}", "description": "A large tool",
                                               "parameters": big_parameters(f"{salt}_{k}") if unique else shared}}
             for k in range(128)]
    body = orjson.dumps({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}],
                         "tools": tools, **extra})
    assert 7_000_000 < len(body) < 8_500_000
    return body


async def post_raw(http: aiohttp.ClientSession, gateway: Running, body: bytes) -> tuple[int, Any]:
    async with http.post(f"{gateway.url}/v1/chat/completions", data=body,
                         headers={"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.json()


async def post(http: aiohttp.ClientSession, gateway: Running, body: dict[str, Any]) -> tuple[int, Any]:
    return await post_raw(http, gateway, orjson.dumps(body))


def assert_error(status: int, body: Any, want_status: int, code: str, param: str | None) -> None:
    assert status == want_status, body
    assert (body["error"]["code"], body["error"]["param"]) == (code, param), body


# ---- REST, both bridge transports -------------------------------------------------------------------

async def test_129_tools_are_a_400_naming_tools_and_128_pass(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    custom = [small_tool(f"custom_{k}") for k in range(99)]
    status, body = await post(http, gateway, {"model": "claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "hi"}], "tools": CATALOG + custom})  # 30 + 99 = 129: catalog names count
    assert_error(status, body, 400, "invalid_request", "tools")
    assert "128" in body["error"]["message"]
    assert anthropic_emu.requests == []
    status, body = await post(http, gateway, {"model": "claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "hi"}], "tools": CATALOG + custom[:98]})
    assert status == 200, body
    assert len(anthropic_emu.requests[-1].json["tools"]) == 128


@pytest.mark.parametrize("array", [False, True])
async def test_parameters_33_levels_deep_are_a_422_naming_the_tool_and_32_pass(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, array: bool
) -> None:
    ok = tool_json("fine_tool", deep_parameters_json(32, array))
    status, body = await post_raw(http, gateway, chat_body_json([ok]))
    assert status == 200, body
    sent = anthropic_emu.requests[-1].json["tools"][0]["input_schema"]
    assert sent == orjson.loads(deep_parameters_json(32, array)) | {"properties": {}}
    deep = tool_json("deep_tool", deep_parameters_json(33, array))
    status, body = await post_raw(http, gateway, chat_body_json([ok, deep]))
    assert_error(status, body, 422, "invalid_tool_schema", "tools[1].function.parameters")
    assert "'deep_tool'" in body["error"]["message"] and "32" in body["error"]["message"]


@pytest.mark.parametrize("levels", [500, 1000])
async def test_hundreds_of_levels_are_a_422_not_a_500(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, levels: int
) -> None:
    for array in (False, True):
        body_json = chat_body_json([tool_json("ok_tool", '{"type":"object"}'),
                                    tool_json("abyss", deep_parameters_json(levels, array))])
        status, body = await post_raw(http, gateway, body_json)
        assert_error(status, body, 422, "invalid_tool_schema", "tools[1].function.parameters")
        assert "'abyss'" in body["error"]["message"]
    assert anthropic_emu.requests == []


async def test_100000_levels_are_a_400_not_a_500(gateway: Running, http: aiohttp.ClientSession) -> None:
    for array in (False, True):
        status, body = await post_raw(http, gateway, chat_body_json(
            [tool_json("abyss", deep_parameters_json(100_000, array))]))
        assert_error(status, body, 400, "invalid_request", None)
        assert "nested" in body["error"]["message"] and "1024" in body["error"]["message"]
    # anywhere in the body, not only in tools
    head = orjson.dumps({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})
    status, body = await post_raw(http, gateway, head[:-1] + b',"extra":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert_error(status, body, 400, "invalid_request", None)


async def test_parameters_over_64_kib_are_a_422_naming_the_tool(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    tools = [small_tool("ok_tool"),
             {"type": "function", "function": {"name": "huge_tool", "parameters": sized_parameters(65537)}}]
    status, body = await post(http, gateway, {"model": "claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "hi"}], "tools": tools})
    assert_error(status, body, 422, "invalid_tool_schema", "tools[1].function.parameters")
    assert "'huge_tool'" in body["error"]["message"] and "65536" in body["error"]["message"]
    assert anthropic_emu.requests == []
    tools[1]["function"]["parameters"] = sized_parameters(65536)
    status, body = await post(http, gateway, {"model": "claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "hi"}], "tools": tools})
    assert status == 200, body


@pytest.mark.parametrize("stream", [False, True])
async def test_the_largest_legal_request_is_accepted(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, stream: bool
) -> None:
    """128 tools of ~60 KB (one schema under 128 names, so the check itself is quick), answered or streamed."""
    body = worst_case_body(unique=False, stream=stream, stream_options={"include_usage": True})
    async with http.post(f"{gateway.url}/v1/chat/completions", data=body,
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    if stream:
        events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and orjson.loads(events[-2])["usage"]["prompt_tokens"] > 0
    sent = anthropic_emu.requests[-1].json
    assert sent.get("stream", False) is stream
    assert len(sent["tools"]) == 128 and sent["tools"][127]["name"] == "big_tool_127"
    assert sent["tools"][5]["input_schema"] == big_parameters("shared")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


SMALL = orjson.dumps({"model": "Llama-3.3-8B-Instruct", "messages": [{"role": "user", "content": "hi"}]})
# Generous bounds, for a loaded machine: idle, a small request takes ~3-5 ms here (p99). Measured on this
# 2-core machine (bench/README.md): during the checks p99 12-25 ms (the old code: 15 s); during the
# conversions 70-105 ms, the rest of it a few single calls on the whole 7.7 MB body that hold the GIL and
# cannot be split (parsing its JSON, ~40 ms; encoding the provider's JSON; writing it to the socket) (the
# old code: 1.0-1.4 s).
CHECKS_P99_BOUND_S = 0.15
CONVERSIONS_P99_BOUND_S = 0.3


async def small_latencies_during(
    http: aiohttp.ClientSession, gateway: Running, big: bytes, *, interval: float, samples: int | None = None
) -> tuple[list[float], asyncio.Task[tuple[int, Any]]]:
    """Send `big`; meanwhile send a small request every `interval` s (`samples` of them, or until `big` is
    answered), each timed from when it was due, so a stalled event loop cannot hide."""
    loop = asyncio.get_running_loop()

    async def timed(due: float) -> float:
        status, body = await post_raw(http, gateway, SMALL)
        assert status == 200, body
        return loop.time() - due

    for _ in range(10):  # warm the path (connections, caches)
        await timed(loop.time())
    big_task = asyncio.create_task(post_raw(http, gateway, big))
    start = loop.time() + 0.1  # due times count from here even if the loop stalls before the first is sent
    tasks = []
    k = 0
    while (k < samples) if samples is not None else (not big_task.done() and k < 3000):
        due = start + k * interval
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(asyncio.create_task(timed(due)))
        k += 1
    return list(await asyncio.gather(*tasks)), big_task


def report(what: str, transport: str, latencies: list[float]) -> float:
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"\n[{transport}] small requests during {what}: n={len(latencies)} p50={p50 * 1000:.1f} ms "
          f"p99={p99 * 1000:.1f} ms max={max(latencies) * 1000:.1f} ms")
    return p99


async def test_small_requests_keep_their_latency_while_a_worst_case_request_is_checked(
    gateway_apart: Running, http: aiohttp.ClientSession
) -> None:
    """128 never-seen ~60 KB schemas to check (~15 s of CPU): small requests keep a low p99 meanwhile, and
    when the big request's client goes away, its checking stops."""
    gateway = gateway_apart
    latencies, big = await small_latencies_during(http, gateway, worst_case_body(), interval=0.05, samples=100)
    in_flight = not big.done()
    big.cancel()
    p99 = report("the checks of a worst-case request", gateway.transport, latencies)
    assert p99 < CHECKS_P99_BOUND_S, f"p99 {p99 * 1000:.0f} ms"
    assert in_flight, "the worst-case request ended before the small ones: nothing was measured"
    # the checks stop within about one schema's check (~0.1 s; more on a loaded machine)
    for _ in range(200):
        if not offload.busy():
            break
        await asyncio.sleep(0.05)
    assert not offload.busy()


async def test_small_requests_keep_their_latency_while_the_largest_request_is_converted(
    gateway_apart: Running, http: aiohttp.ClientSession
) -> None:
    """128 tools of ~60 KB under one schema (checked once): the rest of the work, parsing 7.7 MB of JSON and
    converting it to protobuf, to dicts, to the provider's JSON (and over gRPC, encoding and decoding), from
    the request's arrival to its answer, leaves small requests their latency."""
    gateway = gateway_apart
    latencies, big = await small_latencies_during(http, gateway, worst_case_body(unique=False), interval=0.02)
    status, body = await big
    assert status == 200, body
    p99 = report("the conversions of the largest request", gateway.transport, latencies)
    assert p99 < CONVERSIONS_P99_BOUND_S, f"p99 {p99 * 1000:.0f} ms"
    assert len(latencies) >= 10, "the largest request was answered at once: nothing was measured"


# ---- a direct gRPC client --------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_struct(levels: int) -> bytes:
    """The wire bytes of a google.protobuf.Struct `levels` JSON levels deep ({"x": {"x": ... {}}}), built
    without recursion and in linear time (no protobuf runtime could build or serialize one this deep)."""
    heads, size = [], 0  # the bytes before each level's inner Struct, innermost first; the inner size
    for _ in range(levels - 1):
        value = _varint(5 << 3 | 2) + _varint(size)  # Value.struct_value = <inner>
        entry = _field(1, b"x") + _varint(2 << 3 | 2) + _varint(len(value) + size)  # fields entry {key, value}
        head = _varint(1 << 3 | 2) + _varint(len(entry) + len(value) + size) + entry + value  # Struct.fields
        heads.append(head)
        size += len(head)
    return b"".join(reversed(heads))


def request_with_deep_tool(levels: int, stream: bool = False) -> bytes:
    base = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[
        pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])],
        tools=[pb.Tool(type="catalog", catalog_name="bash_tool")])
    function = _field(1, b"deep_tool") + _field(3, nested_struct(levels))  # FunctionDefinition name, parameters
    tool = _field(1, b"function") + _field(2, function)
    raw = base.SerializeToString() + _field(pb.CreateChatCompletionRequest.DESCRIPTOR.fields_by_name["tools"].number, tool)
    return _field(1, raw) if stream else raw  # StreamChatCompletionRequest.request


def rpc_error(exc: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, str | None, str]:
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            return exc.code(), info.reason, info.metadata.get("param"), exc.details() or ""
    raise AssertionError(f"no google.rpc.Status details: {exc.code()} {exc.details()}")


async def raw_call(channel: grpc.aio.Channel, raw: bytes, stream: bool) -> None:
    if stream:
        async for _ in channel.unary_stream(STREAM)(raw, timeout=10):
            pass
    else:
        await channel.unary_unary(CHAT)(raw, timeout=10)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("levels", [33, 34, 500, 100_000])
async def test_grpc_deep_parameters_are_invalid_argument_naming_the_tool(
    channel: grpc.aio.Channel, anthropic_emu: AnthropicEmulator, levels: int, stream: bool
) -> None:
    """33 levels still decode (the core refuses them); from 34 on protobuf's decoder gives up (its limit is 100
    message levels, and a JSON object level costs 3): the answer is the same either way."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_call(channel, request_with_deep_tool(levels, stream), stream)
    code, reason, param, message = rpc_error(caught.value)
    assert (code, reason, param) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_tool_schema",
                                     "tools[1].function.parameters")
    assert "'deep_tool'" in message
    assert anthropic_emu.requests == []


@pytest.mark.parametrize("stream", [False, True])
async def test_grpc_parameters_32_levels_deep_pass(
    channel: grpc.aio.Channel, anthropic_emu: AnthropicEmulator, stream: bool
) -> None:
    await raw_call(channel, request_with_deep_tool(32, stream), stream)
    assert anthropic_emu.requests[-1].json["tools"][1]["name"] == "deep_tool"


@pytest.mark.parametrize("stream", [False, True])
async def test_grpc_undecodable_request_is_invalid_argument(channel: grpc.aio.Channel, stream: bool) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_call(channel, b"\x0a\xff\xff\xff\x0f" + b"x" * 10, stream)  # a length past the end
    code, reason, param, _ = rpc_error(caught.value)
    assert (code, reason, param) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", None)


async def test_grpc_tool_limits_match_rest(channel: grpc.aio.Channel) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    messages = [pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])]
    many = [pb.Tool(type="catalog", catalog_name=n) for n in CATALOG] + [
        pb.Tool(type="function", function=pb.FunctionDefinition(name=f"custom_{k}")) for k in range(99)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(
            model="claude-sonnet-4-5", messages=messages, tools=many))
    assert rpc_error(caught.value)[:3] == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", "tools")
    huge = pb.Tool(type="function", function=pb.FunctionDefinition(name="huge_tool"))
    huge.function.parameters.update(sized_parameters(65537))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateChatCompletion(pb.CreateChatCompletionRequest(
            model="claude-sonnet-4-5", messages=messages, tools=[many[0], huge]))
    code, reason, param, message = rpc_error(caught.value)
    assert (code, reason, param) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_tool_schema",
                                     "tools[1].function.parameters")
    assert "'huge_tool'" in message


def test_a_large_request_encoded_and_decoded_a_tool_at_a_time_is_the_same_message() -> None:
    """The standalone bridge encodes a large request a tool at a time, and the service decodes it so: the same
    message as protobuf's own encoding and decoding, for both chat RPCs."""
    req = pb.CreateChatCompletionRequest(
        model="claude-sonnet-4-5", provider="anthropic", temperature=0.5, stop=["END"], metadata={"k": "v"},
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])],
        tool_choice=pb.ToolChoice(function_name="tool_1"),
        tools=[pb.Tool(type="function", function=pb.FunctionDefinition(name=f"tool_{k}")) for k in range(5)])
    for k, tool in enumerate(req.tools):
        tool.function.parameters.update(big_parameters(f"wire_{k}", target=2_000))
    encoded = encode_chat_request(req)
    assert pb.CreateChatCompletionRequest.FromString(encoded) == req
    assert decode_request(pb.CreateChatCompletionRequest, req.SerializeToString(), by_tool=True) == req
    assert decode_request(pb.CreateChatCompletionRequest, encoded, by_tool=True) == req
    for include_usage in (False, True):
        wrapped = pb.StreamChatCompletionRequest(request=req, include_usage=include_usage)
        encoded = encode_chat_request(req, include_usage)
        assert pb.StreamChatCompletionRequest.FromString(encoded) == wrapped
        assert decode_request(pb.StreamChatCompletionRequest, encoded, by_tool=True) == wrapped
        assert decode_request(pb.StreamChatCompletionRequest, wrapped.SerializeToString(), by_tool=True) == wrapped
