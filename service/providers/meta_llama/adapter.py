"""Meta Llama API adapter: native `POST {META_API_BASE_URL}/chat/completions` with a bearer key.

Plain HTTP on the process's shared aiohttp pool (service/providers/adapter.py): the official
`llama-api-client` SDK costs ~0.9 ms more per call (httpx + pydantic) for the same JSON on the wire
(bench/README.md). The default headers are the API's: it answers stream:true without
`Accept: text/event-stream` with a 400 (docs/wire-formats.md §2.1).
"""

from __future__ import annotations

from typing import Any

from ainative.chat.v1 import chat_pb2 as pb

from service.providers.adapter import JsonHttpProvider
from service.providers.base import UpstreamCall
from service.providers.meta_llama.translate import LlamaStreamTranslator, from_llama_response, to_llama_request


class MetaLlamaProvider(JsonHttpProvider):
    def to_request(self, call: UpstreamCall, stream: bool) -> dict[str, Any]:
        return to_llama_request(call.request, call.model_id, call.max_tokens, stream=stream)

    def parse(self, body: Any) -> pb.ChatCompletion:
        return from_llama_response(body)

    def stream_translator(self) -> LlamaStreamTranslator:
        return LlamaStreamTranslator()
