"""Anthropic adapter: requests built by the official SDK, sent on the process's aiohttp pool.

The `anthropic` SDK decides what a request to the Messages API looks like — base
URL resolution, the auth header for a key, `anthropic-version`, its client
headers — and we take those from it. The bytes then go over the shared aiohttp
pool: measured against the same emulator, the SDK's own httpx transport costs
0.4–0.7 ms more per call than aiohttp, more than our whole latency budget
(bench/README.md). Responses are parsed once, by orjson, straight into our proto.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anthropic
import orjson
from ainative.chat.v1 import chat_pb2 as pb

from service.config import Settings
from service.providers import classify, http
from service.providers.anthropic.translate import (
    AnthropicStreamTranslator,
    from_anthropic_response,
    to_anthropic_request,
)
from service.providers.base import Capabilities, UpstreamCall
from service.providers.retry import call_with_retries

NAME = "anthropic"
_UNSET_KEY = "unset"


class AnthropicProvider:
    name = NAME
    capabilities = Capabilities()

    def __init__(self, settings: Settings, pool: http.HttpPool):
        self._settings = settings
        self._pool = pool
        self._sdk = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key or _UNSET_KEY, base_url=settings.anthropic_base_url, max_retries=0
        )
        self._url = str(self._sdk.base_url).rstrip("/") + "/v1/messages"
        self._auth_names = tuple(self._sdk.auth_headers)
        self._default_key = settings.anthropic_api_key
        self._headers = {k: v for k, v in self._sdk.default_headers.items() if isinstance(v, str)}
        self._stream_headers = {**self._headers, "Accept": "text/event-stream"}

    def _headers_for(self, api_key: str, stream: bool) -> dict[str, str]:
        headers = self._stream_headers if stream else self._headers
        if api_key == self._default_key:
            return headers
        # the caller's own key, in whatever header form the SDK uses for keys
        base = {k: v for k, v in headers.items() if k not in self._auth_names}
        return {**base, **self._sdk.with_options(api_key=api_key).auth_headers}

    async def complete(self, call: UpstreamCall) -> pb.ChatCompletion:
        payload = orjson.dumps(to_anthropic_request(call.request, call.model_id, call.max_tokens))
        headers = self._headers_for(call.api_key, stream=False)
        cap = self._settings.upstream_timeout_s

        async def attempt(remaining: float) -> pb.ChatCompletion:
            resp = await http.send(self._pool, call, NAME, self._url, payload, headers,
                                   http.request_limits(min(remaining, cap), stream=False), "request-id")
            body = await http.read_json(call, NAME, resp)
            try:
                return from_anthropic_response(body)
            except (AttributeError, TypeError):
                raise classify.bad_response(NAME) from None

        return await call_with_retries(
            attempt, max_retries=self._settings.upstream_max_retries, deadline=call.deadline, provider=NAME
        )

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        payload = orjson.dumps(to_anthropic_request(call.request, call.model_id, call.max_tokens, stream=True))
        headers = self._headers_for(call.api_key, stream=True)
        cap = self._settings.upstream_timeout_s

        async def attempt(remaining: float) -> http.aiohttp.ClientResponse:
            return await http.send(self._pool, call, NAME, self._url, payload, headers,
                                   http.request_limits(min(remaining, cap), stream=True), "request-id")

        # retried only while opening: once a byte has gone to the client there is no going back
        resp = await call_with_retries(
            attempt, max_retries=self._settings.upstream_max_retries, deadline=call.deadline, provider=NAME
        )
        async for chunk in http.translate_stream(call, NAME, resp, AnthropicStreamTranslator()):
            yield chunk

    async def aclose(self) -> None:
        await self._sdk.close()
