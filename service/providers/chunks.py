"""Builders for the ChatCompletionChunk fragments every stream translator emits.

Choice index is always 0 (docs/wire-formats.md §4.7, pitfall 4); id/created/model are filled in by the core.
"""

from __future__ import annotations

from ainative.chat.v1 import chat_pb2 as pb


def _chunk(delta: pb.Delta, finish: pb.FinishReason = pb.FINISH_REASON_UNSPECIFIED) -> pb.ChatCompletionChunk:
    return pb.ChatCompletionChunk(choices=[pb.ChunkChoice(index=0, delta=delta, finish_reason=finish)])


def role_chunk() -> pb.ChatCompletionChunk:
    return _chunk(pb.Delta(role="assistant", content=""))


def text_chunk(text: str) -> pb.ChatCompletionChunk:
    return _chunk(pb.Delta(content=text))


def tool_start_chunk(index: int, call_id: str, name: str, arguments: str = "") -> pb.ChatCompletionChunk:
    """The first fragment of a tool call: the only one carrying id, type and name."""
    return _chunk(pb.Delta(tool_calls=[pb.ToolCallDelta(
        index=index, id=call_id, type="function", function=pb.FunctionCall(name=name, arguments=arguments))]))


def tool_args_chunk(index: int, arguments: str) -> pb.ChatCompletionChunk:
    return _chunk(pb.Delta(tool_calls=[pb.ToolCallDelta(index=index, function=pb.FunctionCall(arguments=arguments))]))


def finish_chunk(reason: pb.FinishReason) -> pb.ChatCompletionChunk:
    return _chunk(pb.Delta(), reason)


def usage_chunk(usage: pb.Usage) -> pb.ChatCompletionChunk:
    """The adapter's last item: no choices, the stream's final usage."""
    return pb.ChatCompletionChunk(usage=usage)
