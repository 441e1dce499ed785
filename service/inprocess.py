"""The bridge's in-process client: the REST bridge calling the core directly, in one process.

The one-process gateway (`service.gateway`) hands this to `bridge.app.create_app`. It calls the core
with protobuf messages, with no socket in between (a loopback gRPC round trip costs ~0.7 ms, more than
the gateway's whole latency budget). It implements the bridge's `ChatClient` protocol
(`bridge/client.py`) structurally and raises the core's `GatewayError`s as they are, so the bridge maps
errors the same way as with its gRPC client.

It lives beside the core rather than in `bridge/` so that a standalone bridge (`python -m bridge`, which
reaches the service over gRPC) never imports the core, the providers, the usage ledger, the limits or
auth.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from ainative.chat.v1 import chat_pb2 as pb

from service.context import CallContext
from service.core import ChatCore


class InProcessClient:
    def __init__(self, core: ChatCore):
        self._core = core

    async def create(self, req: pb.CreateChatCompletionRequest, ctx: CallContext) -> pb.ChatCompletion:
        return await self._core.create(req, ctx)

    def stream(
        self, req: pb.CreateChatCompletionRequest, ctx: CallContext, include_usage: bool
    ) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        return self._core.stream(req, ctx, include_usage)

    async def list_models(self, req: pb.ListModelsRequest, ctx: CallContext) -> pb.ListModelsResponse:
        return self._core.list_models(req, ctx)

    async def get_model(self, req: pb.GetModelRequest, ctx: CallContext) -> pb.GetModelResponse:
        return self._core.get_model(req, ctx)

    async def list_tools(self, req: pb.ListToolsRequest, ctx: CallContext) -> pb.ListToolsResponse:
        return self._core.list_tools(req, ctx)

    async def usage(self, req: pb.GetUsageRequest, ctx: CallContext) -> pb.GetUsageResponse:
        return await self._core.usage(req, ctx)

    async def limits(self, req: pb.GetLimitsRequest, ctx: CallContext) -> pb.GetLimitsResponse:
        return await self._core.limits(req, ctx)

    async def ready(self) -> bool:
        return True

    def limits_state(self) -> str | None:
        limiter = self._core.limiter
        if limiter is None or not limiter.enabled:
            return None
        return "ok" if limiter.healthy else "degraded"

    async def close(self) -> None:
        """The core belongs to whoever built it."""
