"""Typed keys for the bridge's application and request state."""

from __future__ import annotations

from ainative.chat.v1 import chat_pb2 as pb
from aiohttp import web

from bridge.client import ChatClient
from service.config import Settings
from service.core import CallContext

SETTINGS = web.AppKey("settings", Settings)
CLIENT = web.AppKey("client", ChatClient)
# request-scoped values: the CallContext set by the middleware, and what the
# handler learned for the canonical log line
CTX = web.RequestKey("ctx", CallContext)
PROVIDER = web.RequestKey("provider", str)
MODEL = web.RequestKey("model", str)
USAGE = web.RequestKey("usage", pb.Usage)
STREAM_ERROR = web.RequestKey("stream_error", str)  # the code of an error sent as an SSE event
