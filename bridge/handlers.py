"""HTTP glue: parse, call the chat service, render. Nothing else."""

from __future__ import annotations

import asyncio
import time

import orjson
import structlog
from ainative.chat.v1 import chat_pb2 as pb
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge import sse
from bridge.errors import overhead_ms
from bridge.openapi import DOCS_HTML
from bridge.state import CLIENT, CTX, OPENAPI, SETTINGS, STARTED, STOPPING, STREAM_ERROR
from bridge.timeouts import watch_stream
from bridge.translate import (
    NOT_CARRIED,
    completion_to_json,
    lone_surrogate_error,
    model_to_json,
    models_to_json,
    not_carried,
    parse_chat_request,
    tools_to_json,
    unknown_fields,
    usage_to_json,
)
from service import metrics, offload
from service.context import CallStats
from service.errors import GatewayError, invalid

log = structlog.get_logger("bridge")
JSON_TYPES = ("application/json",)


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def read_body(request: web.Request) -> bytes:
    content_type = request.headers.get("Content-Type")
    if content_type is not None:
        mime = request.content_type
        if mime not in JSON_TYPES and not mime.endswith("+json"):
            raise invalid(f"Content-Type must be application/json, got {mime!r}")
    raw = await request.read()
    if not raw:
        raise invalid("The request body is empty; send a JSON object")
    return raw


# orjson refuses JSON nested deeper than this (arrays and objects), without recursing past it
JSON_MAX_DEPTH = 1024


def decode_json(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in exc.msg or "recursion limit" in exc.msg:
            raise invalid(f"The request body is nested more than {JSON_MAX_DEPTH} levels deep "
                          "(counting arrays and objects)") from None
        raise lone_surrogate_error(raw) or invalid(f"The request body is not valid JSON: {exc}") from None


def parse_chat_body(
    raw: bytes, stats: CallStats
) -> tuple[pb.CreateChatCompletionRequest, bool, bool, list[str]]:
    """(request, stream?, include_usage?, unknown fields) from a chat body."""
    body = decode_json(raw)
    stats.stream = isinstance(body, dict) and body.get("stream") is True  # for the log, even if invalid
    req, stream, include_usage = parse_chat_request(body)
    if not isinstance(body, dict):
        return req, stream, include_usage, []
    # the parameters the gateway cannot carry (when set), then the fields OpenAI does not define
    return req, stream, include_usage, not_carried(body) + [k for k in unknown_fields(body) if k not in NOT_CARRIED]


def _not_carried(request: web.Request, req: pb.CreateChatCompletionRequest, extra: list[str]) -> None:
    """Refuse the OpenAI parameters the gateway cannot carry, or drop them when the request or the server
    says so (named in x-dropped-params); a field OpenAI does not define is ignored, as OpenAI does not
    refuse unknown fields from SDKs either."""
    ctx = request[CTX]
    unsupported = [k for k in extra if k in NOT_CARRIED]
    if not unsupported:
        log.debug("unknown_fields_ignored", fields=extra)
        return
    if not (req.drop_params or request.app[SETTINGS].drop_unsupported_params):
        name = unsupported[0]
        raise GatewayError("unsupported_parameter", f"{name} is not supported by the gateway yet; send "
                           "\"drop_params\": true to have it dropped instead", param=name)
    ctx.stats.dropped_params += tuple(unsupported)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    raw = await read_body(request)
    ctx = request[CTX]
    ctx.stats.request_bytes = len(raw)
    if offload.is_large(len(raw)):  # parsing and converting it would hold the event loop for long
        req, stream, include_usage, extra = await offload.run(parse_chat_body, raw, ctx.stats)
    else:
        req, stream, include_usage, extra = parse_chat_body(raw, ctx.stats)
    if extra:
        _not_carried(request, req, extra)
    ctx.stats.model = req.model
    if stream:
        return await _stream(request, req, include_usage)
    completion = await request.app[CLIENT].create(req, ctx)
    # in-process the core filled these already; across gRPC the answer is where the bridge learns them
    ctx.stats.provider, ctx.stats.usage, ctx.stats.iterations = (
        completion.provider, completion.usage, completion.iterations)
    return json_response(completion_to_json(completion))


async def _stream(
    request: web.Request, req: pb.CreateChatCompletionRequest, include_usage: bool
) -> web.StreamResponse:
    ctx = request[CTX]
    chunks = request.app[CLIENT].stream(req, ctx, include_usage)
    try:
        # nothing is sent until the first chunk: an error before it is an ordinary error response
        first = await anext(chunks)
    except BaseException:
        await chunks.aclose()
        raise
    response = sse.stream_response(ctx.request_id)
    response.headers.extend(ctx.stats.limit_headers)  # a limited caller's x-ratelimit-*
    response.headers.extend(ctx.stats.dropped_header())
    response.headers["X-Gateway-Overhead-Ms"] = overhead_ms(ctx, time.perf_counter() - request[STARTED])
    await response.prepare(request)
    # a client that accepts no bytes for CLIENT_TIMEOUT_S loses the connection, which cancels this handler
    watch = watch_stream(request, request.app[SETTINGS].client_timeout_s, ctx.request_id)
    try:
        try:
            await response.write(sse.chunk_event(first))
            async for chunk in chunks:
                if not chunk.choices:
                    ctx.stats.usage = chunk.usage
                await response.write(sse.chunk_event(chunk))
            await response.write(sse.DONE)
        except GatewayError as err:
            request[STREAM_ERROR] = err
            await response.write(sse.error_event(err))
        finally:
            # on a client disconnect (write error or handler cancellation) this closes the upstream call
            await chunks.aclose()
        await response.write_eof()  # the stream's last bytes, too, within the client timeout
    finally:
        watch.cancel()
    return response


async def models(request: web.Request) -> web.Response:
    req = pb.ListModelsRequest(provider=request.query.get("provider", ""))
    resp = await request.app[CLIENT].list_models(req, request[CTX])
    return json_response(models_to_json(resp))


async def model(request: web.Request) -> web.Response:
    """GET /v1/models/{model}: one catalog entry (OpenAI's models.retrieve), or 404 model_not_found."""
    req = pb.GetModelRequest(model=request.match_info["model"])
    resp = await request.app[CLIENT].get_model(req, request[CTX])
    return json_response(model_to_json(resp.model))


async def tools(request: web.Request) -> web.Response:
    """GET /v1/tools[?group=zerodb|agent][&names=a,b]"""
    names = [n for raw in request.query.getall("names", []) for n in raw.split(",") if n]
    req = pb.ListToolsRequest(group=request.query.get("group", ""), names=names)
    resp = await request.app[CLIENT].list_tools(req, request[CTX])
    return json_response(tools_to_json(resp))


async def usage(request: web.Request) -> web.Response:
    """GET /v1/usage[?from=YYYY-MM-DD][&to=YYYY-MM-DD]: the verified caller's own usage."""
    req = pb.GetUsageRequest(from_date=request.query.get("from", ""), to_date=request.query.get("to", ""))
    resp = await request.app[CLIENT].usage(req, request[CTX])
    return json_response(usage_to_json(resp))


async def limits(request: web.Request) -> web.Response:
    """GET /v1/limits: the caller's limits and where it stands now."""
    resp = await request.app[CLIENT].limits(pb.GetLimitsRequest(), request[CTX])
    return json_response(limits_to_json(resp))


def limits_to_json(resp: pb.GetLimitsResponse) -> dict:
    """GetLimitsResponse as REST JSON: every kind of limit present, null where the caller has none."""

    def rate(r: pb.RateLimitStatus, present: bool) -> dict:
        if not present:
            return {"limit": None, "remaining": None, "reset_s": None}
        return {"limit": r.limit, "remaining": r.remaining if r.HasField("remaining") else None,
                "reset_s": r.reset_s if r.HasField("reset_s") else None}

    b, c = resp.budget_usd_per_day, resp.max_concurrent
    return {
        "object": "limits",
        "user": resp.user or None,
        "requests": rate(resp.requests, resp.HasField("requests")),
        "tokens": rate(resp.tokens, resp.HasField("tokens")),
        "budget_usd_per_day": {"limit": b.limit, "spent": b.spent, "remaining": b.remaining}
        if resp.HasField("budget_usd_per_day") else {"limit": None, "spent": None, "remaining": None},
        "max_concurrent": {"limit": c.limit, "in_flight": c.in_flight if c.HasField("in_flight") else None}
        if resp.HasField("max_concurrent") else {"limit": None, "in_flight": None},
    }


async def prometheus_metrics(request: web.Request) -> web.Response:
    metrics.TASKS.set(len(asyncio.all_tasks()))
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_HTML, content_type="text/html")


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    if not request.app[STOPPING].is_set() and await client.ready():
        body = {"status": "ready"}
        limits = client.limits_state()
        if limits is not None:  # "degraded": the shared counters (Redis) are unreachable, rates fail open
            body["limits"] = limits
        return json_response(body)
    return json_response({"status": "unavailable"}, status=503)
