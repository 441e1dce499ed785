"""Typed keys for the bridge's application and request state."""

from __future__ import annotations

from aiohttp import web

from bridge.client import ChatClient
from service.config import Settings

SETTINGS = web.AppKey("settings", Settings)
CLIENT = web.AppKey("client", ChatClient)
CTX = "gateway.ctx"  # request-scoped CallContext, set by the middleware
