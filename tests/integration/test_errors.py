"""Every error of the README's error table, end to end, in the documented format; the server keeps serving."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.conftest import Running
from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator, Turn

CLAUDE = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
LLAMA = {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "hi"}]}


async def post_raw(http: aiohttp.ClientSession, gateway: Running, data: bytes | str, content_type: str | None
                   = "application/json", **kw: Any) -> tuple[int, Any, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    async with http.post(f"{gateway.url}/v1/chat/completions", data=data, headers=headers, **kw) as resp:
        return resp.status, resp.headers.copy(), await resp.json(content_type=None)


async def post(http: aiohttp.ClientSession, gateway: Running, body: Any, **kw: Any) -> tuple[int, Any, Any]:
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body, **kw) as resp:
        return resp.status, resp.headers.copy(), await resp.json(content_type=None)


def assert_error(body: Any, type_: str, code: str, param: str | None = None) -> None:
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "code", "param"}, err
    assert (err["type"], err["code"], err["param"]) == (type_, code, param), err
    assert isinstance(err["message"], str) and err["message"]
    assert "Traceback" not in err["message"]


async def assert_still_serving(http: aiohttp.ClientSession, gateway: Running) -> None:
    status, _, body = await post(http, gateway, CLAUDE)
    assert status == 200, body


PROVIDER_FAULTS = [
    (Fault(status=400, message="messages: something is off"), 400, "invalid_request_error", "invalid_request"),
    (Fault(status=401), 401, "authentication_error", "invalid_api_key"),
    (Fault(status=403), 403, "permission_error", "permission_denied"),
    (Fault(status=404), 404, "invalid_request_error", "model_not_found"),
    (Fault(status=413), 413, "invalid_request_error", "request_too_large"),
    (Fault(status=422), 400, "invalid_request_error", "invalid_request"),
]


@pytest.mark.parametrize(("fault", "status", "type_", "code"), PROVIDER_FAULTS)
@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
async def test_provider_client_errors_are_mapped_and_not_retried(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    provider: str, fault: Fault, status: int, type_: str, code: str,
) -> None:
    emu, body = (anthropic_emu, CLAUDE) if provider == "anthropic" else (llama_emu, LLAMA)
    emu.enqueue(fault)
    got, _, resp = await post(http, gateway, body)
    assert got == status, resp
    assert_error(resp, type_, code, "model" if code == "model_not_found" else None)
    assert len(emu.requests) == 1  # 4xx is never retried
    await assert_still_serving(http, gateway)


@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
async def test_rate_limit_after_retries_keeps_retry_after(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    provider: str,
) -> None:
    emu, body = (anthropic_emu, CLAUDE) if provider == "anthropic" else (llama_emu, LLAMA)
    emu.enqueue(*[Fault(status=429, retry_after=0.01) for _ in range(3)])
    status, headers, resp = await post(http, gateway, body)
    assert status == 429
    assert_error(resp, "rate_limit_error", "rate_limited")
    assert headers["Retry-After"] == "0.01"
    assert len(emu.requests) == 3  # first try + UPSTREAM_MAX_RETRIES=2


async def test_overloaded_529_is_503_and_retried_to_success(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.enqueue(Fault(status=529, retry_after=0.01), Turn(text="recovered", usage=(1, 1)))
    status, _, resp = await post(http, gateway, CLAUDE)
    assert status == 200 and resp["choices"][0]["message"]["content"] == "recovered"
    assert len(anthropic_emu.requests) == 2
    anthropic_emu.reset()
    anthropic_emu.enqueue(*[Fault(status=529, retry_after=0.01) for _ in range(3)])
    status, _, resp = await post(http, gateway, CLAUDE)
    assert status == 503
    assert_error(resp, "overloaded_error", "provider_overloaded")


@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
@pytest.mark.parametrize("upstream_status", [500, 502, 503])
async def test_provider_5xx_after_retries_is_502(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    provider: str, upstream_status: int,
) -> None:
    emu, body = (anthropic_emu, CLAUDE) if provider == "anthropic" else (llama_emu, LLAMA)
    emu.enqueue(*[Fault(status=upstream_status, retry_after=0.01) for _ in range(3)])
    status, headers, resp = await post(http, gateway, body)
    assert status == 502
    assert_error(resp, "provider_error", "upstream_error")
    assert len(emu.requests) == 3
    assert headers["Retry-After"] == "0.01"  # the provider's advice reaches the client


@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
async def test_connection_reset_and_malformed_body_are_502(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    provider: str,
) -> None:
    emu, body = (anthropic_emu, CLAUDE) if provider == "anthropic" else (llama_emu, LLAMA)
    emu.enqueue(*[Fault(reset=True) for _ in range(3)])
    status, _, resp = await post(http, gateway, body)
    assert status == 502
    assert_error(resp, "provider_error", "upstream_error")
    emu.enqueue(Fault(body=b'{"id": "x", "content": [tru'))
    status, _, resp = await post(http, gateway, body)
    assert status == 502
    assert_error(resp, "provider_error", "upstream_error")
    await assert_still_serving(http, gateway)


@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
async def test_upstream_timeout_is_504_in_bounded_time(
    settings: Any, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    provider: str,
) -> None:
    import dataclasses

    from tests.conftest import run_gateway

    fast = dataclasses.replace(settings, upstream_timeout_s=0.3, upstream_max_retries=1)
    gateway, runners = await run_gateway(fast, "inprocess")
    try:
        emu, body = (anthropic_emu, CLAUDE) if provider == "anthropic" else (llama_emu, LLAMA)
        emu.enqueue(Fault(delay=3.0), Fault(delay=3.0))
        started = time.perf_counter()
        status, _, resp = await post(http, gateway, body)
        elapsed = time.perf_counter() - started
        assert status == 504
        assert_error(resp, "timeout_error", "upstream_timeout")
        assert elapsed < 2.0  # two 0.3 s attempts plus one back-off, not the emulator's 3 s
        assert len(emu.requests) == 2
    finally:
        await gateway.gateway.stop(grace=0.1)


async def test_missing_server_key_names_the_variable(
    settings: Any, http: aiohttp.ClientSession, llama_emu: LlamaEmulator
) -> None:
    import dataclasses

    from tests.conftest import run_gateway

    gateway, _ = await run_gateway(dataclasses.replace(settings, provider_env={
        k: v for k, v in settings.provider_env.items() if not k.endswith("_API_KEY")}),
                                   "inprocess")
    try:
        for body, variable in ((CLAUDE, "ANTHROPIC_API_KEY"), (LLAMA, "META_API_KEY")):
            status, _, resp = await post(http, gateway, body)
            assert status == 401
            assert_error(resp, "authentication_error", "missing_api_key")
            assert variable in resp["error"]["message"]
        assert llama_emu.requests == []
        status, _, resp = await post(http, gateway, LLAMA, headers={"X-Provider-Key": "LLM|1|own"})
        assert status == 200
    finally:
        await gateway.gateway.stop(grace=0.1)


async def test_wrong_key_rejected_by_provider(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.valid_keys = {"sk-ant-test-the-only-valid-key-000"}
    status, _, resp = await post(http, gateway, CLAUDE)
    assert status == 401
    assert_error(resp, "authentication_error", "invalid_api_key")
    status, _, resp = await post(http, gateway, CLAUDE,
                                 headers={"X-Provider-Key": "sk-ant-test-the-only-valid-key-000"})
    assert status == 200


async def test_unknown_model_is_404_from_the_provider(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator
) -> None:
    status, _, resp = await post(http, gateway, {**CLAUDE, "model": "claude-nonexistent-9"})
    assert status == 404
    assert_error(resp, "invalid_request_error", "model_not_found", "model")
    assert "claude-nonexistent-9" in resp["error"]["message"]


async def test_unsupported_provider(gateway: Running, http: aiohttp.ClientSession) -> None:
    status, _, resp = await post(http, gateway, {**CLAUDE, "provider": "xyz"})
    assert status == 400
    assert_error(resp, "invalid_request_error", "unsupported_provider", "provider")
    assert resp["error"]["message"] == "Unsupported provider: xyz"


BAD_INPUTS = [
    ("not json", b"{not json", "application/json", None),
    ("empty body", b"", "application/json", None),
    ("json array", b"[1, 2]", "application/json", None),
    ("json string", b'"hello"', "application/json", None),
    ("invalid utf-8", b'{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
     "application/json", None),
    ("deep nesting", b'{"model": "claude-sonnet-4-5", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
     "application/json", None),
    ("wrong content type", b'{"model": "claude-sonnet-4-5"}', "text/plain", None),
    ("form content type", b"model=claude", "application/x-www-form-urlencoded", None),
    ("unknown role", b'{"model": "claude-sonnet-4-5", "messages": [{"role": "robot", "content": "x"}]}',
     "application/json", "messages[0].role"),
    ("tool without tool_call_id",
     b'{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]}',
     "application/json", "messages[1].tool_call_id"),
    ("missing messages", b'{"model": "claude-sonnet-4-5"}', "application/json", "messages"),
    ("missing model", b'{"messages": [{"role": "user", "content": "x"}]}', "application/json", "model"),
    ("n > 1", b'{"model": "claude-sonnet-4-5", "n": 3, "messages": [{"role": "user", "content": "x"}]}',
     "application/json", "n"),
    ("huge max_tokens", b'{"model": "claude-sonnet-4-5", "max_tokens": 99999999999999999999, '
                        b'"messages": [{"role": "user", "content": "x"}]}', "application/json", "max_tokens"),
    ("nan temperature", b'{"model": "claude-sonnet-4-5", "temperature": NaN, '
                        b'"messages": [{"role": "user", "content": "x"}]}', "application/json", None),
]


@pytest.mark.parametrize(("name", "data", "content_type", "param"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_is_400_in_error_format(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator,
    name: str, data: bytes, content_type: str, param: str | None,
) -> None:
    status, headers, resp = await post_raw(http, gateway, data, content_type)
    assert status == 400, resp
    assert_error(resp, "invalid_request_error", "invalid_request", param)
    assert headers["Content-Type"].startswith("application/json")
    assert anthropic_emu.requests == []
    await assert_still_serving(http, gateway)


SCOUT = "Llama-4-Scout-17B-16E-Instruct-FP8"  # served by the Llama API, not in the catalog: passed through

MAX_TOKENS_REFUSED = [
    ("max_completion_tokens too large", {**CLAUDE, "max_completion_tokens": 1000000}, "max_completion_tokens",
     "max_completion_tokens 1000000 exceeds the maximum output of claude-sonnet-4-5 (64000)"),
    ("max_tokens too large", {**CLAUDE, "max_tokens": 1000000}, "max_tokens",
     "max_tokens 1000000 exceeds the maximum output of claude-sonnet-4-5 (64000)"),
    ("max_completion_tokens zero", {**LLAMA, "max_completion_tokens": 0}, "max_completion_tokens",
     "max_completion_tokens must be a positive integer"),
    ("both fields", {**CLAUDE, "max_tokens": 100, "max_completion_tokens": 100}, "max_tokens",
     "max_tokens and max_completion_tokens are the same setting: send only one (max_completion_tokens is OpenAI's "
     "current name)"),
    ("pass-through Llama over the API ceiling", {**LLAMA, "model": SCOUT, "max_completion_tokens": 4029},
     "max_completion_tokens", f"max_completion_tokens 4029 exceeds the maximum output of {SCOUT} (4028)"),
]


@pytest.mark.parametrize(("name", "body", "param", "message"), MAX_TOKENS_REFUSED,
                         ids=[c[0] for c in MAX_TOKENS_REFUSED])
async def test_max_tokens_errors_name_the_field_the_caller_sent(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    name: str, body: dict, param: str, message: str,
) -> None:
    for stream in (False, True):
        status, _, resp = await post(http, gateway, {**body, "stream": stream})
        assert status == 400, resp
        assert_error(resp, "invalid_request_error", "invalid_request", param)
        assert resp["error"]["message"] == message
    assert anthropic_emu.requests == [] and llama_emu.requests == []


async def test_pass_through_llama_model_gets_a_default_within_the_api_ceiling(
    gateway: Running, http: aiohttp.ClientSession, llama_emu: LlamaEmulator
) -> None:
    for stream in (False, True):
        async with http.post(f"{gateway.url}/v1/chat/completions",
                             json={**LLAMA, "model": SCOUT, "stream": stream}) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()
        sent = llama_emu.requests[-1].json
        assert sent["model"] == SCOUT and sent["max_completion_tokens"] == 4028


HAIKU_3 = "claude-3-haiku-20240307"  # not in the catalog (passed through); Anthropic caps its output at 4096
PROVIDER_FIELD_400 = [
    ("anthropic max_tokens", "anthropic", {**CLAUDE, "model": HAIKU_3, "max_tokens": 5000}, None, "max_tokens",
     f"Anthropic rejected the request: max_tokens: 5000 > 4096, which is the maximum allowed number of output "
     f"tokens for {HAIKU_3}"),
    ("anthropic max_completion_tokens", "anthropic", {**CLAUDE, "model": HAIKU_3, "max_completion_tokens": 5000},
     None, "max_completion_tokens",
     f"Anthropic rejected the request: max_tokens: 5000 > 4096, which is the maximum allowed number of output "
     f"tokens for {HAIKU_3}"),
    ("llama max_tokens", "meta_llama", {**LLAMA, "max_tokens": 100},
     "max_completion_tokens: must be an integer between 1 and 4028", "max_tokens",
     "Meta Llama API rejected the request: max_completion_tokens: must be an integer between 1 and 4028"),
    ("llama max_completion_tokens", "meta_llama", {**LLAMA, "max_completion_tokens": 100},
     "max_completion_tokens: must be an integer between 1 and 4028", "max_completion_tokens",
     "Meta Llama API rejected the request: max_completion_tokens: must be an integer between 1 and 4028"),
    ("llama default", "meta_llama", LLAMA,  # the gateway's default: the setting to change is still max_tokens
     "max_completion_tokens: must be an integer between 1 and 4028", "max_tokens",
     "Meta Llama API rejected the request: max_completion_tokens: must be an integer between 1 and 4028"),
    ("llama other field", "meta_llama", LLAMA, "messages.0: something is off", None,
     "Meta Llama API rejected the request: messages.0: something is off"),
]


@pytest.mark.parametrize(("name", "provider", "body", "fault_message", "param", "message"), PROVIDER_FIELD_400,
                         ids=[c[0] for c in PROVIDER_FIELD_400])
async def test_a_provider_400_about_a_field_names_the_callers_field(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    name: str, provider: str, body: dict, fault_message: str | None, param: str | None, message: str,
) -> None:
    emu = anthropic_emu if provider == "anthropic" else llama_emu
    for stream in (False, True):
        if fault_message is not None:  # the emulator's own validation, or the Llama API's message, scripted
            emu.enqueue(Fault(status=400, message=fault_message))
        status, _, resp = await post(http, gateway, {**body, "stream": stream})
        assert status == 400, resp
        assert_error(resp, "invalid_request_error", "invalid_request", param)
        assert resp["error"]["message"] == message
    assert len(emu.requests) == 2  # one call each, never retried


async def test_invalid_tool_schema_is_422(gateway: Running, http: aiohttp.ClientSession) -> None:
    status, _, resp = await post(http, gateway, {**CLAUDE, "tools": [
        {"type": "function", "function": {"name": "has spaces", "parameters": {"type": "object"}}}]})
    assert status == 422
    assert_error(resp, "invalid_request_error", "invalid_tool_schema", "tools[0].function.name")


async def test_oversized_body_is_413(gateway: Running, http: aiohttp.ClientSession) -> None:
    big = {**CLAUDE, "messages": [{"role": "user", "content": "x" * (300 * 1024)}]}
    status, _, resp = await post(http, gateway, big)
    assert status == 413
    assert_error(resp, "invalid_request_error", "request_too_large")
    await assert_still_serving(http, gateway)


async def test_unknown_route_and_method(gateway: Running, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{gateway.url}/v1/nothing-here") as resp:
        assert resp.status == 404
        assert_error(await resp.json(), "invalid_request_error", "not_found")
    async with http.get(f"{gateway.url}/v1/chat/completions") as resp:
        assert resp.status == 405
        assert_error(await resp.json(), "invalid_request_error", "method_not_allowed")


async def test_many_bad_requests_concurrently_leave_the_server_healthy(
    gateway: Running, http: aiohttp.ClientSession
) -> None:
    results = await asyncio.gather(*[post_raw(http, gateway, b"{bad" * i, "application/json") for i in range(1, 60)])
    assert {r[0] for r in results} == {400}
    await assert_still_serving(http, gateway)


@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
async def test_connection_dropped_after_headers_is_502(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    provider: str,
) -> None:
    emu, body = (anthropic_emu, CLAUDE) if provider == "anthropic" else (llama_emu, LLAMA)
    emu.enqueue(*[Fault(drop_after=1) for _ in range(3)])  # headers and half a body, then the socket closes
    started = time.perf_counter()
    status, _, resp = await post(http, gateway, body)
    assert status == 502 and time.perf_counter() - started < 5
    assert_error(resp, "provider_error", "upstream_error")
    await assert_still_serving(http, gateway)


@pytest.mark.parametrize("raw", [b"data: {not json\n\n", b"event: message_start\ndata: [1, 2\n\n", b"\x00\xff garbage"],
                         ids=["bad-json", "truncated-json", "binary"])
@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
async def test_malformed_stream_before_any_chunk_is_an_ordinary_502(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    provider: str, raw: bytes,
) -> None:
    emu, body = (anthropic_emu, CLAUDE) if provider == "anthropic" else (llama_emu, LLAMA)
    emu.enqueue(Fault(body=raw, headers={"Content-Type": "text/event-stream"}))
    status, _, resp = await post(http, gateway, {**body, "stream": True})
    assert status == 502
    assert_error(resp, "provider_error", "upstream_error")
    await assert_still_serving(http, gateway)


async def test_slow_headers_within_the_timeout_still_answer(
    gateway: Running, http: aiohttp.ClientSession, llama_emu: LlamaEmulator
) -> None:
    llama_emu.enqueue(Fault(delay=0.5))  # the default timeout (5 s in these tests) is not reached
    status, _, resp = await post(http, gateway, LLAMA)
    assert status == 200 and len(llama_emu.requests) == 1
