"""Transport limits, driven with raw sockets: CLIENT_TIMEOUT_S closes a connection that sends no complete
request head, an idle keep-alive connection, a stalled request body (408) and a stream whose client
stopped reading (its upstream call cancelled at once); gRPC refuses a message over MAX_REQUEST_BYTES with
RESOURCE_EXHAUSTED, which a standalone bridge reports as 413 `request_too_large`."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from bridge.translate import parse_chat_request
from service import metrics
from service.config import Settings
from service.server import ENVELOPE_ALLOWANCE
from tests.conftest import Running, run_gateway
from tests.emulators import AnthropicEmulator, Turn

TIMEOUT = 1.0  # CLIENT_TIMEOUT_S under test
# how long a test waits for what should happen after ~TIMEOUT: generous, for a loaded machine
PATIENCE = 10.0
CHAT = "/v1/chat/completions"
CLAUDE = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, client_timeout_s=TIMEOUT)


def address(gateway: Running) -> tuple[str, int]:
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (loop time)."""
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(seconds):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return data, loop.time()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def request_head(path: str, body_length: int | None = None, **extra: str) -> bytes:
    lines = [f"{'GET' if body_length is None else 'POST'} {path} HTTP/1.1", "Host: gateway"]
    if body_length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {body_length}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --------------------------------------------------------------------------------------------------
# Request heads and idle connections
# --------------------------------------------------------------------------------------------------


async def test_half_a_request_head_is_closed_after_the_timeout(gateway: Running) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection(*address(gateway))
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Ty")
    await writer.drain()
    try:
        data, closed = await closed_within(reader, PATIENCE)
    finally:
        writer.close()
    assert data == b""  # nothing to answer: the head never completed
    assert TIMEOUT * 0.9 <= closed - started <= TIMEOUT + 5.0, closed - started


async def test_a_head_trickled_byte_by_byte_is_closed_after_the_timeout(gateway: Running) -> None:
    # slowloris: bytes keep coming, but no complete head within the timeout
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection(*address(gateway))
    writer.write(b"GET /healthz HTTP/1.1\r\n")

    async def trickle() -> None:
        for byte in b"X-Slow: " + b"a" * 1000:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    dripping = asyncio.create_task(trickle())
    try:
        data, closed = await closed_within(reader, PATIENCE)
    finally:
        dripping.cancel()
        writer.close()
    assert data == b""
    assert TIMEOUT * 0.9 <= closed - started <= TIMEOUT + 5.0, closed - started


async def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(gateway: Running) -> None:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(*address(gateway))
    try:
        writer.write(request_head("/healthz"))
        status, headers, body = await read_response(reader)
        assert status == 200 and orjson.loads(body) == {"status": "ok"}
        assert headers.get("connection", "").lower() != "close"  # kept alive
        answered = loop.time()
        data, closed = await closed_within(reader, PATIENCE)
    finally:
        writer.close()
    assert data == b""
    assert TIMEOUT * 0.9 <= closed - answered <= TIMEOUT + 5.0, closed - answered


async def test_a_connection_in_use_is_not_closed_by_the_idle_timeout(
    gateway: Running, anthropic_emu: AnthropicEmulator
) -> None:
    # an answer that takes longer than CLIENT_TIMEOUT_S is no idle connection; nor is a second request
    anthropic_emu.response_delay = TIMEOUT * 1.5
    payload = orjson.dumps(CLAUDE)
    reader, writer = await asyncio.open_connection(*address(gateway))
    try:
        for _ in range(2):
            writer.write(request_head(CHAT, len(payload)) + payload)
            status, _, body = await read_response(reader)
            assert status == 200, body
            await asyncio.sleep(TIMEOUT / 2)
    finally:
        writer.close()


# --------------------------------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------------------------------


async def test_a_stalled_request_body_gets_408_and_the_connection_is_closed(gateway: Running) -> None:
    loop = asyncio.get_running_loop()
    payload = orjson.dumps(CLAUDE)
    reader, writer = await asyncio.open_connection(*address(gateway))
    try:
        writer.write(request_head(CHAT, len(payload) + 1000, X_Request_Id="stalled-body") + payload)
        await writer.drain()
        sent = loop.time()
        data, closed = await closed_within(reader, PATIENCE)
    finally:
        writer.close()
    assert TIMEOUT * 0.9 <= closed - sent <= TIMEOUT + 5.0, closed - sent
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert status_line.split()[1] == "408", data
    assert headers["connection"].lower() == "close" and headers["x-request-id"] == "stalled-body"
    err = orjson.loads(body)["error"]
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", "request_timeout", None), err
    assert str(int(TIMEOUT)) in err["message"] or f"{TIMEOUT:g}" in err["message"]


async def test_a_slow_body_that_keeps_coming_is_served(gateway: Running) -> None:
    # the timeout is on silence, not on the whole upload: a body trickling in over several timeouts is fine
    payload = orjson.dumps(CLAUDE)
    reader, writer = await asyncio.open_connection(*address(gateway))
    try:
        writer.write(request_head(CHAT, len(payload)))
        pieces = [payload[i:i + 8] for i in range(0, len(payload), 8)]
        step = TIMEOUT * 2.5 / len(pieces)  # the upload lasts 2.5 timeouts, no pause longer than a fraction
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(step)
        status, _, body = await read_response(reader)
    finally:
        writer.close()
    assert status == 200, body
    assert orjson.loads(body)["choices"][0]["message"]["content"]


# --------------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------------


def in_flight_http() -> float:
    return float(metrics.child(metrics.IN_FLIGHT, "http")._value.get())


async def test_a_stream_whose_client_stops_reading_is_cut_off_and_the_upstream_call_cancelled(
    gateway: Running, anthropic_emu: AnthropicEmulator
) -> None:
    # a few MB of big words fill the socket buffers at once; then a long tail of small words keeps the
    # upstream stream going for far longer than the test waits
    big, small = ["x" * 8000] * 600, ["w"] * 3000
    anthropic_emu.stream_delay = 0.005
    anthropic_emu.enqueue(Turn(text=" ".join(big + small), usage=(5, len(big) + len(small))))
    baseline = in_flight_http()
    payload = orjson.dumps({**CLAUDE, "stream": True})
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a tiny window
    try:
        sock.connect(address(gateway))
        sock.sendall(request_head(CHAT, len(payload)) + payload)
        sent = loop.time()
        # never recv: the client has stopped reading
        async with asyncio.timeout(PATIENCE):
            while anthropic_emu.active_streams == 0:  # noqa: ASYNC110 - polls a counter
                await asyncio.sleep(0.02)
            while anthropic_emu.aborted_streams == 0:  # noqa: ASYNC110 - polls a counter
                await asyncio.sleep(0.02)
        cut = loop.time() - sent
        assert cut >= TIMEOUT, cut
        assert anthropic_emu.active_streams == 0
        async with asyncio.timeout(PATIENCE):
            while in_flight_http() > baseline:  # noqa: ASYNC110 - polls a gauge
                await asyncio.sleep(0.02)
        # the gateway closed the client connection: reading now ends (EOF or reset), it does not hang
        sock.setblocking(False)
        received = 0
        async with asyncio.timeout(PATIENCE):
            while True:
                try:
                    chunk = await loop.sock_recv(sock, 1 << 20)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += len(chunk)
        assert received < 40 * 1024 * 1024  # far from the whole answer
    finally:
        sock.close()


async def test_a_stream_reader_that_pauses_for_less_than_the_timeout_is_not_cut_off(
    gateway: Running, anthropic_emu: AnthropicEmulator
) -> None:
    # a client that reads in bursts, each pause shorter than the timeout, gets the whole answer, though
    # the gateway's writes wait on it during every pause (far more data than the socket buffers hold)
    words = ["y" * 8000] * 1500
    anthropic_emu.enqueue(Turn(text=" ".join(words), usage=(5, len(words))))
    payload = orjson.dumps({**CLAUDE, "stream": True})
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)  # fixed: no autotuning to swallow it all
    sock.setblocking(False)
    received = bytearray()
    try:
        await loop.sock_connect(sock, address(gateway))
        await loop.sock_sendall(sock, request_head(CHAT, len(payload)) + payload)
        async with asyncio.timeout(60):
            while not received.endswith(b"0\r\n\r\n"):  # the chunked body's last chunk
                await asyncio.sleep(TIMEOUT * 0.3)
                burst = len(received) + 2 * 1024 * 1024  # read 2 MB (or the rest), then pause again
                while len(received) < burst and not received.endswith(b"0\r\n\r\n"):
                    chunk = await loop.sock_recv(sock, burst - len(received))
                    assert chunk, "the gateway closed the stream early"
                    received += chunk
    finally:
        sock.close()
    assert b"data: [DONE]" in received
    assert received.count(b"y" * 8000) == len(words)


# --------------------------------------------------------------------------------------------------
# gRPC message size
# --------------------------------------------------------------------------------------------------


def user(text: str) -> pb.ChatMessage:
    return pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text=text)])


def sized_request(size: int) -> pb.CreateChatCompletionRequest:
    """A request whose protobuf encoding is exactly `size` bytes."""
    req = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[user("")])
    text = "x" * (size - req.ByteSize())
    while True:
        req.messages[0].content[0].text = text
        if req.ByteSize() <= size:
            break
        text = text[: len(text) - (req.ByteSize() - size)]
    assert req.ByteSize() == size
    return req


@pytest.fixture
async def standalone(settings: Settings) -> AsyncIterator[Running]:
    """The service with gRPC only, and a standalone bridge reaching it over a real channel."""
    running, runners = await run_gateway(settings, "grpc")
    yield running
    for runner in runners:
        await runner.cleanup()
    await running.gateway.stop(grace=0.5)


async def test_grpc_refuses_a_message_over_max_request_bytes_and_accepts_one_under(
    standalone: Running, settings: Settings
) -> None:
    limit = settings.max_request_bytes
    async with grpc.aio.insecure_channel(standalone.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateChatCompletion(sized_request(limit + ENVELOPE_ALLOWANCE + 1), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value
        over = sized_request(limit + ENVELOPE_ALLOWANCE + 1)
        call = stub.StreamChatCompletion(pb.StreamChatCompletionRequest(request=over), timeout=30)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call:
                pass
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value
        resp = await stub.CreateChatCompletion(sized_request(limit - 64), timeout=30)
        assert resp.completion.choices[0].finish_reason == pb.FINISH_REASON_STOP


def bigger_as_protobuf(limit: int) -> dict[str, Any]:
    """A chat request whose JSON is under `limit` bytes but whose protobuf is over it: tool schemas of small
    numbers (a google.protobuf.Struct spends 11 bytes on each 2-byte `0,`), each tool well within the
    per-tool and per-request tool limits."""
    per_tool = limit // 32  # elements: ~limit/16 bytes of JSON per tool, ~limit/3 of protobuf
    tools = [{"type": "function", "function": {"name": f"pick_{i}", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "enum": [0] * per_tool}}}}} for i in range(8)]
    body = {**CLAUDE, "tools": tools}
    req, _, _ = parse_chat_request(body)
    assert len(orjson.dumps(body)) < limit < req.ByteSize()
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
async def test_a_standalone_bridge_reports_the_transport_limit_as_413(
    standalone: Running, settings: Settings, stream: bool
) -> None:
    body = {**bigger_as_protobuf(settings.max_request_bytes), "stream": stream}
    payload = orjson.dumps(body)
    reader, writer = await asyncio.open_connection(*address(standalone))
    try:
        writer.write(request_head(CHAT, len(payload)) + payload)
        status, _, raw = await asyncio.wait_for(read_response(reader), PATIENCE)
    finally:
        writer.close()
    assert status == 413, raw
    err = orjson.loads(raw)["error"]
    assert (err["type"], err["code"]) == ("invalid_request_error", "request_too_large"), err
