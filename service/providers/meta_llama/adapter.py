"""Meta Llama API adapter: native `POST {META_API_BASE_URL}/chat/completions`.

Plain HTTP on the process's shared aiohttp pool: the official `llama-api-client`
SDK costs ~0.9 ms more per call (httpx + pydantic) for the same JSON on the wire
(bench/README.md). Retries run in the shared deadline-aware loop.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson

from service import offload
from service.errors import GatewayError
from service.providers import http
from service.providers.base import Result, StreamEvent, UpstreamCall
from service.providers.classify import name_field
from service.providers.meta_llama.translate import (
    LlamaStreamTranslator,
    from_llama_response,
    to_llama_request,
)
from service.providers.spec import ProviderSettings, ProviderSpec
from service.validate import max_tokens_param


class MetaLlamaProvider:
    def __init__(self, spec: ProviderSpec, settings: ProviderSettings, pool: http.HttpPool):
        self.spec = spec
        self._endpoint = http.Endpoint.of(spec, settings, pool, "/chat/completions")

    def _headers(self, call: UpstreamCall, stream: bool) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {call.api_key}",
            "Content-Type": "application/json",
            # the Llama API answers stream:true without this Accept with a 400 (docs/wire-formats.md §2.1)
            "Accept": "text/event-stream" if stream else "application/json",
        }

    async def complete(self, call: UpstreamCall) -> Result:
        # a large request's conversion would hold the event loop for long: done off it (service.offload)
        payload = (await offload.run(_payload, call, False) if offload.is_large(call.request_bytes)
                   else _payload(call, False))
        try:
            return await http.complete(self._endpoint, call, payload, self._headers(call, False),
                                       from_llama_response)
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
        async for event in http.translate_stream(call, self.spec.name, resp, LlamaStreamTranslator()):
            yield event

    async def aclose(self) -> None:
        """The pool belongs to the registry that built it."""


def _payload(call: UpstreamCall, stream: bool) -> bytes:
    return orjson.dumps(to_llama_request(call.request, call.model_id, call.max_tokens, stream=stream))


def _named(err: GatewayError, call: UpstreamCall) -> None:
    # the API's 400 about its max_completion_tokens is about the cap the caller set (or left to us)
    name_field(err, {"max_completion_tokens": max_tokens_param(call.request)})
