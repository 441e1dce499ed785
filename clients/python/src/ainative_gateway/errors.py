"""Errors raised by the clients: one class per gateway error code, the same from REST and gRPC.

REST errors carry ``{"error": {"message", "type", "code", "param"}}`` and a ``Retry-After`` header;
gRPC errors carry a ``google.rpc.Status`` detail whose ``ErrorInfo.reason`` is the same code (and
``metadata.param`` / ``metadata.retry_after``, and a ``RetryInfo`` detail for the limits' refusals). Both are
turned into the class of that code here, with ``status`` always the HTTP status the gateway uses for the code,
so retry rules read one field.

The three 429 refusals share one base class: ``except RateLimitedError`` catches ``rate_limited`` (a provider's
or the caller's request/token rate), ``budget_exceeded`` (``BudgetExceededError``: the caller's daily budget;
``retry_after`` is the time to the next UTC day) and ``too_many_concurrent`` (``TooManyConcurrentError``: the
caller already has its maximum of requests in flight; ``retry_after`` 1 s).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ainative_gateway._proto.ainative.chat.v1 import chat_pb2 as pb

__all__ = [
    "CODES",
    "BudgetExceededError",
    "GatewayConnectionError",
    "GatewayError",
    "GatewayTimeoutError",
    "InternalError",
    "InvalidApiKeyError",
    "InvalidRequestError",
    "InvalidTokenError",
    "InvalidToolSchemaError",
    "MaxIterationsExceededError",
    "MethodNotAllowedError",
    "MissingApiKeyError",
    "MissingTokenError",
    "ModelNotFoundError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderOverloadedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ServiceUnavailableError",
    "TooManyConcurrentError",
    "UnsupportedParameterError",
    "UnsupportedProviderError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "error_class",
    "make_error",
]

_ERROR_CODE_PREFIX = "ERROR_CODE_"


def _codes() -> dict[str, tuple[int, str, str]]:
    """The gateway's table, read from the ``ErrorCode`` enum of the vendored stubs (``make client-stubs``).

    The wire code is the value's name without ``ERROR_CODE_`` in lower case; the options ``http_status``,
    ``error_type`` and ``grpc_code`` of the value are its row.
    """
    table: dict[str, tuple[int, str, str]] = {}
    for value in pb.ErrorCode.DESCRIPTOR.values:
        if value.number == 0:  # ERROR_CODE_UNSPECIFIED
            continue
        options = value.GetOptions()
        table[value.name[len(_ERROR_CODE_PREFIX):].lower()] = (
            options.Extensions[pb.http_status], options.Extensions[pb.error_type], options.Extensions[pb.grpc_code])
    return table


# code -> (HTTP status, error type, gRPC status name): the gateway's table (README, the proto's ErrorCode)
CODES: dict[str, tuple[int, str, str]] = _codes()


class GatewayError(Exception):
    """An error answered by the gateway (or a failure to reach it).

    ``code`` is the gateway's error code (``invalid_request``, ``rate_limited``, ...), ``status`` the HTTP
    status the gateway uses for it (also for gRPC errors), ``param`` the offending request field,
    ``retry_after`` the server's advice in seconds, ``request_id`` the call's ``x-request-id``.
    """

    def __init__(self, code: str, message: str, *, param: str | None = None, status: int | None = None,
                 retry_after: float | None = None, request_id: str | None = None, type: str | None = None,
                 grpc_status: str | None = None) -> None:
        super().__init__(message)
        known = CODES.get(code)
        self.code = code
        self.message = message
        self.param = param
        self.status = status if status is not None else (known[0] if known else None)
        self.type = type or (known[1] if known else None)
        self.retry_after = retry_after
        self.request_id = request_id
        self.grpc_status = grpc_status

    @property
    def retryable(self) -> bool:
        """Worth another attempt: a connection failure, 429 or a 5xx (never another 4xx)."""
        return self.status is not None and (self.status == 429 or self.status >= 500)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        extra = f", param={self.param!r}" if self.param else ""
        return f"{type(self).__name__}({self.code!r}, {self.message!r}{extra})"


class InvalidRequestError(GatewayError):
    """400 ``invalid_request``: malformed body, missing or invalid field (see ``param``)."""


class UnsupportedProviderError(GatewayError):
    """400 ``unsupported_provider``."""


class UnsupportedParameterError(GatewayError):
    """400 ``unsupported_parameter``: the chosen provider cannot honour a parameter (``param`` names it)."""


class InvalidToolSchemaError(GatewayError):
    """422 ``invalid_tool_schema``: a tool definition is not valid."""


class MissingApiKeyError(GatewayError):
    """401 ``missing_api_key``: neither the gateway nor the request has a key for the provider."""


class InvalidApiKeyError(GatewayError):
    """401 ``invalid_api_key``: the provider rejected the key."""


class InvalidTokenError(GatewayError):
    """401 ``invalid_token``: the JWT is malformed, expired or not signed by the gateway's key."""


class MissingTokenError(GatewayError):
    """401 ``missing_token``: a valid JWT is required (``/v1/usage``, ``REQUIRE_AUTH``)."""


class PermissionDeniedError(GatewayError):
    """403 ``permission_denied``: the provider refused."""


class ModelNotFoundError(GatewayError):
    """404 ``model_not_found``: the provider does not know the model."""


class NotFoundError(GatewayError):
    """404 ``not_found``: no such route (usually a wrong base URL)."""


class MethodNotAllowedError(GatewayError):
    """405 ``method_not_allowed``."""


class RequestTooLargeError(GatewayError):
    """413 ``request_too_large``."""


class RequestTimeoutError(GatewayError):
    """408 ``request_timeout`` (REST): no byte of the request body reached the gateway for its client timeout."""


class MaxIterationsExceededError(GatewayError):
    """422 ``max_iterations_exceeded``."""


class RateLimitedError(GatewayError):
    """429 ``rate_limited`` (after the gateway's and this client's retries); see ``retry_after``.

    Also the base class of the other two 429 refusals, ``BudgetExceededError`` and ``TooManyConcurrentError``.
    """


class BudgetExceededError(RateLimitedError):
    """429 ``budget_exceeded``: the caller's estimated spending today (UTC) reached its daily budget;
    ``retry_after`` is the seconds to the next UTC day (so the client raises it at once, never sleeps on it)."""


class TooManyConcurrentError(RateLimitedError):
    """429 ``too_many_concurrent``: the caller already has its maximum of requests in flight (``retry_after`` 1)."""


class ProviderOverloadedError(GatewayError):
    """503 ``provider_overloaded``."""


class UpstreamError(GatewayError):
    """502 ``upstream_error``: the provider failed or was unreachable."""


class ServiceUnavailableError(GatewayError):
    """503 ``service_unavailable``: the gateway's chat service is down or shutting down."""


class UpstreamTimeoutError(GatewayError):
    """504 ``upstream_timeout``: the provider did not answer in time."""


class InternalError(GatewayError):
    """500 ``internal_error``: a gateway bug."""


class GatewayConnectionError(GatewayError):
    """The gateway could not be reached, or the connection broke (code ``connection_error``)."""

    def __init__(self, message: str, *, code: str = "connection_error", request_id: str | None = None) -> None:
        super().__init__(code, message, request_id=request_id)

    @property
    def retryable(self) -> bool:
        return True


class GatewayTimeoutError(GatewayConnectionError):
    """This client's own timeout expired (code ``timeout``)."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message, code="timeout", request_id=request_id)


_CLASSES: dict[str, type[GatewayError]] = {
    "invalid_request": InvalidRequestError,
    "unsupported_provider": UnsupportedProviderError,
    "unsupported_parameter": UnsupportedParameterError,
    "invalid_tool_schema": InvalidToolSchemaError,
    "missing_api_key": MissingApiKeyError,
    "invalid_api_key": InvalidApiKeyError,
    "invalid_token": InvalidTokenError,
    "missing_token": MissingTokenError,
    "permission_denied": PermissionDeniedError,
    "model_not_found": ModelNotFoundError,
    "not_found": NotFoundError,
    "method_not_allowed": MethodNotAllowedError,
    "request_too_large": RequestTooLargeError,
    "request_timeout": RequestTimeoutError,
    "max_iterations_exceeded": MaxIterationsExceededError,
    "rate_limited": RateLimitedError,
    "budget_exceeded": BudgetExceededError,
    "too_many_concurrent": TooManyConcurrentError,
    "provider_overloaded": ProviderOverloadedError,
    "upstream_error": UpstreamError,
    "service_unavailable": ServiceUnavailableError,
    "upstream_timeout": UpstreamTimeoutError,
    "internal_error": InternalError,
}  # one class per code of CODES (tests/unit/test_error_codes.py checks it)


def error_class(code: str) -> type[GatewayError]:
    """The class raised for `code` (the base class for a code this client does not know)."""
    return _CLASSES.get(code, GatewayError)


def make_error(code: str, message: str, **fields: Any) -> GatewayError:
    return error_class(code)(code, message, **fields)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After value (delta-seconds or an HTTP date); None when absent or unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(seconds, 0.0) if seconds == seconds else None  # NaN is unusable


# --- REST ------------------------------------------------------------------------------------------------

# codes for responses that do not carry the gateway's error body (a proxy, a wrong URL)
_CODE_FOR_HTTP_STATUS = {
    400: "invalid_request", 401: "invalid_token", 403: "permission_denied", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 413: "request_too_large", 422: "invalid_request",
    429: "rate_limited",
    500: "internal_error", 502: "upstream_error", 503: "service_unavailable", 504: "upstream_timeout",
}


def from_rest(status: int, body: Any, headers: Mapping[str, str], text: str = "") -> GatewayError:
    """The error of a non-2xx REST response."""
    request_id = headers.get("x-request-id")
    retry_after = parse_retry_after(headers.get("retry-after"))
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        return make_error(err["code"], str(err.get("message") or err["code"]), param=err.get("param"),
                          status=status, retry_after=retry_after, request_id=request_id, type=err.get("type"))
    code = _CODE_FOR_HTTP_STATUS.get(status, "internal_error" if status >= 500 else "invalid_request")
    snippet = " ".join(text.split())[:200]
    message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    return make_error(code, message, status=status, retry_after=retry_after, request_id=request_id)


def from_error_event(body: dict[str, Any], request_id: str | None = None) -> GatewayError:
    """The error of a ``data: {"error": {...}}`` event that ended a REST stream."""
    err = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = err.get("code") if isinstance(err.get("code"), str) else "internal_error"
    return make_error(code, str(err.get("message") or code), param=err.get("param"), type=err.get("type"),
                      request_id=request_id)


# --- gRPC ------------------------------------------------------------------------------------------------

_CODE_FOR_GRPC_STATUS = {
    "INVALID_ARGUMENT": "invalid_request",
    "UNAUTHENTICATED": "invalid_token",
    "PERMISSION_DENIED": "permission_denied",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limited",
    "ABORTED": "max_iterations_exceeded",
    "UNIMPLEMENTED": "not_found",
}


def from_grpc(status_name: str, details: str | None, trailing: Iterable[tuple[str, Any]] | None,
              initial: Iterable[tuple[str, Any]] | None) -> GatewayError:
    """The error of a failed RPC: ErrorInfo.reason when the gateway sent one, else the status code alone."""
    from google.rpc import error_details_pb2, status_pb2

    initial_md = dict(initial or ())
    request_id = initial_md.get("x-request-id")
    request_id = request_id if isinstance(request_id, str) else None
    message = details or status_name
    for key, value in trailing or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        info: Any = None
        retry_delay: float | None = None
        for detail in status.details:
            if info is None and detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
            elif retry_delay is None and detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_delay = max(retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9, 0.0)
        if info is not None:
            # ErrorInfo's metadata.retry_after (the REST header's value) first, else the RetryInfo detail
            retry_after = parse_retry_after(info.metadata.get("retry_after"))
            return make_error(info.reason, status.message or message, param=info.metadata.get("param") or None,
                              retry_after=retry_after if retry_after is not None else retry_delay,
                              request_id=request_id, grpc_status=status_name)
    # no ErrorInfo: not the gateway talking (or no connection at all)
    if status_name == "UNAVAILABLE":
        return GatewayConnectionError(f"gRPC UNAVAILABLE: {message}", request_id=request_id)
    if status_name == "DEADLINE_EXCEEDED":
        return GatewayTimeoutError(f"gRPC deadline exceeded: {message}", request_id=request_id)
    if status_name == "CANCELLED":
        return GatewayConnectionError(f"gRPC call cancelled: {message}", request_id=request_id)
    code = _CODE_FOR_GRPC_STATUS.get(status_name, "internal_error")
    return make_error(code, message, request_id=request_id, grpc_status=status_name)
