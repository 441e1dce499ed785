"""``AsyncGatewayClient`` and ``GatewayClient``: one surface over REST or gRPC.

Retries back off exponentially, within the usual limits: connection
failures, 429 and 5xx are retried at most ``max_retries`` times, waiting the server's ``Retry-After`` when it
gives one and else ``backoff * 2**n`` (capped at 8 s, up to 25 % jitter); other 4xx never are. A
``Retry-After`` longer than ``max_retry_wait`` (60 s by default) is not slept on: the error is raised at once,
``retry_after`` telling the caller when to come back (a ``budget_exceeded`` refusal's is the time to the next
UTC day). A stream is retried only until its first chunk arrived.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

import grpc
import httpx

from ainative_gateway._grpc import AsyncGrpcTransport, GrpcTransport
from ainative_gateway._request import Messages, ToolLike, chat_body, date_param
from ainative_gateway._rest import AsyncRestTransport, RestTransport
from ainative_gateway._transport import CallOptions
from ainative_gateway.errors import GatewayError
from ainative_gateway.results import ChatCompletion, ChatCompletionChunk, Limits, Model, Tool, UsageReport

__all__ = ["DEFAULT_GRPC_TARGET", "DEFAULT_URL", "AsyncGatewayClient", "GatewayClient", "resolve_endpoint"]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_GRPC_TARGET = "127.0.0.1:50051"
MAX_RETRY_AFTER = 60.0  # the default max_retry_wait
MAX_BACKOFF = 8.0
Transport = Literal["rest", "grpc"]


def resolve_endpoint(base_url: str | None = None, grpc_target: str | None = None,
                     transport: Transport | None = None) -> tuple[Transport, str, str]:
    """``(transport, base_url, grpc_target)`` of a client, the clients' and ``gateway-chat``'s one rule.

    An address passed in wins over the environment. Without ``transport``: REST when ``base_url`` is given,
    gRPC when only ``grpc_target`` is, else gRPC when ``GATEWAY_GRPC`` is set, else REST. A missing address
    comes from ``GATEWAY_URL`` / ``GATEWAY_GRPC`` (empty counts as unset), else ``DEFAULT_URL`` /
    ``DEFAULT_GRPC_TARGET``. The environment is read on each call, i.e. when a client is made.
    """
    env_url = os.environ.get("GATEWAY_URL", "").strip() or None
    env_grpc = os.environ.get("GATEWAY_GRPC", "").strip() or None
    if transport is None:
        transport = "rest" if base_url else "grpc" if grpc_target or env_grpc else "rest"
    return transport, base_url or env_url or DEFAULT_URL, grpc_target or env_grpc or DEFAULT_GRPC_TARGET


class _Unset:
    def __repr__(self) -> str:
        return "<default>"


UNSET: Any = _Unset()


class _ClientBase:
    def __init__(self, base_url: str | None = None, *, grpc_target: str | None = None,
                 transport: Transport | None = None, token: str | None = None, provider_key: str | None = None,
                 model: str | None = None, timeout: float | None = 60.0, max_retries: int = 2,
                 backoff: float = 0.5, max_retry_wait: float = MAX_RETRY_AFTER) -> None:
        if transport not in (None, "rest", "grpc"):
            raise ValueError(f"transport must be 'rest' or 'grpc', not {transport!r}")
        if max_retries < 0 or backoff < 0 or max_retry_wait < 0:
            raise ValueError("max_retries, backoff and max_retry_wait must not be negative")
        self.transport: Transport
        self.transport, self.base_url, self.grpc_target = resolve_endpoint(base_url, grpc_target, transport)
        self.token = token
        self.provider_key = provider_key
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait

    def _options(self, timeout: Any, provider_key: str | None, request_id: str | None) -> CallOptions:
        return CallOptions(token=self.token, provider_key=provider_key or self.provider_key, request_id=request_id,
                           timeout=self.timeout if timeout is UNSET else timeout)

    def _retry_delay(self, err: GatewayError, attempt: int) -> float | None:
        """Seconds to wait before retrying after `err` on attempt `attempt` (0-based); None: give up."""
        if not err.retryable or attempt >= self.max_retries:
            return None
        if err.retry_after is not None:
            # the server's advice is kept; one beyond max_retry_wait (a daily budget's hours) is raised at once
            return err.retry_after if err.retry_after <= self.max_retry_wait else None
        return min(self.backoff * 2**attempt, MAX_BACKOFF) * (1 - 0.25 * random.random())

    def _chat_body(self, messages: Messages, model: str | None, provider: str | None,
                   tools: Sequence[ToolLike] | None, tool_choice: Any, temperature: float | None,
                   max_tokens: int | None, max_iterations: int | None, extra: dict[str, Any]) -> dict[str, Any]:
        return chat_body(messages, model=model or self.model, provider=provider, tools=tools, tool_choice=tool_choice,
                         temperature=temperature, max_tokens=max_tokens, max_iterations=max_iterations, extra=extra)

    def __repr__(self) -> str:
        where = self.grpc_target if self.transport == "grpc" else self.base_url
        return f"{type(self).__name__}({self.transport}: {where})"


def _names(names: Sequence[str] | str | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = names.split(",")
    return [n.strip() for n in names if n.strip()] or None


class AsyncGatewayClient(_ClientBase):
    """The asyncio client.

    ``AsyncGatewayClient("http://127.0.0.1:8080")`` speaks REST; ``AsyncGatewayClient(grpc_target="host:50051")``
    (or ``transport="grpc"``) speaks gRPC. Without an address, ``GATEWAY_URL`` (REST) or ``GATEWAY_GRPC`` (gRPC,
    chosen when set) give it, as for ``gateway-chat``: see ``resolve_endpoint``. ``token`` is the JWT sent as
    ``authorization: Bearer``;
    ``provider_key`` a default BYOK key (each call may pass its own); ``model`` the default model;
    ``timeout`` seconds per attempt (``None``: none); ``max_retries``/``backoff``/``max_retry_wait``: see the
    module doc.
    """

    def __init__(self, base_url: str | None = None, *, grpc_target: str | None = None,
                 transport: Transport | None = None, token: str | None = None, provider_key: str | None = None,
                 model: str | None = None, timeout: float | None = 60.0, max_retries: int = 2, backoff: float = 0.5,
                 max_retry_wait: float = MAX_RETRY_AFTER, grpc_credentials: grpc.ChannelCredentials | None = None,
                 http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__(base_url, grpc_target=grpc_target, transport=transport, token=token,
                         provider_key=provider_key, model=model, timeout=timeout, max_retries=max_retries,
                         backoff=backoff, max_retry_wait=max_retry_wait)
        self._t: AsyncRestTransport | AsyncGrpcTransport = (
            AsyncGrpcTransport(self.grpc_target, grpc_credentials) if self.transport == "grpc"
            else AsyncRestTransport(self.base_url, http_client))

    async def _retrying(self, call: Any) -> Any:
        attempt = 0
        while True:
            try:
                return await call()
            except GatewayError as err:
                delay = self._retry_delay(err, attempt)
                if delay is None:
                    raise
            attempt += 1
            await asyncio.sleep(delay)

    async def chat(self, messages: Messages, *, model: str | None = None, provider: str | None = None,
                   tools: Sequence[ToolLike] | None = None, tool_choice: Any = None, temperature: float | None = None,
                   max_tokens: int | None = None, max_iterations: int | None = None, timeout: Any = UNSET,
                   provider_key: str | None = None, request_id: str | None = None, **extra: Any) -> ChatCompletion:
        """One chat completion. ``messages``: a string (one user message), or dicts / ``Message`` objects.
        ``tools``: full definitions, ``Tool`` objects or catalog names. ``extra``: other request fields
        (``top_p``, ``stop``, ``user``, ``metadata``, ``parallel_tool_calls``, ...)."""
        body = self._chat_body(messages, model, provider, tools, tool_choice, temperature, max_tokens, max_iterations,
                               extra)
        o = self._options(timeout, provider_key, request_id)
        return await self._retrying(lambda: self._t.chat(body, o))

    async def stream(self, messages: Messages, *, model: str | None = None, provider: str | None = None,
                     tools: Sequence[ToolLike] | None = None, tool_choice: Any = None,
                     temperature: float | None = None, max_tokens: int | None = None,
                     max_iterations: int | None = None, include_usage: bool = False, timeout: Any = UNSET,
                     provider_key: str | None = None, request_id: str | None = None,
                     **extra: Any) -> AsyncIterator[ChatCompletionChunk]:
        """The same call, as chunks (``async for chunk in client.stream(...)``). With ``include_usage`` a last
        chunk without choices carries usage. Errors after the first chunk are raised as they arrive."""
        body = self._chat_body(messages, model, provider, tools, tool_choice, temperature, max_tokens, max_iterations,
                               extra)
        o = self._options(timeout, provider_key, request_id)
        attempt = 0
        while True:
            chunks = self._t.stream(body, include_usage, o)
            try:
                first = await anext(chunks)
                break
            except StopAsyncIteration:
                return
            except GatewayError as err:
                await chunks.aclose()
                delay = self._retry_delay(err, attempt)
                if delay is None:
                    raise
            attempt += 1
            await asyncio.sleep(delay)
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()

    async def models(self, *, provider: str | None = None, timeout: Any = UNSET) -> list[Model]:
        """The model catalog (only `provider`'s models when given)."""
        o = self._options(timeout, None, None)
        return await self._retrying(lambda: self._t.models(provider, o))

    async def tools(self, *, group: str | None = None, names: Sequence[str] | str | None = None,
                    timeout: Any = UNSET) -> list[Tool]:
        """The tool catalog, optionally one `group` (``zerodb``, ``agent``) or the given `names`."""
        o = self._options(timeout, None, None)
        return await self._retrying(lambda: self._t.tools(group, _names(names), o))

    async def usage(self, from_date: str | dt.date | None = None, to_date: str | dt.date | None = None, *,
                    timeout: Any = UNSET) -> UsageReport:
        """The caller's own usage (needs ``token``); dates inclusive, UTC, ``YYYY-MM-DD``."""
        o = self._options(timeout, None, None)
        return await self._retrying(lambda: self._t.usage(date_param(from_date), date_param(to_date), o))

    async def limits(self, *, timeout: Any = UNSET) -> Limits:
        """The caller's limits and where it stands now (``token`` names the caller; without one, the limits
        of anonymous callers)."""
        o = self._options(timeout, None, None)
        return await self._retrying(lambda: self._t.limits(o))

    async def aclose(self) -> None:
        await self._t.aclose()

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class GatewayClient(_ClientBase):
    """The blocking client: the same surface as ``AsyncGatewayClient``, with plain methods and iterators."""

    def __init__(self, base_url: str | None = None, *, grpc_target: str | None = None,
                 transport: Transport | None = None, token: str | None = None, provider_key: str | None = None,
                 model: str | None = None, timeout: float | None = 60.0, max_retries: int = 2, backoff: float = 0.5,
                 max_retry_wait: float = MAX_RETRY_AFTER, grpc_credentials: grpc.ChannelCredentials | None = None,
                 http_client: httpx.Client | None = None) -> None:
        super().__init__(base_url, grpc_target=grpc_target, transport=transport, token=token,
                         provider_key=provider_key, model=model, timeout=timeout, max_retries=max_retries,
                         backoff=backoff, max_retry_wait=max_retry_wait)
        self._t: RestTransport | GrpcTransport = (
            GrpcTransport(self.grpc_target, grpc_credentials) if self.transport == "grpc"
            else RestTransport(self.base_url, http_client))

    def _retrying(self, call: Any) -> Any:
        attempt = 0
        while True:
            try:
                return call()
            except GatewayError as err:
                delay = self._retry_delay(err, attempt)
                if delay is None:
                    raise
            attempt += 1
            time.sleep(delay)

    def chat(self, messages: Messages, *, model: str | None = None, provider: str | None = None,
             tools: Sequence[ToolLike] | None = None, tool_choice: Any = None, temperature: float | None = None,
             max_tokens: int | None = None, max_iterations: int | None = None, timeout: Any = UNSET,
             provider_key: str | None = None, request_id: str | None = None, **extra: Any) -> ChatCompletion:
        """See ``AsyncGatewayClient.chat``."""
        body = self._chat_body(messages, model, provider, tools, tool_choice, temperature, max_tokens, max_iterations,
                               extra)
        o = self._options(timeout, provider_key, request_id)
        return self._retrying(lambda: self._t.chat(body, o))

    def stream(self, messages: Messages, *, model: str | None = None, provider: str | None = None,
               tools: Sequence[ToolLike] | None = None, tool_choice: Any = None, temperature: float | None = None,
               max_tokens: int | None = None, max_iterations: int | None = None, include_usage: bool = False,
               timeout: Any = UNSET, provider_key: str | None = None, request_id: str | None = None,
               **extra: Any) -> Iterator[ChatCompletionChunk]:
        """See ``AsyncGatewayClient.stream`` (``for chunk in client.stream(...)``)."""
        body = self._chat_body(messages, model, provider, tools, tool_choice, temperature, max_tokens, max_iterations,
                               extra)
        o = self._options(timeout, provider_key, request_id)
        attempt = 0
        while True:
            chunks = self._t.stream(body, include_usage, o)
            try:
                first = next(chunks)
                break
            except StopIteration:
                return
            except GatewayError as err:
                chunks.close()
                delay = self._retry_delay(err, attempt)
                if delay is None:
                    raise
            attempt += 1
            time.sleep(delay)
        try:
            yield first
            yield from chunks
        finally:
            chunks.close()

    def models(self, *, provider: str | None = None, timeout: Any = UNSET) -> list[Model]:
        o = self._options(timeout, None, None)
        return self._retrying(lambda: self._t.models(provider, o))

    def tools(self, *, group: str | None = None, names: Sequence[str] | str | None = None,
              timeout: Any = UNSET) -> list[Tool]:
        o = self._options(timeout, None, None)
        return self._retrying(lambda: self._t.tools(group, _names(names), o))

    def usage(self, from_date: str | dt.date | None = None, to_date: str | dt.date | None = None, *,
              timeout: Any = UNSET) -> UsageReport:
        o = self._options(timeout, None, None)
        return self._retrying(lambda: self._t.usage(date_param(from_date), date_param(to_date), o))

    def limits(self, *, timeout: Any = UNSET) -> Limits:
        """See ``AsyncGatewayClient.limits``."""
        o = self._options(timeout, None, None)
        return self._retrying(lambda: self._t.limits(o))

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
