"""gRPC glue: metadata -> CallContext, proto in -> core -> proto out.

Errors are mapped here once: a GatewayError becomes its gRPC status code with a
google.rpc.Status detail carrying ErrorInfo(reason=<code>); anything else is
logged and becomes INTERNAL without internals.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from service import metrics
from service.context import CallContext, new_request_id
from service.core import ChatCore
from service.errors import GatewayError, to_rpc_status
from service.logs import log_request

log = structlog.get_logger("service")
Req = TypeVar("Req")
Resp = TypeVar("Resp")


def call_context(context: grpc.aio.ServicerContext) -> CallContext:
    meta = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    request_id = meta.get("x-request-id") or new_request_id()
    return CallContext(
        request_id=request_id[:128],
        provider_key=meta.get("x-provider-key") or None,
        timeout=context.time_remaining(),
        authorization=meta.get("authorization") or None,
    )


def finish(context: grpc.aio.ServicerContext, ctx: CallContext, rpc: str, started: float, status: str) -> None:
    """The canonical log line, metrics and overhead trailer of one RPC."""
    elapsed = time.perf_counter() - started
    s = ctx.stats
    overhead = max(0.0, elapsed - s.upstream_s)
    context.set_trailing_metadata((
        ("x-gateway-overhead-ms", f"{overhead * 1000:.3f}"),
        ("x-upstream-ms", f"{s.upstream_s * 1000:.3f}"),  # lets a separate bridge compute its own overhead
    ))
    metrics.child(metrics.REQUESTS, "grpc", rpc, status).inc()
    metrics.child(metrics.REQUEST_LATENCY, "grpc", rpc).observe(elapsed)
    metrics.child(metrics.OVERHEAD, "grpc").observe(overhead)
    log_request(log, ctx, transport="grpc", route=rpc, status=status, latency_s=elapsed)


async def abort(context: grpc.aio.ServicerContext, err: GatewayError) -> None:
    status = to_rpc_status(err)
    await context.abort(
        err.kind.grpc_code, err.message,
        trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
    )


def edge(method: Callable[[Any, Req, CallContext], Awaitable[Resp]]) -> Callable[..., Awaitable[Resp]]:
    """Wrap a servicer method: build the CallContext, echo x-request-id, map errors."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        started = time.perf_counter()
        ctx = call_context(context)
        await context.send_initial_metadata((("x-request-id", ctx.request_id),))
        status = "OK"
        metrics.child(metrics.IN_FLIGHT, "grpc").inc()
        try:
            return await method(self, request, ctx)
        except GatewayError as err:
            status = err.code
            await abort(context, err)
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except Exception:
            status = "internal_error"
            log.exception("unhandled_error", request_id=ctx.request_id, rpc=method.__name__)
            await abort(context, GatewayError("internal_error", "Internal error"))
        finally:
            metrics.child(metrics.IN_FLIGHT, "grpc").dec()
            finish(context, ctx, method.__name__, started, status)
        raise AssertionError("unreachable")  # context.abort always raises

    return wrapper


def edge_stream(
    method: Callable[[Any, Req, CallContext], AsyncIterator[Resp]],
) -> Callable[..., AsyncIterator[Resp]]:
    """`edge` for server-streaming methods: errors before or during the stream end it with a status."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> AsyncIterator[Resp]:
        started = time.perf_counter()
        ctx = call_context(context)
        await context.send_initial_metadata((("x-request-id", ctx.request_id),))
        status = "OK"
        metrics.child(metrics.IN_FLIGHT, "grpc").inc()
        try:
            async for item in method(self, request, ctx):
                yield item
        except GatewayError as err:
            status = err.code
            await abort(context, err)
        except (asyncio.CancelledError, GeneratorExit):
            status = "cancelled"
            raise
        except Exception:
            status = "internal_error"
            log.exception("unhandled_error", request_id=ctx.request_id, rpc=method.__name__)
            await abort(context, GatewayError("internal_error", "Internal error"))
        finally:
            metrics.child(metrics.IN_FLIGHT, "grpc").dec()
            finish(context, ctx, method.__name__, started, status)

    return wrapper


class ChatServicer(chat_pb2_grpc.ChatServiceServicer):
    def __init__(self, core: ChatCore):
        self._core = core

    @edge
    async def CreateChatCompletion(
        self, request: pb.CreateChatCompletionRequest, ctx: CallContext
    ) -> pb.CreateChatCompletionResponse:
        return pb.CreateChatCompletionResponse(completion=await self._core.create(request, ctx))

    @edge_stream
    async def StreamChatCompletion(
        self, request: pb.StreamChatCompletionRequest, ctx: CallContext
    ) -> AsyncIterator[pb.StreamChatCompletionResponse]:
        async for chunk in self._core.stream(request.request, ctx, request.include_usage):
            yield pb.StreamChatCompletionResponse(chunk=chunk)

    @edge
    async def ListModels(self, request: pb.ListModelsRequest, ctx: CallContext) -> pb.ListModelsResponse:
        return self._core.list_models(request, ctx)

    @edge
    async def ListTools(self, request: pb.ListToolsRequest, ctx: CallContext) -> pb.ListToolsResponse:
        return self._core.list_tools(request, ctx)

    @edge
    async def GetUsage(self, request: pb.GetUsageRequest, ctx: CallContext) -> pb.GetUsageResponse:
        return await self._core.usage(request, ctx)
