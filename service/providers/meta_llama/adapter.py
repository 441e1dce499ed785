"""Meta Llama API adapter: native `POST {META_API_BASE_URL}/chat/completions`.

Plain HTTP over one shared aiohttp connection pool (the official
`llama-api-client` SDK adds an httpx client and pydantic parsing per call for no
gain in fidelity: the body is the same JSON; see bench/README.md for the
measurement). Retries run in the shared deadline-aware loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson
from ainative.chat.v1 import chat_pb2 as pb

from service.config import Settings
from service.providers import chunks, classify
from service.providers.base import Capabilities, UpstreamCall, timed
from service.providers.meta_llama.translate import (
    LlamaStreamTranslator,
    from_llama_response,
    to_llama_request,
)
from service.providers.retry import call_with_retries
from service.providers.sse import SSEDecoder

NAME = "meta_llama"


class MetaLlamaProvider:
    name = NAME
    # the native API has no stop sequences and no parallel_tool_calls switch
    capabilities = Capabilities(parallel_tool_calls=False, stop_sequences=False)

    def __init__(self, settings: Settings):
        self._settings = settings
        self._url = settings.meta_api_base_url + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    def _pool(self) -> aiohttp.ClientSession:
        # created lazily: an aiohttp session belongs to the running event loop
        if self._session is None:
            # aiohttp sets TCP_NODELAY on every connection it makes
            connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))
        return self._session

    async def _open(self, call: UpstreamCall, payload: bytes, stream: bool,
                    limits: aiohttp.ClientTimeout) -> aiohttp.ClientResponse:
        """Send one attempt and return the response once its status is a success."""
        headers = {
            "Authorization": f"Bearer {call.api_key}",
            "Content-Type": "application/json",
            # the Llama API answers stream:true without this Accept with a 400 (reference pitfall 19)
            "Accept": "text/event-stream" if stream else "application/json",
        }
        call.stats.attempts += 1
        started = time.perf_counter()
        try:
            resp = await self._pool().post(self._url, data=payload, headers=headers, timeout=limits)
            call.stats.upstream_request_id = resp.headers.get("x-request-id", "")
            if resp.status < 400:
                return resp
            async with resp:
                raw = await resp.read()
        except TimeoutError:
            raise classify.timeout_error(NAME) from None
        except aiohttp.ClientError:
            raise classify.connection_error(NAME) from None
        finally:
            call.stats.upstream_s += time.perf_counter() - started
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw
        raise classify.classify_status(NAME, resp.status, body, model=call.request.model,
                                       retry_after=resp.headers.get("Retry-After"), api_key=call.api_key)

    async def complete(self, call: UpstreamCall) -> pb.ChatCompletion:
        payload = orjson.dumps(to_llama_request(call.request, call.model_id, call.max_tokens))
        cap = self._settings.upstream_timeout_s

        async def attempt(remaining: float) -> pb.ChatCompletion:
            timeout = aiohttp.ClientTimeout(total=min(remaining, cap))
            resp = await self._open(call, payload, False, timeout)
            started = time.perf_counter()
            try:
                async with resp:
                    raw = await resp.read()
            except TimeoutError:
                raise classify.timeout_error(NAME) from None
            except aiohttp.ClientError:
                raise classify.connection_error(NAME) from None
            finally:
                call.stats.upstream_s += time.perf_counter() - started
            try:
                return from_llama_response(orjson.loads(raw))
            except (orjson.JSONDecodeError, AttributeError, TypeError):
                raise classify.bad_response(NAME) from None

        return await call_with_retries(
            attempt, max_retries=self._settings.upstream_max_retries, deadline=call.deadline, provider=NAME
        )

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        payload = orjson.dumps(to_llama_request(call.request, call.model_id, call.max_tokens, stream=True))
        cap = self._settings.upstream_timeout_s

        async def attempt(remaining: float) -> aiohttp.ClientResponse:
            # bound connecting and each read: an idle stream times out, a long one does not
            seconds = min(remaining, cap)
            return await self._open(call, payload, True, aiohttp.ClientTimeout(sock_connect=seconds, sock_read=seconds))

        # retried only while opening: once a byte has gone to the client there is no going back
        resp = await call_with_retries(
            attempt, max_retries=self._settings.upstream_max_retries, deadline=call.deadline, provider=NAME
        )
        decoder, translator = SSEDecoder(), LlamaStreamTranslator()
        try:
            async for raw in timed(resp.content.iter_any(), call.stats):
                for event, data in decoder.feed(raw):
                    for chunk in translator.feed(event, data):
                        yield chunk
                    if translator.error is not None:
                        raise classify.stream_error(NAME, translator.error, model=call.request.model,
                                                    api_key=call.api_key)
            for event, data in decoder.close():
                for chunk in translator.feed(event, data):
                    yield chunk
        except TimeoutError:
            raise classify.timeout_error(NAME) from None
        except aiohttp.ClientError:
            raise classify.dropped_stream(NAME) from None
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise classify.bad_response(NAME) from None
        finally:
            resp.close()  # close, not release: an unfinished stream must not go back to the pool
        if translator.error is not None:
            raise classify.stream_error(NAME, translator.error, model=call.request.model, api_key=call.api_key)
        if not translator.done:
            raise classify.dropped_stream(NAME)  # ended before the `complete` event
        yield chunks.usage_chunk(translator.usage())

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

