"""The one interface every provider adapter implements, and the typed results it returns.

An adapter does I/O only: it turns an `UpstreamCall` into a provider request with its module's pure
`translate` functions, sends it over one shared connection pool, and classifies every failure once into a
`GatewayError`. It returns a `Result` (the completion, its usage, what the calls upstream did); a stream
yields `Delta` events and ends with one `End` (usage and upstream record). Nothing else travels back: the
core turns these into the edges' call record, the ledger and the metrics, so a loop of calls (the agent
runtime) sums results instead of threading counters.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from ainative.chat.v1 import chat_pb2 as pb

from service.providers.spec import ProviderSpec


@dataclass(slots=True)
class Upstream:
    """What one model call did at its provider, written by the transport as its attempts go, so that it is
    known also when the call fails or is cancelled half-way (the core reads it from the call then)."""

    attempts: int = 0  # requests sent, retries included
    seconds: float = 0.0  # time spent waiting on the provider
    request_id: str = ""  # the provider's own id of the last attempt
    # where and why the last failed attempt failed (URL without query; "HTTP 503" or the network error)
    failed_url: str = ""
    failure: str = ""


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
    request_bytes: int = 0  # the request as received: a large one is converted off the event loop
    upstream: Upstream = field(default_factory=Upstream)


@dataclass(frozen=True, slots=True)
class Result:
    """A finished model call: the completion (choices and usage; the core fills id, model, ...)."""

    completion: pb.ChatCompletion
    upstream: Upstream

    @property
    def usage(self) -> pb.Usage:
        return self.completion.usage


@dataclass(frozen=True, slots=True)
class Delta:
    """A streamed chunk with choices."""

    chunk: pb.ChatCompletionChunk


@dataclass(frozen=True, slots=True)
class End:
    """The last event of a stream that finished: its usage and what the calls upstream did."""

    usage: pb.Usage
    upstream: Upstream


StreamEvent = Delta | End


class Provider(Protocol):
    spec: ProviderSpec

    async def complete(self, call: UpstreamCall) -> Result:
        """One model call."""
        ...

    def stream(self, call: UpstreamCall) -> AsyncGenerator[StreamEvent, None]:
        """The same call, streamed: `Delta`s, then one `End`.

        Raises GatewayError before the first event if the call could not start (retries happen only
        then), and mid-stream if it broke.
        """
        ...

    async def aclose(self) -> None:
        """Release what the adapter holds (the shared pool belongs to the core)."""
        ...


async def timed(source: AsyncIterator[bytes], upstream: Upstream) -> AsyncGenerator[bytes, None]:
    """Yield from `source`, adding the time spent waiting on it to `upstream.seconds`."""
    iterator = aiter(source)
    while True:
        started = time.perf_counter()
        try:
            item = await anext(iterator)
        except StopAsyncIteration:
            return
        finally:
            upstream.seconds += time.perf_counter() - started
        yield item
