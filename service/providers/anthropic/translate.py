"""Pure translation between our protobuf contract and the Anthropic Messages API.

No I/O, clock or environment here: request proto -> Messages body dict, and
Messages response dict -> ChatCompletion proto. Rules follow
docs/wire-formats.md §4.1-4.3; "pitfall N" is row N of its §4.7.

Nothing here refuses a request: every rule about what a caller may send, the
ones that hold for Anthropic only included (its spec's `capabilities`), is checked in
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
NAME = "anthropic"
log = structlog.get_logger("upstream")


# Total mapping (pitfall 12): a missing stop reason is a plain stop, and so is one newer than this table
# ("stop" is the only OpenAI value that claims nothing: not cut short, no tool calls, nothing filtered);
# an unknown one is logged once per process (`unknown_stop_reason`) so the table can be extended.
FINISH_REASONS: dict[str, pb.FinishReason] = {
    "end_turn": pb.FINISH_REASON_STOP,
    "stop_sequence": pb.FINISH_REASON_STOP,
    "pause_turn": pb.FINISH_REASON_STOP,
    "max_tokens": pb.FINISH_REASON_LENGTH,
    "model_context_window_exceeded": pb.FINISH_REASON_LENGTH,
    "tool_use": pb.FINISH_REASON_TOOL_CALLS,
    "refusal": pb.FINISH_REASON_CONTENT_FILTER,
}


_unknown_seen: set[tuple[str, str]] = set()
_unknown_lock = threading.Lock()  # translation also runs on offload worker threads
_MAX_UNKNOWN_KINDS = 256  # a provider sending ever new values must not grow the set without bound


def log_unknown_once(event: str, kind: str) -> None:
    """Log `event` (a warning) the first time this process meets `kind`: something Anthropic sent that this
    code has no mapping for and passes over; once per kind, so a new value cannot flood the log."""
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


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:"):  # data:<mime>;base64,<data>, as service/validate.py checked
        header, _, data = url[5:].partition(",")
        media_type = header.partition(";")[0]
        kind = "document" if media_type == "application/pdf" else "image"
        return {"type": kind, "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _content_blocks(msg: pb.ChatMessage) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in msg.content:
        if part.WhichOneof("part") == "image_url":
            blocks.append(_image_block(part.image_url.url))
        elif part.text:  # pitfall 1: never an empty text block
            blocks.append({"type": "text", "text": part.text})
    return blocks


def _text_of(msg: pb.ChatMessage) -> str:
    return "".join(p.text for p in msg.content if p.WhichOneof("part") == "text")


def _tool_input(arguments: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}  # pitfall 8: a no-argument call
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}  # unreachable for a validated request: validate.py refuses arguments that are not an object
    return value if isinstance(value, dict) else {}


def to_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, Anthropic messages) from our chat messages (docs/wire-formats.md §4.2)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.role
        if role in (R.ROLE_SYSTEM, R.ROLE_DEVELOPER):
            text = _text_of(msg)
            if text:
                system.append({"type": "text", "text": text})
            continue
        if role == R.ROLE_TOOL:
            text = _text_of(msg)
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": msg.tool_call_id}
            if text:
                result["content"] = text
            blocks = [result]
            turn = "user"
        elif role == R.ROLE_USER:
            blocks = _content_blocks(msg)
            turn = "user"
        else:  # assistant
            blocks = _content_blocks(msg)
            for call in msg.tool_calls:
                blocks.append({
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.function.name,
                    "input": _tool_input(call.function.arguments),
                })
            turn = "assistant"
        if not blocks:
            # an empty assistant turn says nothing; dropping it keeps the turn order valid (an empty user
            # message is refused by validate.py: capabilities.empty_user_content)
            continue
        if out and out[-1]["role"] == turn:
            prev = out[-1]["content"]
            if blocks[0]["type"] == "tool_result":
                # tool results must come first in their user turn (pitfall 2)
                n = sum(1 for b in prev if b["type"] == "tool_result")
                prev[n:n] = blocks
            else:
                prev.extend(blocks)
        else:
            out.append({"role": turn, "content": blocks})
    if out and out[-1]["role"] == "assistant":
        # pitfall 5: a final assistant turn (prefill) must not end in whitespace
        last = out[-1]["content"][-1]
        if last["type"] == "text":
            last["text"] = last["text"].rstrip()
            if not last["text"]:
                out[-1]["content"].pop()
                if not out[-1]["content"]:
                    out.pop()
    return system, out


def _tool_choice(req: pb.CreateChatCompletionRequest) -> dict[str, Any] | None:
    which = req.tool_choice.WhichOneof("choice")
    parallel = req.parallel_tool_calls if req.HasField("parallel_tool_calls") else None
    if which == "function_name":
        choice: dict[str, Any] = {"type": "tool", "name": req.tool_choice.function_name}
    elif which == "mode" and req.tool_choice.mode == pb.TOOL_CHOICE_MODE_NONE:
        return {"type": "none"}  # never carries disable_parallel_tool_use
    elif which == "mode" and req.tool_choice.mode == pb.TOOL_CHOICE_MODE_REQUIRED:
        choice = {"type": "any"}
    elif which == "mode" or parallel is False:
        choice = {"type": "auto"}  # pitfall 11: parallel_tool_calls:false alone still needs a tool_choice
    else:
        return None
    if parallel is False:
        choice["disable_parallel_tool_use"] = True
    return choice


def _tool(tool: pb.Tool) -> dict[str, Any]:
    fn = tool.function
    # pitfall 17: keep the whole schema, only make sure it is an object schema
    schema = struct_to_dict(fn.parameters) if fn.HasField("parameters") else {}
    schema.setdefault("type", "object")
    if schema["type"] == "object":
        schema.setdefault("properties", {})
    out: dict[str, Any] = {"name": fn.name, "input_schema": schema}
    if fn.description:
        out["description"] = fn.description
    if fn.HasField("strict"):
        out["strict"] = fn.strict
    return out


def to_anthropic_request(
    req: pb.CreateChatCompletionRequest, model_id: str, max_tokens: int, stream: bool = False
) -> dict[str, Any]:
    """The Messages API body for `req` (docs/wire-formats.md §4.1)."""
    system, messages = to_messages(req.messages)
    body: dict[str, Any] = {"model": model_id, "max_tokens": max_tokens, "messages": messages}
    if system:
        body["system"] = system
    if req.HasField("temperature"):
        body["temperature"] = req.temperature
    if req.HasField("top_p"):
        body["top_p"] = req.top_p
    if req.HasField("top_k"):
        body["top_k"] = req.top_k
    stops = [s for s in req.stop if s.strip()]  # whitespace-only sequences are rejected upstream
    if stops:
        body["stop_sequences"] = stops
    if req.tools:
        body["tools"] = [_tool(t) for t in req.tools]
    choice = _tool_choice(req)
    if choice is not None and req.tools:
        body["tool_choice"] = choice
    user_id = req.metadata.get("user_id") or req.user
    if user_id:
        # Anthropic accepts only metadata.user_id, and only an opaque value (pitfall 6: validate.py refuses
        # an e-mail, capabilities.email_user_ids)
        body["metadata"] = {"user_id": user_id}
    if stream:
        body["stream"] = True
    return body


def _usage(usage: dict[str, Any]) -> pb.Usage:
    # Anthropic's input_tokens excludes cache reads and writes; OpenAI's prompt_tokens includes them.
    prompt = (
        (usage.get("input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
    )
    completion = usage.get("output_tokens") or 0
    return pb.Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def from_anthropic_response(body: dict[str, Any]) -> pb.ChatCompletion:
    """A ChatCompletion (choices and usage only) from a Messages API response body."""
    texts: list[str] = []
    calls: list[pb.ToolCall] = []
    for block in body.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append(pb.ToolCall(
                id=block.get("id") or "",
                type="function",
                function=pb.FunctionCall(
                    name=block.get("name") or "",
                    arguments=orjson.dumps(block.get("input") or {}).decode(),
                ),
            ))
    message = pb.ChatMessage(role=R.ROLE_ASSISTANT, tool_calls=calls)
    text = "".join(texts)
    if text:
        message.content.add(text=text)
    return pb.ChatCompletion(
        choices=[pb.Choice(index=0, message=message, finish_reason=finish_reason(body.get("stop_reason")))],
        usage=_usage(body.get("usage") or {}),
    )


class AnthropicStreamTranslator:
    """State machine: Anthropic SSE events in, ChatCompletionChunks out (docs/wire-formats.md §4.4).

    Tool-call indexes come from our own counter (text and tool blocks share the
    Anthropic block index space, pitfall 3); usage is replaced, never added,
    because message_delta counts are cumulative (pitfall 13). Event types this
    code does not know are passed over and logged once per type and process
    (`unknown_stream_event`); so is an unknown stop reason (`unknown_stop_reason`),
    which finishes the stream as "stop" (see FINISH_REASONS).
    """

    __slots__ = ("_tool_of_block", "_args_seen", "_tool_count", "_usage", "_stop_reason", "_done", "error")

    def __init__(self) -> None:
        self._tool_of_block: dict[int, int] = {}  # Anthropic block index -> our tool-call index
        self._args_seen: set[int] = set()
        self._tool_count = 0
        self._usage: dict[str, int] = {}
        self._stop_reason: str | None = None
        self._done = False
        # an in-stream `error` event's body, for the adapter to classify
        self.error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self._done

    def usage(self) -> pb.Usage:
        return _usage(self._usage)

    def feed(self, event: str | None, data: str) -> list[pb.ChatCompletionChunk]:
        payload = orjson.loads(data)
        kind = event or payload.get("type")
        if kind == "content_block_delta":
            delta = payload["delta"]
            if delta.get("type") == "text_delta":
                return [chunks.text_chunk(delta["text"])] if delta.get("text") else []
            if delta.get("type") == "input_json_delta":
                index = self._tool_of_block.get(payload["index"])
                fragment = delta.get("partial_json") or ""
                if index is None or not fragment:
                    return []
                self._args_seen.add(index)
                return [chunks.tool_args_chunk(index, fragment)]
            return []  # thinking, signature and citation deltas have no OpenAI equivalent
        if kind == "content_block_start":
            block = payload["content_block"]
            if block.get("type") == "tool_use":
                index = self._tool_count
                self._tool_count += 1
                self._tool_of_block[payload["index"]] = index
                return [chunks.tool_start_chunk(index, block.get("id") or "", block.get("name") or "")]
            if block.get("type") == "text" and block.get("text"):
                return [chunks.text_chunk(block["text"])]
            return []
        if kind == "content_block_stop":
            index = self._tool_of_block.get(payload.get("index", -1))
            if index is not None and index not in self._args_seen:
                self._args_seen.add(index)
                return [chunks.tool_args_chunk(index, "{}")]  # pitfall 8: a no-argument call is "{}"
            return []
        if kind == "message_start":
            self._usage.update({k: v for k, v in (payload["message"].get("usage") or {}).items()
                                if isinstance(v, int)})
            return [chunks.role_chunk()]
        if kind == "message_delta":
            self._stop_reason = (payload.get("delta") or {}).get("stop_reason") or self._stop_reason
            self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if isinstance(v, int)})
            return []
        if kind == "message_stop":
            self._done = True
            return [chunks.finish_chunk(finish_reason(self._stop_reason))]
        if kind == "error":
            self.error = payload
        elif kind != "ping":
            # an event type newer than this code: passed over (docs/wire-formats.md §4.4), but said once
            log_unknown_once("unknown_stream_event", str(kind))
        return []
