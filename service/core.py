"""The gateway's logic, transport-free: protobuf in, protobuf out.

Both edges call this: the gRPC servicer, and the REST bridge directly when it
runs in the same process (no socket in between: a loopback gRPC round trip
alone would cost most of the gateway's ~1 ms latency budget). Every call is
identified here (bearer JWT), and every call that reached a provider is
written to the usage ledger here, whichever edge it came through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncGenerator, Mapping

from ainative.chat.v1 import chat_pb2 as pb

from service import metrics
from service.auth import Authenticator
from service.config import KEY_VARIABLE, Settings
from service.context import CallContext
from service.errors import GatewayError, invalid
from service.ledger import Ledger, UsageRecord
from service.models import PROVIDERS, ModelSpec, find_model, list_models, resolve_model
from service.providers.base import Provider, UpstreamCall
from service.providers.http import HttpPool
from service.tools.catalog import ToolCatalog
from service.validate import validate_request, validate_text_fields

# Slack for retry back-off sleeps when no caller deadline bounds the call.
_BACKOFF_ALLOWANCE_S = 30.0


def _day(value: str, param: str) -> str:
    """A YYYY-MM-DD query date, or "" when absent."""
    if not value:
        return ""
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise invalid(f"{param} must be a date as YYYY-MM-DD", param)


class ChatCore:
    def __init__(self, settings: Settings, pool: HttpPool, providers: Mapping[str, Provider],
                 catalog: ToolCatalog, ledger: Ledger, auth: Authenticator):
        self._settings = settings
        self._pool = pool
        self._providers = providers
        self._catalog = catalog
        self._ledger = ledger
        self._auth = auth

    def identify(self, ctx: CallContext) -> str | None:
        ctx.stats.user = self._auth.identify(ctx.authorization)
        return ctx.stats.user

    def _deadline(self, ctx: CallContext) -> float:
        now = asyncio.get_running_loop().time()
        if ctx.timeout is not None:
            return now + ctx.timeout
        s = self._settings
        return now + s.upstream_timeout_s * (s.upstream_max_retries + 1) + _BACKOFF_ALLOWANCE_S

    def _prepare(
        self, req: pb.CreateChatCompletionRequest, ctx: CallContext
    ) -> tuple[Provider, ModelSpec, UpstreamCall]:
        self.identify(ctx)
        if not req.model:
            raise invalid("model is required", "model")
        validate_text_fields(req)  # before the model is resolved, logged or recorded
        spec = resolve_model(req.provider, req.model)
        ctx.stats.provider, ctx.stats.model = spec.provider, req.model
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
            deadline=self._deadline(ctx), request_id=ctx.request_id, stats=ctx.stats,
        )
        return provider, spec, call

    def _record(self, ctx: CallContext, spec: ModelSpec, started: float) -> None:
        """One ledger record and the call metrics, for a call that went to the provider."""
        s = ctx.stats
        if not s.attempts:
            return  # refused before any request left (e.g. a translation rule): nothing reached a provider
        usage = s.usage or pb.Usage()
        latency = time.perf_counter() - started
        cost = spec.cost(usage.prompt_tokens, usage.completion_tokens)  # None: no known price, never 0
        self._ledger.record(UsageRecord(
            request_id=ctx.request_id, user_id=s.user, provider=s.provider, model=s.model,
            iterations=s.iterations, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens, cost_usd=cost, status=s.status, latency_ms=latency * 1000,
            created_at=time.time(),
        ))
        # label by catalog model only: a client-chosen id must not mint unbounded metric series
        label = spec.id if spec.max_output_tokens is not None else "other"
        metrics.observe_call(s.provider, label, s.status, latency, s.upstream_s, usage)

    async def create(self, req: pb.CreateChatCompletionRequest, ctx: CallContext) -> pb.ChatCompletion:
        provider, spec, call = self._prepare(req, ctx)
        started = time.perf_counter()
        ctx.stats.iterations = 1
        try:
            completion = await provider.complete(call)
            ctx.stats.usage = completion.usage
        except GatewayError as err:
            ctx.stats.status = err.code
            raise
        except asyncio.CancelledError:
            ctx.stats.status = "cancelled"
            raise
        finally:
            self._record(ctx, spec, started)
        completion.id = "chatcmpl-" + uuid.uuid4().hex
        completion.created = int(time.time())
        completion.model = req.model
        completion.provider = provider.name
        completion.iterations = 1
        completion.total_tokens_used = completion.usage.total_tokens
        return completion

    async def stream(
        self, req: pb.CreateChatCompletionRequest, ctx: CallContext, include_usage: bool
    ) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        """The call as chunks; errors before the first chunk mean nothing was sent."""
        provider, spec, call = self._prepare(req, ctx)
        started = time.perf_counter()
        ctx.stats.iterations = 1
        chunk_id, created, usage = "chatcmpl-" + uuid.uuid4().hex, int(time.time()), pb.Usage()
        first = True
        try:
            async for chunk in provider.stream(call):
                if not chunk.choices:  # the adapter's closing usage chunk
                    usage = ctx.stats.usage = chunk.usage
                    continue
                if first:
                    first = False
                    metrics.child(metrics.STREAM_TTFT, provider.name).observe(time.perf_counter() - started)
                chunk.id, chunk.created, chunk.model, chunk.provider = chunk_id, created, req.model, provider.name
                yield chunk
        except GatewayError as err:
            ctx.stats.status = err.code
            raise
        except (asyncio.CancelledError, GeneratorExit):
            ctx.stats.status = "cancelled"
            raise
        finally:
            self._record(ctx, spec, started)
        if include_usage:
            yield pb.ChatCompletionChunk(
                id=chunk_id, created=created, model=req.model, provider=provider.name, usage=usage,
                iterations=1, total_tokens_used=usage.total_tokens,
            )

    async def usage(self, req: pb.GetUsageRequest, ctx: CallContext) -> pb.GetUsageResponse:
        user = self.identify(ctx)
        if user is None:
            raise GatewayError("missing_token", "Usage is per user: send a valid bearer JWT")
        from_day, to_day = _day(req.from_date, "from"), _day(req.to_date, "to")
        if from_day and to_day and from_day > to_day:
            raise invalid("from must not be after to", "from")
        return await self._ledger.report(user, from_day, to_day)

    def list_models(self, req: pb.ListModelsRequest, ctx: CallContext) -> pb.ListModelsResponse:
        self.identify(ctx)
        if req.provider and req.provider not in PROVIDERS:
            raise GatewayError("unsupported_provider", f"Unsupported provider: {req.provider}", param="provider")
        return pb.ListModelsResponse(models=[m.to_proto() for m in list_models(req.provider)])

    def get_model(self, req: pb.GetModelRequest, ctx: CallContext) -> pb.GetModelResponse:
        self.identify(ctx)
        if not req.model:
            raise invalid("model is required", "model")
        return pb.GetModelResponse(model=find_model(req.model).to_proto())

    def list_tools(self, req: pb.ListToolsRequest, ctx: CallContext) -> pb.ListToolsResponse:
        self.identify(ctx)
        return self._catalog.to_proto(self._catalog.select(req.group, tuple(req.names)))

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        await self._pool.close()


def build_providers(settings: Settings, pool: HttpPool) -> dict[str, Provider]:
    """The provider registry: one line per provider, all on one upstream connection pool."""
    from service.providers.anthropic.adapter import AnthropicProvider
    from service.providers.meta_llama.adapter import MetaLlamaProvider

    return {"anthropic": AnthropicProvider(settings, pool), "meta_llama": MetaLlamaProvider(settings, pool)}
