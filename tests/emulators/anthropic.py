"""Anthropic Messages API emulator (``POST /v1/messages``, ``GET /v1/models``).

Wire format per docs/wire-formats.md §1.  ``base_url`` has no ``/v1`` (the SDK
appends ``/v1/messages``).

Validation mirrors the real API's HTTP 400 ``invalid_request_error`` rejections that a careless
gateway triggers (docs/wire-formats.md §1.3, §4.7), with messages worded like the real ones.  Two deliberate
strictness choices:

* every ``tool_use`` of an assistant turn must be answered by ``tool_result`` blocks in the single
  immediately following user message, results first (the API documents this; we do not emulate the
  server-side merge of consecutive same-role turns for tool results);
* history containing ``tool_use``/``tool_result`` blocks requires a ``tools`` array
  (``require_tools_for_tool_history``, default True).
"""

from __future__ import annotations

import json
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
    Turn,
    count_words,
    iter_text,
    random_id,
    split_fragments,
    sse,
    text_chunks,
)

__all__ = ["ANTHROPIC_MODELS", "AnthropicEmulator", "ERROR_TYPES"]

#: model id -> max output tokens
ANTHROPIC_MODELS: dict[str, int] = {
    "claude-opus-4-5": 64000,
    "claude-opus-4-5-20251101": 64000,
    "claude-sonnet-4-5": 64000,
    "claude-sonnet-4-5-20250929": 64000,
    "claude-haiku-4-5": 64000,
    "claude-haiku-4-5-20251001": 64000,
    "claude-opus-4-1": 32000,
    "claude-opus-4-1-20250805": 32000,
    "claude-opus-4-0": 32000,
    "claude-opus-4-20250514": 32000,
    "claude-4-opus-20250514": 32000,
    "claude-sonnet-4-0": 64000,
    "claude-sonnet-4-20250514": 64000,
    "claude-4-sonnet-20250514": 64000,
    "claude-3-7-sonnet-latest": 64000,
    "claude-3-7-sonnet-20250219": 64000,
    "claude-3-5-haiku-latest": 8192,
    "claude-3-5-haiku-20241022": 8192,
    "claude-3-haiku-20240307": 4096,
    "claude-sonnet-4-6": 64000,
    "claude-opus-4-6": 128000,
    "claude-opus-4-7": 128000,
    # newer ids from anthropic 2.14's ModelParam (output caps assumed)
    "claude-opus-4-8": 128000,
    "claude-mythos-preview": 128000,
    "claude-sonnet-5": 64000,
    "claude-opus-5": 128000,
    "claude-fable-5": 64000,
    "claude-mythos-5": 128000,
}

#: HTTP status -> Anthropic error.type (docs/wire-formats.md §1.7)
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_DEFAULT_MESSAGES: dict[str, str] = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "timeout_error": "Request timeout",
    "overloaded_error": "Overloaded",
}

#: neutral stop name -> Anthropic stop_reason (anything else is sent verbatim)
_STOP_MAP = {"max_tokens": "max_tokens", "stop_sequence": "stop_sequence"}

_TOP_LEVEL = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "metadata",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "output_config",
        "context_management",
        "inference_geo",
        "cache_control",
        "output_format",
    }
)
_USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
_ASSISTANT_BLOCKS = frozenset(
    {
        "text",
        "tool_use",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}")
_NONEMPTY = "messages: text content blocks must be non-empty"


class _Invalid(Exception):
    def __init__(self, message: str, status: int = 400, error_type: str = "invalid_request_error"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_range(name: str, v: Any, lo: float, hi: float | None) -> None:
    if not _is_num(v):
        raise _Invalid(f"{name}: Input should be a valid number")
    if v < lo:
        raise _Invalid(f"{name}: Input should be greater than or equal to {lo:g}")
    if hi is not None and v > hi:
        raise _Invalid(f"{name}: Input should be less than or equal to {hi:g}")


def _tool_result_text(content: Any) -> str:
    if content is None:
        return ""
    return " ".join(iter_text(content))


class AnthropicEmulator(Emulator):
    provider = "anthropic"
    base_path = ""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.models: dict[str, int] = dict(ANTHROPIC_MODELS)
        self.require_tools_for_tool_history = True
        #: include input/cache token counts in message_delta.usage like the current API does
        self.full_delta_usage = True

    # ---- routes ------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.handle_chat)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model_id}", self._get_model)

    def check_item(self, item: Turn | Fault) -> None:
        if isinstance(item, Turn):
            for call in item.tool_calls:
                if not isinstance(call.arguments, dict):
                    raise ValueError("Anthropic tool_use input must be a dict (ToolCall.arguments)")

    # ---- errors ------------------------------------------------------------------------------------

    @staticmethod
    def error_body(status: int, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
        etype = error_type or ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
        return {
            "type": "error",
            "error": {"type": etype, "message": message or _DEFAULT_MESSAGES.get(etype, etype)},
            "request_id": random_id("req_011C", 20),
        }

    def error_response(
        self, status: int, error_type: str | None, message: str | None, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = self.error_body(status, error_type, message)
        hdrs = {"content-type": "application/json", "request-id": body["request_id"]}
        if status == 529:
            hdrs.setdefault("x-should-retry", "true")
        if headers:
            hdrs.update(headers)
        return web.Response(status=status, body=orjson.dumps(body), headers=hdrs)

    def overload_status(self) -> int:
        return 529

    def stream_error_event(self, fault: Fault) -> bytes:
        etype = fault.error_type or (ERROR_TYPES.get(fault.status) if fault.status else None) or "overloaded_error"
        message = fault.message or _DEFAULT_MESSAGES.get(etype, etype)
        return sse("error", {"type": "error", "error": {"type": etype, "message": message}})

    # ---- auth + validation -------------------------------------------------------------------------

    def _auth(self, rec: RecordedRequest) -> web.Response | None:
        if rec.api_key is None:
            return self.error_response(401, "authentication_error", "x-api-key header is required")
        if self.key_rejected(rec.api_key):
            return self.error_response(401, "authentication_error", "invalid x-api-key")
        return None

    def validate(self, request: web.Request, rec: RecordedRequest) -> web.Response | None:
        err = self._auth(rec)
        if err is not None:
            return err
        if "anthropic-version" not in rec.headers:
            return self.error_response(400, "invalid_request_error", "anthropic-version: header is required")
        body = rec.json
        if body is None:
            try:
                orjson.loads(rec.body)
            except orjson.JSONDecodeError as exc:
                return self.error_response(400, None, f"The request body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return self.error_response(400, None, "Input should be a valid dictionary or object to extract fields from")
        try:
            self._validate_body(body)
        except _Invalid as exc:
            return self.error_response(exc.status, exc.error_type, exc.message)
        return None

    def _validate_body(self, body: dict[str, Any]) -> None:
        for key in body:
            if key not in _TOP_LEVEL:
                raise _Invalid(f"{key}: Extra inputs are not permitted")
        for key in ("model", "max_tokens", "messages"):
            if key not in body:
                raise _Invalid(f"{key}: Field required")
        model = body["model"]
        if not isinstance(model, str):
            raise _Invalid("model: Input should be a valid string")
        max_tokens = body["max_tokens"]
        if not _is_int(max_tokens):
            raise _Invalid("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise _Invalid("max_tokens: Input should be greater than or equal to 1")
        if "temperature" in body:
            _check_range("temperature", body["temperature"], 0, 1)
        if "top_p" in body:
            _check_range("top_p", body["top_p"], 0, 1)
        if "top_k" in body and (not _is_int(body["top_k"]) or body["top_k"] < 0):
            raise _Invalid("top_k: Input should be greater than or equal to 0")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise _Invalid("stream: Input should be a valid boolean")
        self._validate_system(body.get("system"))
        self._validate_stop_sequences(body.get("stop_sequences"))
        self._validate_metadata(body.get("metadata"))
        tool_names = self._validate_tools(body.get("tools"))
        self._validate_tool_choice(body.get("tool_choice"), tool_names)
        self._validate_messages(body["messages"], has_tools=bool(body.get("tools")))
        self._validate_thinking(body, max_tokens)
        if model not in self.models:
            raise _Invalid(f"model: {model}", 404, "not_found_error")
        cap = self.models[model]
        if max_tokens > cap:
            raise _Invalid(
                f"max_tokens: {max_tokens} > {cap}, which is the maximum allowed number of output tokens for {model}"
            )

    @staticmethod
    def _validate_system(system: Any) -> None:
        if system is None or isinstance(system, str):
            return
        if not isinstance(system, list):
            raise _Invalid("system: Input should be a valid list")
        for i, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise _Invalid(f"system.{i}.type: Input should be 'text'")
            if not isinstance(block.get("text"), str) or not block["text"]:
                raise _Invalid("system: text content blocks must be non-empty")

    @staticmethod
    def _validate_stop_sequences(stops: Any) -> None:
        if stops is None:
            return
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _Invalid("stop_sequences: Input should be a valid list of strings")
        for s in stops:
            if not s.strip():
                raise _Invalid("stop_sequences: each stop sequence must contain non-whitespace characters")

    @staticmethod
    def _validate_metadata(metadata: Any) -> None:
        if metadata is None:
            return
        if not isinstance(metadata, dict):
            raise _Invalid("metadata: Input should be a valid dictionary")
        for key, value in metadata.items():
            if key != "user_id":
                raise _Invalid(f"metadata.{key}: Extra inputs are not permitted")
            if value is not None and not isinstance(value, str):
                raise _Invalid("metadata.user_id: Input should be a valid string")
            if isinstance(value, str) and _EMAIL.search(value):
                raise _Invalid(
                    "metadata.user_id: user_id appears to contain an email address. "
                    "Please use an opaque identifier such as a UUID or hash."
                )

    @staticmethod
    def _validate_tools(tools: Any) -> set[str]:
        names: set[str] = set()
        if tools is None:
            return names
        if not isinstance(tools, list):
            raise _Invalid("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _Invalid(f"tools.{i}: Input should be a valid dictionary")
            ttype = tool.get("type", "custom")
            name = tool.get("name")
            if ttype in (None, "custom"):
                if not isinstance(name, str):
                    raise _Invalid(f"tools.{i}.custom.name: Field required")
                if not _TOOL_NAME.match(name):
                    raise _Invalid(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
                if "input_schema" not in tool:
                    raise _Invalid(f"tools.{i}.custom.input_schema: Field required")
                schema = tool["input_schema"]
                if not isinstance(schema, dict):
                    raise _Invalid(f"tools.{i}.custom.input_schema: Input should be a valid dictionary")
                if schema.get("type") != "object":
                    raise _Invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
                for key in tool:
                    if key not in (
                        "type",
                        "name",
                        "description",
                        "input_schema",
                        "cache_control",
                        "strict",
                        "input_examples",
                        "defer_loading",
                        "allowed_callers",
                        "eager_input_streaming",
                    ):
                        raise _Invalid(f"tools.{i}.custom.{key}: Extra inputs are not permitted")
            elif not isinstance(name, str):
                raise _Invalid(f"tools.{i}.name: Field required")
            if name in names:
                raise _Invalid("tools: Tool names must be unique.")
            names.add(name)
        return names

    @staticmethod
    def _validate_tool_choice(choice: Any, tool_names: set[str]) -> None:
        if choice is None:
            return
        if not isinstance(choice, dict):
            raise _Invalid("tool_choice: Input should be a valid dictionary")
        ctype = choice.get("type")
        allowed = {
            "auto": {"type", "disable_parallel_tool_use"},
            "any": {"type", "disable_parallel_tool_use"},
            "tool": {"type", "name", "disable_parallel_tool_use"},
            "none": {"type"},
        }
        if ctype not in allowed:
            raise _Invalid(
                "tool_choice: Input tag found using 'type' does not match any of the expected tags: "
                "'auto', 'any', 'tool', 'none'"
            )
        for key in choice:
            if key not in allowed[ctype]:
                raise _Invalid(f"tool_choice.{ctype}.{key}: Extra inputs are not permitted")
        dpt = choice.get("disable_parallel_tool_use")
        if dpt is not None and not isinstance(dpt, bool):
            raise _Invalid(f"tool_choice.{ctype}.disable_parallel_tool_use: Input should be a valid boolean")
        if ctype in ("any", "tool") and not tool_names:
            raise _Invalid("tool_choice may only be specified while providing tools.")
        if ctype == "tool":
            name = choice.get("name")
            if not isinstance(name, str):
                raise _Invalid("tool_choice.tool.name: Field required")
            if name not in tool_names:
                raise _Invalid(f"tool_choice.tool.name: Tool '{name}' not found in provided tools")

    def _validate_messages(self, messages: Any, *, has_tools: bool) -> None:
        if not isinstance(messages, list):
            raise _Invalid("messages: Input should be a valid list")
        if not messages:
            raise _Invalid("messages: at least one message is required")
        last = len(messages) - 1
        tool_blocks_seen = False
        # per message: (tool_use ids in order) for assistants, (tool_result ids, results_first) for users
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise _Invalid(f"messages.{i}: Input should be a valid dictionary")
            role = msg.get("role")
            if role not in ("user", "assistant"):
                raise _Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            for key in msg:
                if key not in ("role", "content"):
                    raise _Invalid(f"messages.{i}.{key}: Extra inputs are not permitted")
            if "content" not in msg:
                raise _Invalid(f"messages.{i}.content: Field required")
            content = msg["content"]
            if isinstance(content, str):
                if not content:
                    raise _Invalid(_NONEMPTY)
                continue
            if not isinstance(content, list):
                raise _Invalid(f"messages.{i}.content: Input should be a valid string or list")
            if not content and not (i == last and role == "assistant"):
                raise _Invalid(
                    f"messages.{i}: all messages must have non-empty content except for the optional "
                    "final assistant message"
                )
            allowed = _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS
            for j, block in enumerate(content):
                if not isinstance(block, dict):
                    raise _Invalid(f"messages.{i}.content.{j}: Input should be a valid dictionary")
                btype = block.get("type")
                if btype not in allowed:
                    raise _Invalid(
                        f"messages.{i}.content.{j}.type: Input tag '{btype}' found using 'type' does not "
                        f"match any of the expected tags for {role} messages"
                    )
                if btype == "text":
                    if not isinstance(block.get("text"), str):
                        raise _Invalid(f"messages.{i}.content.{j}.text.text: Field required")
                    if not block["text"]:
                        raise _Invalid(_NONEMPTY)
                elif btype == "image":
                    self._validate_image(block, f"messages.{i}.content.{j}")
                elif btype == "tool_use":
                    tool_blocks_seen = True
                    where = f"messages.{i}.content.{j}.tool_use"
                    if not isinstance(block.get("id"), str) or not block["id"]:
                        raise _Invalid(f"{where}.id: Field required")
                    if not isinstance(block.get("name"), str) or not block["name"]:
                        raise _Invalid(f"{where}.name: Field required")
                    if "input" not in block:
                        raise _Invalid(f"{where}.input: Field required")
                    if not isinstance(block["input"], dict):
                        raise _Invalid(f"{where}.input: Input should be a valid dictionary")
                elif btype == "tool_result":
                    tool_blocks_seen = True
                    where = f"messages.{i}.content.{j}.tool_result"
                    if not isinstance(block.get("tool_use_id"), str) or not block["tool_use_id"]:
                        raise _Invalid(f"{where}.tool_use_id: Field required")
                    inner = block.get("content")
                    if isinstance(inner, list):
                        for k, part in enumerate(inner):
                            if not isinstance(part, dict):
                                raise _Invalid(f"{where}.content.{k}: Input should be a valid dictionary")
                            if part.get("type") == "text" and not part.get("text"):
                                raise _Invalid(_NONEMPTY)
                            if part.get("type") == "image":
                                self._validate_image(part, f"{where}.content.{k}")
                    elif inner is not None and not isinstance(inner, str):
                        raise _Invalid(f"{where}.content: Input should be a valid string or list")
        if tool_blocks_seen and not has_tools and self.require_tools_for_tool_history:
            raise _Invalid("Requests which include `tool_use` or `tool_result` blocks must define tools.")
        self._validate_tool_pairing(messages)
        final = messages[last]
        if final["role"] == "assistant":
            content = final["content"]
            tail = content if isinstance(content, str) else None
            if isinstance(content, list) and content and content[-1].get("type") == "text":
                tail = content[-1]["text"]
            if tail is not None and tail != tail.rstrip():
                raise _Invalid("messages: final assistant content cannot end with trailing whitespace")

    @staticmethod
    def _validate_image(block: dict[str, Any], where: str) -> None:
        source = block.get("source")
        if not isinstance(source, dict):
            raise _Invalid(f"{where}.image.source: Field required")
        stype = source.get("type")
        if stype == "base64":
            if source.get("media_type") not in _IMAGE_TYPES:
                raise _Invalid(
                    f"{where}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
                    "'image/gif' or 'image/webp'"
                )
            if not isinstance(source.get("data"), str) or not source["data"]:
                raise _Invalid(f"{where}.image.source.base64.data: Field required")
        elif stype == "url":
            if not isinstance(source.get("url"), str) or not source["url"]:
                raise _Invalid(f"{where}.image.source.url.url: Field required")
        elif stype != "file":
            raise _Invalid(
                f"{where}.image.source: Input tag '{stype}' found using 'type' does not match any of the "
                "expected tags: 'base64', 'url', 'file'"
            )

    @staticmethod
    def _validate_tool_pairing(messages: list[dict[str, Any]]) -> None:
        for i, msg in enumerate(messages):
            content = msg["content"]
            if not isinstance(content, list):
                continue
            if msg["role"] == "assistant":
                ids = [b["id"] for b in content if b.get("type") == "tool_use"]
                if not ids:
                    continue
                nxt = messages[i + 1] if i + 1 < len(messages) else None
                answered: set[str] = set()
                if nxt is not None and nxt["role"] == "user" and isinstance(nxt["content"], list):
                    leading = True
                    for block in nxt["content"]:
                        if block.get("type") == "tool_result":
                            if leading:
                                answered.add(block["tool_use_id"])
                        else:
                            leading = False
                missing = [x for x in ids if x not in answered]
                if missing:
                    raise _Invalid(
                        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                        f"after: {', '.join(missing)}"
                    )
            else:
                prev = messages[i - 1] if i > 0 else None
                prev_ids: set[str] = set()
                if prev is not None and prev["role"] == "assistant" and isinstance(prev["content"], list):
                    prev_ids = {b["id"] for b in prev["content"] if b.get("type") == "tool_use"}
                for j, block in enumerate(content):
                    if block.get("type") == "tool_result" and block["tool_use_id"] not in prev_ids:
                        raise _Invalid(
                            f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                            f"blocks: {block['tool_use_id']}. Each `tool_result` block must have a "
                            "corresponding `tool_use` block in the previous message."
                        )

    @staticmethod
    def _validate_thinking(body: dict[str, Any], max_tokens: int) -> None:
        thinking = body.get("thinking")
        if thinking is None:
            return
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive"):
            raise _Invalid(
                "thinking: Input tag found using 'type' does not match any of the expected tags: "
                "'enabled', 'disabled', 'adaptive'"
            )
        if thinking["type"] == "enabled":
            budget = thinking.get("budget_tokens")
            if not _is_int(budget):
                raise _Invalid("thinking.enabled.budget_tokens: Field required")
            if budget < 1024:
                raise _Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if budget >= max_tokens:
                raise _Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
            if "temperature" in body and body["temperature"] != 1:
                raise _Invalid("`temperature` may only be set to 1 when thinking is enabled")

    # ---- mock model view -------------------------------------------------------------------------

    def view(self, body: dict[str, Any]) -> ChatView:
        words = 0
        system = body.get("system")
        if system is not None:
            words += sum(count_words(t) for t in iter_text(system))
        messages = body["messages"]
        for msg in messages:
            content = msg["content"]
            if isinstance(content, str):
                words += count_words(content)
                continue
            for block in content:
                btype = block.get("type")
                if btype == "text":
                    words += count_words(block["text"])
                elif btype == "tool_result":
                    words += count_words(_tool_result_text(block.get("content")))
                elif btype == "tool_use":
                    words += count_words(orjson.dumps(block["input"]))
                elif btype == "thinking":
                    words += count_words(block.get("thinking") or "")
        tools_raw = body.get("tools") or []
        if tools_raw:
            words += count_words(orjson.dumps(tools_raw))
        tools = [(t["name"], t.get("input_schema") or {}) for t in tools_raw if t.get("type", "custom") == "custom"]
        choice = body.get("tool_choice") or {"type": "auto"}
        ctype = choice.get("type", "auto")
        forced = choice.get("name") if ctype == "tool" else None

        last_kind = "other"
        tool_results: list[str] = []
        last = messages[-1]
        if last["role"] == "user":
            content = last["content"]
            if isinstance(content, list) and any(b.get("type") == "tool_result" for b in content):
                last_kind = "tool_results"
                tool_results = [_tool_result_text(b.get("content")) for b in content if b.get("type") == "tool_result"]
            else:
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
            max_tokens=body["max_tokens"],
            prompt_tokens=max(1, words),
            stop_sequences=list(body.get("stop_sequences") or []),
        )

    def new_tool_id(self) -> str:
        return random_id("toolu_01", 22)

    # ---- rendering -------------------------------------------------------------------------------

    @staticmethod
    def _stop_reason(reply: Reply) -> str:
        if reply.stop == "auto":
            return "tool_use" if reply.tool_calls else "end_turn"
        return _STOP_MAP.get(reply.stop, reply.stop)

    @staticmethod
    def _stop_sequence(stop_reason: str, body: dict[str, Any]) -> str | None:
        if stop_reason != "stop_sequence":
            return None
        stops = body.get("stop_sequences") or []
        return stops[0] if stops else None

    def _usage(self, reply: Reply) -> dict[str, int]:
        return {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": reply.cache_creation,
            "cache_read_input_tokens": reply.cache_read,
        }

    def render_json(self, reply: Reply, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        content: list[dict[str, Any]] = []
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        for call in reply.tool_calls:
            content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
        stop_reason = self._stop_reason(reply)
        msg = {
            "id": random_id("msg_01", 22),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": self._stop_sequence(stop_reason, body),
            "usage": self._usage(reply),
        }
        return orjson.dumps(msg), {
            "content-type": "application/json",
            "request-id": random_id("req_011C", 20),
        }

    def render_events(self, reply: Reply, body: dict[str, Any]) -> tuple[list[bytes], dict[str, str]]:
        start_usage = self._usage(reply)
        start_usage["output_tokens"] = 1
        events = [
            sse(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": random_id("msg_01", 22),
                        "type": "message",
                        "role": "assistant",
                        "model": body["model"],
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            )
        ]
        ping = sse("ping", {"type": "ping"})
        index = 0
        if reply.text:
            events.append(
                sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            events.append(ping)
            for chunk in text_chunks(reply.text, self.words_per_chunk):
                events.append(
                    sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": chunk},
                        },
                    )
                )
            events.append(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
            index = 1
        else:
            events.append(ping)
        for call in reply.tool_calls:
            events.append(
                sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}},
                    },
                )
            )
            args = call.arguments
            fragments = [""] + (split_fragments(json.dumps(args), 2) if args else [])
            for frag in fragments:
                events.append(
                    sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": frag},
                        },
                    )
                )
            events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        stop_reason = self._stop_reason(reply)
        delta_usage: dict[str, int] = {"output_tokens": reply.output_tokens}
        if self.full_delta_usage:
            delta_usage = self._usage(reply)
        events.append(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": stop_reason,
                        "stop_sequence": self._stop_sequence(stop_reason, body),
                    },
                    "usage": delta_usage,
                },
            )
        )
        events.append(sse("message_stop", {"type": "message_stop"}))
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "request-id": random_id("req_011C", 20),
        }
        return events, headers

    # ---- models ------------------------------------------------------------------------------------

    def _model_info(self, model_id: str) -> dict[str, Any]:
        return {
            "type": "model",
            "id": model_id,
            "display_name": model_id.replace("-", " ").title(),
            "created_at": "2025-01-01T00:00:00Z",
            "lifecycle": "active",
            "max_input_tokens": 200000,
            "max_tokens": self.models[model_id],
        }

    async def _list_models(self, request: web.Request) -> web.Response:
        rec = RecordedRequest(request.method, request.path, {}, None, self.extract_key(request.headers))
        err = self._auth(rec)
        if err is not None:
            return err
        data = [self._model_info(m) for m in self.models]
        payload = {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
        return web.Response(body=orjson.dumps(payload), headers={"content-type": "application/json"})

    async def _get_model(self, request: web.Request) -> web.Response:
        rec = RecordedRequest(request.method, request.path, {}, None, self.extract_key(request.headers))
        err = self._auth(rec)
        if err is not None:
            return err
        model_id = request.match_info["model_id"]
        if model_id not in self.models:
            return self.error_response(404, "not_found_error", f"model: {model_id}")
        return web.Response(body=orjson.dumps(self._model_info(model_id)), headers={"content-type": "application/json"})
