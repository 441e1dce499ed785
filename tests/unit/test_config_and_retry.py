from __future__ import annotations

import asyncio

import pytest

from service import providers as registry
from service.config import ConfigError, Settings
from service.core import build_providers
from service.errors import GatewayError, from_rpc_status, scrub, to_rpc_status
from service.providers.http import HttpPool
from service.providers.retry import backoff, call_with_retries, parse_retry_after


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.grpc_port, s.http_port, s.bind_host, s.service_addr) == (50051, 8080, "127.0.0.1", "127.0.0.1:50051")
    urls = {spec.name: registry.configure(spec, s).base_url for spec in registry.specs()}
    assert urls == {"anthropic": "https://api.anthropic.com", "meta_llama": "https://api.llama.com/v1"}
    assert (s.upstream_timeout_s, s.upstream_max_retries, s.max_request_bytes) == (120.0, 2, 10485760)
    assert registry.key_for("anthropic", s) is None and registry.key_for("meta_llama", s) is None


def test_llama_key_alias_and_service_addr_follows_grpc_port() -> None:
    s = Settings.from_env({"LLAMA_API_KEY": "LLM|abc", "GRPC_PORT": "6000"})
    assert registry.key_for("meta_llama", s) == "LLM|abc" and s.service_addr == "127.0.0.1:6000"
    assert registry.key_for("meta_llama", Settings.from_env({"LLAMA_API_KEY": "a", "META_API_KEY": "b"})) == "b"
    assert "LLM|abc" not in repr(s)


@pytest.mark.parametrize(("env", "variable"), [
    ({"GRPC_PORT": "x"}, "GRPC_PORT"), ({"HTTP_PORT": "70000"}, "HTTP_PORT"),
    ({"UPSTREAM_TIMEOUT_S": "0"}, "UPSTREAM_TIMEOUT_S"), ({"UPSTREAM_MAX_RETRIES": "-1"}, "UPSTREAM_MAX_RETRIES"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ({"SERVICE_ADDR": "nohostport"}, "SERVICE_ADDR"), ({"MAX_REQUEST_BYTES": "12"}, "MAX_REQUEST_BYTES"),
])
def test_bad_values_name_the_variable(env: dict, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


@pytest.mark.parametrize("variable", ["ANTHROPIC_BASE_URL", "META_API_BASE_URL"])
def test_a_provider_base_url_that_is_not_http_is_refused_naming_its_variable(variable: str) -> None:
    settings = Settings.from_env({variable: "ftp://x"})
    with pytest.raises(ConfigError, match=f"{variable} must be an http\\(s\\) URL, got 'ftp://x'"):
        build_providers(settings, HttpPool())


def test_client_timeout_is_a_positive_number_of_seconds() -> None:
    assert Settings.from_env({}).client_timeout_s == 60.0
    assert Settings.from_env({"CLIENT_TIMEOUT_S": "2.5"}).client_timeout_s == 2.5
    for bad in ("0", "-1", "abc", "nan", "inf", "1e9"):
        with pytest.raises(ConfigError, match="CLIENT_TIMEOUT_S"):
            Settings.from_env({"CLIENT_TIMEOUT_S": bad})


def test_dotenv_file_is_read_and_environment_wins(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport HTTP_PORT=9999\nGRPC_PORT='7777'\n")
    monkeypatch.setenv("GRPC_PORT", "7000")
    monkeypatch.delenv("HTTP_PORT", raising=False)
    s = Settings.from_env(dotenv=env_file)
    assert (s.http_port, s.grpc_port) == (9999, 7000)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0") is None and parse_retry_after("120") is None and parse_retry_after("x") is None
    assert parse_retry_after("Wed, 25 Nov 2026 17:00:05 GMT", now=1795626000.0) == pytest.approx(5.0)
    assert backoff(0, "1.5") == 1.5
    assert backoff(0, None, rand=lambda: 0.0) == 0.5
    assert backoff(3, None, rand=lambda: 1.0) == pytest.approx(3.0)
    assert backoff(10, None, rand=lambda: 0.0) == 8.0


async def test_retries_retryable_codes_then_succeeds() -> None:
    calls = []

    async def attempt(remaining: float) -> str:
        calls.append(remaining)
        if len(calls) < 3:
            raise GatewayError("provider_overloaded", "busy", retry_after="0.01", retryable=True)
        return "ok"

    deadline = asyncio.get_running_loop().time() + 5
    assert await call_with_retries(attempt, max_retries=2, deadline=deadline, provider="anthropic") == "ok"
    assert len(calls) == 3


@pytest.mark.parametrize("code", ["invalid_request", "invalid_api_key", "model_not_found", "permission_denied"])
async def test_never_retries_client_errors(code: str) -> None:
    calls = 0

    async def attempt(remaining: float) -> None:
        nonlocal calls
        calls += 1
        raise GatewayError(code, "no")

    with pytest.raises(GatewayError):
        await call_with_retries(attempt, max_retries=5, deadline=asyncio.get_running_loop().time() + 5,
                                provider="anthropic")
    assert calls == 1


async def test_gives_up_rather_than_sleep_past_the_deadline() -> None:
    calls = 0

    async def attempt(remaining: float) -> None:
        nonlocal calls
        calls += 1
        raise GatewayError("rate_limited", "slow down", retry_after="30", retryable=True)

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(GatewayError) as info:
        await call_with_retries(attempt, max_retries=2, deadline=started + 1, provider="anthropic")
    assert info.value.code == "rate_limited" and calls == 1 and loop.time() - started < 0.5


def test_rpc_status_round_trip_and_scrub() -> None:
    import grpc

    err = GatewayError("rate_limited", "slow", param="model", retry_after="3")
    back = from_rpc_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow", to_rpc_status(err))
    assert (back.code, back.message, back.param, back.retry_after) == ("rate_limited", "slow", "model", "3")
    assert from_rpc_status(grpc.StatusCode.UNAVAILABLE, "x", None).code == "service_unavailable"
    text = "key sk-ant-test-abcdefghijklmnop and LLM|123|secret and Bearer abc.def and mykey123"
    cleaned = scrub(text, "mykey123")
    assert "sk-ant" not in cleaned and "LLM|" not in cleaned and "abc.def" not in cleaned and "mykey123" not in cleaned


def test_a_transport_resource_exhausted_is_request_too_large_not_rate_limited() -> None:
    import grpc

    from bridge.client import _error

    # what grpc core answers a message over the server's receive limit: the code alone, no ErrorInfo
    exc = grpc.aio.AioRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.aio.Metadata(), grpc.aio.Metadata(),
                               details="Received message larger than max (300000 vs. 263168)")
    err = _error(exc)
    assert (err.code, err.kind.http_status) == ("request_too_large", 413)
    # the service's own rate_limited travels with its ErrorInfo and stays a 429
    status = to_rpc_status(GatewayError("rate_limited", "slow down", retry_after="3"))
    exc = grpc.aio.AioRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.aio.Metadata(), grpc.aio.Metadata(
        ("grpc-status-details-bin", status.SerializeToString())), details="slow down")
    assert _error(exc).code == "rate_limited"
