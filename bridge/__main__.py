"""python -m bridge: the REST bridge alone, reaching the service over gRPC at SERVICE_ADDR."""

from __future__ import annotations

import sys

import structlog

from bridge.app import create_app, start_http
from service.config import Settings
from service.runner import listen_error, run, wait_for_stop_signal


async def serve(settings: Settings) -> None:
    log = structlog.get_logger("bridge")
    try:
        runner, port = await start_http(create_app(settings), settings.bind_host, settings.http_port)
    except OSError as exc:
        raise listen_error("HTTP", settings.bind_host, settings.http_port, "HTTP_PORT", exc) from None
    log.info("bridge_started", http=f"{settings.bind_host}:{port}", service=settings.service_addr)
    await wait_for_stop_signal()
    await runner.cleanup()
    log.info("bridge_stopped")


if __name__ == "__main__":
    sys.exit(run(serve))
