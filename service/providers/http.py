"""The upstream HTTP transport every adapter uses: one aiohttp pool for the process.

It sends one attempt and classifies its failures once (status -> GatewayError,
network -> connection/timeout errors), times the wait on the provider into the
call's stats, and turns a streaming body into SSE events. Adapters build the
provider's URL, headers and body; retries wrap `send` in the shared retry loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
import structlog
from ainative.chat.v1 import chat_pb2 as pb

from service.errors import scrub
from service.providers import classify
from service.providers.base import Delta, End, Result, StreamEvent, UpstreamCall, timed
from service.providers.retry import call_with_retries
from service.providers.spec import ProviderSettings, ProviderSpec
from service.providers.sse import SSEDecoder

log = structlog.get_logger("upstream")


def safe_url(url: str) -> str:
    """`url` as scheme://host:port/path, for logs: no user info, query or fragment, nothing key-shaped."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return scrub(f"{parts.scheme}://{netloc}{parts.path}")


def describe_failure(exc: BaseException, timeout_s: float | None = None) -> str:
    """Why an upstream attempt failed, for logs: the exception class and its message, scrubbed."""
    text = str(exc)
    if not text and isinstance(exc, TimeoutError):
        text = f"no answer within {timeout_s:g} s" if timeout_s is not None else "no answer in time"
    # "Connect call failed (...)" says nothing of why: the errno does (refused, unreachable, ...)
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.errno:
        reason = os.strerror(os_error.errno)
        if reason not in text:
            text = f"{text} ({reason})"
    return scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _failed(call: UpstreamCall, provider: str, url: str, cause: str, *, network: bool) -> None:
    """Note where and why an attempt failed, for the request's log line; a network failure also gets a
    warning line of its own (each attempt of a retried call may fail differently)."""
    up = call.upstream
    up.failed_url, up.failure = safe_url(url), cause
    if network:
        log.warning("upstream_attempt_failed", request_id=call.request_id, provider=provider,
                    attempt=up.attempts, url=up.failed_url, cause=cause)


class HttpPool:
    """One keep-alive connection pool, created lazily inside the running event loop."""

    def __init__(self, limit: int = 1000):
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # aiohttp sets TCP_NODELAY on every connection it makes: small stream events are not held back
            connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how one provider is called: everything `complete`/`open_stream` need besides the call."""

    provider: str
    url: str
    request_id_header: str  # the response header carrying the provider's own request id
    pool: HttpPool
    timeout_s: float  # UPSTREAM_TIMEOUT_S: per attempt, or per read for streams
    max_retries: int

    @classmethod
    def of(cls, spec: ProviderSpec, settings: ProviderSettings, pool: HttpPool, path: str) -> Endpoint:
        """The endpoint at `path` under the provider's configured base URL."""
        return cls(spec.name, settings.base_url + path, spec.request_id_header, pool, settings.timeout_s,
                   settings.max_retries)

    def __repr__(self) -> str:  # the URL as the logs show it: a base URL may carry credentials
        return (f"Endpoint(provider={self.provider!r}, url={safe_url(self.url)!r}, "
                f"request_id_header={self.request_id_header!r}, timeout_s={self.timeout_s!r}, "
                f"max_retries={self.max_retries!r})")


async def complete(endpoint: Endpoint, call: UpstreamCall, payload: bytes, headers: dict[str, str],
                   parse: Callable[[Any], pb.ChatCompletion]) -> Result:
    """A non-streaming call: send, read, parse, with retries within the call's deadline."""
    provider = endpoint.provider

    async def attempt(remaining: float) -> pb.ChatCompletion:
        resp = await send(endpoint, call, payload, headers, remaining, stream=False)
        body = await read_json(call, endpoint, resp, remaining)
        try:
            return parse(body)
        except (AttributeError, TypeError):
            raise classify.bad_response(provider) from None

    completion = await call_with_retries(attempt, max_retries=endpoint.max_retries, deadline=call.deadline,
                                         provider=provider)
    return Result(completion, call.upstream)


async def open_stream(endpoint: Endpoint, call: UpstreamCall, payload: bytes,
                      headers: dict[str, str]) -> aiohttp.ClientResponse:
    """A streaming call's response, once its status is a success. Retried only here, while opening:
    once a byte has gone to the client there is no going back."""

    async def attempt(remaining: float) -> aiohttp.ClientResponse:
        return await send(endpoint, call, payload, headers, remaining, stream=True)

    return await call_with_retries(attempt, max_retries=endpoint.max_retries, deadline=call.deadline,
                                   provider=endpoint.provider)


def request_limits(seconds: float, stream: bool) -> aiohttp.ClientTimeout:
    # a stream is bounded per read (an idle stream times out, a long one does not); a call as a whole
    return aiohttp.ClientTimeout(sock_connect=seconds, sock_read=seconds) if stream else aiohttp.ClientTimeout(
        total=seconds)


@contextlib.contextmanager
def _waiting_on(call: UpstreamCall, endpoint: Endpoint, timeout_s: float) -> Iterator[None]:
    """Time spent inside counts as upstream time; network failures become classified errors, their cause
    and the URL noted for the logs."""
    started = time.perf_counter()
    try:
        yield
    except TimeoutError as exc:  # aiohttp's socket timeouts are ClientErrors too: a timeout all the same
        _failed(call, endpoint.provider, endpoint.url, describe_failure(exc, timeout_s), network=True)
        raise classify.timeout_error(endpoint.provider) from None
    except aiohttp.ClientError as exc:
        _failed(call, endpoint.provider, endpoint.url, describe_failure(exc), network=True)
        raise classify.connection_error(endpoint.provider) from None
    except asyncio.CancelledError:  # the call's deadline passed (upstream_timeout) or its caller went away
        waited = time.perf_counter() - started
        _failed(call, endpoint.provider, endpoint.url, f"CancelledError: stopped waiting after {waited:.3g} s",
                network=False)
        raise
    finally:
        call.upstream.seconds += time.perf_counter() - started


async def send(endpoint: Endpoint, call: UpstreamCall, payload: bytes, headers: dict[str, str],
               remaining: float, stream: bool) -> aiohttp.ClientResponse:
    """One attempt within `remaining` seconds; the response once its status is a success, else the
    classified error."""
    seconds = min(remaining, endpoint.timeout_s)
    limits = request_limits(seconds, stream)
    call.upstream.attempts += 1
    call.upstream.failed_url = call.upstream.failure = ""  # the log line tells of the last attempt
    with _waiting_on(call, endpoint, seconds):
        resp = await endpoint.pool.session.post(endpoint.url, data=payload, headers=headers, timeout=limits)
        call.upstream.request_id = resp.headers.get(endpoint.request_id_header, "")
        if resp.status < 400:
            return resp
        async with resp:
            raw = await resp.read()
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = raw
    _failed(call, endpoint.provider, endpoint.url, f"HTTP {resp.status}", network=False)
    raise classify.classify_status(endpoint.provider, resp.status, body, model=call.request.model,
                                   retry_after=resp.headers.get("Retry-After"), api_key=call.api_key)


async def read_json(call: UpstreamCall, endpoint: Endpoint, resp: aiohttp.ClientResponse, timeout_s: float) -> Any:
    with _waiting_on(call, endpoint, timeout_s):
        async with resp:
            raw = await resp.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise classify.bad_response(endpoint.provider) from None


class StreamTranslator(Protocol):
    """What every provider's stream state machine offers (see `…/translate.py`)."""

    error: dict[str, Any] | None

    @property
    def done(self) -> bool: ...

    def feed(self, event: str | None, data: str) -> list[pb.ChatCompletionChunk]: ...

    def usage(self) -> pb.Usage: ...


async def translate_stream(call: UpstreamCall, provider: str, resp: aiohttp.ClientResponse,
                           translator: StreamTranslator) -> AsyncGenerator[StreamEvent, None]:
    """`Delta`s from a provider stream, then one `End`. An in-stream error event, a dropped connection or a
    stream that ends before its final event is an error, never a normal finish."""
    events = sse_events(call, provider, resp)
    try:
        async for event, data in events:
            try:
                out = translator.feed(event, data)
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise classify.bad_response(provider) from None
            for chunk in out:
                yield Delta(chunk)
            if translator.error is not None:
                raise classify.stream_error(provider, translator.error, model=call.request.model,
                                            api_key=call.api_key)
    finally:
        await events.aclose()
    if not translator.done:
        raise classify.dropped_stream(provider)
    yield End(translator.usage(), call.upstream)


async def sse_events(call: UpstreamCall, provider: str,
                     resp: aiohttp.ClientResponse) -> AsyncGenerator[tuple[str | None, str], None]:
    """The (event, data) pairs of a streaming body; network failures become classified errors.

    Closing this generator early closes the connection rather than returning it to the pool.
    """
    decoder = SSEDecoder()
    try:
        async for raw in timed(resp.content.iter_any(), call.upstream):
            for event in decoder.feed(raw):
                yield event
        for event in decoder.close():
            yield event
    except TimeoutError as exc:
        _failed(call, provider, str(resp.url), describe_failure(exc), network=True)
        raise classify.timeout_error(provider) from None
    except aiohttp.ClientError as exc:
        _failed(call, provider, str(resp.url), describe_failure(exc), network=True)
        raise classify.dropped_stream(provider) from None
    finally:
        resp.close()
