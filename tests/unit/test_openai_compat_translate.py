"""The test provider's pure translation (tests/providers/openai_compat/translate.py), where the emulator
cannot show it: what a compatible server would refuse, and the stream's end conditions."""

from __future__ import annotations

import orjson
from ainative.chat.v1 import chat_pb2 as pb

from tests.providers.openai_compat.translate import OpenAIStreamTranslator, from_openai_response, to_openai_request


def msg(role: int, text: str = "", **kw: object) -> pb.ChatMessage:
    m = pb.ChatMessage(role=role, **kw)
    if text:
        m.content.add(text=text)
    return m


def test_request_shape() -> None:
    user = msg(pb.ROLE_USER, "Look:")
    user.content.add(text="")
    user.content.add(image_url=pb.ImageUrl(url="https://x.test/a.png", detail="low"))
    req = pb.CreateChatCompletionRequest(
        messages=[msg(pb.ROLE_DEVELOPER, "Be brief."), user,
                  msg(pb.ROLE_ASSISTANT, tool_calls=[pb.ToolCall(id="c1", type="function",
                                                                 function=pb.FunctionCall(name="now"))]),
                  msg(pb.ROLE_TOOL, "12:00", tool_call_id="c1")],
        temperature=0.0, stop=["END", ""], tools=[pb.Tool(type="function", function=pb.FunctionDefinition(name="now"))],
        tool_choice=pb.ToolChoice(function_name="now"), parallel_tool_calls=False, user="u-1")
    body = to_openai_request(req, "compat-chat-1", 256, stream=True)
    assert body == {
        "model": "compat-chat-1", "max_tokens": 256, "temperature": 0.0, "stop": ["END"], "user": "u-1",
        "messages": [
            {"role": "system", "content": "Be brief."},  # `developer` is not known to every compatible server
            {"role": "user", "content": [{"type": "text", "text": "Look:"}, {"type": "image_url", "image_url": {
                "url": "https://x.test/a.png", "detail": "low"}}]},
            # null content beside tool calls; "" arguments (a no-argument call) sent as an object
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "12:00"},
        ],
        "tools": [{"type": "function", "function": {"name": "now"}}],
        "tool_choice": {"type": "function", "function": {"name": "now"}}, "parallel_tool_calls": False,
        "stream": True, "stream_options": {"include_usage": True},
    }


def test_response_with_unknown_and_legacy_finish_reasons() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
        "finish_reason": "function_call"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    c = from_openai_response(body)
    assert c.choices[0].finish_reason == pb.FINISH_REASON_TOOL_CALLS
    assert c.choices[0].message.tool_calls[0].function.arguments == '{"a":1}'
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (3, 2, 5)
    body["choices"][0]["finish_reason"] = "something_new"
    assert from_openai_response(body).choices[0].finish_reason == pb.FINISH_REASON_STOP


def feed(t: OpenAIStreamTranslator, payload: object) -> list[pb.ChatCompletionChunk]:
    return t.feed(None, payload if isinstance(payload, str) else orjson.dumps(payload).decode())


def test_stream_renumbers_tool_calls_and_ends_only_at_done() -> None:
    t = OpenAIStreamTranslator()
    out = feed(t, {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "usage": None})
    # a server numbering its calls from 1: ours start at 0
    out += feed(t, {"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 1, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]})
    out += feed(t, {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}}]})
    out += feed(t, {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    assert not t.done  # the usage chunk and [DONE] are still to come
    out += feed(t, {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}})
    feed(t, "[DONE]")
    assert t.done and t.error is None
    assert [d.index for c in out if c.choices for d in c.choices[0].delta.tool_calls] == [0, 0]
    assert [c.choices[0].finish_reason for c in out if c.choices[0].finish_reason] == [pb.FINISH_REASON_TOOL_CALLS]
    assert t.usage() == pb.Usage(prompt_tokens=4, completion_tokens=5, total_tokens=9)


def test_stream_without_finish_is_not_done_and_errors_are_kept() -> None:
    t = OpenAIStreamTranslator()
    feed(t, {"choices": [{"index": 0, "delta": {"content": "hi"}}]})
    feed(t, "[DONE]")
    assert not t.done  # [DONE] with no finish_reason: the answer was cut
    t = OpenAIStreamTranslator()
    feed(t, {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}})
    assert t.error == {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
