"""How the bridge reaches the chat service: one interface, two transports.

`ChatClient` is the interface. `GrpcClient` holds one channel open for the app's life when the bridge
runs on its own (`python -m bridge`). In the one-process gateway the bridge gets
`service.inprocess.InProcessClient` instead, which calls the core directly with protobuf messages; it
lives beside the core so that this module, and a standalone bridge, never import the core, the
providers, the usage ledger, the limits or auth. Both raise `GatewayError`, so the bridge maps errors
the same way.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

import grpc
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service import offload
from service.context import CallContext
from service.errors import GatewayError, from_rpc_status
from service.wire import encode_chat_request


class ChatClient(Protocol):
    async def create(self, req: pb.CreateChatCompletionRequest, ctx: CallContext) -> pb.ChatCompletion: ...

    def stream(
        self, req: pb.CreateChatCompletionRequest, ctx: CallContext, include_usage: bool
    ) -> AsyncGenerator[pb.ChatCompletionChunk, None]: ...

    async def list_models(self, req: pb.ListModelsRequest, ctx: CallContext) -> pb.ListModelsResponse: ...

    async def get_model(self, req: pb.GetModelRequest, ctx: CallContext) -> pb.GetModelResponse: ...

    async def list_tools(self, req: pb.ListToolsRequest, ctx: CallContext) -> pb.ListToolsResponse: ...

    async def usage(self, req: pb.GetUsageRequest, ctx: CallContext) -> pb.GetUsageResponse: ...

    async def limits(self, req: pb.GetLimitsRequest, ctx: CallContext) -> pb.GetLimitsResponse: ...

    async def ready(self) -> bool: ...

    def limits_state(self) -> str | None:
        """For /readyz: "ok", "degraded" (the shared limit counters are unreachable: rates and concurrency
        fail open), or None when no limits are enforced here (or the bridge cannot tell)."""
        ...

    async def close(self) -> None: ...


def _metadata(ctx: CallContext) -> tuple[tuple[str, str], ...]:
    meta: tuple[tuple[str, str], ...] = (("x-request-id", ctx.request_id),)
    if ctx.provider_key:
        meta += (("x-provider-key", ctx.provider_key),)
    if ctx.authorization:
        meta += (("authorization", ctx.authorization),)
    return meta


def _limit_headers(trailers: object) -> tuple[tuple[str, str], ...]:
    """The x-ratelimit-* the service sent a limited caller (trailing metadata; a stream's initial metadata)."""
    return tuple((k, v) for k, v in trailers or () if k.startswith("x-ratelimit-") and isinstance(v, str))  # type: ignore[attr-defined]


def _error(exc: grpc.aio.AioRpcError) -> Exception:
    status = None
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
    if status is None and exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # not the service's own rate_limited (that carries its ErrorInfo): the transport refused a message
        # over its size limit, the request's (an answer is far below this channel's 64 MiB)
        return GatewayError("request_too_large", "The request is larger than the chat service accepts "
                            "(MAX_REQUEST_BYTES, counted as the protobuf message the bridge sends it)")
    err = from_rpc_status(exc.code(), exc.details() or "", status)
    err.headers = _limit_headers(exc.trailing_metadata())
    return err


def _upstream_time(trailers: object, ctx: CallContext) -> None:
    for key, value in trailers or ():  # type: ignore[attr-defined]
        if key == "x-upstream-ms":
            ctx.stats.upstream_s = float(value) / 1000
    ctx.stats.limit_headers = _limit_headers(trailers)
    _dropped(trailers, ctx)


def _dropped(metadata: object, ctx: CallContext) -> None:
    """Add the parameters the service dropped (x-dropped-params) to those this bridge dropped itself."""
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == "x-dropped-params" and isinstance(value, str):
            ctx.stats.dropped_params += tuple(p for p in value.split(",") if p not in ctx.stats.dropped_params)


class GrpcClient:
    def __init__(self, address: str, timeout: float):
        self._channel = grpc.aio.insecure_channel(
            address, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        self._stub = chat_pb2_grpc.ChatServiceStub(self._channel)
        # a large request goes as bytes encoded off the event loop, a tool at a time (service.wire)
        self._create_encoded = self._channel.unary_unary(
            "/ainative.chat.v1.ChatService/CreateChatCompletion",
            response_deserializer=pb.CreateChatCompletionResponse.FromString)
        self._stream_encoded = self._channel.unary_stream(
            "/ainative.chat.v1.ChatService/StreamChatCompletion",
            response_deserializer=pb.StreamChatCompletionResponse.FromString)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._timeout = timeout

    async def create(self, req: pb.CreateChatCompletionRequest, ctx: CallContext) -> pb.ChatCompletion:
        if offload.is_large(ctx.stats.request_bytes):
            encoded = await offload.run(encode_chat_request, req)
            call = self._create_encoded(encoded, metadata=_metadata(ctx), timeout=self._timeout)
        else:
            call = self._stub.CreateChatCompletion(req, metadata=_metadata(ctx), timeout=self._timeout)
        try:
            resp = await call
        except grpc.aio.AioRpcError as exc:
            _upstream_time(exc.trailing_metadata(), ctx)
            raise _error(exc) from None
        _upstream_time(await call.trailing_metadata(), ctx)
        return resp.completion

    async def stream(
        self, req: pb.CreateChatCompletionRequest, ctx: CallContext, include_usage: bool
    ) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        if offload.is_large(ctx.stats.request_bytes):
            encoded = await offload.run(encode_chat_request, req, include_usage)
            call = self._stream_encoded(encoded, metadata=_metadata(ctx))
        else:
            call = self._stub.StreamChatCompletion(
                pb.StreamChatCompletionRequest(request=req, include_usage=include_usage), metadata=_metadata(ctx)
            )
        try:
            head = True
            async for resp in call:
                if head:  # the service sends a stream's x-ratelimit-* with its first message
                    head = False
                    initial = await call.initial_metadata()
                    ctx.stats.limit_headers = _limit_headers(initial)
                    _dropped(initial, ctx)
                yield resp.chunk
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None
        finally:
            call.cancel()  # a no-op when finished; stops the service's upstream call when we stop early

    async def list_models(self, req: pb.ListModelsRequest, ctx: CallContext) -> pb.ListModelsResponse:
        try:
            return await self._stub.ListModels(req, metadata=_metadata(ctx), timeout=10.0)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def get_model(self, req: pb.GetModelRequest, ctx: CallContext) -> pb.GetModelResponse:
        try:
            return await self._stub.GetModel(req, metadata=_metadata(ctx), timeout=10.0)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def list_tools(self, req: pb.ListToolsRequest, ctx: CallContext) -> pb.ListToolsResponse:
        try:
            return await self._stub.ListTools(req, metadata=_metadata(ctx), timeout=10.0)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def usage(self, req: pb.GetUsageRequest, ctx: CallContext) -> pb.GetUsageResponse:
        try:
            return await self._stub.GetUsage(req, metadata=_metadata(ctx), timeout=30.0)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def limits(self, req: pb.GetLimitsRequest, ctx: CallContext) -> pb.GetLimitsResponse:
        try:
            return await self._stub.GetLimits(req, metadata=_metadata(ctx), timeout=10.0)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    def limits_state(self) -> str | None:
        return None  # the service's own state; a separate bridge does not see it

    async def ready(self) -> bool:
        try:
            resp = await self._health.Check(health_pb2.HealthCheckRequest(), timeout=2.0)
        except grpc.aio.AioRpcError:
            return False
        return resp.status == health_pb2.HealthCheckResponse.SERVING

    async def close(self) -> None:
        await self._channel.close()
