"""Anthropic adapter: requests shaped by the official SDK, sent on the process's aiohttp pool.

The `anthropic` SDK decides what a request to the Messages API looks like — base
URL resolution, the header that carries a key, `anthropic-version`, its client
headers — and we take those from it (`sdk_shape.py`). The bytes then go over the
shared aiohttp pool: measured against the same emulator, the SDK's own httpx
transport costs 0.4–0.7 ms more per call than aiohttp, more than our whole latency
budget (bench/README.md). Responses are parsed once, by orjson, straight into our proto.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson

from service import offload
from service.errors import GatewayError
from service.providers import http
from service.providers.anthropic.sdk_shape import RequestShape, messages_url, probe
from service.providers.anthropic.translate import (
    AnthropicStreamTranslator,
    from_anthropic_response,
    to_anthropic_request,
)
from service.providers.base import Result, StreamEvent, UpstreamCall
from service.providers.classify import name_field
from service.providers.spec import ProviderSettings, ProviderSpec
from service.validate import max_tokens_param


class AnthropicProvider:
    def __init__(self, spec: ProviderSpec, settings: ProviderSettings, pool: http.HttpPool,
                 shape: RequestShape | None = None):
        self.spec = spec
        self._shape = shape or probe()
        # the SDK's own URL resolution (a base URL with or without /v1)
        self._endpoint = http.Endpoint(spec.name, messages_url(settings.base_url), spec.request_id_header, pool,
                                       settings.timeout_s, settings.max_retries)
        self._default_key = settings.api_key
        self._headers = self._shape.headers_for(settings.api_key or "")
        self._stream_headers = {**self._headers, "Accept": "text/event-stream"}

    def _headers_for(self, api_key: str, stream: bool) -> dict[str, str]:
        if api_key == self._default_key:
            return self._stream_headers if stream else self._headers
        headers = self._shape.headers_for(api_key)  # the caller's own key, in the SDK's header form
        return {**headers, "Accept": "text/event-stream"} if stream else headers

    async def complete(self, call: UpstreamCall) -> Result:
        # a large request's conversion would hold the event loop for long: done off it (service.offload)
        payload = (await offload.run(_payload, call, False) if offload.is_large(call.request_bytes)
                   else _payload(call, False))
        try:
            return await http.complete(self._endpoint, call, payload,
                                       self._headers_for(call.api_key, stream=False), from_anthropic_response)
        except GatewayError as err:
            _named(err, call)
            raise

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[StreamEvent, None]:
        payload = (await offload.run(_payload, call, True) if offload.is_large(call.request_bytes)
                   else _payload(call, True))
        try:
            resp = await http.open_stream(self._endpoint, call, payload,
                                          self._headers_for(call.api_key, stream=True))
        except GatewayError as err:
            _named(err, call)
            raise
        async for event in http.translate_stream(call, self.spec.name, resp, AnthropicStreamTranslator()):
            yield event

    async def aclose(self) -> None:
        """The pool belongs to the registry that built it."""


def _payload(call: UpstreamCall, stream: bool) -> bytes:
    return orjson.dumps(to_anthropic_request(call.request, call.model_id, call.max_tokens, stream=stream))


def _named(err: GatewayError, call: UpstreamCall) -> None:
    # the API's 400 about its max_tokens ("max_tokens: 5000 > 4096, which is the maximum ...") is about
    # the cap the caller set under either name (or left to us)
    name_field(err, {"max_tokens": max_tokens_param(call.request)})
