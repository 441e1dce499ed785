"""Meta Llama API adapter: native `POST {META_API_BASE_URL}/chat/completions`.

Plain HTTP on the process's shared aiohttp pool: the official `llama-api-client`
SDK costs ~0.9 ms more per call (httpx + pydantic) for the same JSON on the wire
(bench/README.md). Retries run in the shared deadline-aware loop.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson
from ainative.chat.v1 import chat_pb2 as pb

from service.config import Settings
from service.providers import classify, http
from service.providers.base import Capabilities, UpstreamCall
from service.providers.meta_llama.translate import (
    LlamaStreamTranslator,
    from_llama_response,
    to_llama_request,
)
from service.providers.retry import call_with_retries

NAME = "meta_llama"


class MetaLlamaProvider:
    name = NAME
    # the native API has no stop sequences and no parallel_tool_calls switch
    capabilities = Capabilities(parallel_tool_calls=False, stop_sequences=False)

    def __init__(self, settings: Settings, pool: http.HttpPool):
        self._settings = settings
        self._pool = pool
        self._url = settings.meta_api_base_url + "/chat/completions"

    def _headers(self, call: UpstreamCall, stream: bool) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {call.api_key}",
            "Content-Type": "application/json",
            # the Llama API answers stream:true without this Accept with a 400 (reference pitfall 19)
            "Accept": "text/event-stream" if stream else "application/json",
        }

    async def complete(self, call: UpstreamCall) -> pb.ChatCompletion:
        payload = orjson.dumps(to_llama_request(call.request, call.model_id, call.max_tokens))
        headers = self._headers(call, stream=False)
        cap = self._settings.upstream_timeout_s

        async def attempt(remaining: float) -> pb.ChatCompletion:
            resp = await http.send(self._pool, call, NAME, self._url, payload, headers,
                                   http.request_limits(min(remaining, cap), stream=False), "x-request-id")
            body = await http.read_json(call, NAME, resp)
            try:
                return from_llama_response(body)
            except (AttributeError, TypeError):
                raise classify.bad_response(NAME) from None

        return await call_with_retries(
            attempt, max_retries=self._settings.upstream_max_retries, deadline=call.deadline, provider=NAME
        )

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        payload = orjson.dumps(to_llama_request(call.request, call.model_id, call.max_tokens, stream=True))
        headers = self._headers(call, stream=True)
        cap = self._settings.upstream_timeout_s

        async def attempt(remaining: float) -> http.aiohttp.ClientResponse:
            return await http.send(self._pool, call, NAME, self._url, payload, headers,
                                   http.request_limits(min(remaining, cap), stream=True), "x-request-id")

        # retried only while opening: once a byte has gone to the client there is no going back
        resp = await call_with_retries(
            attempt, max_retries=self._settings.upstream_max_retries, deadline=call.deadline, provider=NAME
        )
        async for chunk in http.translate_stream(call, NAME, resp, LlamaStreamTranslator()):
            yield chunk

    async def aclose(self) -> None:
        """The pool belongs to the registry that built it."""
