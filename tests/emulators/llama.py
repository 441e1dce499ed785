"""Meta Llama API (native) emulator: ``POST /v1/chat/completions``, ``GET /v1/models``.

Wire format per docs/wire-formats.md §2.  ``base_url`` ends in ``/v1`` like the
SDK default ``https://api.llama.com/v1``.

Error bodies: the Llama API does not document its error body and no captured body was found (the
``mattf/llama-api-quirks`` tests only assert that a 400 body has an ``error`` or a ``title`` key).  We
use ``{"error": {"message": ..., "type": ..., "code": <status>}}``; the SDK keys off the HTTP status
only, so a gateway must not depend on this shape.  An in-stream error is an SSE ``event: error`` whose
data is the same object (the SDK raises ``APIError`` with it as ``body``).

Quirks emulated:

* non-JSON ``Content-Type`` -> 400;
* ``stream: true`` without ``Accept: text/event-stream`` -> 400 (set ``require_sse_accept = False``
  to relax).  NOTE: ``llama-api-client`` 0.6.0 sends ``Accept: application/json`` even when
  streaming, so a client must pass ``extra_headers={"Accept": "text/event-stream"}``;
* OpenAI-only request fields (``max_tokens``, ``stop``, ``n``, ``parallel_tool_calls``,
  ``stream_options``, ...) -> 400: the native schema is closed;
* assistant ``content`` given as a list -> 400 (native: string or a single text object).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from .common import (
    ChatView,
    Emulator,
    Fault,
    RecordedRequest,
    Reply,
    count_words,
    iter_text,
    random_id,
    split_fragments,
    sse,
    text_chunks,
)

__all__ = ["LLAMA_MODELS", "LlamaEmulator"]

LLAMA_MODELS: tuple[str, ...] = (
    "Llama-4-Maverick-17B-128E-Instruct-FP8",
    "Llama-4-Scout-17B-16E-Instruct-FP8",
    "Llama-3.3-70B-Instruct",
    "Llama-3.3-8B-Instruct",
)
MAX_COMPLETION_TOKENS = 4028

_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "service_unavailable",
    504: "timeout_error",
    529: "overloaded_error",
}
_DEFAULT_MESSAGES: dict[int, str] = {
    400: "Bad request",
    401: "Invalid API key",
    403: "Forbidden",
    404: "Not found",
    429: "Rate limit exceeded",
    500: "Internal server error",
    503: "Service unavailable",
}
_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_completion_tokens",
        "repetition_penalty",
        "response_format",
        "stream",
        "temperature",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
        "user",
    }
)
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: neutral stop name -> Llama stop_reason (anything else is sent verbatim)
_STOP_MAP = {"max_tokens": "length", "stop_sequence": "stop"}
_ASSISTANT_CONTENT = "assistant content must be a string or a single text content object"


class _Invalid(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _range(name: str, v: Any, lo: float, hi: float | None) -> None:
    if not _is_num(v) or v < lo or (hi is not None and v > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f">= {lo:g}"
        raise _Invalid(f"{name}: must be a number {bound}")


def _text_items_ok(content: Any, allow_images: bool) -> bool:
    if isinstance(content, str):
        return True
    if not isinstance(content, list):
        return False
    for item in content:
        if not isinstance(item, dict):
            return False
        itype = item.get("type")
        if itype == "text":
            if not isinstance(item.get("text"), str):
                return False
        elif itype == "image_url" and allow_images:
            image = item.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                return False
        else:
            return False
    return True


class LlamaEmulator(Emulator):
    provider = "llama"
    base_path = "/v1"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.models: list[str] = list(LLAMA_MODELS)
        self.require_sse_accept = True

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.handle_chat)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)

    # ---- errors ------------------------------------------------------------------------------------

    @staticmethod
    def error_body(status: int, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
        etype = error_type or _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
        return {
            "error": {
                "message": message or _DEFAULT_MESSAGES.get(status, etype),
                "type": etype,
                "code": status,
            }
        }

    def error_response(
        self, status: int, error_type: str | None, message: str | None, headers: dict[str, str] | None = None
    ) -> web.Response:
        hdrs = {"content-type": "application/json", "x-request-id": random_id("", 32, "0123456789abcdef")}
        if status == 429:
            hdrs.update(
                {
                    "x-ratelimit-limit-requests": "10",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-limit-tokens": "250000",
                    "x-ratelimit-remaining-tokens": "0",
                }
            )
        if headers:
            hdrs.update(headers)
        return web.Response(
            status=status, body=orjson.dumps(self.error_body(status, error_type, message)), headers=hdrs
        )

    def overload_status(self) -> int:
        return 500

    def stream_error_event(self, fault: Fault) -> bytes:
        status = fault.status or 500
        return sse("error", self.error_body(status, fault.error_type, fault.message or "Internal server error"))

    # ---- auth + validation -------------------------------------------------------------------------

    def _auth(self, headers: Any) -> web.Response | None:
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not key:
            return self.error_response(401, "authentication_error", "Missing bearer token in Authorization header")
        if self.key_rejected(key):
            return self.error_response(401, "authentication_error", "Invalid API key")
        return None

    def validate(self, request: web.Request, rec: RecordedRequest) -> web.Response | None:
        err = self._auth(rec.headers)
        if err is not None:
            return err
        ctype = rec.headers.get("content-type", "")
        if not ctype.split(";", 1)[0].strip().lower() == "application/json":
            return self.error_response(
                400, None, f"Unsupported Content-Type: {ctype or '<none>'}; expected application/json"
            )
        body = rec.json
        if body is None:
            try:
                orjson.loads(rec.body)
            except orjson.JSONDecodeError as exc:
                return self.error_response(400, None, f"Request body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return self.error_response(400, None, "Request body must be a JSON object")
        try:
            self._validate_body(body)
        except _Invalid as exc:
            return self.error_response(exc.status, None, exc.message)
        if body.get("stream") is True and self.require_sse_accept:
            if "text/event-stream" not in rec.headers.get("accept", ""):
                return self.error_response(400, None, "Streaming requests must send 'Accept: text/event-stream'")
        return None

    def _validate_body(self, body: dict[str, Any]) -> None:
        for key in body:
            if key not in _FIELDS:
                raise _Invalid(f"Unrecognized request argument supplied: {key}")
        for key in ("model", "messages"):
            if key not in body:
                raise _Invalid(f"{key}: field required")
        model = body["model"]
        if not isinstance(model, str):
            raise _Invalid("model: must be a string")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise _Invalid("stream: must be a boolean")
        if "max_completion_tokens" in body:
            v = body["max_completion_tokens"]
            if not _is_int(v) or v < 1 or v > MAX_COMPLETION_TOKENS:
                raise _Invalid(f"max_completion_tokens: must be an integer between 1 and {MAX_COMPLETION_TOKENS}")
        if "temperature" in body:
            _range("temperature", body["temperature"], 0, 1)
        if "top_p" in body:
            _range("top_p", body["top_p"], 0, 1)
        if "repetition_penalty" in body:
            _range("repetition_penalty", body["repetition_penalty"], 1, 2)
        if "top_k" in body and (not _is_int(body["top_k"]) or body["top_k"] < 0):
            raise _Invalid("top_k: must be a non-negative integer")
        if "user" in body and not isinstance(body["user"], str):
            raise _Invalid("user: must be a string")
        self._validate_response_format(body.get("response_format"))
        names = self._validate_tools(body.get("tools"))
        self._validate_tool_choice(body.get("tool_choice"), names)
        self._validate_messages(body["messages"])
        if model not in self.models:
            raise _Invalid(f"Model not found: {model}", 404)

    @staticmethod
    def _validate_response_format(fmt: Any) -> None:
        if fmt is None:
            return
        if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_schema"):
            raise _Invalid("response_format: type must be 'text' or 'json_schema'")
        if fmt["type"] == "json_schema":
            js = fmt.get("json_schema")
            if not isinstance(js, dict) or not isinstance(js.get("schema"), dict):
                raise _Invalid("response_format.json_schema.schema: field required")

    @staticmethod
    def _validate_tools(tools: Any) -> set[str]:
        names: set[str] = set()
        if tools is None:
            return names
        if not isinstance(tools, list):
            raise _Invalid("tools: must be a list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or tool.get("type") != "function":
                raise _Invalid(f"tools.{i}.type: must be 'function'")
            fn = tool.get("function")
            if not isinstance(fn, dict):
                raise _Invalid(f"tools.{i}.function: field required")
            name = fn.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                raise _Invalid(f"tools.{i}.function.name: must match ^[a-zA-Z0-9_-]{{1,64}}$")
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                raise _Invalid(f"tools.{i}.function.parameters: must be an object")
            names.add(name)
        return names

    @staticmethod
    def _validate_tool_choice(choice: Any, names: set[str]) -> None:
        if choice is None:
            return
        if isinstance(choice, str):
            if choice not in ("none", "auto", "required"):
                raise _Invalid("tool_choice: must be 'none', 'auto', 'required' or a named function")
            if choice == "required" and not names:
                raise _Invalid("tool_choice: 'required' needs tools")
            return
        if not isinstance(choice, dict) or choice.get("type") != "function":
            raise _Invalid("tool_choice: must be 'none', 'auto', 'required' or a named function")
        fn = choice.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _Invalid("tool_choice.function.name: field required")
        if fn["name"] not in names:
            raise _Invalid(f"tool_choice: function '{fn['name']}' is not in tools")

    @staticmethod
    def _validate_messages(messages: Any) -> None:
        if not isinstance(messages, list) or not messages:
            raise _Invalid("messages: must be a non-empty list")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise _Invalid(f"messages.{i}: must be an object")
            role = msg.get("role")
            if role not in ("system", "user", "assistant", "tool"):
                raise _Invalid(f"messages.{i}.role: must be one of 'system', 'user', 'assistant', 'tool'")
            content = msg.get("content")
            if role == "assistant":
                for key in msg:
                    if key not in ("role", "content", "tool_calls", "stop_reason"):
                        raise _Invalid(f"messages.{i}.{key}: unexpected field for an assistant message")
                if isinstance(content, list):
                    raise _Invalid(f"messages.{i}.content: {_ASSISTANT_CONTENT}")
                if content is not None and not isinstance(content, str):
                    if not (
                        isinstance(content, dict)
                        and content.get("type") == "text"
                        and isinstance(content.get("text"), str)
                    ):
                        raise _Invalid(f"messages.{i}.content: {_ASSISTANT_CONTENT}")
                if content is None and not msg.get("tool_calls"):
                    raise _Invalid(f"messages.{i}.content: field required")
                calls = msg.get("tool_calls")
                if calls is not None:
                    if not isinstance(calls, list):
                        raise _Invalid(f"messages.{i}.tool_calls: must be a list")
                    for j, call in enumerate(calls):
                        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
                            raise _Invalid(f"messages.{i}.tool_calls.{j}.id: field required")
                        fn = call.get("function")
                        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                            raise _Invalid(f"messages.{i}.tool_calls.{j}.function.name: field required")
                        if not isinstance(fn.get("arguments"), str):
                            raise _Invalid(f"messages.{i}.tool_calls.{j}.function.arguments: must be a string")
                continue
            if content is None:
                raise _Invalid(f"messages.{i}.content: field required")
            if not _text_items_ok(content, allow_images=(role == "user")):
                raise _Invalid(f"messages.{i}.content: invalid content for a {role} message")
            if role == "tool":
                if not isinstance(msg.get("tool_call_id"), str) or not msg["tool_call_id"]:
                    raise _Invalid(f"messages.{i}.tool_call_id: field required")
                allowed = ("role", "content", "tool_call_id")
            else:
                allowed = ("role", "content")
            for key in msg:
                if key not in allowed:
                    raise _Invalid(f"messages.{i}.{key}: unexpected field for a {role} message")

    # ---- mock model view -------------------------------------------------------------------------

    def view(self, body: dict[str, Any]) -> ChatView:
        messages = body["messages"]
        words = 0
        for msg in messages:
            words += sum(count_words(t) for t in iter_text(msg.get("content")))
            for call in msg.get("tool_calls") or ():
                words += count_words(call["function"]["arguments"])
        tools_raw = body.get("tools") or []
        if tools_raw:
            words += count_words(orjson.dumps(tools_raw))
        tools = [(t["function"]["name"], t["function"].get("parameters") or {}) for t in tools_raw]
        choice = body.get("tool_choice", "auto" if tools else "none")
        forced = None
        if isinstance(choice, dict):
            forced = choice["function"]["name"]
            ctype = "tool"
        else:
            ctype = {"required": "any"}.get(choice, choice)

        last = messages[-1]
        last_kind = "other"
        tool_results: list[str] = []
        if last["role"] == "tool":
            last_kind = "tool_results"
            for msg in reversed(messages):
                if msg["role"] != "tool":
                    break
                tool_results.append(" ".join(iter_text(msg["content"])))
            tool_results.reverse()
        elif last["role"] == "user":
            last_kind = "user_text"
        last_user_text = ""
        for msg in reversed(messages):
            if msg["role"] == "user":
                last_user_text = " ".join(iter_text(msg["content"]))
                break
        return ChatView(
            model=body["model"],
            tools=tools,
            tool_choice=ctype,
            forced_tool=forced,
            last_kind=last_kind,
            last_user_text=last_user_text,
            tool_results=tool_results,
            max_tokens=body.get("max_completion_tokens"),
            prompt_tokens=max(1, words),
        )

    def new_tool_id(self) -> str:
        return random_id("call_", 24, "0123456789abcdef")

    # ---- rendering -------------------------------------------------------------------------------

    @staticmethod
    def _stop_reason(reply: Reply) -> str:
        if reply.stop == "auto":
            return "tool_calls" if reply.tool_calls else "stop"
        return _STOP_MAP.get(reply.stop, reply.stop)

    @staticmethod
    def _arguments(args: dict[str, Any] | str) -> str:
        return args if isinstance(args, str) else orjson.dumps(args).decode()

    @staticmethod
    def _metrics(reply: Reply) -> list[dict[str, Any]]:
        return [
            {"metric": "num_completion_tokens", "value": float(reply.output_tokens), "unit": "tokens"},
            {"metric": "num_prompt_tokens", "value": float(reply.input_tokens), "unit": "tokens"},
            {
                "metric": "num_total_tokens",
                "value": float(reply.input_tokens + reply.output_tokens),
                "unit": "tokens",
            },
        ]

    def render_json(self, reply: Reply, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        payload = {
            "id": random_id("", 26),
            "completion_message": {
                "role": "assistant",
                "content": {"type": "text", "text": reply.text or ""},
                "stop_reason": self._stop_reason(reply),
                "tool_calls": [
                    {"id": c.id, "function": {"name": c.name, "arguments": self._arguments(c.arguments)}}
                    for c in reply.tool_calls
                ],
            },
            "metrics": self._metrics(reply),
        }
        return orjson.dumps(payload), {
            "content-type": "application/json",
            "x-request-id": random_id("", 32, "0123456789abcdef"),
        }

    def render_events(self, reply: Reply, body: dict[str, Any]) -> tuple[list[bytes], dict[str, str]]:
        rid = random_id("", 26)

        def chunk(event: dict[str, Any]) -> bytes:
            return sse(None, {"id": rid, "event": event})

        empty = {"type": "text", "text": ""}
        events = [chunk({"event_type": "start", "delta": empty})]
        if reply.text:
            for piece in text_chunks(reply.text, self.words_per_chunk):
                events.append(chunk({"event_type": "progress", "delta": {"type": "text", "text": piece}}))
        for call in reply.tool_calls:
            events.append(
                chunk(
                    {
                        "event_type": "progress",
                        "delta": {
                            "type": "tool_call",
                            "id": call.id,
                            "function": {"name": call.name, "arguments": ""},
                        },
                    }
                )
            )
            for frag in split_fragments(self._arguments(call.arguments), 2):
                events.append(
                    chunk(
                        {
                            "event_type": "progress",
                            "delta": {"type": "tool_call", "function": {"arguments": frag}},
                        }
                    )
                )
        events.append(chunk({"event_type": "complete", "delta": empty, "stop_reason": self._stop_reason(reply)}))
        events.append(chunk({"event_type": "metrics", "delta": empty, "metrics": self._metrics(reply)}))
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-request-id": random_id("", 32, "0123456789abcdef"),
        }
        return events, headers

    # ---- models ------------------------------------------------------------------------------------

    @staticmethod
    def _model_obj(model: str) -> dict[str, Any]:
        return {"id": model, "created": 1735689600, "object": "model", "owned_by": "Meta"}

    async def _list_models(self, request: web.Request) -> web.Response:
        err = self._auth(request.headers)
        if err is not None:
            return err
        payload = {"data": [self._model_obj(m) for m in self.models]}
        return web.Response(body=orjson.dumps(payload), headers={"content-type": "application/json"})

    async def _get_model(self, request: web.Request) -> web.Response:
        err = self._auth(request.headers)
        if err is not None:
            return err
        model = request.match_info["model"]
        if model not in self.models:
            return self.error_response(404, None, f"Model not found: {model}")
        return web.Response(body=orjson.dumps(self._model_obj(model)), headers={"content-type": "application/json"})
