"""No object on a request's path prints a credential in its repr().

Redaction of text catches only key-shaped strings; a caller's own provider key (BYOK) need not look like
one, so the objects holding a key or an Authorization value must leave it out of their repr.
"""

from __future__ import annotations

import time

import jwt
from ainative.chat.v1 import chat_pb2 as pb

from service.config import Settings
from service.context import CallContext, CallStats
from service.core import build_providers
from service.providers import classify
from service.providers.anthropic.sdk_shape import probe
from service.providers.base import UpstreamCall
from service.providers.http import Endpoint, HttpPool

PLAIN_KEY = "my-plain-secret"  # a BYOK key that looks like no known key format
SERVER_KEYS = ("server-plain-anthropic-secret", "server-plain-llama-secret")
TOKEN = jwt.encode({"sub": "user-1", "exp": int(time.time()) + 600}, "k" * 32, algorithm="HS256")
AUTHORIZATION = f"Bearer {TOKEN}"
SECRETS = (PLAIN_KEY, TOKEN, *SERVER_KEYS)


def assert_no_secret(obj: object) -> None:
    text = repr(obj)
    for secret in SECRETS:
        assert secret not in text, f"{type(obj).__name__} prints a secret: {text}"


def request() -> pb.CreateChatCompletionRequest:
    return pb.CreateChatCompletionRequest(
        model="claude-sonnet-4-5",
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])])


def context() -> CallContext:
    return CallContext(request_id="r-1", provider_key=PLAIN_KEY, timeout=5.0, authorization=AUTHORIZATION,
                       stats=CallStats(user="user-1", provider="anthropic", model="claude-sonnet-4-5"))


def test_call_context_and_stats_leave_out_the_key_and_the_authorization() -> None:
    ctx = context()
    assert ctx.provider_key == PLAIN_KEY and ctx.authorization == AUTHORIZATION  # still there to use
    assert_no_secret(ctx)
    assert_no_secret(ctx.stats)
    assert "r-1" in repr(ctx) and "claude-sonnet-4-5" in repr(ctx)  # the rest still prints


def test_upstream_call_leaves_out_the_api_key() -> None:
    ctx = context()
    call = UpstreamCall(request=request(), model_id="claude-sonnet-4-5-20250929", max_tokens=100,
                        api_key=PLAIN_KEY, deadline=0.0, request_id=ctx.request_id)
    assert call.api_key == PLAIN_KEY
    assert_no_secret(call)
    assert "claude-sonnet-4-5-20250929" in repr(call)


def test_endpoint_prints_no_credentials_of_its_url() -> None:
    endpoint = Endpoint("anthropic", f"https://proxy-user:{PLAIN_KEY}@proxy.test/v1/messages?key={PLAIN_KEY}",
                        "request-id", HttpPool(), 5.0, 2)
    assert_no_secret(endpoint)
    assert "proxy.test" in repr(endpoint) and "/v1/messages" in repr(endpoint)


def test_providers_settings_and_the_pool_print_no_key() -> None:
    settings = Settings(provider_env={"ANTHROPIC_API_KEY": SERVER_KEYS[0], "META_API_KEY": SERVER_KEYS[1]},
                        jwt_secret="k" * 32, database_url=f"postgresql://u:{PLAIN_KEY}@db/x")
    pool = HttpPool()
    providers = build_providers(settings, pool)
    for obj in (settings, pool, probe(), *providers.values()):
        assert_no_secret(obj)
    for provider in providers.values():
        assert_no_secret(provider._endpoint)  # type: ignore[attr-defined]


def test_errors_about_a_rejected_key_do_not_echo_it() -> None:
    # a provider's 401 that quotes the key back
    err = classify.classify_status("anthropic", 401, {"error": {"message": f"invalid x-api-key {PLAIN_KEY}"}},
                                   model="claude-sonnet-4-5", retry_after=None, api_key=PLAIN_KEY)
    assert_no_secret(err)
    assert PLAIN_KEY not in err.message

