"""The REST transport (httpx): the OpenAI-compatible bridge, SSE streams included."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from ainative_gateway._transport import USER_AGENT, CallOptions
from ainative_gateway.errors import (
    GatewayConnectionError,
    GatewayTimeoutError,
    from_error_event,
    from_rest,
    make_error,
)
from ainative_gateway.results import ChatCompletion, ChatCompletionChunk, Limits, Model, Tool, UsageReport

CHAT_PATH = "/v1/chat/completions"


def normalize_base_url(url: str) -> str:
    """``http://host:8080``, ``http://host:8080/`` and the OpenAI-style ``http://host:8080/v1`` all work."""
    url = url.rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url[:-3] if url.endswith("/v1") else url


@contextlib.contextmanager
def transport_errors(where: str) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise GatewayTimeoutError(f"timed out talking to {where} ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise GatewayConnectionError(f"cannot reach {where}: {exc or type(exc).__name__}") from None


def _headers(o: CallOptions) -> dict[str, str]:
    return dict(o.pairs())


def _timeout(o: CallOptions) -> httpx.Timeout:
    return httpx.Timeout(o.timeout)


def _body(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _check(resp: httpx.Response) -> Any:
    """The decoded JSON of a 2xx answer; the mapped error of anything else."""
    body = _body(resp)
    if resp.status_code >= 300:
        raise from_rest(resp.status_code, body, resp.headers, resp.text)
    if not isinstance(body, dict):
        raise make_error("internal_error", f"HTTP {resp.status_code} with a body that is not a JSON object",
                         status=resp.status_code, request_id=resp.headers.get("x-request-id"))
    return body


def _event_data(line: str) -> str | None:
    if not line.startswith("data:"):
        return None  # comments, event names, blank separators
    return line[5:].strip()


def _chunk_or_error(data: str, request_id: str | None) -> ChatCompletionChunk:
    try:
        obj = json.loads(data)
    except ValueError:
        raise make_error("internal_error", f"malformed stream event: {data[:200]}", request_id=request_id) from None
    if "error" in obj:
        raise from_error_event(obj, request_id)
    return ChatCompletionChunk.from_dict(obj)


def _stream_cut(where: str, request_id: str | None) -> GatewayConnectionError:
    return GatewayConnectionError(f"the stream from {where} ended before [DONE]", request_id=request_id)


def _tools_params(group: str | None, names: list[str] | None) -> dict[str, str]:
    params = {}
    if group:
        params["group"] = group
    if names:
        params["names"] = ",".join(names)
    return params


def _usage_params(from_date: str | None, to_date: str | None) -> dict[str, str]:
    return {k: v for k, v in (("from", from_date), ("to", to_date)) if v}


def _models(body: dict[str, Any], provider: str | None) -> list[Model]:
    models = [Model.from_dict(m) for m in body.get("data") or ()]
    return [m for m in models if m.provider == provider] if provider else models


class AsyncRestTransport:
    def __init__(self, base_url: str, http_client: httpx.AsyncClient | None = None) -> None:
        self.where = normalize_base_url(base_url)
        self._http = http_client or httpx.AsyncClient(headers={"User-Agent": USER_AGENT})

    async def _call(self, method: str, path: str, o: CallOptions, **kw: Any) -> tuple[dict[str, Any], httpx.Response]:
        with transport_errors(self.where):
            resp = await self._http.request(method, self.where + path, headers=_headers(o), timeout=_timeout(o), **kw)
        return _check(resp), resp

    async def chat(self, body: dict[str, Any], o: CallOptions) -> ChatCompletion:
        data, resp = await self._call("POST", CHAT_PATH, o, json=body)
        return ChatCompletion.from_dict(data, request_id=resp.headers.get("x-request-id"))

    async def stream(self, body: dict[str, Any], include_usage: bool, o: CallOptions
                     ) -> AsyncIterator[ChatCompletionChunk]:
        body = {**body, "stream": True}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        with transport_errors(self.where):
            async with self._http.stream("POST", self.where + CHAT_PATH, json=body, headers=_headers(o),
                                         timeout=_timeout(o)) as resp:
                request_id = resp.headers.get("x-request-id")
                if resp.status_code >= 300:
                    await resp.aread()
                    raise from_rest(resp.status_code, _body(resp), resp.headers, resp.text)
                async for line in resp.aiter_lines():
                    data = _event_data(line)
                    if data == "[DONE]":
                        return
                    if data:
                        yield _chunk_or_error(data, request_id)
                raise _stream_cut(self.where, request_id)

    async def models(self, provider: str | None, o: CallOptions) -> list[Model]:
        data, _ = await self._call("GET", "/v1/models", o)
        return _models(data, provider)

    async def tools(self, group: str | None, names: list[str] | None, o: CallOptions) -> list[Tool]:
        data, _ = await self._call("GET", "/v1/tools", o, params=_tools_params(group, names))
        return [Tool.from_dict(t) for t in data.get("data") or ()]

    async def usage(self, from_date: str | None, to_date: str | None, o: CallOptions) -> UsageReport:
        data, _ = await self._call("GET", "/v1/usage", o, params=_usage_params(from_date, to_date))
        return UsageReport.from_dict(data)

    async def limits(self, o: CallOptions) -> Limits:
        data, _ = await self._call("GET", "/v1/limits", o)
        return Limits.from_dict(data)

    async def aclose(self) -> None:
        await self._http.aclose()


class RestTransport:
    def __init__(self, base_url: str, http_client: httpx.Client | None = None) -> None:
        self.where = normalize_base_url(base_url)
        self._http = http_client or httpx.Client(headers={"User-Agent": USER_AGENT})

    def _call(self, method: str, path: str, o: CallOptions, **kw: Any) -> tuple[dict[str, Any], httpx.Response]:
        with transport_errors(self.where):
            resp = self._http.request(method, self.where + path, headers=_headers(o), timeout=_timeout(o), **kw)
        return _check(resp), resp

    def chat(self, body: dict[str, Any], o: CallOptions) -> ChatCompletion:
        data, resp = self._call("POST", CHAT_PATH, o, json=body)
        return ChatCompletion.from_dict(data, request_id=resp.headers.get("x-request-id"))

    def stream(self, body: dict[str, Any], include_usage: bool, o: CallOptions) -> Iterator[ChatCompletionChunk]:
        body = {**body, "stream": True}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        with transport_errors(self.where):
            with self._http.stream("POST", self.where + CHAT_PATH, json=body, headers=_headers(o),
                                   timeout=_timeout(o)) as resp:
                request_id = resp.headers.get("x-request-id")
                if resp.status_code >= 300:
                    resp.read()
                    raise from_rest(resp.status_code, _body(resp), resp.headers, resp.text)
                for line in resp.iter_lines():
                    data = _event_data(line)
                    if data == "[DONE]":
                        return
                    if data:
                        yield _chunk_or_error(data, request_id)
                raise _stream_cut(self.where, request_id)

    def models(self, provider: str | None, o: CallOptions) -> list[Model]:
        data, _ = self._call("GET", "/v1/models", o)
        return _models(data, provider)

    def tools(self, group: str | None, names: list[str] | None, o: CallOptions) -> list[Tool]:
        data, _ = self._call("GET", "/v1/tools", o, params=_tools_params(group, names))
        return [Tool.from_dict(t) for t in data.get("data") or ()]

    def usage(self, from_date: str | None, to_date: str | None, o: CallOptions) -> UsageReport:
        data, _ = self._call("GET", "/v1/usage", o, params=_usage_params(from_date, to_date))
        return UsageReport.from_dict(data)

    def limits(self, o: CallOptions) -> Limits:
        data, _ = self._call("GET", "/v1/limits", o)
        return Limits.from_dict(data)

    def close(self) -> None:
        self._http.close()
