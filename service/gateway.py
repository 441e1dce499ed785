"""The one-process gateway: gRPC server and REST bridge sharing one ChatCore.

`python -m service` runs this (what `make run` starts); tests start it on port 0.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from bridge.app import create_app, start_http
from bridge.state import STOPPING
from service.auth import Authenticator
from service.config import ConfigError, Settings
from service.core import ChatCore, build_providers
from service.inprocess import InProcessClient
from service.ledger import Ledger, open_ledger
from service.limits import Limiter, LimitsPolicy
from service.providers.http import HttpPool
from service.runner import listen_error, on_reload_signal, wait_for_stop_signal
from service.server import GrpcServer, start_grpc_server
from service.tools.catalog import ToolCatalog

log = structlog.get_logger("service")


class Gateway:
    def __init__(self, settings: Settings, core: ChatCore, ledger: Ledger, grpc_server: GrpcServer,
                 runner: web.AppRunner | None, http_port: int | None, limiter: Limiter, policy: LimitsPolicy):
        self.settings = settings
        self.core = core
        self.ledger = ledger
        self.limiter = limiter
        self.policy = policy
        self.grpc = grpc_server
        self.runner = runner
        self.grpc_port = grpc_server.port
        self.http_port = http_port

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: not ready, no new connections, in-flight calls and streams get `grace`
        seconds to finish (then are cancelled), then the usage ledger is flushed."""
        grace = self.settings.shutdown_grace_s if grace is None else grace
        await self.grpc.set_serving(False)
        stops = [self.grpc.stop(grace)]
        if self.runner is not None:
            self.runner.app[STOPPING].set()
            stops.append(self.runner.cleanup())
        await asyncio.gather(*stops)
        await self.core.aclose()
        await self.limiter.close()
        await self.ledger.close()

    def reload_limits(self) -> None:
        """SIGHUP: read LIMITS_FILE again; a bad file keeps the limits in force (policy.reload logs both)."""
        try:
            self.policy.reload()
        except ConfigError:
            pass


async def start_gateway(settings: Settings, *, http: bool = True) -> Gateway:
    policy = LimitsPolicy.from_settings(settings)  # ConfigError on a bad LIMITS_FILE, before anything starts
    pool = HttpPool()
    providers = build_providers(settings, pool)  # ConfigError on a bad provider base URL, likewise
    ledger = open_ledger(settings)
    await ledger.start()
    limiter = Limiter(settings, policy, ledger.spent_today)
    await limiter.start()
    core = ChatCore(settings, pool, providers, ToolCatalog.load(), ledger, Authenticator(settings), limiter)
    host = settings.bind_host
    grpc_server: GrpcServer | None = None
    runner, http_port = None, None
    try:  # a port that cannot be bound: one clear reason (ListenError), nothing left running
        try:
            grpc_server = await start_grpc_server(core, host, settings.grpc_port,
                                                  max_request_bytes=settings.max_request_bytes)
        except OSError as exc:
            raise listen_error("gRPC", host, settings.grpc_port, "GRPC_PORT", exc) from None
        if http:
            app = create_app(settings, InProcessClient(core))
            try:
                runner, http_port = await start_http(app, host, settings.http_port,
                                                     shutdown_timeout=settings.shutdown_grace_s)
            except OSError as exc:
                raise listen_error("HTTP", host, settings.http_port, "HTTP_PORT", exc) from None
    except BaseException:
        if grpc_server is not None:
            await grpc_server.stop(None)
        await core.aclose()
        await limiter.close()
        await ledger.close()
        raise
    return Gateway(settings, core, ledger, grpc_server, runner, http_port, limiter, policy)


async def serve(settings: Settings, *, http: bool = True) -> None:
    """Run until SIGTERM/SIGINT, then stop gracefully."""
    gateway = await start_gateway(settings, http=http)
    log.info("gateway_started", grpc=f"{settings.bind_host}:{gateway.grpc_port}",
             http=f"{settings.bind_host}:{gateway.http_port}" if http else None)
    on_reload_signal(gateway.reload_limits)
    await wait_for_stop_signal()
    log.info("gateway_stopping", grace_s=settings.shutdown_grace_s)
    await gateway.stop()
    log.info("gateway_stopped")
