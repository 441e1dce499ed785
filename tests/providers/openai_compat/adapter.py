"""OpenAI-compatible adapter: `POST {OPENAI_COMPAT_BASE_URL}/chat/completions` with a bearer key.

Built like the built-in adapters: bytes from the pure `translate` functions, sent through the shared
transport (service/providers/http.py), which retries, times and classifies; nothing here but the
provider's URL, headers and body.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson

from service import offload
from service.errors import GatewayError
from service.providers import http
from service.providers.base import Result, StreamEvent, UpstreamCall
from service.providers.classify import name_field
from service.providers.spec import ProviderSettings, ProviderSpec
from service.validate import max_tokens_param
from tests.providers.openai_compat.translate import (
    OpenAIStreamTranslator,
    from_openai_response,
    to_openai_request,
)


class OpenAICompatProvider:
    def __init__(self, spec: ProviderSpec, settings: ProviderSettings, pool: http.HttpPool):
        self.spec = spec
        self._endpoint = http.Endpoint.of(spec, settings, pool, "/chat/completions")

    def _headers(self, call: UpstreamCall, stream: bool) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {call.api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }

    async def complete(self, call: UpstreamCall) -> Result:
        # a large request's conversion would hold the event loop for long: done off it (service.offload)
        payload = (await offload.run(_payload, call, False) if offload.is_large(call.request_bytes)
                   else _payload(call, False))
        try:
            return await http.complete(self._endpoint, call, payload, self._headers(call, False),
                                       from_openai_response)
        except GatewayError as err:
            _named(err, call)
            raise

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[StreamEvent, None]:
        payload = (await offload.run(_payload, call, True) if offload.is_large(call.request_bytes)
                   else _payload(call, True))
        try:
            resp = await http.open_stream(self._endpoint, call, payload, self._headers(call, True))
        except GatewayError as err:
            _named(err, call)
            raise
        async for event in http.translate_stream(call, self.spec.name, resp, OpenAIStreamTranslator()):
            yield event

    async def aclose(self) -> None:
        """The pool belongs to the registry that built it."""


def _payload(call: UpstreamCall, stream: bool) -> bytes:
    return orjson.dumps(to_openai_request(call.request, call.model_id, call.max_tokens, stream=stream))


def _named(err: GatewayError, call: UpstreamCall) -> None:
    # a 400 about the provider's max_tokens is about the cap the caller set under either name (or left to us)
    name_field(err, {"max_tokens": max_tokens_param(call.request)})
