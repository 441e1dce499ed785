"""Stream translation tables: raw provider SSE bytes in, OpenAI chunk deltas out (docs/wire-formats.md §4.4, §4.5).

Every transcript is also fed one byte at a time, so events split anywhere by the
network decode the same. What the translators do not know (event types, stop
reasons) is passed over and logged once per kind and process.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import structlog
from ainative.chat.v1 import chat_pb2 as pb

from bridge.translate import chunk_to_json
from service.providers.anthropic.translate import FINISH_REASONS as ANTHROPIC_FINISH
from service.providers.anthropic.translate import AnthropicStreamTranslator, from_anthropic_response
from service.providers.meta_llama.translate import FINISH_REASONS as LLAMA_FINISH
from service.providers.meta_llama.translate import LlamaStreamTranslator, from_llama_response
from service.providers.sse import SSEDecoder


def sse(*events: tuple[str | None, dict]) -> bytes:
    out = b""
    for name, data in events:
        if name:
            out += f"event: {name}\n".encode()
        out += f"data: {json.dumps(data)}\n\n".encode()
    return out


def run(translator: Any, raw: bytes, piece: int) -> tuple[list[dict], Any]:
    decoder, out = SSEDecoder(), []
    for i in range(0, len(raw), piece):
        for event, data in decoder.feed(raw[i:i + piece]):
            out += [chunk_to_json(c) for c in translator.feed(event, data)]
    for event, data in decoder.close():
        out += [chunk_to_json(c) for c in translator.feed(event, data)]
    return [{"delta": c["choices"][0]["delta"], "finish_reason": c["choices"][0]["finish_reason"]}
            for c in out], translator


def A(kind: str, **fields: Any) -> tuple[str, dict]:
    return kind, {"type": kind, **fields}


MSG = {"id": "msg_01", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5-20250929",
       "stop_reason": None, "stop_sequence": None,
       "usage": {"input_tokens": 472, "output_tokens": 2, "cache_creation_input_tokens": 10,
                 "cache_read_input_tokens": 20}}
ROLE = {"delta": {"role": "assistant", "content": ""}, "finish_reason": None}


def text(t: str) -> dict:
    return {"delta": {"content": t}, "finish_reason": None}


def tool_start(i: int, call_id: str, name: str) -> dict:
    return {"delta": {"tool_calls": [{"index": i, "id": call_id, "type": "function",
                                      "function": {"arguments": "", "name": name}}]}, "finish_reason": None}


def tool_args(i: int, args: str) -> dict:
    return {"delta": {"tool_calls": [{"index": i, "function": {"arguments": args}}]}, "finish_reason": None}


def finish(reason: str) -> dict:
    return {"delta": {}, "finish_reason": reason}


ANTHROPIC_CASES = [
    ("text", sse(
        A("message_start", message=MSG),
        A("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        A("ping"),
        A("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hello"}),
        A("content_block_delta", index=0, delta={"type": "text_delta", "text": " world"}),
        A("content_block_stop", index=0),
        A("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage={"output_tokens": 5}),
        A("message_stop")),
     [ROLE, text("Hello"), text(" world"), finish("stop")], (502, 5)),
    ("text then one tool call: own tool index 0 although the block index is 1", sse(
        A("message_start", message=MSG),
        A("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        A("content_block_delta", index=0, delta={"type": "text_delta", "text": "Let me check"}),
        A("content_block_stop", index=0),
        A("content_block_start", index=1, content_block={"type": "tool_use", "id": "toolu_1", "name": "wx",
                                                         "input": {}}),
        A("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
        A("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": "{\"city\": \"Par"}),
        A("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": "is\"}"}),
        A("content_block_stop", index=1),
        A("message_delta", delta={"stop_reason": "tool_use", "stop_sequence": None}, usage={"output_tokens": 89}),
        A("message_stop")),
     [ROLE, text("Let me check"), tool_start(0, "toolu_1", "wx"), tool_args(0, "{\"city\": \"Par"),
      tool_args(0, "is\"}"), finish("tool_calls")], (502, 89)),
    ("parallel tool calls, the second with no arguments at all", sse(
        A("message_start", message=MSG),
        A("content_block_start", index=0, content_block={"type": "tool_use", "id": "toolu_a", "name": "wx",
                                                         "input": {}}),
        A("content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": "{\"city\":\"Rome\"}"}),
        A("content_block_stop", index=0),
        A("content_block_start", index=1, content_block={"type": "tool_use", "id": "toolu_b", "name": "now",
                                                         "input": {}}),
        A("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
        A("content_block_stop", index=1),
        A("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 30}),
        A("message_delta", delta={}, usage={"output_tokens": 31}),
        A("message_stop")),
     [ROLE, tool_start(0, "toolu_a", "wx"), tool_args(0, "{\"city\":\"Rome\"}"), tool_start(1, "toolu_b", "now"),
      tool_args(1, "{}"), finish("tool_calls")], (502, 31)),
    ("max_tokens stop; usage replaced by the cumulative message_delta, input counts included", sse(
        A("message_start", message=MSG),
        A("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        A("content_block_delta", index=0, delta={"type": "text_delta", "text": "Once upon"}),
        A("content_block_stop", index=0),
        A("message_delta", delta={"stop_reason": "max_tokens"},
          usage={"input_tokens": 472, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 20,
                 "output_tokens": 2}),
        A("message_stop")),
     [ROLE, text("Once upon"), finish("length")], (502, 2)),
]


@pytest.mark.parametrize("piece", [1, 7, 1 << 20])
@pytest.mark.parametrize(("name", "raw", "expected", "usage"), ANTHROPIC_CASES, ids=[c[0] for c in ANTHROPIC_CASES])
def test_anthropic_stream(name: str, raw: bytes, expected: list, usage: tuple[int, int], piece: int) -> None:
    chunks, translator = run(AnthropicStreamTranslator(), raw, piece)
    assert chunks == expected
    assert translator.done and translator.error is None
    u = translator.usage()
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (usage[0], usage[1], sum(usage))


def test_anthropic_in_stream_error_and_truncation() -> None:
    raw = sse(A("message_start", message=MSG),
              A("content_block_start", index=0, content_block={"type": "text", "text": ""}),
              A("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hel"}),
              ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    chunks, translator = run(AnthropicStreamTranslator(), raw, 5)
    assert chunks == [ROLE, text("Hel")]
    assert translator.error == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert not translator.done
    _, cut = run(AnthropicStreamTranslator(), raw[: raw.index(b"event: error")], 3)
    assert not cut.done and cut.error is None  # the adapter turns this into an error, never a normal finish


def L(event_type: str, delta: dict | None = None, **fields: Any) -> tuple[None, dict]:
    ev: dict[str, Any] = {"event_type": event_type, "delta": delta or {"type": "text", "text": ""}, **fields}
    return None, {"id": "AMSuW", "event": ev}


METRICS = [{"metric": "num_prompt_tokens", "value": 47.0, "unit": "tokens"},
           {"metric": "num_completion_tokens", "value": 9.0, "unit": "tokens"},
           {"metric": "num_total_tokens", "value": 56.0, "unit": "tokens"}]

LLAMA_CASES = [
    ("text", sse(
        L("start"),
        L("progress", {"type": "text", "text": "The weather"}),
        L("progress", {"type": "text", "text": " is sunny."}),
        L("complete", stop_reason="stop"),
        L("metrics", metrics=METRICS)),
     [ROLE, text("The weather"), text(" is sunny."), finish("stop")]),
    ("one tool call in fragments: id and name only on the first", sse(
        L("start"),
        L("progress", {"type": "tool_call", "id": "call_1", "function": {"name": "get_weather", "arguments": ""}}),
        L("progress", {"type": "tool_call", "function": {"arguments": "{\"location\": \"Bell"}}),
        L("progress", {"type": "tool_call", "function": {"arguments": "evue\"}"}}),
        L("complete", stop_reason="tool_calls"),
        L("metrics", metrics=METRICS)),
     [ROLE, tool_start(0, "call_1", "get_weather"), tool_args(0, "{\"location\": \"Bell"), tool_args(0, "evue\"}"),
      finish("tool_calls")]),
    ("parallel tool calls: a new id starts the next index; empty-argument call", sse(
        L("start", {"type": "text", "text": "Checking"}),
        L("progress", {"type": "tool_call", "id": "call_a", "function": {"name": "wx", "arguments": "{\"c\":1}"}}),
        L("progress", {"type": "tool_call", "id": "call_b", "function": {"name": "now", "arguments": ""}}),
        L("complete", stop_reason="tool_calls"),
        L("metrics", metrics=METRICS)),
     [ROLE, text("Checking"), {"delta": {"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                                         "function": {"arguments": "{\"c\":1}", "name": "wx"}}]},
                               "finish_reason": None},
      tool_start(1, "call_b", "now"), finish("tool_calls")]),
    ("length stop", sse(
        L("start"), L("progress", {"type": "text", "text": "Once upon"}), L("complete", stop_reason="length"),
        L("metrics", metrics=METRICS)),
     [ROLE, text("Once upon"), finish("length")]),
]


@pytest.mark.parametrize("piece", [1, 11, 1 << 20])
@pytest.mark.parametrize(("name", "raw", "expected"), LLAMA_CASES, ids=[c[0] for c in LLAMA_CASES])
def test_llama_stream(name: str, raw: bytes, expected: list, piece: int) -> None:
    chunks, translator = run(LlamaStreamTranslator(), raw, piece)
    assert chunks == expected
    assert translator.done and translator.error is None
    u = translator.usage()
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (47, 9, 56)


def test_llama_in_stream_error() -> None:
    raw = sse(L("start"), L("progress", {"type": "text", "text": "Hi"}),
              ("error", {"error": {"message": "Internal error", "type": "api_error", "code": 500}}))
    chunks, translator = run(LlamaStreamTranslator(), raw, 4)
    assert chunks == [ROLE, text("Hi")]
    assert translator.error == {"error": {"message": "Internal error", "type": "api_error", "code": 500}}
    assert not translator.done


def test_sse_decoder_field_rules() -> None:
    d = SSEDecoder()
    assert d.feed(b": comment\r\nevent: a\r\ndata: line1\r\ndata:line2\r\n\r\nda") == [("a", "line1\nline2")]
    assert d.feed(b"ta: x\n") == []
    assert d.close() == [(None, "x")]


def _unknowns(logs: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["event"], e["provider"], e["kind"]) for e in logs
            if e["event"] in ("unknown_stop_reason", "unknown_stream_event")]


def test_unknown_anthropic_events_and_stop_reasons_are_passed_over_and_logged_once_per_kind() -> None:
    # kinds unique to this test: the once-per-process memory outlives a test
    new_event, other_event, new_reason = (f"{k}_{uuid.uuid4().hex[:8]}" for k in ("event", "event", "reason"))
    raw = sse(A("message_start", message=MSG), A(new_event, data=1), A(new_event, data=2), A(other_event),
              A("ping"), A("content_block_start", index=0, content_block={"type": "text", "text": ""}),
              A("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hi"}),
              A("content_block_stop", index=0), A("message_delta", delta={"stop_reason": new_reason}),
              A("message_stop"))
    with structlog.testing.capture_logs() as logs:
        for _ in range(2):
            chunks, translator = run(AnthropicStreamTranslator(), raw, 1 << 20)
            assert chunks == [ROLE, text("Hi"), finish("stop")] and translator.done
        completion = from_anthropic_response({"content": [], "stop_reason": new_reason})
    assert completion.choices[0].finish_reason == pb.FINISH_REASON_STOP  # the documented value for unknown ones
    assert _unknowns(logs) == [("unknown_stream_event", "anthropic", new_event),
                               ("unknown_stream_event", "anthropic", other_event),
                               ("unknown_stop_reason", "anthropic", new_reason)]
    assert all(e["log_level"] == "warning" for e in logs if e["event"].startswith("unknown_"))


def test_known_and_missing_stop_reasons_are_not_logged() -> None:
    with structlog.testing.capture_logs() as logs:
        for reason in (*ANTHROPIC_FINISH, None, ""):
            from_anthropic_response({"content": [], "stop_reason": reason})
        for reason in (*LLAMA_FINISH, None):
            from_llama_response({"completion_message": {"content": "x", "stop_reason": reason}})
    assert _unknowns(logs) == []


def test_unknown_llama_events_and_stop_reasons_are_passed_over_and_logged_once_per_kind() -> None:
    new_event, new_reason = (f"{k}_{uuid.uuid4().hex[:8]}" for k in ("event", "reason"))
    raw = sse(L("start"), L(new_event), L("progress", {"type": "text", "text": "Hi"}), L(new_event),
              L("complete", stop_reason=new_reason), L("metrics", metrics=METRICS))
    with structlog.testing.capture_logs() as logs:
        for _ in range(2):
            chunks, translator = run(LlamaStreamTranslator(), raw, 1 << 20)
            assert chunks == [ROLE, text("Hi"), finish("stop")] and translator.done
        completion = from_llama_response({"completion_message": {"content": "x", "stop_reason": new_reason}})
    assert completion.choices[0].finish_reason == pb.FINISH_REASON_STOP
    assert _unknowns(logs) == [("unknown_stream_event", "meta_llama", new_event),
                               ("unknown_stop_reason", "meta_llama", new_reason)]
