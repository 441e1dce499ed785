"""OpenAI Chat Completions emulator: ``POST /v1/chat/completions``, ``GET /v1/models[/{model}]``.

Speaks OpenAI's wire format (docs/wire-formats.md §3; the `openai` SDK's types are the reference, and
tests/test_emulator_openai_sdk.py drives this emulator with that SDK), for the test-only OpenAI-compatible
provider (tests/providers/openai_compat). ``base_url`` ends in ``/v1`` like ``OPENAI_BASE_URL``.

* Responses: ``chat.completion`` objects with ``refusal``/``logprobs`` present and null, usage with its
  ``*_tokens_details``; ``x-request-id`` and ``x-ratelimit-*`` headers on every answer.
* Streams: ``data: <chat.completion.chunk>`` events without ``event:`` lines; the first delta carries the
  role, a tool call's first fragment its id, type and name; a chunk with ``delta: {}`` and the
  finish_reason; with ``stream_options.include_usage`` every chunk has ``usage: null`` and one more chunk
  has ``choices: []`` and the usage; then ``data: [DONE]``.
* Errors: ``{"error": {"message", "type", "param", "code"}}`` with OpenAI's statuses, types and codes
  (401 ``invalid_api_key``, 404 ``model_not_found``, 429 type ``requests`` code ``rate_limit_exceeded``,
  500 ``server_error``); an in-stream error is a ``data: {"error": ...}`` event and the stream ends
  without ``[DONE]``.
* Validation as OpenAI's: unknown request fields, ``stream_options`` without ``stream``,
  ``tool_choice``/``parallel_tool_calls`` without ``tools``, a ``tool`` message answering no preceding
  tool call, an assistant's tool call left unanswered: 400 with OpenAI's message and ``param``.

Emulator limits: one choice only (``n`` other than 1 is refused); audio, logprobs and
``response_format`` are accepted and ignored.
"""

from __future__ import annotations

import re
import time
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

__all__ = ["COMPAT_MODELS", "OpenAICompatEmulator"]

COMPAT_MODELS: tuple[str, ...] = ("compat-chat-1", "compat-chat-1-mini")

# status -> (type, code) as OpenAI sends them (https://platform.openai.com/docs/guides/error-codes)
_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    413: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
    504: ("server_error", None),
}
_DEFAULT_MESSAGES: dict[int, str] = {
    400: "Bad request.",
    401: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    403: "Country, region, or territory not supported",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again in 20ms.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}
_FIELDS = frozenset({
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "reasoning_effort", "response_format", "seed", "service_tier", "stop", "store",
    "stream", "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
    "web_search_options",
})
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: neutral stop name -> OpenAI finish_reason (anything else is sent verbatim)
_STOP_MAP = {"max_tokens": "length", "stop_sequence": "stop", "refusal": "content_filter"}


class _Invalid(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400, code: str | None = None):
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _range(name: str, v: Any, lo: float, hi: float) -> None:
    if not _is_num(v):
        raise _Invalid(f"Invalid type for '{name}': expected a decimal, but got a {type(v).__name__} instead.",
                       name, code="invalid_type")
    if v < lo:
        raise _Invalid(f"Invalid '{name}': decimal below minimum value. Expected a value >= {lo:g}, "
                       f"but got {v} instead.", name, code="decimal_below_min_value")
    if v > hi:
        raise _Invalid(f"Invalid '{name}': decimal above maximum value. Expected a value <= {hi:g}, "
                       f"but got {v} instead.", name, code="decimal_above_max_value")


class OpenAICompatEmulator(Emulator):
    provider = "openai_compat"
    base_path = "/v1"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.models: list[str] = list(COMPAT_MODELS)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.handle_chat)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)

    # ---- errors ------------------------------------------------------------------------------------

    @staticmethod
    def error_body(status: int, error_type: str | None = None, message: str | None = None,
                   param: str | None = None, code: str | None = None) -> dict[str, Any]:
        etype, ecode = _ERRORS.get(status) or ("server_error" if status >= 500 else "invalid_request_error", None)
        return {"error": {
            "message": message or _DEFAULT_MESSAGES.get(status, "Error"),
            "type": error_type or etype,
            "param": param,
            "code": code if code is not None else ecode,
        }}

    def _headers(self) -> dict[str, str]:
        return {
            "x-request-id": random_id("req_", 32, "0123456789abcdef"),
            "openai-version": "2020-10-01",
            "openai-processing-ms": "12",
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-limit-tokens": "2000000",
            "x-ratelimit-remaining-tokens": "1999000",
        }

    def error_response(
        self, status: int, error_type: str | None, message: str | None, headers: dict[str, str] | None = None,
        *, param: str | None = None, code: str | None = None,
    ) -> web.Response:
        hdrs = {"content-type": "application/json", **self._headers()}
        if status == 429:
            hdrs.update({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20ms"})
        if headers:
            hdrs.update(headers)
        body = self.error_body(status, error_type, message, param, code)
        return web.Response(status=status, body=orjson.dumps(body), headers=hdrs)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return self.error_response(404, "invalid_request_error", f"Invalid URL ({request.method} {request.path})")

    def overload_status(self) -> int:
        return 503

    def stream_error_event(self, fault: Fault) -> bytes:
        status = fault.status or 500
        return sse(None, self.error_body(status, fault.error_type, fault.message))

    # ---- auth + validation -------------------------------------------------------------------------

    def _auth(self, headers: Any) -> web.Response | None:
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not key:
            return self.error_response(
                401, "invalid_request_error",
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", code=None)
        if self.key_rejected(key):
            shown = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else key
            return self.error_response(
                401, "invalid_request_error",
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
        return None

    def validate(self, request: web.Request, rec: RecordedRequest) -> web.Response | None:
        err = self._auth(rec.headers)
        if err is not None:
            return err
        body = rec.json
        if not isinstance(body, dict):
            return self.error_response(
                400, None, "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                "sent was not valid JSON.)")
        try:
            self._validate_body(body)
        except _Invalid as exc:
            return self.error_response(exc.status, None, exc.message, param=exc.param, code=exc.code)
        return None

    def _validate_body(self, body: dict[str, Any]) -> None:
        for key in body:
            if key not in _FIELDS:
                raise _Invalid(f"Unrecognized request argument supplied: {key}")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _Invalid("you must provide a model parameter")
        if "messages" not in body:
            raise _Invalid("Missing required parameter: 'messages'.", "messages", code="missing_required_parameter")
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise _Invalid(f"Invalid type for 'stream': expected a boolean, but got {type(stream).__name__}.",
                           "stream", code="invalid_type")
        if "stream_options" in body and not stream:
            raise _Invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                           "stream_options", code="invalid_value")
        for name in ("max_tokens", "max_completion_tokens"):
            if name in body and body[name] is not None and (not _is_int(body[name]) or body[name] < 1):
                raise _Invalid(f"Invalid '{name}': integer below minimum value. Expected a value >= 1, "
                               f"but got {body[name]} instead.", name, code="integer_below_min_value")
        if "temperature" in body:
            _range("temperature", body["temperature"], 0, 2)
        if "top_p" in body:
            _range("top_p", body["top_p"], 0, 1)
        if "n" in body and body["n"] not in (None, 1):
            raise _Invalid("This emulator answers with one choice only: n must be 1", "n")
        self._validate_stop(body.get("stop"))
        names = self._validate_tools(body.get("tools"))
        if "tool_choice" in body and not names:
            raise _Invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                           "specified.", "tool_choice", code="invalid_value")
        if "parallel_tool_calls" in body and not names:
            raise _Invalid("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when "
                           "'tools' are specified.", "parallel_tool_calls", code="invalid_value")
        self._validate_tool_choice(body.get("tool_choice"), names)
        self._validate_messages(body["messages"])
        if body["model"] not in self.models:
            raise _Invalid(f"The model `{body['model']}` does not exist or you do not have access to it.",
                           status=404, code="model_not_found")

    @staticmethod
    def _validate_stop(stop: Any) -> None:
        if stop is None or isinstance(stop, str):
            return
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _Invalid("Invalid type for 'stop': expected one of a string or array of strings.", "stop",
                           code="invalid_type")
        if len(stop) > 4:
            raise _Invalid(f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got "
                           f"an array with length {len(stop)} instead.", "stop", code="array_above_max_length")

    @staticmethod
    def _validate_tools(tools: Any) -> set[str]:
        names: set[str] = set()
        if tools is None:
            return names
        if not isinstance(tools, list):
            raise _Invalid("Invalid type for 'tools': expected an array of objects.", "tools", code="invalid_type")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or tool.get("type") != "function":
                raise _Invalid(f"Invalid value: '{tool.get('type') if isinstance(tool, dict) else tool}'. "
                               "Supported values are: 'function' and 'custom'.", f"tools[{i}].type",
                               code="invalid_value")
            fn = tool.get("function")
            if not isinstance(fn, dict):
                raise _Invalid(f"Missing required parameter: 'tools[{i}].function'.", f"tools[{i}].function",
                               code="missing_required_parameter")
            name = fn.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                raise _Invalid(f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected a "
                               "string that matches the pattern '^[a-zA-Z0-9_-]+$'.", f"tools[{i}].function.name",
                               code="invalid_value")
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                raise _Invalid(f"Invalid type for 'tools[{i}].function.parameters': expected an object.",
                               f"tools[{i}].function.parameters", code="invalid_type")
            names.add(name)
        return names

    @staticmethod
    def _validate_tool_choice(choice: Any, names: set[str]) -> None:
        if choice is None:
            return
        if isinstance(choice, str):
            if choice not in ("none", "auto", "required"):
                raise _Invalid(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
                               "tool_choice", code="invalid_value")
            return
        fn = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _Invalid("Missing required parameter: 'tool_choice.function.name'.", "tool_choice.function.name",
                           code="missing_required_parameter")
        if fn["name"] not in names:
            raise _Invalid(f"Invalid value for 'tool_choice': function '{fn['name']}' is not in tools.",
                           "tool_choice", code="invalid_value")

    @staticmethod
    def _validate_content(content: Any, i: int, role: str) -> None:
        if isinstance(content, str):
            return
        if not isinstance(content, list):
            raise _Invalid(f"Invalid type for 'messages[{i}].content': expected one of a string or array of "
                           "objects.", f"messages[{i}].content", code="invalid_type")
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind == "image_url" and role == "user":
                image = part.get("image_url")
                if isinstance(image, dict) and isinstance(image.get("url"), str):
                    continue
            raise _Invalid(f"Invalid value: '{kind}'. Supported values are: 'text'"
                           f"{' and image_url' if role == 'user' else ''}.", f"messages[{i}].content[{j}].type",
                           code="invalid_value")

    def _validate_messages(self, messages: Any) -> None:
        if not isinstance(messages, list) or not messages:
            raise _Invalid("[] is too short - 'messages'", "messages", code="empty_array")
        pending: list[str] = []  # tool_call_ids of the last assistant message not answered yet
        answerable = False  # a tool message may follow: an assistant with tool_calls, then tool messages only
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise _Invalid(f"Invalid type for 'messages[{i}]': expected an object.", f"messages[{i}]",
                               code="invalid_type")
            role = msg.get("role")
            if role not in _ROLES:
                raise _Invalid(f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                               "'function', 'tool', and 'developer'.", f"messages[{i}].role", code="invalid_value")
            if pending and role != "tool":
                raise _Invalid("An assistant message with 'tool_calls' must be followed by tool messages "
                               "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                               f"response messages: {', '.join(pending)}", "messages", code=None)
            content = msg.get("content")
            if role == "assistant":
                calls = msg.get("tool_calls") or []
                if content is None and not calls:
                    raise _Invalid("Invalid value for 'content': expected a string, got null.",
                                   f"messages[{i}].content", code=None)
                if content is not None:
                    self._validate_content(content, i, role)
                for j, call in enumerate(calls):
                    fn = call.get("function") if isinstance(call, dict) else None
                    if not isinstance(call.get("id"), str) or not isinstance(fn, dict) \
                            or not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments"), str):
                        raise _Invalid(f"Missing required parameter: 'messages[{i}].tool_calls[{j}]'.",
                                       f"messages[{i}].tool_calls[{j}]", code="missing_required_parameter")
                pending = [c["id"] for c in calls]
                answerable = bool(calls)
                continue
            if content is None:
                raise _Invalid(f"Missing required parameter: 'messages[{i}].content'.",
                               f"messages[{i}].content", code="missing_required_parameter")
            self._validate_content(content, i, role)
            if role == "tool":
                call_id = msg.get("tool_call_id")
                if not isinstance(call_id, str):
                    raise _Invalid(f"Missing required parameter: 'messages[{i}].tool_call_id'.",
                                   f"messages[{i}].tool_call_id", code="missing_required_parameter")
                if not answerable:
                    raise _Invalid("Invalid parameter: messages with role 'tool' must be a response to a "
                                   "preceeding message with 'tool_calls'.", f"messages.[{i}].role", code=None)
                if call_id in pending:
                    pending.remove(call_id)
            else:
                answerable = False
        if pending:
            raise _Invalid("An assistant message with 'tool_calls' must be followed by tool messages responding "
                           "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                           f"{', '.join(pending)}", "messages", code=None)

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
            forced, ctype = choice["function"]["name"], "tool"
        else:
            ctype = {"required": "any"}.get(choice, choice)
        last = messages[-1]
        last_kind, tool_results = "other", []
        if last["role"] == "tool":
            last_kind = "tool_results"
            for msg in reversed(messages):
                if msg["role"] != "tool":
                    break
                tool_results.append(" ".join(iter_text(msg["content"])))
            tool_results.reverse()
        elif last["role"] == "user":
            last_kind = "user_text"
        last_user_text = next((" ".join(iter_text(m["content"])) for m in reversed(messages) if m["role"] == "user"),
                              "")
        stop = body.get("stop")
        return ChatView(
            model=body["model"],
            tools=tools,
            tool_choice=ctype,
            forced_tool=forced,
            last_kind=last_kind,
            last_user_text=last_user_text,
            tool_results=tool_results,
            max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
            prompt_tokens=max(1, words),
            stop_sequences=[stop] if isinstance(stop, str) else list(stop or []),
        )

    def new_tool_id(self) -> str:
        return random_id("call_", 24)

    # ---- rendering -------------------------------------------------------------------------------

    @staticmethod
    def _finish_reason(reply: Reply) -> str:
        if reply.stop == "auto":
            return "tool_calls" if reply.tool_calls else "stop"
        return _STOP_MAP.get(reply.stop, reply.stop)

    @staticmethod
    def _arguments(args: dict[str, Any] | str) -> str:
        return args if isinstance(args, str) else orjson.dumps(args).decode()

    @staticmethod
    def _usage(reply: Reply) -> dict[str, Any]:
        # OpenAI's prompt_tokens include the cached ones
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cache_read, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }

    def _envelope(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        return {"id": random_id("chatcmpl-", 29), "object": kind, "created": int(time.time()),
                "model": body["model"], "service_tier": "default", "system_fingerprint": "fp_emulator01"}

    def render_json(self, reply: Reply, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": self._arguments(c.arguments)}}
                for c in reply.tool_calls
            ]
        payload = {
            **self._envelope(body, "chat.completion"),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": self._finish_reason(reply)}],
            "usage": self._usage(reply),
        }
        return orjson.dumps(payload), {"content-type": "application/json", **self._headers()}

    def render_events(self, reply: Reply, body: dict[str, Any]) -> tuple[list[bytes], dict[str, str]]:
        envelope = self._envelope(body, "chat.completion.chunk")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {**envelope, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                data["usage"] = None
            return sse(None, data)

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if reply.text:
            events += [chunk({"content": piece}) for piece in text_chunks(reply.text, self.words_per_chunk)]
        for index, call in enumerate(reply.tool_calls):
            events.append(chunk({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                                 "function": {"name": call.name, "arguments": ""}}]}))
            events += [chunk({"tool_calls": [{"index": index, "function": {"arguments": frag}}]})
                       for frag in split_fragments(self._arguments(call.arguments), 2)]
        events.append(chunk({}, self._finish_reason(reply)))
        if include_usage:
            events.append(sse(None, {**envelope, "choices": [], "usage": self._usage(reply)}))
        events.append(b"data: [DONE]\n\n")
        headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache",
                   **self._headers()}
        return events, headers

    # ---- models ------------------------------------------------------------------------------------

    @staticmethod
    def _model_obj(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1735689600, "owned_by": "system"}

    async def _list_models(self, request: web.Request) -> web.Response:
        err = self._auth(request.headers)
        if err is not None:
            return err
        payload = {"object": "list", "data": [self._model_obj(m) for m in self.models]}
        return web.Response(body=orjson.dumps(payload), headers={"content-type": "application/json"})

    async def _get_model(self, request: web.Request) -> web.Response:
        err = self._auth(request.headers)
        if err is not None:
            return err
        model = request.match_info["model"]
        if model not in self.models:
            return self.error_response(404, None, f"The model '{model}' does not exist", param="model",
                                       code="model_not_found")
        return web.Response(body=orjson.dumps(self._model_obj(model)), headers={"content-type": "application/json"})
