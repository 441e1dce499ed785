"""Server-Sent Events framing for OpenAI-compatible streams: chunks, the error event, [DONE]."""

from __future__ import annotations

import orjson
from ainative.chat.v1 import chat_pb2 as pb
from aiohttp import web

from bridge.errors import error_body
from bridge.translate import chunk_to_json
from service.errors import GatewayError

DONE = b"data: [DONE]\n\n"
HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tell nginx-style proxies not to buffer the stream
}


def chunk_event(chunk: pb.ChatCompletionChunk) -> bytes:
    return b"data: " + orjson.dumps(chunk_to_json(chunk)) + b"\n\n"


def error_event(err: GatewayError) -> bytes:
    """After the 200 went out, an error is an event the OpenAI SDKs raise on; the stream then ends."""
    return b"data: " + orjson.dumps(error_body(err)) + b"\n\n"


def stream_response(request_id: str) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=HEADERS)
    response.headers["X-Request-Id"] = request_id
    return response
