"""The OpenAPI 3.1 description of the REST API, served at /openapi.json (and /docs).

Built from the definitions the bridge and the service validate with — the role,
tool_choice and finish-reason tables of `bridge.translate`, the error table of
`service.errors`, the providers, tool groups and limits of the service — so the
document cannot drift from what the code accepts; `tests/integration/test_openapi.py`
checks real responses against it and runs schemathesis on it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from importlib.resources import files
from typing import Any

from aiohttp import web

from bridge.translate import FINISH_REASONS, KNOWN_FIELDS, ROLES, TOOL_CHOICE_MODES
from service import providers as registry
from service.errors import ERRORS
from service.tools.catalog import GROUPS
from service.tools.schema import TOOL_NAME
from service.validate import MAX_ITERATIONS

INT32_MAX = 2**31 - 1


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


TEXT_PART = {"type": "object", "required": ["type", "text"],
             "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}
IMAGE_PART = {"type": "object", "required": ["type", "image_url"], "properties": {
    "type": {"const": "image_url"},
    "image_url": {"type": "object", "required": ["url"], "properties": {
        "url": {"type": "string", "description": "https:// or data:<mime>;base64,<data>"},
        "detail": {"type": "string", "enum": ["auto", "low", "high"]}}}}}
TOOL_CALL = {"type": "object", "required": ["id", "type", "function"], "properties": {
    "id": {"type": "string"}, "type": {"const": "function"},
    "function": {"type": "object", "required": ["name", "arguments"], "properties": {
        "name": {"type": "string"},
        "arguments": {"type": "string", "description": "JSON, exactly as the model produced it"}}}}}
FUNCTION_TOOL = {"type": "object", "required": ["type", "function"], "properties": {
    "type": {"const": "function"},
    "function": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "pattern": TOOL_NAME.pattern},
        "description": {"type": "string"},
        "parameters": {"type": "object", "description": "A JSON Schema of type object"},
        "strict": {"type": "boolean"}}}}}
USAGE = {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"], "properties": {
    k: {"type": "integer", "minimum": 0} for k in ("prompt_tokens", "completion_tokens", "total_tokens")}}
FINISH = {"type": "string", "enum": sorted(set(FINISH_REASONS.values()))}
ERROR_CODES = sorted(ERRORS)
TOTALS = {"requests": {"type": "integer"}, "prompt_tokens": {"type": "integer"},
          "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"},
          "cost_usd": {"type": "number", "description": "USD at list prices, summed over the priced requests only"},
          "unpriced_requests": {"type": "integer", "minimum": 0, "description":
                                "requests whose model has no known price: in requests and tokens, not in cost_usd"}}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


SCHEMAS: dict[str, Any] = {
    "Message": {"type": "object", "required": ["role"], "properties": {
        "role": {"type": "string", "enum": list(ROLES)},
        "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"anyOf": [TEXT_PART, IMAGE_PART]}},
                              {"type": "null"}]},
        "tool_calls": {"type": "array", "items": TOOL_CALL, "description": "assistant messages"},
        "tool_call_id": {"type": "string", "description": "tool messages: the call this answers"},
        "name": {"type": "string"}}},
    "ChatCompletionRequest": {"type": "object", "required": ["model", "messages"], "properties": {
        "provider": {"type": "string", "enum": list(registry.names()),
                     "description": "inferred from the model when absent (claude-* / Llama-* / provider/model)"},
        "model": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": _ref("Message")},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2,
                        "description": "0-2 (OpenAI); Anthropic and the Llama API take 0-1"},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
        "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4}]},
        "user": {"type": "string"},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "tools": {"type": "array", "items": {"anyOf": [
            FUNCTION_TOOL,
            {"type": "string", "description": "the name of a catalog tool (GET /v1/tools)"},
            {"type": "object", "required": ["type", "name"],
             "properties": {"type": {"const": "catalog"}, "name": {"type": "string"}}}]}},
        "tool_choice": {"anyOf": [
            {"type": "string", "enum": list(TOOL_CHOICE_MODES)},
            {"type": "object", "required": ["type", "function"], "properties": {
                "type": {"const": "function"},
                "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}]},
        "parallel_tool_calls": {"type": "boolean"},
        "max_iterations": {"type": "integer", "minimum": 1, "maximum": MAX_ITERATIONS, "default": 5},
        "n": {"type": "integer", "const": 1},
        "top_k": {"type": "integer", "minimum": 1, "description": "Anthropic and the Llama API only"},
        "drop_params": {"type": "boolean", "default": False, "description":
                        "drop (and name in x-dropped-params) a parameter the provider cannot honour instead of "
                        "answering 400 unsupported_parameter"},
    }},
    "ChatCompletion": {"type": "object", "required": [
        "id", "object", "created", "model", "provider", "choices", "usage", "iterations", "total_tokens_used"],
        "properties": {
            "id": {"type": "string", "pattern": "^chatcmpl-"}, "object": {"const": "chat.completion"},
            "created": {"type": "integer"}, "model": {"type": "string"},
            "provider": {"type": "string", "enum": list(registry.names())},
            "choices": {"type": "array", "items": {"type": "object", "required": [
                "index", "message", "logprobs", "finish_reason"], "properties": {
                "index": {"type": "integer"}, "finish_reason": FINISH,
                "logprobs": {"type": "null", "description": "always null: log probabilities are not offered"},
                "message": {"type": "object", "required": ["role", "content", "refusal"], "properties": {
                    "role": {"const": "assistant"}, "content": _nullable({"type": "string"}),
                    "refusal": {"type": "null", "description": "always null: a refusal comes as content, "
                                                               "with finish_reason content_filter"},
                    "tool_calls": {"type": "array", "items": TOOL_CALL}}}}}},
            "usage": USAGE, "iterations": {"type": "integer", "minimum": 1},
            "total_tokens_used": {"type": "integer", "minimum": 0},
            "finish_reason": _nullable(FINISH)}},
    "ChatCompletionChunk": {
        "description": "One `data:` event of a stream (text/event-stream); the stream ends with `data: [DONE]`, "
                       "or with a `data: {\"error\": …}` event after a failure",
        "type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
            "id": {"type": "string"}, "object": {"const": "chat.completion.chunk"}, "created": {"type": "integer"},
            "model": {"type": "string"}, "provider": {"type": "string"},
            "choices": {"type": "array", "items": {"type": "object", "properties": {
                "index": {"type": "integer"}, "finish_reason": _nullable(FINISH),
                "delta": {"type": "object", "properties": {
                    "role": {"const": "assistant"}, "content": {"type": "string"},
                    "tool_calls": {"type": "array", "items": {"type": "object", "required": ["index"],
                                                              "properties": {"index": {"type": "integer"}}}}}}}}},
            "usage": USAGE, "iterations": {"type": "integer"}, "total_tokens_used": {"type": "integer"}}},
    "Model": {"type": "object", "required": [
        "id", "object", "created", "owned_by", "provider", "provider_model_id", "context_window",
        "max_output_tokens", "pricing"], "properties": {
            "id": {"type": "string"}, "object": {"const": "model"},
            "created": {"type": "integer", "description": "Unix seconds of the model's release day (UTC), fixed"},
            "owned_by": {"type": "string", "enum": list(registry.names()), "description": "the provider"},
            "provider": {"type": "string", "enum": list(registry.names())}, "provider_model_id": {"type": "string"},
            "context_window": {"type": "integer"}, "max_output_tokens": {"type": "integer"},
            "pricing": {"type": "object", "required": ["input_per_mtok", "output_per_mtok"], "properties": {
                "input_per_mtok": {"type": "number"}, "output_per_mtok": {"type": "number"}}}}},
    "ModelList": {"type": "object", "required": ["object", "data"], "properties": {
        "object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}}},
    "ToolList": {"type": "object", "required": ["object", "data"], "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": {"allOf": [
            FUNCTION_TOOL,
            {"type": "object", "required": ["group"], "properties": {"group": {"enum": list(GROUPS)}}}]}}}},
    "Usage": {"type": "object", "required": ["object", "user", "from", "to", "totals", "by_model", "by_day"],
              "properties": {
                  "object": {"const": "usage"}, "user": {"type": "string"},
                  "from": _nullable({"type": "string", "format": "date"}),
                  "to": _nullable({"type": "string", "format": "date"}),
                  "totals": {"type": "object", "required": list(TOTALS), "properties": TOTALS},
                  "by_model": {"type": "array", "items": {"type": "object", "required": ["model", "provider", *TOTALS],
                                                          "properties": {"model": {"type": "string"},
                                                                         "provider": {"type": "string"}, **TOTALS}}},
                  "by_day": {"type": "array", "items": {"type": "object", "required": ["date", *TOTALS],
                                                        "properties": {"date": {"type": "string", "format": "date"},
                                                                       **TOTALS}}}}},
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "code", "param"], "properties": {
            "message": {"type": "string"},
            "type": {"type": "string", "enum": sorted({k.type for k in ERRORS.values()})},
            "code": {"type": "string", "enum": ERROR_CODES},
            "param": _nullable({"type": "string"})}}}},
    "Limits": {"type": "object", "required": ["object", "user", "requests", "tokens", "budget_usd_per_day",
                                              "max_concurrent"],
               "description": "The caller's limits and where it stands now; null where it has no such limit "
                              "(remaining/in_flight are also null while the shared counters are unreachable)",
               "properties": {
                   "object": {"const": "limits"}, "user": _nullable({"type": "string"}),
                   **{rate: {"type": "object", "required": ["limit", "remaining", "reset_s"], "properties": {
                       "limit": _nullable({"type": "integer", "minimum": 1}),
                       "remaining": _nullable({"type": "integer", "minimum": 0}),
                       "reset_s": _nullable({"type": "number", "minimum": 0})}} for rate in ("requests", "tokens")},
                   "budget_usd_per_day": {"type": "object", "required": ["limit", "spent", "remaining"],
                                          "properties": {k: _nullable({"type": "number", "minimum": 0})
                                                         for k in ("limit", "spent", "remaining")}},
                   "max_concurrent": {"type": "object", "required": ["limit", "in_flight"], "properties": {
                       "limit": _nullable({"type": "integer", "minimum": 1}),
                       "in_flight": _nullable({"type": "integer", "minimum": 0})}}}},
    "Status": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string"},
        "limits": {"enum": ["ok", "degraded"],
                   "description": "when limits are enforced: degraded while Redis is unreachable (rates fail open)"}}},
}

_COMMON_ERRORS = {"401": _error_response("missing/invalid JWT (REQUIRE_AUTH) or provider key problem"),
                  "500": _error_response("internal error (no details)")}
_HEADERS = {"X-Request-Id": {"schema": {"type": "string"}, "description": "yours if you sent one"},
            "X-Gateway-Overhead-Ms": {"schema": {"type": "string"}, "description": "time not spent upstream"}}
# OpenAI's, for a caller with a rate limit (RATE_LIMIT_RPM/TPM, LIMITS_FILE): on every chat answer and its 429
_RATE_HEADERS = {
    f"x-ratelimit-{what}-{unit}": {"schema": {"type": "string"}, "description": description}
    for unit in ("requests", "tokens")
    for what, description in (("limit", f"{unit} per minute"), ("remaining", f"{unit} left now"),
                              ("reset", "time until the bucket is full again, e.g. 12s, 1m0s"))}
_LIMIT_REFUSAL = {
    "description": "refused: the provider's rate limit (rate_limited), or the caller's own limits: "
                   "rate_limited, budget_exceeded, too_many_concurrent",
    "headers": {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}, **_RATE_HEADERS},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "headers": _HEADERS,
            "content": {"application/json": {"schema": _ref(schema)}}}


def build_document() -> dict[str, Any]:
    assert set(SCHEMAS["ChatCompletionRequest"]["properties"]) == KNOWN_FIELDS  # the doc covers what we read
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chat-completion gateway", "version": "1.0.0",
                 "description": "OpenAI-compatible chat completions in front of the Meta Llama API and "
                                "Anthropic Claude, with tool calling, a tool catalog and per-user usage."},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                "providerKey": {"type": "apiKey", "in": "header", "name": "X-Provider-Key"}},
        },
        "security": [{}, {"bearer": []}, {"providerKey": []}, {"bearer": [], "providerKey": []}],
        "paths": {
            "/v1/chat/completions": {"post": {
                "operationId": "createChatCompletion",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("ChatCompletionRequest")}}},
                "responses": {
                    "200": {"description": "a completion, or with stream:true a text/event-stream of chunks",
                            "headers": {**_HEADERS, **_RATE_HEADERS}, "content": {
                                "application/json": {"schema": _ref("ChatCompletion")},
                                "text/event-stream": {"schema": {"type": "string"},
                                                      "x-chunk-schema": _ref("ChatCompletionChunk")}}},
                    "400": _error_response("invalid request"), "403": _error_response("provider refused"),
                    "404": _error_response("model unknown to the provider"),
                    "413": _error_response("body over MAX_REQUEST_BYTES"),
                    "422": _error_response("invalid tool definition"),
                    "429": _LIMIT_REFUSAL,
                    "502": _error_response("provider error or unreachable"),
                    "503": _error_response("provider overloaded"), "504": _error_response("provider timed out"),
                    **_COMMON_ERRORS}}},
            "/v1/models": {"get": {
                "operationId": "listModels",
                "parameters": [{"name": "provider", "in": "query",
                                "schema": {"type": "string", "enum": list(registry.names())}}],
                "responses": {"200": _json("ModelList"), "400": _error_response("unknown provider"),
                              **_COMMON_ERRORS}}},
            "/v1/models/{model}": {"get": {
                "operationId": "retrieveModel",
                "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "a catalog id (case-insensitive; a provider/ prefix is allowed)"}],
                "responses": {"200": _json("Model"), "404": _error_response("not in the catalog (model_not_found)"),
                              **_COMMON_ERRORS}}},
            "/v1/tools": {"get": {
                "operationId": "listTools",
                "parameters": [
                    {"name": "group", "in": "query", "schema": {"type": "string", "enum": list(GROUPS)}},
                    {"name": "names", "in": "query", "schema": {"type": "string"},
                     "description": "comma-separated tool names"}],
                "responses": {"200": _json("ToolList"), "400": _error_response("unknown group or names"),
                              **_COMMON_ERRORS}}},
            "/v1/usage": {"get": {
                "operationId": "getUsage", "security": [{"bearer": []}],
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string", "format": "date"}}
                               for n in ("from", "to")],
                "responses": {"200": _json("Usage"), "400": _error_response("malformed dates or from after to"),
                              "503": _error_response("the usage ledger's store is unavailable (service_unavailable)"),
                              **_COMMON_ERRORS}}},
            "/v1/limits": {"get": {
                "operationId": "getLimits",
                "responses": {"200": _json("Limits"), **_COMMON_ERRORS}}},
            "/healthz": {"get": {"operationId": "health", "security": [{}],
                                 "responses": {"200": _json("Status")}}},
            "/readyz": {"get": {"operationId": "ready", "security": [{}], "responses": {
                "200": _json("Status"), "503": _json("Status", "not ready")}}},
            "/metrics": {"get": {"operationId": "metrics", "security": [{}], "responses": {"200": {
                "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
    }


# /docs: Redoc, pinned and served by the gateway itself, so the page works offline and loads nothing from
# another host. The bundle comes from the star-openapi-redoc package (requirements-docs.txt), read as a file.
# Redoc 3 is an ES module that renders the <redoc> element on load; its attributes are its options, and
# disable-telemetry stops it sending usage traces to Redocly. No web fonts: Redoc falls back to system fonts.
REDOC_VERSION = "3.0.1"
REDOC_JS_PATH = f"/docs/redoc-{REDOC_VERSION}.standalone.js"
REDOC_ICON_PATH = f"/docs/redoc-{REDOC_VERSION}.svg"
_REDOC_FILES = {REDOC_JS_PATH: ("js/redoc.standalone.js", "text/javascript"),
                REDOC_ICON_PATH: ("images/redoc.svg", "image/svg+xml")}

# Belt and braces: the browser itself refuses anything from another host. Redoc 3.0.1 always shows an
# "API docs by" Redocly logo linked from Redocly's CDN; this blocks it (the text stays, the image goes).
# Styled-components injects <style> tags (hence 'unsafe-inline' styles); the search index runs in a blob: worker.
_DOCS_CSP = ("default-src 'none'; script-src 'self'; worker-src blob:; connect-src 'self'; img-src 'self' data:; "
             "style-src 'self' 'unsafe-inline'; font-src 'self' data:; base-uri 'none'; form-action 'none'")

DOCS_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_DOCS_CSP}">
<title>Chat-completion gateway API</title><link rel="icon" type="image/svg+xml" href="{REDOC_ICON_PATH}">
<style>body {{ margin: 0; padding: 0; }}</style></head>
<body><redoc spec-url="/openapi.json" disable-telemetry="true"></redoc>
<script type="module" src="{REDOC_JS_PATH}"></script></body></html>
"""


_LOADED: dict[str, tuple[bytes, bytes, str]] = {}  # path -> its bytes, gzipped bytes and ETag


def _read_redoc_file(path: str) -> tuple[bytes, bytes, str]:
    name, _ = _REDOC_FILES[path]
    try:
        body = (files("star_openapi_redoc") / "templates" / "redoc" / name).read_bytes()
    except ModuleNotFoundError:
        raise web.HTTPNotFound(text="Redoc is not installed: pip install --no-deps -r requirements-docs.txt") from None
    return body, gzip.compress(body, 6, mtime=0), '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


async def redoc_asset(request: web.Request) -> web.Response:
    """A pinned Redoc file: cached for good (its URL carries the version), gzipped when the client accepts it.
    Read from the package and compressed once, on first use, off the event loop (2.3 MB: about 0.1 s)."""
    if request.path not in _LOADED:
        _LOADED[request.path] = await asyncio.to_thread(_read_redoc_file, request.path)
    body, gzipped, etag = _LOADED[request.path]
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body, headers["Content-Encoding"] = gzipped, "gzip"
    _, content_type = _REDOC_FILES[request.path]
    return web.Response(body=body, headers=headers, content_type=content_type,
                        charset="utf-8" if content_type.startswith("text/") else None)
