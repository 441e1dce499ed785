"""Per-call context shared by the edges, the core and the adapters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ainative.chat.v1 import chat_pb2 as pb


@dataclass(slots=True)
class CallStats:
    """What a call did, filled in as it goes; read by the edges for logs, metrics and headers."""

    user: str | None = None
    provider: str = ""
    model: str = ""
    usage: pb.Usage | None = None
    iterations: int = 0
    upstream_s: float = 0.0  # time spent waiting on the provider
    upstream_request_id: str = ""
    attempts: int = 0  # requests sent to the provider, retries included
    status: str = "ok"  # or the error code
    stream: bool = False  # the call asked for a stream (set by the edge, for the log line)
    # the request's size as received (REST body, gRPC message; set by the edge): large ones are parsed,
    # converted and checked off the event loop (service.offload)
    request_bytes: int = 0
    # where and why the last failed upstream attempt failed (URL without query; "HTTP 503" or the network error)
    upstream_url: str = ""
    upstream_cause: str = ""
    # a limited caller's x-ratelimit-* (service.limits): REST headers, gRPC trailing metadata
    limit_headers: tuple[tuple[str, str], ...] = ()
    # parameters dropped instead of refused (drop_params): REST header / gRPC metadata x-dropped-params
    dropped_params: tuple[str, ...] = ()

    def dropped_header(self) -> tuple[tuple[str, str], ...]:
        return (("x-dropped-params", ",".join(self.dropped_params)),) if self.dropped_params else ()


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the edge learned about a call besides its request message."""

    request_id: str
    # credentials stay out of repr(): redaction catches only key-shaped text, and a BYOK key need not look like one
    provider_key: str | None = field(default=None, repr=False)  # the caller's own provider key, this call only
    timeout: float | None = None  # seconds left before the caller's deadline
    authorization: str | None = field(default=None, repr=False)  # the raw Authorization value ("Bearer <jwt>")
    stats: CallStats = field(default_factory=CallStats)


def new_request_id() -> str:
    return uuid.uuid4().hex
