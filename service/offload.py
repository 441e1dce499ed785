"""Work too large for the event loop runs on one dedicated worker thread.

One event loop serves every REST call, RPC and stream of the process, so no single request may hold it
for long. Parsing, converting and checking a large request (up to 128 tools of 64 KiB each: seconds of
CPU, most of it JSON Schema checks) runs here instead; small requests never come here and keep their
fast path.

One worker, not a pool: Python code holds the GIL, so a second worker would add no throughput, only
a second thread for the event loop to contend with. Large requests therefore take turns (first come,
first served), and a caller that goes away while its job waits takes the job out of the queue; a job
already running is told to stop (`check_stop`), which the long loops (one iteration per tool) call.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

# A request body (or gRPC message) larger than this is parsed, converted and checked off the event loop.
LARGE_BYTES = 64 * 1024
# While a job runs, the event loop waits at most this long for the GIL when it wakes (the default
# interval, 5 ms, would add up to 5 ms to each of a small request's event-loop wake-ups).
_SWITCH_INTERVAL_S = 0.0005

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offload")
_STOP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("offload_stop", default=None)
_pending: set[Future[object]] = set()

P = ParamSpec("P")
T = TypeVar("T")


class Abandoned(Exception):
    """Raised in a job whose caller went away (see `check_stop`)."""


def is_large(size: int) -> bool:
    return size > LARGE_BYTES


def check_stop() -> None:
    """In a job: raise Abandoned when its caller went away. Elsewhere (on the event loop): nothing."""
    stop = _STOP.get()
    if stop is not None and stop.is_set():
        raise Abandoned


def busy() -> bool:
    """Whether a job is queued or running."""
    return bool(_pending)


def _job(stop: threading.Event, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    _STOP.set(stop)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    try:
        return fn(*args, **kwargs)
    finally:
        sys.setswitchinterval(previous)


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` on the worker thread (with this task's context variables); the result or its
    exception comes back here. Cancelling the caller dequeues the job, or tells a running one to stop."""
    stop = threading.Event()
    context = contextvars.copy_context()
    future: Future[T] = _EXECUTOR.submit(context.run, functools.partial(_job, stop, fn, *args, **kwargs))
    _pending.add(future)  # type: ignore[arg-type]
    future.add_done_callback(_pending.discard)  # type: ignore[arg-type]
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        stop.set()
        future.cancel()
        raise
