"""CLIENT_TIMEOUT_S on the REST edge: a client that goes silent loses its connection.

- No complete request head, or an idle keep-alive connection: aiohttp's own keep-alive timer
  (`start_http` sets `keepalive_timeout`). It runs from the moment a connection opens and again after
  each response, and closes a connection still waiting for a whole request head when it fires, however
  many bytes of a head have trickled in.
- A request body that stalls: `watch_body`, armed only for a request whose body is still arriving when
  its handler starts (a small body comes with its head, so the usual request arms nothing). When no body
  byte arrives for the timeout, reading the body raises `BodyTimeout`; the middleware answers 408
  `request_timeout` and closes the connection.
- A stream whose client accepts no bytes: `watch_stream`. When bytes are queued for the client and none
  of them leaves for the timeout, the connection is aborted; as for any client that goes away, the
  handler is cancelled and, with it, the upstream call, which frees its shared upstream connection.

The two watches poll four times per timeout on one timer each; nothing runs per byte or per write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiohttp import web

log = structlog.get_logger("bridge")

_DONE = object()  # what a progress function returns when there is nothing left to watch


class BodyTimeout(TimeoutError):
    """Set on a request's body stream when no byte of it arrived for CLIENT_TIMEOUT_S.

    A TimeoutError, so aiohttp's own draining of an unread body after the answer stops on it quietly.
    """


class Watch:
    """Calls `expire` once `progress()` has returned the same value for `timeout` seconds.

    `progress` returns a value that changes whenever the watched party does something (a value unequal to
    every other, such as a fresh `object()`, counts as progress), or `_DONE` to end the watch.
    """

    __slots__ = ("_loop", "_timeout", "_progress", "_expire", "_last", "_since", "_handle")

    def __init__(self, timeout: float, progress: Callable[[], object], expire: Callable[[], None]):
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._progress = progress
        self._expire = expire
        self._last = progress()
        self._since = self._loop.time()
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(timeout / 4, self._check)

    def _check(self) -> None:
        self._handle = None
        value = self._progress()
        if value is _DONE:
            return
        now = self._loop.time()
        if value != self._last:
            self._last, self._since = value, now
        elif now - self._since >= self._timeout:
            self._expire()
            return
        self._handle = self._loop.call_later(self._timeout / 4, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def watch_body(request: web.Request, timeout: float) -> Watch | None:
    """A watch on the request's body, if some of it is still to come; the caller cancels it when done."""
    body = request.content
    if body.is_eof():  # no body, or all of it arrived with the head
        return None

    def progress() -> object:
        return _DONE if body.is_eof() else body.total_raw_bytes

    def expire() -> None:
        body.set_exception(BodyTimeout(f"No request body bytes arrived for {timeout:g} s"))

    return Watch(timeout, progress, expire)


def watch_stream(request: web.Request, timeout: float, request_id: str) -> Watch:
    """A watch on the bytes a streaming response has queued for its client; the caller cancels it."""

    writer = request.writer

    def progress() -> object:
        transport = request.transport
        if transport is None:  # already gone
            return _DONE
        queued = transport.get_write_buffer_size()
        if not queued:
            return object()  # nothing waits on the client: it keeps up
        return writer.output_size - queued  # the bytes the client's side has taken so far

    def expire() -> None:
        transport = request.transport
        if transport is None:
            return
        log.warning("client_stopped_reading", request_id=request_id, path=request.path, timeout_s=timeout,
                    queued_bytes=transport.get_write_buffer_size())
        transport.abort()  # drops what is queued: the client is not reading it

    return Watch(timeout, progress, expire)
