"""Errors are values: one exception type carrying a code, and one table.

Adapters and the core raise `GatewayError(code, message, param=...)`, classified
once where the failure is understood. `ERRORS` is the single table that decides,
for each code, the HTTP status and error `type` (used by the bridge) and the gRPC
status code (used by the servicer). Across a real gRPC channel the code travels
as the `google.rpc.ErrorInfo.reason`, so the bridge maps it back without guessing.

The table is read from the contract: each value of the `ErrorCode` enum in
proto/ainative/chat/v1/chat.proto is one code, its wire string the value's name
without the `ERROR_CODE_` prefix in lower case (`ERROR_CODE_INVALID_REQUEST` is
`invalid_request`), and its options (`http_status`, `error_type`, `grpc_code`)
are the row. The Python client reads the same options from its vendored stubs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc
from ainative.chat.v1 import chat_pb2 as pb
from google.protobuf import any_pb2
from google.protobuf.descriptor import EnumValueDescriptor
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "chat.ainative.studio"
ERROR_CODE_PREFIX = "ERROR_CODE_"


@dataclass(frozen=True, slots=True)
class ErrorKind:
    http_status: int
    type: str
    grpc_code: grpc.StatusCode


def wire_code(enum_name: str) -> str:
    """The code on the wire for an `ErrorCode` value name: ERROR_CODE_INVALID_REQUEST -> invalid_request."""
    return enum_name.removeprefix(ERROR_CODE_PREFIX).lower()


def _kind(value: EnumValueDescriptor) -> ErrorKind:
    """The row an `ErrorCode` value's options give; a value without them is a contract bug."""
    options = value.GetOptions()
    status = options.Extensions[pb.http_status]
    error_type = options.Extensions[pb.error_type]
    grpc_name = options.Extensions[pb.grpc_code]
    if not (400 <= status <= 599 and error_type and grpc_name in grpc.StatusCode.__members__):
        raise RuntimeError(f"chat.proto: ErrorCode {value.name} needs options http_status (4xx/5xx), error_type "
                           f"and grpc_code (a grpc.StatusCode name); has {status!r}, {error_type!r}, {grpc_name!r}")
    return ErrorKind(status, error_type, grpc.StatusCode[grpc_name])


# code -> its row, in the enum's order; ERROR_CODE_UNSPECIFIED (0) is no code
ERRORS: dict[str, ErrorKind] = {
    wire_code(value.name): _kind(value) for value in pb.ErrorCode.DESCRIPTOR.values if value.number != 0
}

_C = grpc.StatusCode

# When a status arrives without ErrorInfo (a foreign gRPC server, a transport
# failure), the bridge falls back on the gRPC code alone.
CODE_FOR_GRPC_STATUS: dict[grpc.StatusCode, str] = {
    _C.INVALID_ARGUMENT: "invalid_request",
    _C.UNAUTHENTICATED: "invalid_token",
    _C.PERMISSION_DENIED: "permission_denied",
    _C.NOT_FOUND: "not_found",
    _C.RESOURCE_EXHAUSTED: "rate_limited",
    _C.UNAVAILABLE: "service_unavailable",
    _C.DEADLINE_EXCEEDED: "upstream_timeout",
    _C.ABORTED: "max_iterations_exceeded",
    _C.UNIMPLEMENTED: "not_found",
    _C.CANCELLED: "upstream_error",
}


class GatewayError(Exception):
    """A failure with a code from `ERRORS`, safe to show to the client."""

    __slots__ = ("code", "headers", "message", "param", "retry_after", "retryable")

    def __init__(self, code: str, message: str, *, param: str | None = None, retry_after: str | None = None,
                 retryable: bool = False, headers: tuple[tuple[str, str], ...] = ()):
        if code not in ERRORS:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.retry_after = retry_after
        # set by the adapters for failures worth another attempt (408/409/429/5xx/529, network)
        self.retryable = retryable
        # extra response headers (gRPC: trailing metadata), e.g. a limited caller's x-ratelimit-*
        self.headers = headers

    @property
    def kind(self) -> ErrorKind:
        return ERRORS[self.code]

    def __repr__(self) -> str:
        return f"GatewayError({self.code!r}, {self.message!r}, param={self.param!r})"


def invalid(message: str, param: str | None = None) -> GatewayError:
    """Shorthand for the most common error: a 400 naming the bad field."""
    return GatewayError("invalid_request", message, param=param)


# Anything that looks like a credential is cut out of text that may reach a
# client or a log: provider keys (sk-ant-..., LLM|...), bearer values, JWTs.
_SECRET_PATTERNS = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{6,}|sk-[A-Za-z0-9_\-]{16,}|LLM\|[^\s\"',]+"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]+=*"
    r"|eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*)"
)


def scrub(text: str, *secrets: str | None) -> str:
    """Remove the given secrets and anything key-shaped from `text`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _SECRET_PATTERNS.sub("[redacted]", text)


def to_rpc_status(err: GatewayError) -> status_pb2.Status:
    """The google.rpc.Status (with ErrorInfo) that carries `err` over gRPC."""
    metadata = {}
    if err.param:
        metadata["param"] = err.param
    if err.retry_after:
        metadata["retry_after"] = err.retry_after
    info = error_details_pb2.ErrorInfo(reason=err.code, domain=ERROR_DOMAIN, metadata=metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    details = [detail]
    if err.retry_after and err.retry_after.isdigit():  # seconds (Retry-After may also be an HTTP date)
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.seconds = int(err.retry_after)
        detail = any_pb2.Any()
        detail.Pack(retry)
        details.append(detail)
    return status_pb2.Status(code=err.kind.grpc_code.value[0], message=err.message, details=details)


def from_rpc_status(code: grpc.StatusCode, message: str, status: status_pb2.Status | None) -> GatewayError:
    """Rebuild the GatewayError a servicer raised, from its gRPC status."""
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if info.reason in ERRORS:
                    return GatewayError(
                        info.reason,
                        status.message or message,
                        param=info.metadata.get("param") or None,
                        retry_after=info.metadata.get("retry_after") or None,
                    )
    if code == _C.UNAVAILABLE:
        return GatewayError("service_unavailable", "The chat service is unavailable")
    if code == _C.DEADLINE_EXCEEDED:
        return GatewayError("upstream_timeout", "The request deadline was exceeded")
    return GatewayError(CODE_FOR_GRPC_STATUS.get(code, "internal_error"), message or "Internal error")

