"""What every entry point shares: settings or a clear exit, logging, uvloop, signals."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from service.config import ConfigError, Settings


def run(serve: Callable[[Settings], Coroutine[Any, Any, None]]) -> int:
    """Load settings (exit 2 with the reason if invalid), set up logging, run `serve` on uvloop."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from service.logs import configure_logging

    configure_logging(settings)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency; plain asyncio still works
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
    return 0


async def wait_for_stop_signal() -> None:
    """Return on the first SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
