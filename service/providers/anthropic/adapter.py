"""Anthropic adapter: the official SDK's async client, one connection pool per process.

The SDK builds the request (auth header, `anthropic-version`, base URL); we call
its raw-response path (`client.post(..., cast_to=httpx.Response)`) so the body is
parsed once by orjson straight into our proto instead of through the SDK's
pydantic models, and retries run in our deadline-aware loop (`max_retries=0`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import httpx2
import orjson
from ainative.chat.v1 import chat_pb2 as pb

from service.config import Settings
from service.providers import chunks, classify
from service.providers.anthropic.translate import (
    AnthropicStreamTranslator,
    from_anthropic_response,
    to_anthropic_request,
)
from service.providers.base import Capabilities, UpstreamCall, timed
from service.providers.retry import call_with_retries
from service.providers.sse import SSEDecoder

NAME = "anthropic"


class AnthropicProvider:
    name = NAME
    capabilities = Capabilities()

    def __init__(self, settings: Settings):
        self._settings = settings
        self._default_key = settings.anthropic_api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key or "unset",
            base_url=settings.anthropic_base_url,
            max_retries=0,
            timeout=settings.upstream_timeout_s,
            http_client=httpx2.AsyncClient(
                transport=httpx2.AsyncHTTPTransport(
                    limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=200),
                    # small stream events must not wait for Nagle's algorithm
                    socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                ),
                timeout=settings.upstream_timeout_s,
            ),
        )

    def _client_for(self, api_key: str) -> anthropic.AsyncAnthropic:
        if api_key == self._default_key:
            return self._client
        # a per-request key: a shallow copy that shares the connection pool
        return self._client.with_options(api_key=api_key)

    async def _post(self, call: UpstreamCall, body: dict[str, Any], seconds: float,
                    stream: bool = False) -> httpx2.Response:
        """One attempt through the SDK, its failures classified once."""
        options: dict[str, Any] = {"timeout": seconds}
        if stream:
            # what the SDK's with_streaming_response sets: hand back the unread response
            options["headers"] = {"X-Stainless-Raw-Response": "stream", "Accept": "text/event-stream"}
        call.stats.attempts += 1
        started = time.perf_counter()
        try:
            response = await self._client_for(call.api_key).post(
                "/v1/messages", cast_to=httpx2.Response, body=body, options=options,  # type: ignore[call-overload]
            )
            call.stats.upstream_request_id = response.headers.get("request-id", "")
            return response
        except anthropic.APIStatusError as exc:
            call.stats.upstream_request_id = exc.response.headers.get("request-id", "")
            raise classify.classify_status(
                NAME, exc.status_code, exc.body if exc.body is not None else exc.response.content,
                model=call.request.model, retry_after=exc.response.headers.get("retry-after"),
                api_key=call.api_key,
            ) from None
        except anthropic.APITimeoutError:
            raise classify.timeout_error(NAME) from None
        except anthropic.APIConnectionError:
            raise classify.connection_error(NAME) from None
        finally:
            call.stats.upstream_s += time.perf_counter() - started

    async def complete(self, call: UpstreamCall) -> pb.ChatCompletion:
        body = to_anthropic_request(call.request, call.model_id, call.max_tokens)
        cap = self._settings.upstream_timeout_s

        async def attempt(remaining: float) -> pb.ChatCompletion:
            response = await self._post(call, body, min(remaining, cap))
            try:
                return from_anthropic_response(orjson.loads(response.content))
            except (orjson.JSONDecodeError, AttributeError, TypeError):
                raise classify.bad_response(NAME) from None

        return await call_with_retries(
            attempt, max_retries=self._settings.upstream_max_retries, deadline=call.deadline, provider=NAME
        )

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        body = to_anthropic_request(call.request, call.model_id, call.max_tokens, stream=True)
        cap = self._settings.upstream_timeout_s

        async def attempt(remaining: float) -> httpx2.Response:
            # the timeout bounds connecting and each read: an idle stream times out, a long one does not
            return await self._post(call, body, min(remaining, cap), stream=True)

        # retried only while opening: once a byte has gone to the client there is no going back
        response = await call_with_retries(
            attempt, max_retries=self._settings.upstream_max_retries, deadline=call.deadline, provider=NAME
        )
        decoder, translator = SSEDecoder(), AnthropicStreamTranslator()
        try:
            async for raw in timed(response.aiter_raw(), call.stats):
                for event, data in decoder.feed(raw):
                    for chunk in translator.feed(event, data):
                        yield chunk
                    if translator.error is not None:
                        raise classify.stream_error(NAME, translator.error, model=call.request.model,
                                                    api_key=call.api_key)
                    if translator.done:
                        yield chunks.usage_chunk(translator.usage())
                        return
        except httpx2.TimeoutException:
            raise classify.timeout_error(NAME) from None
        except httpx2.TransportError:
            raise classify.dropped_stream(NAME) from None
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise classify.bad_response(NAME) from None
        finally:
            await response.aclose()
        raise classify.dropped_stream(NAME)  # the stream ended before message_stop

    async def aclose(self) -> None:
        await self._client.close()
