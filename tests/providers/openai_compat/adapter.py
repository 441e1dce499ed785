"""OpenAI-compatible adapter: `POST {OPENAI_COMPAT_BASE_URL}/chat/completions` with a bearer key.

Built on the core's adapter shape (service/providers/adapter.py) like the built-in providers: it says
only how its requests, answers and streams translate.
"""

from __future__ import annotations

from typing import Any

from ainative.chat.v1 import chat_pb2 as pb

from service.providers.adapter import JsonHttpProvider
from service.providers.base import UpstreamCall
from tests.providers.openai_compat.translate import (
    OpenAIStreamTranslator,
    from_openai_response,
    to_openai_request,
)


class OpenAICompatProvider(JsonHttpProvider):
    def to_request(self, call: UpstreamCall, stream: bool) -> dict[str, Any]:
        return to_openai_request(call.request, call.model_id, call.max_tokens, stream=stream)

    def parse(self, body: Any) -> pb.ChatCompletion:
        return from_openai_response(body)

    def stream_translator(self) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator()
