"""python -m bridge: the REST bridge alone, reaching the service over gRPC at SERVICE_ADDR."""

from __future__ import annotations

import asyncio
import signal
import sys

import structlog

from service.config import ConfigError, Settings


async def serve(settings: Settings) -> None:
    from bridge.app import create_app, start_http

    log = structlog.get_logger("bridge")
    runner, port = await start_http(create_app(settings), settings.bind_host, settings.http_port)
    log.info("bridge_started", http=f"{settings.bind_host}:{port}", service=settings.service_addr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    log.info("bridge_stopped")


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from service.logs import configure_logging

    configure_logging(settings)
    try:
        import uvloop

        uvloop.run(serve(settings))
    except ImportError:
        asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
