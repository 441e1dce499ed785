"""Typed keys for the bridge's application and request state."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bridge.client import ChatClient
from service.config import Settings
from service.context import CallContext
from service.errors import GatewayError

SETTINGS = web.AppKey("settings", Settings)
CLIENT = web.AppKey("client", ChatClient)
STOPPING = web.AppKey("stopping", asyncio.Event)
OPENAPI = web.AppKey("openapi", bytes)  # the rendered /openapi.json  # set on shutdown: /readyz turns 503
# request-scoped values, set by the middleware and the handlers
CTX = web.RequestKey("ctx", CallContext)
STREAM_ERROR = web.RequestKey("stream_error", GatewayError)  # an error sent as an SSE event, mid-stream
STARTED = web.RequestKey("started", float)  # perf_counter() when the request arrived
