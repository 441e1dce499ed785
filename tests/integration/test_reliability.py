"""Staying power: mixed concurrent load with no cross-talk or loss, and fuzzed requests that never 5xx or hang."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.models import resolve_model
from tests.conftest import Running, ThreadedGateway
from tests.emulators import AnthropicEmulator, LlamaEmulator

MODELS = ["claude-sonnet-4-5", "claude-opus-4", "Llama-3.3-70B-Instruct", "Llama-3.3-8B-Instruct"]


async def one(session: aiohttp.ClientSession, url: str, i: int, rng: random.Random) -> dict[str, Any]:
    """A request whose answer can be checked against it: the mock model echoes the prompt."""
    model = MODELS[i % len(MODELS)]
    upstream_id = resolve_model("", model).provider_model_id  # the emulator names the model it was sent
    kind = rng.choice(["plain", "stream", "bad", "tools"])
    token = f"token-{i}-{rng.randrange(10**9)}"
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": token}]}
    headers = {"X-Request-Id": f"load-{i}"}
    if kind == "bad":
        body["temperature"] = 7
    if kind == "tools":
        body["tools"] = ["zerodb_list_tables"]
    if kind == "stream":
        body["stream"] = True
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
        assert resp.headers["X-Request-Id"] == f"load-{i}"
        if kind == "bad":
            data = await resp.json()
            assert resp.status == 400 and data["error"]["param"] == "temperature"
            return {"kind": kind}
        assert resp.status == 200, await resp.text()
        if kind == "stream":
            text, ids = "", set()
            async for line in resp.content:
                if line.startswith(b"data: {"):
                    chunk = json.loads(line[6:])
                    ids.add(chunk["id"])
                    text += "".join(c["delta"].get("content") or "" for c in chunk["choices"])
            assert len(ids) == 1
            assert text == f"Hello from the {upstream_id} emulator. You said: {token}"
            return {"kind": kind, "id": ids.pop()}
        data = await resp.json()
        assert data["model"] == model
        message = data["choices"][0]["message"]
        if kind == "tools":
            assert message["tool_calls"][0]["function"]["name"] == "zerodb_list_tables"
        else:
            assert message["content"] == f"Hello from the {upstream_id} emulator. You said: {token}"
        return {"kind": kind, "id": data["id"]}


async def test_500_concurrent_mixed_requests_each_get_their_own_answer(
    gateway: Running, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator
) -> None:
    for emu in (anthropic_emu, llama_emu):
        emu.record_requests = False
    rng = random.Random(20261125)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.wait_for(
            asyncio.gather(*[one(session, gateway.url, i, rng) for i in range(500)]), timeout=60)
        async with session.get(f"{gateway.url}/healthz") as resp:
            assert resp.status == 200
    assert len(results) == 500
    ids = [r["id"] for r in results if "id" in r]
    assert len(ids) == len(set(ids)) == sum(1 for r in results if r["kind"] != "bad")
    assert {r["kind"] for r in results} == {"plain", "stream", "bad", "tools"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "robot", "", None])
content = st.one_of(st.text(max_size=40), st.none(), st.integers(), st.lists(st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20)}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": st.fixed_dictionaries({"url": st.sampled_from([
                               "https://x.test/a.png", "data:image/png;base64,AAAA", "http://x", "ftp://y"])})}),
    json_values), max_size=3))
messages = st.lists(st.fixed_dictionaries({"role": roles, "content": content},
                                          optional={"tool_call_id": st.text(max_size=8),
                                                    "tool_calls": json_values, "name": json_values}), max_size=4)
requests = st.fixed_dictionaries(
    {"model": st.one_of(st.sampled_from(MODELS + ["gpt-4o", "anthropic/claude-x", ""]), json_values),
     "messages": st.one_of(messages, json_values)},
    optional={
        "provider": st.one_of(st.sampled_from(["anthropic", "meta_llama", "xyz"]), json_values),
        "temperature": json_values, "top_p": json_values, "max_tokens": json_values, "n": json_values,
        "max_completion_tokens": json_values, "stop": json_values, "stream": st.booleans() | json_values,
        "stream_options": json_values, "tools": st.one_of(st.lists(st.sampled_from(
            ["bash_tool", "nope", {"type": "function", "function": {"name": "f"}}]), max_size=3), json_values),
        "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required"]), json_values),
        "parallel_tool_calls": json_values, "max_iterations": json_values, "metadata": json_values,
        "user": json_values,
    },
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(body=st.one_of(requests, json_values))
def test_fuzzed_requests_never_5xx_or_hang(threaded_gateway: ThreadedGateway, body: Any) -> None:
    url, loop = threaded_gateway.url, threaded_gateway.loop

    async def send() -> tuple[int, bytes, str]:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/v1/chat/completions", data=json.dumps(body),
                                    headers={"Content-Type": "application/json"}) as resp:
                return resp.status, await resp.read(), resp.headers.get("Content-Type", "")

    status, raw, ctype = asyncio.run_coroutine_threadsafe(asyncio.wait_for(send(), 10), loop).result(15)
    assert status < 500, raw
    if status >= 400:
        err = json.loads(raw)["error"]
        assert set(err) == {"message", "type", "code", "param"} and err["message"]
    else:
        assert status == 200 and (ctype.startswith("text/event-stream") or json.loads(raw)["object"])
