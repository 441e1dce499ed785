"""The aiohttp REST bridge: routes, the request middleware, and app lifecycle."""

from __future__ import annotations

import asyncio
import time

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from bridge import handlers
from bridge.client import ChatClient, GrpcClient
from bridge.errors import error_response, from_http_exception, overhead_ms
from bridge.openapi import REDOC_ICON_PATH, REDOC_JS_PATH, build_document, redoc_asset
from bridge.state import CLIENT, CTX, OPENAPI, SETTINGS, STARTED, STOPPING, STREAM_ERROR
from bridge.timeouts import BodyTimeout, watch_body
from service import metrics
from service.config import Settings
from service.context import CallContext, new_request_id
from service.errors import GatewayError
from service.logs import CANCELLED, log_request

log = structlog.get_logger("bridge")


def _request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-Id", "")
    if given and len(given) <= 128 and given.isprintable():
        return given
    return new_request_id()


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


CHAT_PATH = "/v1/chat/completions"


def _finish(request: web.Request, ctx: CallContext, status: int, err: GatewayError | None, elapsed: float,
            cancelled: bool = False) -> None:
    """Metrics and the canonical log line of one request (labelled: HTTP status, gateway code)."""
    code = err.code if err is not None else CANCELLED if cancelled else "ok"
    metrics.observe_request("http", _route(request), status, code, elapsed)
    if request.path.startswith("/v1/"):
        metrics.child(metrics.OVERHEAD, "http").observe(max(0.0, elapsed - ctx.stats.upstream_s))
        log_request(log, ctx, transport="http", route=f"{request.method} {request.path}", status=status,
                    latency_s=elapsed, error=err, cancelled=cancelled,
                    stream=ctx.stats.stream if request.path == CHAT_PATH else None,
                    stream_error=request[STREAM_ERROR].code if STREAM_ERROR in request else None)


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id in and out, the overhead header, metrics, one canonical log line, every error in our format."""
    started = time.perf_counter()
    request[STARTED] = started
    request_id = _request_id(request)
    ctx = request[CTX] = CallContext(
        request_id=request_id,
        provider_key=request.headers.get("X-Provider-Key") or None,
        authorization=request.headers.get("Authorization") or None,
    )
    metrics.child(metrics.IN_FLIGHT, "http").inc()
    err: GatewayError | None = None
    body_watch = watch_body(request, request.app[SETTINGS].client_timeout_s)  # None: the body is all here
    try:
        response = await handler(request)
    except GatewayError as exc:
        err = exc
    except BodyTimeout as exc:  # the client stopped sending its body
        err = GatewayError("request_timeout", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        err = from_http_exception(exc, request, request.app[SETTINGS].max_request_bytes)
    except asyncio.CancelledError:  # the client went away (handler cancellation) or the server is stopping
        _finish(request, ctx, 499, None, time.perf_counter() - started, cancelled=True)
        raise
    except Exception:
        log.exception("unhandled_error", request_id=request_id, path=request.path)
        err = GatewayError("internal_error", "Internal error")
    finally:
        metrics.child(metrics.IN_FLIGHT, "http").dec()
        if body_watch is not None:
            body_watch.cancel()
    if err is not None:
        response = error_response(err)
        if err.code == "request_timeout":  # the rest of that body is not coming: no next request either
            response.force_close()
    else:
        err = request.get(STREAM_ERROR)  # a stream that broke after its 200 went out
    elapsed = time.perf_counter() - started
    if not response.prepared:  # a stream sent these with its headers
        if ctx.stats.limit_headers and err is None:  # a limited caller's x-ratelimit-* (a 429 has its own)
            response.headers.extend(ctx.stats.limit_headers)
        if err is None:
            response.headers.extend(ctx.stats.dropped_header())
        response.headers["X-Request-Id"] = request_id
        response.headers["X-Gateway-Overhead-Ms"] = overhead_ms(ctx, elapsed)
    _finish(request, ctx, response.status, err, elapsed)
    return response


def create_app(settings: Settings, client: ChatClient | None = None) -> web.Application:
    """The bridge app. Without `client`, it reaches the service over gRPC at SERVICE_ADDR; the one-process
    gateway passes `service.inprocess.InProcessClient`, which calls its core directly."""
    app = web.Application(client_max_size=settings.max_request_bytes, middlewares=[gateway_middleware])
    app[SETTINGS] = settings
    app[STOPPING] = asyncio.Event()
    app[OPENAPI] = orjson.dumps(build_document())

    async def client_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        own = client is None
        app[CLIENT] = client if client is not None else GrpcClient(
            settings.service_addr,
            timeout=settings.upstream_timeout_s * (settings.upstream_max_retries + 1) + 30.0,
        )
        yield
        if own:
            await app[CLIENT].close()

    app.cleanup_ctx.append(client_ctx)
    app.router.add_post("/v1/chat/completions", handlers.chat_completions)
    app.router.add_get("/v1/models", handlers.models)
    app.router.add_get("/v1/models/{model:.+}", handlers.model)  # ids may carry a provider/ prefix
    app.router.add_get("/v1/tools", handlers.tools)
    app.router.add_get("/v1/usage", handlers.usage)
    app.router.add_get("/v1/limits", handlers.limits)
    app.router.add_get("/metrics", handlers.prometheus_metrics)
    app.router.add_get("/openapi.json", handlers.openapi_json)
    app.router.add_get("/docs", handlers.docs)
    app.router.add_get(REDOC_JS_PATH, redoc_asset)
    app.router.add_get(REDOC_ICON_PATH, redoc_asset)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    return app


async def start_http(
    app: web.Application, host: str, port: int, shutdown_timeout: float = 30.0
) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0 = any free port); returns the runner and bound port.

    On cleanup, in-flight requests get `shutdown_timeout` seconds to finish.
    """
    # handler_cancellation: a client that goes away cancels its handler at once, and with it the upstream call;
    # keepalive_timeout: a connection waiting this long for a whole request head (its first or a next) closes
    runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True,
                           shutdown_timeout=shutdown_timeout, keepalive_timeout=app[SETTINGS].client_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    try:
        await site.start()
    except BaseException:  # e.g. OSError: the port is taken; close what setup opened
        await runner.cleanup()
        raise
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, bound
