"""The aiohttp REST bridge: routes, the request middleware, and app lifecycle."""

from __future__ import annotations

import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from bridge import handlers
from bridge.client import ChatClient, GrpcClient
from bridge.errors import error_response, from_http_exception
from bridge.state import CLIENT, CTX, MODEL, PROVIDER, SETTINGS, STREAM_ERROR, USAGE
from service.config import Settings
from service.core import CallContext, new_request_id
from service.errors import GatewayError

log = structlog.get_logger("bridge")


def _request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-Id", "")
    if given and len(given) <= 128 and given.isprintable():
        return given
    return new_request_id()


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id in and out, one canonical log line, and every error in our format."""
    started = time.perf_counter()
    request_id = _request_id(request)
    request[CTX] = CallContext(request_id=request_id, provider_key=request.headers.get("X-Provider-Key") or None)
    try:
        response = await handler(request)
    except GatewayError as err:
        response = error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(from_http_exception(exc, request, request.app[SETTINGS].max_request_bytes))
    except Exception:
        log.exception("unhandled_error", request_id=request_id, path=request.path)
        response = error_response(GatewayError("internal_error", "Internal error"))
    if not response.prepared:  # a stream sent its headers already, request id included
        response.headers["X-Request-Id"] = request_id
    if request.path.startswith("/v1/"):
        usage = request.get(USAGE)
        log.info(
            "request", request_id=request_id, method=request.method, path=request.path,
            status=response.status, latency_ms=round((time.perf_counter() - started) * 1000, 3),
            provider=request.get(PROVIDER) or None, model=request.get(MODEL),
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            stream_error=request.get(STREAM_ERROR),
        )
    return response


def create_app(settings: Settings, client: ChatClient | None = None) -> web.Application:
    """The bridge app. Without `client`, it reaches the service over gRPC at SERVICE_ADDR."""
    app = web.Application(client_max_size=settings.max_request_bytes, middlewares=[gateway_middleware])
    app[SETTINGS] = settings

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
    app.router.add_get("/v1/tools", handlers.tools)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    return app


async def start_http(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0 = any free port); returns the runner and bound port."""
    # handler_cancellation: a client that goes away cancels its handler at once, and with it the upstream call
    runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, bound
