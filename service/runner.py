"""What every entry point shares: settings or a clear exit, logging, uvloop, signals."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from service.config import ConfigError, Settings


class ListenError(Exception):
    """A listen address that cannot be used; the message names the setting to change."""


def listen_error(what: str, host: str, port: int, variable: str, exc: OSError) -> ListenError:
    """The one-line reason `what` (gRPC, HTTP) cannot listen on host:port, naming what to set."""
    reason = os.strerror(exc.errno) if isinstance(exc.errno, int) and exc.errno > 0 else (
        exc.strerror or str(exc))
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        advice = "set BIND_HOST to an address of this machine"
    elif exc.errno == errno.EADDRINUSE:
        advice = f"set {variable} to a free port (0 picks one) or BIND_HOST to another address"
    elif exc.errno == errno.EACCES:
        advice = f"set {variable} to a port above 1023"
    else:
        advice = f"check {variable} and BIND_HOST"
    return ListenError(f"cannot listen for {what} on {host}:{port}: {reason.lower()}; {advice}")


def check_listen(host: str, port: int) -> None:
    """Raise the OSError binding host:port would raise (a listener with SO_REUSEADDR, like gRPC's, would
    succeed where this succeeds on at least one of the host's addresses)."""
    errors: list[OSError] = []
    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                            flags=socket.AI_PASSIVE):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(addr)
                return
            except OSError as exc:
                errors.append(exc)
    if errors:
        raise errors[0]


def run(serve: Callable[[Settings], Coroutine[Any, Any, None]]) -> int:
    """Load settings (exit 2 with the reason if invalid), set up logging, run `serve` on uvloop.

    A listen address that cannot be used also exits 2 with one line naming the setting; `serve` must
    raise `ListenError` for it after closing whatever it had started.
    """
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from service.logs import configure_logging

    configure_logging(settings)
    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a pinned dependency; plain asyncio still works
            asyncio.run(serve(settings))
        else:
            uvloop.run(serve(settings))
    except ListenError as exc:
        print(f"start-up error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:  # found as the gateway starts (a provider's base URL), before it listens
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


def on_reload_signal(reload: Callable[[], None]) -> None:
    """Call `reload` on every SIGHUP (the limits file; it logs its own outcome)."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


async def wait_for_stop_signal() -> None:
    """Return on the first SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
