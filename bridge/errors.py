"""GatewayError -> HTTP response: the one place the REST edge renders errors."""

from __future__ import annotations

import orjson
from aiohttp import web

from service.context import CallContext
from service.errors import GatewayError


def error_body(err: GatewayError) -> dict:
    return {"error": {"message": err.message, "type": err.kind.type, "code": err.code, "param": err.param}}


def error_response(err: GatewayError) -> web.Response:
    headers = dict(err.headers)  # a limited caller's x-ratelimit-*
    if err.retry_after:  # the provider's own advice (or the caller's limits'), kept for 429, 503 and 502 alike
        headers["Retry-After"] = err.retry_after
    return web.Response(
        body=orjson.dumps(error_body(err)), status=err.kind.http_status,
        content_type="application/json", headers=headers,
    )


# aiohttp's own HTTP exceptions (routing, body size) in our format.
HTTP_EXCEPTION_CODES = {
    404: ("not_found", "No such route: {path}"),
    405: ("method_not_allowed", "Method {method} is not allowed on {path}"),
    413: ("request_too_large", "The request body is larger than the {limit}-byte limit"),
}


def from_http_exception(exc: web.HTTPException, request: web.Request, limit: int) -> GatewayError:
    code, template = HTTP_EXCEPTION_CODES.get(exc.status, ("invalid_request", "{reason}"))
    message = template.format(path=request.path, method=request.method, limit=limit, reason=exc.reason)
    return GatewayError(code, message)


def overhead_ms(ctx: CallContext, elapsed_s: float) -> str:
    """X-Gateway-Overhead-Ms: what the gateway itself cost (total minus time waiting on the provider)."""
    return f"{max(0.0, elapsed_s - ctx.stats.upstream_s) * 1000:.3f}"
