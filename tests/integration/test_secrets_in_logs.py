"""A caller's own provider key (X-Provider-Key) and its bearer JWT reach the provider and the verifier, and
nothing else: no log line and no repr() of an object built for the request holds either."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import grpc
import jwt
import pytest
import structlog
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from service.config import Settings
from service.core import ChatCore
from service.providers import http as upstream
from tests.conftest import JWT_SECRET, Running
from tests.emulators import AnthropicEmulator, LlamaEmulator

PLAIN_KEY = "my-plain-secret"  # a BYOK key that looks like no known key format
TOKEN = jwt.encode({"sub": "user-7", "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
HEADERS = {"X-Provider-Key": PLAIN_KEY, "Authorization": f"Bearer {TOKEN}"}
CHAT = "/v1/chat/completions"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, jwt_secret=JWT_SECRET)


@pytest.fixture
def reprs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """repr() of the call context, the upstream call, its upstream record and the endpoint of every call."""
    seen: list[str] = []
    send, identify = upstream.send, ChatCore.identify

    async def spy_send(endpoint: Any, call: Any, *args: Any, **kw: Any) -> Any:
        seen.extend((repr(endpoint), repr(call), repr(call.upstream)))
        return await send(endpoint, call, *args, **kw)

    def spy_identify(self: ChatCore, ctx: Any) -> Any:
        seen.append(repr(ctx))
        return identify(self, ctx)

    monkeypatch.setattr(upstream, "send", spy_send)
    monkeypatch.setattr(ChatCore, "identify", spy_identify)
    yield seen


def assert_clean(text: str) -> None:
    assert PLAIN_KEY not in text and TOKEN not in text, text


async def test_byok_key_and_jwt_appear_in_no_log_line_and_no_repr(
    gateway: Running, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator, reprs: list[str]
) -> None:
    with structlog.testing.capture_logs() as logs:
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            for model in ("claude-sonnet-4-5", "Llama-3.3-70B-Instruct"):
                for stream in (False, True):
                    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
                    async with session.post(gateway.url + CHAT, json=body) as resp:
                        assert resp.status == 200, await resp.text()
                        await resp.read()
            anthropic_emu.valid_keys = {"sk-ant-only-this-one"}  # the provider refuses the caller's key
            body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
            async with session.post(gateway.url + CHAT, json=body) as resp:
                assert resp.status == 401
                assert_clean(await resp.text())
            async with session.get(gateway.url + "/v1/usage") as resp:
                assert resp.status == 200
        anthropic_emu.valid_keys = None
        async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
            req = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[
                pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])])
            await chat_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
                req, metadata=(("x-provider-key", PLAIN_KEY), ("authorization", f"Bearer {TOKEN}")), timeout=10)
    # the key did reach the providers, and the token identified the caller
    assert {r.api_key for r in anthropic_emu.requests + llama_emu.requests} == {PLAIN_KEY}
    requests = [e for e in logs if e["event"] == "request"]
    assert len(requests) >= 7 and {e["user"] for e in requests if e["transport"] == "grpc"} == {"user-7"}
    for entry in logs:
        assert_clean(repr(entry))
    assert len(reprs) >= 4 * 6
    for text in reprs:
        assert_clean(text)
