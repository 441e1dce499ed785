"""Pure translation between our protobuf contract and the Llama API's native chat format.

Request proto -> `POST /chat/completions` body, and response body -> ChatCompletion
proto (docs/wire-formats.md §2.2-2.4 and §4.5). No I/O here.

Nothing here refuses a request: what the native API cannot carry (its spec's `capabilities`)
is refused by service/validate.py before translation, so the input is assumed valid.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import structlog
from ainative.chat.v1 import chat_pb2 as pb

from service.providers import chunks
from service.structs import struct_to_dict

R = pb.Role
NAME = "meta_llama"
log = structlog.get_logger("upstream")
_ROLE_NAMES = {R.ROLE_SYSTEM: "system", R.ROLE_DEVELOPER: "system", R.ROLE_USER: "user", R.ROLE_TOOL: "tool"}


# A missing stop reason, or one newer than this table, is a plain "stop" (the only OpenAI value that claims
# nothing); an unknown one is logged once per process (`unknown_stop_reason`).
FINISH_REASONS: dict[str, pb.FinishReason] = {
    "stop": pb.FINISH_REASON_STOP,
    "length": pb.FINISH_REASON_LENGTH,
    "tool_calls": pb.FINISH_REASON_TOOL_CALLS,
    "content_filter": pb.FINISH_REASON_CONTENT_FILTER,
}
_STREAM_EVENTS = frozenset({"start", "progress", "complete", "metrics"})

_unknown_seen: set[tuple[str, str]] = set()
_unknown_lock = threading.Lock()  # translation also runs on offload worker threads
_MAX_UNKNOWN_KINDS = 256  # a provider sending ever new values must not grow the set without bound


def log_unknown_once(event: str, kind: str) -> None:
    """Log `event` (a warning) the first time this process meets `kind`: something the Llama API sent that
    this code has no mapping for and passes over; once per kind, so a new value cannot flood the log."""
    with _unknown_lock:
        if (event, kind) in _unknown_seen or len(_unknown_seen) >= _MAX_UNKNOWN_KINDS:
            return
        _unknown_seen.add((event, kind))
    log.warning(event, provider=NAME, kind=kind)


def finish_reason(stop_reason: str | None) -> pb.FinishReason:
    reason = FINISH_REASONS.get(stop_reason or "")
    if reason is None:
        if stop_reason:
            log_unknown_once("unknown_stop_reason", stop_reason)
        return pb.FINISH_REASON_STOP
    return reason


def _text(msg: pb.ChatMessage) -> str:
    return "".join(p.text for p in msg.content if p.WhichOneof("part") == "text")


def _user_content(msg: pb.ChatMessage) -> str | list[dict[str, Any]]:
    if all(p.WhichOneof("part") == "text" for p in msg.content):
        return _text(msg)
    parts: list[dict[str, Any]] = []
    for p in msg.content:
        if p.WhichOneof("part") == "image_url":
            parts.append({"type": "image_url", "image_url": {"url": p.image_url.url}})
        elif p.text:
            parts.append({"type": "text", "text": p.text})
    return parts


def _message(msg: pb.ChatMessage) -> dict[str, Any]:
    if msg.role == R.ROLE_ASSISTANT:
        # the native API takes a string (or one text object) for assistant content, never a list
        out: dict[str, Any] = {"role": "assistant", "content": _text(msg)}
        if msg.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "function": {"name": c.function.name, "arguments": c.function.arguments}}
                for c in msg.tool_calls
            ]
        return out
    role = _ROLE_NAMES.get(msg.role, "user")  # validate.py refuses a role outside the enum
    if role == "tool":
        return {"role": "tool", "tool_call_id": msg.tool_call_id, "content": _text(msg)}
    if role == "system":
        return {"role": "system", "content": _text(msg)}
    return {"role": "user", "content": _user_content(msg)}


def _tool(tool: pb.Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.function.name}
    if tool.function.description:
        fn["description"] = tool.function.description
    if tool.function.HasField("parameters"):
        fn["parameters"] = struct_to_dict(tool.function.parameters)
    if tool.function.HasField("strict"):
        fn["strict"] = tool.function.strict
    return {"type": "function", "function": fn}


def _tool_choice(choice: pb.ToolChoice) -> str | dict[str, Any] | None:
    which = choice.WhichOneof("choice")
    if which == "function_name":
        return {"type": "function", "function": {"name": choice.function_name}}
    if which == "mode":
        return {
            pb.TOOL_CHOICE_MODE_AUTO: "auto",
            pb.TOOL_CHOICE_MODE_NONE: "none",
            pb.TOOL_CHOICE_MODE_REQUIRED: "required",
        }.get(choice.mode)
    return None


def to_llama_request(
    req: pb.CreateChatCompletionRequest, model_id: str, max_tokens: int, stream: bool = False
) -> dict[str, Any]:
    """The native chat-completions body (docs/wire-formats.md §4.5).

    `stop` and `parallel_tool_calls: false` have no native equivalent: validate.py
    refuses them (the spec's capabilities), so they never reach here. `parallel_tool_calls:
    true` is the API's own behaviour and needs no field. `max_tokens` becomes
    `max_completion_tokens`.
    """
    body: dict[str, Any] = {
        "model": model_id,
        "messages": [_message(m) for m in req.messages],
        "max_completion_tokens": max_tokens,
    }
    if req.HasField("temperature"):
        body["temperature"] = req.temperature
    if req.HasField("top_p"):
        body["top_p"] = req.top_p
    if req.HasField("top_k"):
        body["top_k"] = req.top_k
    if req.tools:
        body["tools"] = [_tool(t) for t in req.tools]
        choice = _tool_choice(req.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
    if req.user:
        body["user"] = req.user
    if stream:
        body["stream"] = True
    return body


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return content.get("text") or ""
    if isinstance(content, list):  # tolerate a list of text items
        return "".join(c.get("text") or "" for c in content if isinstance(c, dict))
    return ""


def usage_from_metrics(metrics: Any) -> pb.Usage:
    values = {m.get("metric"): m.get("value") for m in metrics or () if isinstance(m, dict)}
    prompt = int(values.get("num_prompt_tokens") or 0)
    completion = int(values.get("num_completion_tokens") or 0)
    total = int(values.get("num_total_tokens") or (prompt + completion))
    return pb.Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def from_llama_response(body: dict[str, Any]) -> pb.ChatCompletion:
    """A ChatCompletion (choices and usage only) from a native response body."""
    cm = body.get("completion_message") or {}
    message = pb.ChatMessage(role=R.ROLE_ASSISTANT)
    text = _content_text(cm.get("content"))
    if text:
        message.content.add(text=text)
    for call in cm.get("tool_calls") or ():
        fn = call.get("function") or {}
        args = fn.get("arguments")
        message.tool_calls.add(
            id=call.get("id") or "",
            type="function",
            function=pb.FunctionCall(
                name=fn.get("name") or "",
                arguments=args if isinstance(args, str) else ("" if args is None else orjson.dumps(args).decode()),
            ),
        )
    return pb.ChatCompletion(
        choices=[pb.Choice(index=0, message=message, finish_reason=finish_reason(cm.get("stop_reason")))],
        usage=usage_from_metrics(body.get("metrics")),
    )


class LlamaStreamTranslator:
    """State machine: Llama API native stream events in, ChatCompletionChunks out (docs/wire-formats.md §2.5, §4.5).

    Tool-call fragments carry no index: a fragment with a new `id` starts the
    next call (our own counter), fragments without one continue the current call.
    Event types this code does not know are passed over and logged once per type
    and process (`unknown_stream_event`).
    """

    __slots__ = ("_tool_index", "_tool_id", "_usage", "_stop_reason", "_done", "_started", "error")

    def __init__(self) -> None:
        self._tool_index = -1
        self._tool_id: str | None = None
        self._usage = pb.Usage()
        self._stop_reason: str | None = None
        self._done = False
        self._started = False
        self.error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self._done

    def usage(self) -> pb.Usage:
        return self._usage

    def _delta(self, delta: dict[str, Any]) -> list[pb.ChatCompletionChunk]:
        if delta.get("type") == "tool_call":
            fn = delta.get("function") or {}
            args = fn.get("arguments") or ""
            call_id = delta.get("id")
            if call_id and call_id != self._tool_id:
                self._tool_index += 1
                self._tool_id = call_id
                return [chunks.tool_start_chunk(self._tool_index, call_id, fn.get("name") or "", args)]
            if args and self._tool_index >= 0:
                return [chunks.tool_args_chunk(self._tool_index, args)]
            return []
        text = delta.get("text")
        return [chunks.text_chunk(text)] if text else []

    def feed(self, event: str | None, data: str) -> list[pb.ChatCompletionChunk]:
        payload = orjson.loads(data)
        if event == "error" or "error" in payload:
            self.error = payload
            return []
        ev = payload.get("event") or {}
        kind = ev.get("event_type")
        out: list[pb.ChatCompletionChunk] = []
        if not self._started:
            self._started = True
            out.append(chunks.role_chunk())
        if kind in ("start", "progress", "complete"):
            out += self._delta(ev.get("delta") or {})
        if kind == "complete":
            self._stop_reason = ev.get("stop_reason") or self._stop_reason
            self._done = True
            out.append(chunks.finish_chunk(finish_reason(self._stop_reason)))
        elif kind == "metrics":
            self._usage = usage_from_metrics(ev.get("metrics"))
        elif kind not in _STREAM_EVENTS:
            log_unknown_once("unknown_stream_event", str(kind))  # passed over, but said once
        return out
