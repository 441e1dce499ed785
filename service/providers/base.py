"""The one interface every provider adapter implements.

An adapter does I/O only: it turns an `UpstreamCall` into a provider request with
its module's pure `translate` functions, sends it over one shared connection
pool, and classifies every failure once into a `GatewayError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ainative.chat.v1 import chat_pb2 as pb


@dataclass(frozen=True, slots=True)
class Capabilities:
    streaming: bool = True
    images: bool = True
    tools: bool = True
    parallel_tool_calls: bool = True
    stop_sequences: bool = True


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """Everything an adapter needs for one model call."""

    request: pb.CreateChatCompletionRequest
    model_id: str  # the provider's id for the model
    max_tokens: int
    api_key: str
    deadline: float  # loop.time() by which the whole call, retries included, must end
    request_id: str


class Provider(Protocol):
    name: str
    capabilities: Capabilities

    async def complete(self, call: UpstreamCall) -> pb.ChatCompletion:
        """One model call; returns choices and usage (the core fills the rest)."""
        ...

    async def aclose(self) -> None:
        """Release the connection pool."""
        ...
