"""The gateway's logic, transport-free: protobuf in, protobuf out.

Both edges call this: the gRPC servicer, and the REST bridge directly when it
runs in the same process (no socket in between: a loopback gRPC round trip
alone would cost most of the gateway's ~1 ms latency budget). Every call is
identified here (bearer JWT), checked against the caller's limits here (before
any provider call), and every call that reached a provider is written to the
usage ledger and charged to the caller's limits here, whichever edge it came through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
import uuid
from collections.abc import AsyncGenerator, Mapping

from ainative.chat.v1 import chat_pb2 as pb

from service import metrics, offload
from service import providers as registry
from service.auth import Authenticator
from service.config import Settings
from service.context import CallContext
from service.errors import GatewayError, invalid
from service.ledger import Ledger, UsageRecord
from service.limits import BUDGET_EXCEEDED, TOO_MANY_CONCURRENT, Admission, Decision, Limiter, LimitsStatus
from service.models import ModelSpec, find_model, list_models, resolve_model
from service.providers.base import Delta, Provider, Upstream, UpstreamCall
from service.providers.http import HttpPool
from service.providers.spec import ProviderSpec
from service.tools.catalog import ToolCatalog
from service.validate import (
    begin_validation,
    check_tool_count,
    drop_unsupported,
    validate_request,
    validate_text_fields,
)

# Slack for retry back-off sleeps when no caller deadline bounds the call.
_BACKOFF_ALLOWANCE_S = 30.0
# Tool schemas never seen before are checked against the metaschema off the event loop when they add up to
# more than this (~3 ms of checking per KiB; a verdict is cached, so an agent loop pays once).
INLINE_CHECK_BYTES = 1024


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
                 catalog: ToolCatalog, ledger: Ledger, auth: Authenticator, limiter: Limiter | None = None):
        self._settings = settings
        self.limiter = limiter  # None: no limits engine at all (tests that build a core by hand)
        self._pool = pool
        self._providers = providers
        # the server-side key of each provider (a request may bring its own instead)
        self._keys = {name: registry.key_for(name, settings) for name in providers}
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

    async def _prepare(
        self, req: pb.CreateChatCompletionRequest, ctx: CallContext
    ) -> tuple[Provider, ModelSpec, UpstreamCall, Admission | None]:
        self.identify(ctx)
        validate_text_fields(req)  # model required, and text every store can hold: before anything reads it
        spec = resolve_model(req.provider, req.model)
        ctx.stats.provider, ctx.stats.model = spec.provider, req.model
        check_tool_count(req)  # catalog names count: refused before they are expanded
        self._catalog.expand(req)
        provider = self._providers[spec.provider]
        if req.drop_params or self._settings.drop_unsupported_params:
            ctx.stats.dropped_params += drop_unsupported(req, provider.spec.capabilities)
        max_tokens = await _validate(req, spec, provider.spec, ctx)
        key = ctx.provider_key or self._keys.get(spec.provider)
        if not key:
            raise GatewayError(
                "missing_api_key",
                f"No API key for provider {spec.provider}: set {provider.spec.key_variables[0]} on the server "
                "or send your own in the X-Provider-Key header",
            )
        call = UpstreamCall(
            request=req, model_id=spec.provider_model_id, max_tokens=max_tokens, api_key=key,
            deadline=self._deadline(ctx), request_id=ctx.request_id, request_bytes=ctx.stats.request_bytes,
        )
        limiter = self.limiter
        admission = None
        if limiter is not None and limiter.enabled:  # the hot path without limits: this check only
            admission = await self._admit(limiter, ctx)
        return provider, spec, call, admission

    async def _admit(self, limiter: Limiter, ctx: CallContext) -> Admission | None:
        """Admit the call under its caller's limits, or refuse it (a 429 GatewayError) before any provider call."""
        decision, admission = await limiter.admit(ctx.stats.user, own_key=ctx.provider_key is not None)
        ctx.stats.limit_headers = decision.headers
        if admission is None:
            raise refusal(decision)
        return admission

    async def limits(self, req: pb.GetLimitsRequest, ctx: CallContext) -> pb.GetLimitsResponse:
        """The caller's limits and where it stands (GET /v1/limits, GetLimits); every limit unset without
        a limits engine."""
        user = self.identify(ctx)
        status = await self.limiter.status(user) if self.limiter is not None else LimitsStatus()
        return limits_to_proto(user, status)

    def _record(self, ctx: CallContext, spec: ModelSpec, started: float, usage: pb.Usage | None,
                upstream: Upstream) -> tuple[int, float | None]:
        """One ledger record and the call metrics, for a call that went to the provider. Returns what it
        used: (total tokens, estimated cost in USD or None when unpriced)."""
        s = ctx.stats
        # what the edges log and report: the provider's side of the call, as the transport recorded it
        s.attempts, s.upstream_s, s.upstream_request_id = upstream.attempts, upstream.seconds, upstream.request_id
        s.upstream_url, s.upstream_cause = upstream.failed_url, upstream.failure
        s.usage = usage
        if not upstream.attempts:
            return 0, None  # refused before any request left (e.g. a translation rule): nothing reached a provider
        usage = usage or pb.Usage()
        latency = time.perf_counter() - started
        cost = spec.cost(usage.prompt_tokens, usage.completion_tokens)  # None: no known price, never 0
        self._ledger.record(UsageRecord(
            request_id=ctx.request_id, user_id=s.user, provider=s.provider, model=s.model,
            iterations=s.iterations, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens, cost_usd=cost, status=s.status, latency_ms=latency * 1000,
            created_at=time.time(), own_key=ctx.provider_key is not None,
        ))
        # label by catalog model only: a client-chosen id must not mint unbounded metric series
        label = spec.id if spec.max_output_tokens is not None else "other"
        metrics.observe_call(s.provider, label, s.status, latency, s.upstream_s, usage)
        return usage.total_tokens, cost

    async def _finish(self, ctx: CallContext, spec: ModelSpec, started: float, usage: pb.Usage | None,
                      call: UpstreamCall, admission: Admission | None) -> None:
        """Record the call, then charge what it used to its caller's limits and give its slot back (for a
        `finally`: no await point; with Redis the release is written to it and not waited for)."""
        tokens, cost = self._record(ctx, spec, started, usage, call.upstream)
        if admission is not None:
            try:
                await admission.charge(tokens, cost)
            finally:
                await admission.release()

    async def create(self, req: pb.CreateChatCompletionRequest, ctx: CallContext) -> pb.ChatCompletion:
        provider, spec, call, admission = await self._prepare(req, ctx)
        started = time.perf_counter()
        ctx.stats.iterations = 1
        usage = None
        try:
            completion = (await provider.complete(call)).completion
            usage = completion.usage
        except GatewayError as err:
            ctx.stats.status = err.code
            raise
        except asyncio.CancelledError:
            ctx.stats.status = "cancelled"
            raise
        finally:
            await self._finish(ctx, spec, started, usage, call, admission)
        completion.id = "chatcmpl-" + uuid.uuid4().hex
        completion.created = int(time.time())
        completion.model = req.model
        completion.provider = spec.provider
        completion.iterations = 1
        completion.total_tokens_used = completion.usage.total_tokens
        return completion

    async def stream(
        self, req: pb.CreateChatCompletionRequest, ctx: CallContext, include_usage: bool
    ) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        """The call as chunks; errors before the first chunk mean nothing was sent."""
        provider, spec, call, admission = await self._prepare(req, ctx)
        started = time.perf_counter()
        ctx.stats.iterations = 1
        chunk_id, created, usage = "chatcmpl-" + uuid.uuid4().hex, int(time.time()), None
        name = spec.provider
        first = True
        try:
            async for event in provider.stream(call):
                if not isinstance(event, Delta):  # End: the usage of the whole stream
                    usage = event.usage
                    continue
                if first:
                    first = False
                    metrics.child(metrics.STREAM_TTFT, name).observe(time.perf_counter() - started)
                chunk = event.chunk
                chunk.id, chunk.created, chunk.model, chunk.provider = chunk_id, created, req.model, name
                yield chunk
        except GatewayError as err:
            ctx.stats.status = err.code
            raise
        except (asyncio.CancelledError, GeneratorExit):
            ctx.stats.status = "cancelled"
            raise
        finally:
            await self._finish(ctx, spec, started, usage, call, admission)
        if include_usage:  # OpenAI's closing chunk: no choices, the usage of the stream
            usage = usage or pb.Usage()
            yield pb.ChatCompletionChunk(
                id=chunk_id, created=created, model=req.model, provider=name, usage=usage,
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
        if req.provider and registry.get(req.provider) is None:
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


async def _validate(req: pb.CreateChatCompletionRequest, spec: ModelSpec, owner: ProviderSpec,
                    ctx: CallContext) -> int:
    """`validate_request` under the provider's capabilities, off the event loop where it would hold it: all of
    it for a large request (converting its tool schemas alone takes milliseconds), else only the metaschema
    checks of new schemas over INLINE_CHECK_BYTES. Returns the max_tokens to send upstream."""
    if offload.is_large(ctx.stats.request_bytes):
        return await offload.run(validate_request, req, spec, owner.capabilities, owner.label)
    validation = begin_validation(req, spec, owner.capabilities, owner.label)
    if validation.pending_bytes > INLINE_CHECK_BYTES:
        return await offload.run(validation.finish)
    return validation.finish()


_REFUSALS = {
    BUDGET_EXCEEDED: "Daily budget of estimated spending reached; it starts afresh at 00:00 UTC",
    TOO_MANY_CONCURRENT: "Too many requests in flight at once; retry when one has finished",
}


def refusal(decision: Decision) -> GatewayError:
    """The 429 of a request the caller's limits refused: Retry-After in whole seconds (rounded up), and
    the x-ratelimit-* of the caller's rates."""
    reason = decision.reason or "rate_limited"
    retry = max(1, math.ceil((decision.retry_after_s or 0.0) - 1e-9))
    message = _REFUSALS.get(reason) or f"Rate limit reached (requests or tokens per minute); retry after {retry} s"
    return GatewayError(reason, message, retry_after=str(retry), headers=decision.headers)


def limits_to_proto(user: str | None, status: LimitsStatus) -> pb.GetLimitsResponse:
    resp = pb.GetLimitsResponse(user=user or "")
    if status.requests is not None:
        resp.requests.CopyFrom(_rate(status.requests))
    if status.tokens is not None:
        resp.tokens.CopyFrom(_rate(status.tokens))
    if status.budget is not None:
        b = status.budget
        resp.budget_usd_per_day.CopyFrom(pb.BudgetStatus(limit=b.limit_usd, spent=round(b.spent_usd, 6),
                                                        remaining=round(b.remaining_usd, 6)))
    if status.concurrency is not None:
        c = status.concurrency
        resp.max_concurrent.CopyFrom(pb.ConcurrencyStatus(limit=c.limit, in_flight=c.in_flight))
    return resp


def _rate(rate) -> pb.RateLimitStatus:  # type: ignore[no-untyped-def]
    return pb.RateLimitStatus(limit=rate.limit, remaining=rate.remaining, reset_s=rate.reset_s)


def build_providers(settings: Settings, pool: HttpPool) -> dict[str, Provider]:
    """An adapter for every registered provider, all on one upstream connection pool (ConfigError naming
    the variable when a provider's base URL is not an http(s) URL)."""
    return {spec.name: spec.adapter(spec, registry.configure(spec, settings), pool) for spec in registry.specs()}
