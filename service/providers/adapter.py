"""The adapter every JSON-over-HTTP provider is: a provider module says only what differs.

`JsonHttpProvider` sends the bytes of its provider's pure `translate` functions through the shared transport
(service/providers/http.py: one pool, retries within the deadline, timing, failures classified once), turns
a provider 400 about its output-cap field into one naming the caller's field, and converts a large request
off the event loop. A provider subclass gives its request builder, response parser and stream translator,
and overrides the URL or headers where its API wants something else than `POST {base}/chat/completions`
with a bearer key.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
from ainative.chat.v1 import chat_pb2 as pb

from service import offload
from service.errors import GatewayError
from service.providers import http
from service.providers.base import Result, StreamEvent, UpstreamCall
from service.providers.classify import name_field
from service.providers.spec import ProviderSettings, ProviderSpec
from service.validate import max_tokens_param


class JsonHttpProvider:
    path = "/chat/completions"  # under the provider's base URL

    def __init__(self, spec: ProviderSpec, settings: ProviderSettings, pool: http.HttpPool):
        self.spec = spec
        self._endpoint = self.endpoint(spec, settings, pool)

    def endpoint(self, spec: ProviderSpec, settings: ProviderSettings, pool: http.HttpPool) -> http.Endpoint:
        return http.Endpoint.of(spec, settings, pool, self.path)

    def headers(self, call: UpstreamCall, stream: bool) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {call.api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }

    def to_request(self, call: UpstreamCall, stream: bool) -> dict[str, Any]:
        """The provider's request body (a pure translation of `call.request`)."""
        raise NotImplementedError

    def parse(self, body: Any) -> pb.ChatCompletion:
        """The provider's JSON answer as a completion (choices and usage)."""
        raise NotImplementedError

    def stream_translator(self) -> http.StreamTranslator:
        """A fresh state machine for one of the provider's SSE streams."""
        raise NotImplementedError

    def _payload(self, call: UpstreamCall, stream: bool) -> bytes:
        return orjson.dumps(self.to_request(call, stream))

    async def _encode(self, call: UpstreamCall, stream: bool) -> bytes:
        # a large request's conversion would hold the event loop for long: done off it (service.offload)
        if offload.is_large(call.request_bytes):
            return await offload.run(self._payload, call, stream)
        return self._payload(call, stream)

    def _named(self, err: GatewayError, call: UpstreamCall) -> GatewayError:
        # the provider's 400 about its output cap ("max_tokens: 5000 > 4096, ...") is about the cap the caller
        # set under either name (or left to us)
        return name_field(err, {self.spec.max_tokens_field: max_tokens_param(call.request)})

    async def complete(self, call: UpstreamCall) -> Result:
        payload = await self._encode(call, False)
        try:
            return await http.complete(self._endpoint, call, payload, self.headers(call, False), self.parse)
        except GatewayError as err:
            raise self._named(err, call) from None

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[StreamEvent, None]:
        payload = await self._encode(call, True)
        try:
            resp = await http.open_stream(self._endpoint, call, payload, self.headers(call, True))
        except GatewayError as err:
            raise self._named(err, call) from None
        async for event in http.translate_stream(call, self.spec.name, resp, self.stream_translator()):
            yield event

    async def aclose(self) -> None:
        """The pool belongs to the core that built it."""
