"""The retry policy shared by all adapters (Stainless-compatible, deadline-aware).

Retries what the adapters marked retryable (408/409/429/5xx/529, network errors, timeouts), at most
`max_retries` times, waiting `retry-after` when the provider says so (0-60 s),
else 0.5 s * 2^n capped at 8 s with up to 25 % jitter. It never sleeps past the
call's deadline: when the wait would end after it, the last error is raised.
Streams are retried only before their first byte reached the client (the
caller simply stops using this once it has forwarded anything).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from service.errors import GatewayError
from service.providers.classify import timeout_error

T = TypeVar("T")

def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), if usable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = parsed.timestamp() - (now if now is not None else time.time())
    return seconds if 0 < seconds <= 60 else None


def backoff(attempt: int, retry_after: str | None, rand: Callable[[], float] = random.random) -> float:
    wait = parse_retry_after(retry_after)
    if wait is not None:
        return wait
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * rand())


async def call_with_retries(
    attempt: Callable[[float], Awaitable[T]], *, max_retries: int, deadline: float, provider: str
) -> T:
    """Run `attempt(seconds_left)` until it succeeds, fails for good, or the deadline passes."""
    try:
        async with asyncio.timeout_at(deadline):
            return await _retry_loop(attempt, max_retries, deadline)
    except TimeoutError:
        raise timeout_error(provider) from None


async def _retry_loop(attempt: Callable[[float], Awaitable[T]], max_retries: int, deadline: float) -> T:
    loop = asyncio.get_running_loop()
    n = 0
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise GatewayError("upstream_timeout", "The provider did not answer in time", retryable=True)
        try:
            return await attempt(remaining)
        except GatewayError as err:
            if not err.retryable or n >= max_retries:
                raise
            wait = backoff(n, err.retry_after)
            if loop.time() + wait >= deadline:
                raise
            n += 1
            await asyncio.sleep(wait)
