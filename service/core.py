"""The gateway's logic, transport-free: protobuf in, protobuf out.

Both edges call this: the gRPC servicer, and the REST bridge directly when it
runs in the same process (no socket in between, SPEC §8).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

from ainative.chat.v1 import chat_pb2 as pb

from service.config import KEY_VARIABLE, Settings
from service.errors import GatewayError, invalid
from service.models import list_models, resolve_model
from service.providers.base import Provider, UpstreamCall
from service.tools.catalog import ToolCatalog
from service.validate import validate_request

# Slack for retry back-off sleeps when no caller deadline bounds the call.
_BACKOFF_ALLOWANCE_S = 30.0


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the edge learned about a call besides its request message."""

    request_id: str
    provider_key: str | None = None  # the caller's own provider key (BYOK), this call only
    timeout: float | None = None  # seconds left before the caller's deadline


def new_request_id() -> str:
    return uuid.uuid4().hex


class ChatCore:
    def __init__(self, settings: Settings, providers: Mapping[str, Provider], catalog: ToolCatalog):
        self._settings = settings
        self._providers = providers
        self._catalog = catalog

    def _deadline(self, ctx: CallContext) -> float:
        now = asyncio.get_running_loop().time()
        if ctx.timeout is not None:
            return now + ctx.timeout
        s = self._settings
        return now + s.upstream_timeout_s * (s.upstream_max_retries + 1) + _BACKOFF_ALLOWANCE_S

    def _prepare(self, req: pb.CreateChatCompletionRequest, ctx: CallContext) -> tuple[Provider, UpstreamCall]:
        if not req.model:
            raise invalid("model is required", "model")
        spec = resolve_model(req.provider, req.model)
        self._catalog.expand(req)
        max_tokens = validate_request(req, spec)
        provider = self._providers[spec.provider]
        key = ctx.provider_key or self._settings.provider_key(spec.provider)
        if not key:
            raise GatewayError(
                "missing_api_key",
                f"No API key for provider {spec.provider}: set {KEY_VARIABLE[spec.provider]} on the server "
                "or send your own in the X-Provider-Key header",
            )
        call = UpstreamCall(
            request=req, model_id=spec.provider_model_id, max_tokens=max_tokens, api_key=key,
            deadline=self._deadline(ctx), request_id=ctx.request_id,
        )
        return provider, call

    async def stream(
        self, req: pb.CreateChatCompletionRequest, ctx: CallContext, include_usage: bool
    ) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        """The call as chunks; errors before the first chunk mean nothing was sent."""
        provider, call = self._prepare(req, ctx)
        chunk_id, created, usage = "chatcmpl-" + uuid.uuid4().hex, int(time.time()), pb.Usage()
        async for chunk in provider.stream(call):
            if not chunk.choices:  # the adapter's closing usage chunk
                usage = chunk.usage
                continue
            chunk.id, chunk.created, chunk.model, chunk.provider = chunk_id, created, req.model, provider.name
            yield chunk
        if include_usage:
            yield pb.ChatCompletionChunk(
                id=chunk_id, created=created, model=req.model, provider=provider.name, usage=usage,
                iterations=1, total_tokens_used=usage.total_tokens,
            )

    async def create(self, req: pb.CreateChatCompletionRequest, ctx: CallContext) -> pb.ChatCompletion:
        provider, call = self._prepare(req, ctx)
        completion = await provider.complete(call)
        completion.id = "chatcmpl-" + uuid.uuid4().hex
        completion.created = int(time.time())
        completion.model = req.model
        completion.provider = provider.name
        completion.iterations = 1
        completion.total_tokens_used = completion.usage.total_tokens
        return completion

    def list_models(self, req: pb.ListModelsRequest) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(models=[m.to_proto() for m in list_models(req.provider)])

    def list_tools(self, req: pb.ListToolsRequest) -> pb.ListToolsResponse:
        return self._catalog.to_proto(self._catalog.select(req.group, tuple(req.names)))

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


def build_providers(settings: Settings) -> dict[str, Provider]:
    """The provider registry: one line per provider."""
    from service.providers.anthropic.adapter import AnthropicProvider
    from service.providers.meta_llama.adapter import MetaLlamaProvider

    return {"anthropic": AnthropicProvider(settings), "meta_llama": MetaLlamaProvider(settings)}
