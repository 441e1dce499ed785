"""The one interface every provider adapter implements.

An adapter does I/O only: it turns an `UpstreamCall` into a provider request with
its module's pure `translate` functions, sends it over one shared connection
pool, and classifies every failure once into a `GatewayError`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from ainative.chat.v1 import chat_pb2 as pb

from service.context import CallStats
from service.providers.capabilities import Capabilities


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """Everything an adapter needs for one model call."""

    request: pb.CreateChatCompletionRequest
    model_id: str  # the provider's id for the model
    max_tokens: int
    api_key: str = field(repr=False)  # never printed: a caller's own key need not look like one
    # loop.time() by which the call must end (for streams: by which it must have started)
    deadline: float
    request_id: str
    stats: CallStats  # the adapter adds its attempts, upstream time and the provider's request id


class Provider(Protocol):
    name: str
    capabilities: Capabilities

    async def complete(self, call: UpstreamCall) -> pb.ChatCompletion:
        """One model call; returns choices and usage (the core fills the rest)."""
        ...

    def stream(self, call: UpstreamCall) -> AsyncGenerator[pb.ChatCompletionChunk, None]:
        """The same call, streamed: chunks with choices, then one usage-only chunk.

        Raises GatewayError before the first chunk if the call could not start
        (retries happen only then), and mid-stream if it broke.
        """
        ...

    async def aclose(self) -> None:
        """Release the connection pool."""
        ...


async def timed(source: AsyncIterator[bytes], stats: CallStats) -> AsyncGenerator[bytes, None]:
    """Yield from `source`, adding the time spent waiting on it to `stats.upstream_s`."""
    iterator = aiter(source)
    while True:
        started = time.perf_counter()
        try:
            item = await anext(iterator)
        except StopAsyncIteration:
            return
        finally:
            stats.upstream_s += time.perf_counter() - started
        yield item
