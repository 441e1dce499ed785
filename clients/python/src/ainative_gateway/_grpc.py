"""The gRPC transport: ``grpc.aio`` for the async client, the blocking API for the sync one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc

from ainative_gateway import _grpc_codec as codec
from ainative_gateway._proto.ainative.chat.v1 import chat_pb2 as pb
from ainative_gateway._proto.ainative.chat.v1 import chat_pb2_grpc
from ainative_gateway._transport import USER_AGENT, CallOptions
from ainative_gateway.errors import GatewayError, from_grpc
from ainative_gateway.results import ChatCompletion, ChatCompletionChunk, Limits, Model, Tool, UsageReport

CHANNEL_OPTIONS = (("grpc.primary_user_agent", USER_AGENT),)


def rpc_error(exc: grpc.RpcError) -> GatewayError:
    """The gateway error a failed call carries (``exc`` is also a ``grpc.Call`` / ``AioRpcError``)."""
    call: Any = exc
    return from_grpc(call.code().name, call.details(), call.trailing_metadata(), call.initial_metadata())


def _request_id(metadata: Any) -> str | None:
    value = dict(metadata or ()).get("x-request-id")
    return value if isinstance(value, str) else None


def _stream_request(body: dict[str, Any], include_usage: bool) -> pb.StreamChatCompletionRequest:
    return pb.StreamChatCompletionRequest(request=codec.chat_request(body), include_usage=include_usage)


class AsyncGrpcTransport:
    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.where = target
        self._credentials = credentials
        self._channel: grpc.aio.Channel | None = None
        self._stub: chat_pb2_grpc.ChatServiceStub | None = None

    def stub(self) -> chat_pb2_grpc.ChatServiceStub:
        # created on first use, inside the running event loop the channel belongs to
        if self._stub is None:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self.where, options=CHANNEL_OPTIONS)
            else:
                self._channel = grpc.aio.secure_channel(self.where, self._credentials, options=CHANNEL_OPTIONS)
            self._stub = chat_pb2_grpc.ChatServiceStub(self._channel)
        return self._stub

    async def _unary(self, method: str, request: Any, o: CallOptions) -> tuple[Any, str | None]:
        call = getattr(self.stub(), method)(request, metadata=o.pairs(), timeout=o.timeout)
        try:
            return await call, _request_id(await call.initial_metadata())
        except grpc.RpcError as exc:
            raise rpc_error(exc) from None

    async def chat(self, body: dict[str, Any], o: CallOptions) -> ChatCompletion:
        resp, request_id = await self._unary("CreateChatCompletion", codec.chat_request(body), o)
        return codec.completion(resp.completion, request_id)

    async def stream(self, body: dict[str, Any], include_usage: bool, o: CallOptions
                     ) -> AsyncIterator[ChatCompletionChunk]:
        call = self.stub().StreamChatCompletion(_stream_request(body, include_usage), metadata=o.pairs(),
                                                timeout=o.timeout)
        try:
            async for resp in call:
                yield codec.chunk(resp.chunk)
        except grpc.RpcError as exc:
            raise rpc_error(exc) from None
        finally:
            call.cancel()  # a no-op once the stream ended; stops the upstream call when the caller stops early

    async def models(self, provider: str | None, o: CallOptions) -> list[Model]:
        resp, _ = await self._unary("ListModels", pb.ListModelsRequest(provider=provider or ""), o)
        return codec.models(resp)

    async def tools(self, group: str | None, names: list[str] | None, o: CallOptions) -> list[Tool]:
        resp, _ = await self._unary("ListTools", pb.ListToolsRequest(group=group or "", names=names or ()), o)
        return codec.tools(resp)

    async def usage(self, from_date: str | None, to_date: str | None, o: CallOptions) -> UsageReport:
        req = pb.GetUsageRequest(from_date=from_date or "", to_date=to_date or "")
        resp, _ = await self._unary("GetUsage", req, o)
        return codec.usage_report(resp)

    async def limits(self, o: CallOptions) -> Limits:
        resp, _ = await self._unary("GetLimits", pb.GetLimitsRequest(), o)
        return codec.limits(resp)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None


class GrpcTransport:
    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.where = target
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
        self._stub = chat_pb2_grpc.ChatServiceStub(self._channel)

    def _unary(self, method: str, request: Any, o: CallOptions) -> tuple[Any, str | None]:
        try:
            resp, call = getattr(self._stub, method).with_call(request, metadata=o.pairs(), timeout=o.timeout)
        except grpc.RpcError as exc:
            raise rpc_error(exc) from None
        return resp, _request_id(call.initial_metadata())

    def chat(self, body: dict[str, Any], o: CallOptions) -> ChatCompletion:
        resp, request_id = self._unary("CreateChatCompletion", codec.chat_request(body), o)
        return codec.completion(resp.completion, request_id)

    def stream(self, body: dict[str, Any], include_usage: bool, o: CallOptions) -> Iterator[ChatCompletionChunk]:
        call = self._stub.StreamChatCompletion(_stream_request(body, include_usage), metadata=o.pairs(),
                                               timeout=o.timeout)
        try:
            for resp in call:
                yield codec.chunk(resp.chunk)
        except grpc.RpcError as exc:
            raise rpc_error(exc) from None
        finally:
            call.cancel()

    def models(self, provider: str | None, o: CallOptions) -> list[Model]:
        resp, _ = self._unary("ListModels", pb.ListModelsRequest(provider=provider or ""), o)
        return codec.models(resp)

    def tools(self, group: str | None, names: list[str] | None, o: CallOptions) -> list[Tool]:
        resp, _ = self._unary("ListTools", pb.ListToolsRequest(group=group or "", names=names or ()), o)
        return codec.tools(resp)

    def usage(self, from_date: str | None, to_date: str | None, o: CallOptions) -> UsageReport:
        resp, _ = self._unary("GetUsage", pb.GetUsageRequest(from_date=from_date or "", to_date=to_date or ""), o)
        return codec.usage_report(resp)

    def limits(self, o: CallOptions) -> Limits:
        resp, _ = self._unary("GetLimits", pb.GetLimitsRequest(), o)
        return codec.limits(resp)

    def close(self) -> None:
        self._channel.close()
