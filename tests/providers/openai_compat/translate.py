"""Pure translation between our protobuf contract and OpenAI's Chat Completions JSON. No I/O here.

Our REST contract is OpenAI's (docs/wire-formats.md §3), so this is mostly the proto spelled back out;
what differs is what a compatible server may not take (the `developer` role, a null `max_tokens`) and what
it sends that we must not pass on (`refusal`, `logprobs`, `usage: null` on every chunk but the last).

Nothing here refuses a request: what the provider cannot carry (its spec's `capabilities`) is refused by
service/validate.py before translation, so the input is assumed valid.
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
NAME = "openai_compat"
log = structlog.get_logger("upstream")

# `developer` is OpenAI's newer name for `system`; compatible servers (vLLM, Ollama, llama.cpp) know only
# `system`, and OpenAI itself treats the two alike for chat models.
_ROLE_NAMES = {R.ROLE_SYSTEM: "system", R.ROLE_DEVELOPER: "system", R.ROLE_USER: "user",
               R.ROLE_ASSISTANT: "assistant", R.ROLE_TOOL: "tool"}

FINISH_REASONS: dict[str, pb.FinishReason] = {
    "stop": pb.FINISH_REASON_STOP,
    "length": pb.FINISH_REASON_LENGTH,
    "tool_calls": pb.FINISH_REASON_TOOL_CALLS,
    # the deprecated single-function form still comes from older compatible servers
    "function_call": pb.FINISH_REASON_TOOL_CALLS,
    "content_filter": pb.FINISH_REASON_CONTENT_FILTER,
}

_unknown_seen: set[str] = set()
_unknown_lock = threading.Lock()  # translation also runs on offload worker threads
_MAX_UNKNOWN_KINDS = 256


def finish_reason(reason: str | None) -> pb.FinishReason:
    """A total mapping: a value newer than the table is a plain "stop" (the one claiming nothing), logged
    once per process so a new value is noticed without flooding the log."""
    mapped = FINISH_REASONS.get(reason or "")
    if mapped is not None:
        return mapped
    if reason:
        with _unknown_lock:
            first = reason not in _unknown_seen and len(_unknown_seen) < _MAX_UNKNOWN_KINDS
            _unknown_seen.add(reason)
        if first:
            log.warning("unknown_stop_reason", provider=NAME, kind=reason)
    return pb.FINISH_REASON_STOP


def _text(msg: pb.ChatMessage) -> str:
    return "".join(p.text for p in msg.content if p.WhichOneof("part") == "text")


def _user_content(msg: pb.ChatMessage) -> str | list[dict[str, Any]]:
    # a plain string where there is no image: every compatible server takes it, not all take parts
    if all(p.WhichOneof("part") == "text" for p in msg.content):
        return _text(msg)
    parts: list[dict[str, Any]] = []
    for p in msg.content:
        if p.WhichOneof("part") == "image_url":
            image: dict[str, Any] = {"url": p.image_url.url}
            if p.image_url.detail:
                image["detail"] = p.image_url.detail
            parts.append({"type": "image_url", "image_url": image})
        elif p.text:  # empty text parts say nothing and some servers refuse them
            parts.append({"type": "text", "text": p.text})
    return parts


def _message(msg: pb.ChatMessage) -> dict[str, Any]:
    role = _ROLE_NAMES.get(msg.role, "user")  # validate.py refuses a role outside the enum
    out: dict[str, Any] = {"role": role}
    if role == "assistant":
        text = _text(msg)
        # OpenAI's rule: content may be null only beside tool_calls
        out["content"] = text if text or not msg.tool_calls else None
        if msg.tool_calls:
            out["tool_calls"] = [
                # "" is our no-argument call (pitfall 8); a server parsing arguments needs an object
                {"id": c.id, "type": "function",
                 "function": {"name": c.function.name, "arguments": c.function.arguments or "{}"}}
                for c in msg.tool_calls
            ]
    elif role == "tool":
        out["tool_call_id"] = msg.tool_call_id
        out["content"] = _text(msg)
    elif role == "user":
        out["content"] = _user_content(msg)
    else:
        out["content"] = _text(msg)
    if msg.name and role != "tool":
        out["name"] = msg.name
    return out


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


def to_openai_request(
    req: pb.CreateChatCompletionRequest, model_id: str, max_tokens: int, stream: bool = False
) -> dict[str, Any]:
    """The `POST /chat/completions` body.

    The cap goes as `max_tokens`: OpenAI still takes it for chat models and it is the name every compatible
    server knows (`max_completion_tokens` is newer). A stream always asks for usage: the ledger needs it
    whether or not the caller asked for a usage chunk.
    """
    body: dict[str, Any] = {
        "model": model_id,
        "messages": [_message(m) for m in req.messages],
        "max_tokens": max_tokens,
    }
    if req.HasField("temperature"):
        body["temperature"] = req.temperature
    if req.HasField("top_p"):
        body["top_p"] = req.top_p
    stop = [s for s in req.stop if s]
    if stop:
        body["stop"] = stop
    if req.tools:
        body["tools"] = [_tool(t) for t in req.tools]
        choice = _tool_choice(req.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
        if req.HasField("parallel_tool_calls"):
            body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.user:
        body["user"] = req.user
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some compatible servers answer with text parts
        return "".join(c.get("text") or "" for c in content if isinstance(c, dict) and c.get("type") == "text")
    return ""


def _usage(usage: Any) -> pb.Usage:
    if not isinstance(usage, dict):
        return pb.Usage()
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    total = int(usage.get("total_tokens") or (prompt + completion))
    return pb.Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def _arguments(args: Any) -> str:
    if isinstance(args, str):
        return args
    return "" if args is None else orjson.dumps(args).decode()


def from_openai_response(body: dict[str, Any]) -> pb.ChatCompletion:
    """A ChatCompletion (choices and usage only; the core fills id, model, created) from a response body."""
    choices = body.get("choices") or [{}]
    first = choices[0]
    msg = first.get("message") or {}
    message = pb.ChatMessage(role=R.ROLE_ASSISTANT)
    text = _content_text(msg.get("content"))
    if text:
        message.content.add(text=text)
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        message.tool_calls.add(id=call.get("id") or "", type="function",
                               function=pb.FunctionCall(name=fn.get("name") or "",
                                                        arguments=_arguments(fn.get("arguments"))))
    return pb.ChatCompletion(
        choices=[pb.Choice(index=0, message=message, finish_reason=finish_reason(first.get("finish_reason")))],
        usage=_usage(body.get("usage")),
    )


class OpenAIStreamTranslator:
    """State machine: OpenAI `chat.completion.chunk` events in, ChatCompletionChunks out.

    The stream is complete only at `data: [DONE]` after a finish_reason: the usage chunk (asked for with
    `stream_options.include_usage`) comes between the two, and a stream cut before [DONE] may have lost
    it. An error arrives as `data: {"error": {...}}` with no `event:` line.
    """

    __slots__ = ("_tools", "_usage", "_finished", "_done", "_started", "error")

    def __init__(self) -> None:
        self._tools: dict[int, int] = {}  # the provider's tool-call index -> ours
        self._usage = pb.Usage()
        self._finished = False
        self._done = False
        self._started = False
        self.error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self._done

    def usage(self) -> pb.Usage:
        return self._usage

    def _tool_deltas(self, calls: list[dict[str, Any]]) -> list[pb.ChatCompletionChunk]:
        out: list[pb.ChatCompletionChunk] = []
        for call in calls:
            fn = call.get("function") or {}
            args = fn.get("arguments") or ""
            upstream = call.get("index", 0)
            # a call's first fragment is the one with an id; renumbered so ours are 0.. whatever theirs are
            if call.get("id") and upstream not in self._tools:
                self._tools[upstream] = len(self._tools)
                out.append(chunks.tool_start_chunk(self._tools[upstream], call["id"], fn.get("name") or "", args))
            elif args and upstream in self._tools:
                out.append(chunks.tool_args_chunk(self._tools[upstream], args))
        return out

    def feed(self, event: str | None, data: str) -> list[pb.ChatCompletionChunk]:
        if data.strip() == "[DONE]":
            self._done = self._finished
            return []
        payload = orjson.loads(data)
        if event == "error" or "error" in payload:
            self.error = payload
            return []
        out: list[pb.ChatCompletionChunk] = []
        if not self._started:
            self._started = True
            out.append(chunks.role_chunk())
        if payload.get("usage"):
            self._usage = _usage(payload["usage"])
        for choice in payload.get("choices") or ():
            if choice.get("index", 0) != 0:  # we ask for one choice (n=1)
                continue
            delta = choice.get("delta") or {}
            text = _content_text(delta.get("content"))
            if text:
                out.append(chunks.text_chunk(text))
            out += self._tool_deltas(delta.get("tool_calls") or [])
            reason = choice.get("finish_reason")
            if reason and not self._finished:
                self._finished = True
                out.append(chunks.finish_chunk(finish_reason(reason)))
        return out
