"""Anthropic adapter: requests shaped by the official SDK, sent on the process's aiohttp pool.

The `anthropic` SDK decides what a request to the Messages API looks like — base
URL resolution, the header that carries a key, `anthropic-version`, its client
headers — and we take those from it (`sdk_shape.py`). The bytes then go over the
shared aiohttp pool (service/providers/adapter.py): measured against the same emulator,
the SDK's own httpx transport costs 0.4–0.7 ms more per call than aiohttp, more than our
whole latency budget (bench/README.md). Responses are parsed once, by orjson, straight
into our proto.
"""

from __future__ import annotations

from typing import Any

from ainative.chat.v1 import chat_pb2 as pb

from service.providers import http
from service.providers.adapter import JsonHttpProvider
from service.providers.anthropic.sdk_shape import RequestShape, messages_url, probe
from service.providers.anthropic.translate import (
    AnthropicStreamTranslator,
    from_anthropic_response,
    to_anthropic_request,
)
from service.providers.base import UpstreamCall
from service.providers.spec import ProviderSettings, ProviderSpec


class AnthropicProvider(JsonHttpProvider):
    def __init__(self, spec: ProviderSpec, settings: ProviderSettings, pool: http.HttpPool,
                 shape: RequestShape | None = None):
        self._shape = shape or probe()
        super().__init__(spec, settings, pool)
        self._default_key = settings.api_key
        self._headers = self._shape.headers_for(settings.api_key or "")
        self._stream_headers = {**self._headers, "Accept": "text/event-stream"}

    def endpoint(self, spec: ProviderSpec, settings: ProviderSettings, pool: http.HttpPool) -> http.Endpoint:
        # the SDK's own URL resolution (a base URL with or without /v1)
        return http.Endpoint(spec.name, messages_url(settings.base_url), spec.request_id_header, pool,
                             settings.timeout_s, settings.max_retries)

    def headers(self, call: UpstreamCall, stream: bool) -> dict[str, str]:
        if call.api_key == self._default_key:
            return self._stream_headers if stream else self._headers
        headers = self._shape.headers_for(call.api_key)  # the caller's own key, in the SDK's header form
        return {**headers, "Accept": "text/event-stream"} if stream else headers

    def to_request(self, call: UpstreamCall, stream: bool) -> dict[str, Any]:
        return to_anthropic_request(call.request, call.model_id, call.max_tokens, stream=stream)

    def parse(self, body: Any) -> pb.ChatCompletion:
        return from_anthropic_response(body)

    def stream_translator(self) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator()
