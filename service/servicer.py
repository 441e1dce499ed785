"""gRPC glue: metadata -> CallContext, proto in -> core -> proto out.

Errors are mapped here once: a GatewayError becomes its gRPC status code with a
google.rpc.Status detail carrying ErrorInfo(reason=<code>); anything else is
logged and becomes INTERNAL without internals.

The chat RPCs receive their request as bytes and decode it here (`add_chat_service`):
a large one off the event loop, and one protobuf cannot decode as INVALID_ARGUMENT
(grpc.aio's own decoding would answer UNKNOWN, with the decoder's exception as the
message, before any of this module's logging or metrics ran).
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

from service import metrics, offload
from service.context import CallContext, new_request_id
from service.core import ChatCore
from service.errors import GatewayError, to_rpc_status
from service.logs import CANCELLED, log_request
from service.wire import M, decode_request

log = structlog.get_logger("service")
Req = TypeVar("Req")
Resp = TypeVar("Resp")
# the chat RPCs, and whether each streams (their log lines say so)
CHAT_RPCS = {"CreateChatCompletion": False, "StreamChatCompletion": True}


def call_context(context: grpc.aio.ServicerContext) -> CallContext:
    meta = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    request_id = meta.get("x-request-id") or new_request_id()
    return CallContext(
        request_id=request_id[:128],
        provider_key=meta.get("x-provider-key") or None,
        timeout=context.time_remaining(),
        authorization=meta.get("authorization") or None,
    )


def finish(context: grpc.aio.ServicerContext, ctx: CallContext, rpc: str, started: float,
           err: GatewayError | None, cancelled: bool = False) -> None:
    """The canonical log line, metrics and overhead trailer of one RPC.

    Labelled like the REST edge: the HTTP status the outcome has over REST and the gateway's code,
    plus the gRPC status code name in the log line.
    """
    elapsed = time.perf_counter() - started
    if err is not None:
        status, code, grpc_code = err.kind.http_status, err.code, err.kind.grpc_code.name
    elif cancelled:
        status, code, grpc_code = 499, CANCELLED, grpc.StatusCode.CANCELLED.name
    else:
        status, code, grpc_code = 200, "ok", grpc.StatusCode.OK.name
    s = ctx.stats
    overhead = max(0.0, elapsed - s.upstream_s)
    context.set_trailing_metadata((
        ("x-gateway-overhead-ms", f"{overhead * 1000:.3f}"),
        ("x-upstream-ms", f"{s.upstream_s * 1000:.3f}"),  # lets a separate bridge compute its own overhead
        *s.limit_headers,  # a limited caller's x-ratelimit-*
        *s.dropped_header(),
    ))
    metrics.observe_request("grpc", rpc, status, code, elapsed)
    metrics.child(metrics.OVERHEAD, "grpc").observe(overhead)
    log_request(log, ctx, transport="grpc", route=rpc, status=status, latency_s=elapsed, error=err,
                cancelled=cancelled, stream=CHAT_RPCS.get(rpc), grpc_code=grpc_code)


async def abort(context: grpc.aio.ServicerContext, err: GatewayError) -> None:
    status = to_rpc_status(err)
    await context.abort(
        err.kind.grpc_code, err.message,
        trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()), *err.headers),
    )


class _Rpc:
    """The shared body of every RPC: context in, errors mapped to a status once, the log line out.

    Used as `async with _Rpc(context, name) as ctx:` around the call; works for unary
    and streaming methods alike.
    """

    __slots__ = ("context", "name", "ctx", "started", "head_sent")

    def __init__(self, context: grpc.aio.ServicerContext, name: str, *, defer_head: bool = False):
        self.context, self.name = context, name
        self.started = time.perf_counter()
        self.ctx = call_context(context)
        self.head_sent = not defer_head

    async def __aenter__(self) -> CallContext:
        if self.head_sent:
            await self.context.send_initial_metadata((("x-request-id", self.ctx.request_id),))
        metrics.child(metrics.IN_FLIGHT, "grpc").inc()
        return self.ctx

    async def send_head(self) -> None:
        """The initial metadata of a stream, sent with its first message: by then the caller is admitted and
        its x-ratelimit-* are known (a unary call has them in its trailing metadata)."""
        if not self.head_sent:
            self.head_sent = True
            await self.context.send_initial_metadata(
                (("x-request-id", self.ctx.request_id), *self.ctx.stats.limit_headers,
                 *self.ctx.stats.dropped_header()))

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        metrics.child(metrics.IN_FLIGHT, "grpc").dec()
        err: GatewayError | None = None
        cancelled = False
        if isinstance(exc, GatewayError):
            err = exc
        elif isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            cancelled = True
        elif isinstance(exc, Exception):
            log.error("unhandled_error", request_id=self.ctx.request_id, rpc=self.name,
                      exc_info=(kind, exc, tb))
            err = GatewayError("internal_error", "Internal error")
        finish(self.context, self.ctx, self.name, self.started, err, cancelled)
        if not self.head_sent and not cancelled:
            await self.send_head()
        if err is not None:
            await abort(self.context, err)  # raises: the RPC ends with this status


def edge(method: Callable[[Any, Req, CallContext], Awaitable[Resp]]) -> Callable[..., Awaitable[Resp]]:
    """Wrap a unary servicer method in `_Rpc`."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        async with _Rpc(context, method.__name__) as ctx:
            return await method(self, request, ctx)
        raise AssertionError("unreachable")  # _Rpc either returned the result or raised

    return wrapper


def edge_stream(
    method: Callable[[Any, Req, CallContext], AsyncIterator[Resp]],
) -> Callable[..., AsyncIterator[Resp]]:
    """Wrap a server-streaming method in `_Rpc`: an error before or during the stream ends it with a status."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> AsyncIterator[Resp]:
        rpc = _Rpc(context, method.__name__, defer_head=True)
        async with rpc as ctx:
            async for item in method(self, request, ctx):
                if not rpc.head_sent:
                    await rpc.send_head()
                yield item

    return wrapper


async def receive(cls: type[M], raw: bytes, ctx: CallContext) -> M:
    """The request message in `raw` (a GatewayError when it cannot be decoded); a large one is decoded off
    the event loop."""
    ctx.stats.request_bytes = len(raw)
    if offload.is_large(len(raw)):
        return await offload.run(decode_request, cls, raw, True)
    return decode_request(cls, raw)


class ChatServicer(chat_pb2_grpc.ChatServiceServicer):
    def __init__(self, core: ChatCore):
        self._core = core

    @edge
    async def CreateChatCompletion(self, request: bytes, ctx: CallContext) -> pb.CreateChatCompletionResponse:
        req = await receive(pb.CreateChatCompletionRequest, request, ctx)
        return pb.CreateChatCompletionResponse(completion=await self._core.create(req, ctx))

    @edge_stream
    async def StreamChatCompletion(
        self, request: bytes, ctx: CallContext
    ) -> AsyncIterator[pb.StreamChatCompletionResponse]:
        req = await receive(pb.StreamChatCompletionRequest, request, ctx)
        async for chunk in self._core.stream(req.request, ctx, req.include_usage):
            yield pb.StreamChatCompletionResponse(chunk=chunk)

    @edge
    async def ListModels(self, request: pb.ListModelsRequest, ctx: CallContext) -> pb.ListModelsResponse:
        return self._core.list_models(request, ctx)

    @edge
    async def GetModel(self, request: pb.GetModelRequest, ctx: CallContext) -> pb.GetModelResponse:
        return self._core.get_model(request, ctx)

    @edge
    async def ListTools(self, request: pb.ListToolsRequest, ctx: CallContext) -> pb.ListToolsResponse:
        return self._core.list_tools(request, ctx)

    @edge
    async def GetUsage(self, request: pb.GetUsageRequest, ctx: CallContext) -> pb.GetUsageResponse:
        return await self._core.usage(request, ctx)

    @edge
    async def GetLimits(self, request: pb.GetLimitsRequest, ctx: CallContext) -> pb.GetLimitsResponse:
        return await self._core.limits(request, ctx)


def add_chat_service(servicer: ChatServicer, server: grpc.aio.Server) -> None:
    """Register `servicer` as the generated `add_ChatServiceServicer_to_server` would, except that the chat
    RPCs (CHAT_RPCS) get their request as bytes, which the servicer decodes (`receive`)."""
    service = pb.DESCRIPTOR.services_by_name["ChatService"]
    handlers = {}
    for method in service.methods:
        request_type, response_type = getattr(pb, method.input_type.name), getattr(pb, method.output_type.name)
        make = grpc.unary_stream_rpc_method_handler if method.server_streaming else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=None if method.name in CHAT_RPCS else request_type.FromString,
            response_serializer=response_type.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)
