"""The asyncio gRPC server: chat servicer, health and reflection in one place."""

from __future__ import annotations

import grpc
from ainative.chat.v1 import chat_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service.core import ChatCore
from service.runner import check_listen
from service.servicer import ChatServicer, add_chat_service

SERVICE_NAME = chat_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name
# Room above MAX_REQUEST_BYTES for what the protobuf encoding adds around a request: the
# StreamChatCompletionRequest envelope and field framing (a few bytes). A chat request's protobuf is
# otherwise no larger than its JSON; only a google.protobuf.Struct (tool parameters) can be, by up to
# about 5x for arrays of small numbers, and a message over the limit is refused as too large.
ENVELOPE_ALLOWANCE = 1024


class GrpcServer:
    """A started grpc.aio server and its health servicer."""

    def __init__(self, server: grpc.aio.Server, health_servicer: health.aio.HealthServicer, port: int):
        self.server = server
        self.health = health_servicer
        self.port = port

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def stop(self, grace: float | None) -> None:
        await self.set_serving(False)
        await self.server.stop(grace)


async def start_grpc_server(core: ChatCore, host: str, port: int, *, max_request_bytes: int) -> GrpcServer:
    """Start serving on host:port (0 = any free port); returns the bound port.

    A message larger than `max_request_bytes` (plus ENVELOPE_ALLOWANCE) is refused by the transport with
    RESOURCE_EXHAUSTED before it is decoded. An address that cannot be bound raises OSError (with the errno
    a plain socket gets: gRPC itself would only log its reason to stderr and raise RuntimeError).
    """
    check_listen(host, port)
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", max_request_bytes + ENVELOPE_ALLOWANCE),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
    )
    add_chat_service(ChatServicer(core), server)  # the chat RPCs decode their own requests
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # lost a race since check_listen
        bound = 0
    if bound == 0:
        await server.stop(None)
        raise OSError(f"gRPC could not bind {host}:{port}")
    await server.start()
    grpc_server = GrpcServer(server, health_servicer, bound)
    await grpc_server.set_serving(True)
    return grpc_server
