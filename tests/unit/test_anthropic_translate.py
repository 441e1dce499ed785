"""Table tests: OpenAI-shaped request JSON -> Anthropic Messages body, and back."""

from __future__ import annotations

import pytest
from ainative.chat.v1 import chat_pb2 as pb

from bridge.translate import completion_to_json, parse_chat_request
from service import providers as registry
from service.errors import GatewayError
from service.models import resolve_model
from service.providers.anthropic.translate import from_anthropic_response, to_anthropic_request
from service.validate import validate_request


def body_for(req_json: dict, max_tokens: int = 4096) -> dict:
    req, _, _ = parse_chat_request({"model": "claude-sonnet-4-5", **req_json})
    return to_anthropic_request(req, "claude-sonnet-4-5-20250929", max_tokens)


WX_TOOL = {"type": "function", "function": {"name": "wx", "description": "Weather",
                                             "parameters": {"type": "object",
                                                            "properties": {"city": {"type": "string"}},
                                                            "required": ["city"]}}}

CASES = [
    (
        "system hoisted, developer too, empty system dropped",
        {"messages": [{"role": "system", "content": "Be terse."}, {"role": "developer", "content": "No emoji."},
                      {"role": "system", "content": ""}, {"role": "user", "content": "Hi"}]},
        {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096,
         "system": [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "No emoji."}],
         "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]},
    ),
    (
        "consecutive same-role turns merged",
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                      {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"},
                      {"role": "user", "content": "e"}]},
        {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
            {"role": "user", "content": [{"type": "text", "text": "e"}]}]},
    ),
    (
        "reference 4.2 example: parallel tool calls, results merged into one user turn",
        {"messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "wx", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "wx", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "24C"}]},
        {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096,
         "system": [{"type": "text", "text": "Be terse."}],
         "messages": [
             {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
             {"role": "assistant", "content": [
                 {"type": "tool_use", "id": "toolu_1", "name": "wx", "input": {"city": "Paris"}},
                 {"type": "tool_use", "id": "toolu_2", "name": "wx", "input": {"city": "Rome"}}]},
             {"role": "user", "content": [
                 {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                 {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24C"}]}]},
    ),
    (
        "empty assistant text next to tool_calls is skipped; empty arguments become {}; results before text",
        {"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "list", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "[]"},
            {"role": "user", "content": "and now?"}]},
        {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "go"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "list", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "[]"},
                                         {"type": "text", "text": "and now?"}]}]},
    ),
    (
        "empty tool result has no content field",
        {"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "noop", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": ""}]},
        {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "go"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "noop", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}]},
    ),
    (
        "images: data URL -> base64 source, https -> url source, text parts kept, empty text skipped",
        {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"}, {"type": "text", "text": ""},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}}]}]},
        {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096, "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]}]},
    ),
    (
        "final assistant prefill is right-stripped",
        {"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi there  \n"}]},
        {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi there"}]}]},
    ),
    (
        "sampling params, stop string -> stop_sequences, whitespace-only stop dropped, user -> metadata.user_id",
        {"messages": [{"role": "user", "content": "x"}], "temperature": 0.2, "top_p": 0.9,
         "stop": ["END", "  "], "user": "u-123"},
        {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096, "temperature": 0.2, "top_p": 0.9,
         "stop_sequences": ["END"], "metadata": {"user_id": "u-123"},
         "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
    ),
]


@pytest.mark.parametrize(("name", "request_json", "expected"), CASES, ids=[c[0] for c in CASES])
def test_request_translation(name: str, request_json: dict, expected: dict) -> None:
    assert body_for(request_json) == expected


TOOL_CHOICE_CASES = [
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ("none", False, {"type": "none"}),
    ({"type": "function", "function": {"name": "wx"}}, None, {"type": "tool", "name": "wx"}),
    ({"type": "function", "function": {"name": "wx"}}, False,
     {"type": "tool", "name": "wx", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    (None, True, None),
    (None, None, None),
]


@pytest.mark.parametrize(("choice", "parallel", "expected"), TOOL_CHOICE_CASES)
def test_tool_choice_mapping(choice: object, parallel: bool | None, expected: dict | None) -> None:
    req_json: dict = {"messages": [{"role": "user", "content": "x"}], "tools": [WX_TOOL]}
    if choice is not None:
        req_json["tool_choice"] = choice
    if parallel is not None:
        req_json["parallel_tool_calls"] = parallel
    body = body_for(req_json)
    assert body.get("tool_choice") == expected
    assert body["tools"] == [{"name": "wx", "description": "Weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def test_tool_schema_kept_whole_with_integers() -> None:
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 10}},
              "anyOf": [{"required": ["n"]}]}
    body = body_for({"messages": [{"role": "user", "content": "x"}],
                     "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}]})
    assert body["tools"] == [{"name": "f", "input_schema": {**schema}}]
    assert isinstance(body["tools"][0]["input_schema"]["properties"]["n"]["minimum"], int)


def test_tool_without_parameters_gets_empty_object_schema() -> None:
    body = body_for({"messages": [{"role": "user", "content": "x"}],
                     "tools": [{"type": "function", "function": {"name": "f"}}]})
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


REFUSED = [
    ([{"role": "user", "content": ""}], {}, "messages[0].content"),
    ([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "t", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]},
      {"role": "tool", "tool_call_id": "t", "content": "r"}],
     {}, "messages[1].tool_calls[0].function.arguments"),
    ([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]},
      {"role": "tool", "tool_call_id": "t", "content": "r"}],
     {}, "messages[1].tool_calls[0].function.arguments"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAA="}}]}],
     {}, "messages[0].content[0].image_url.url"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,AAA="}}]}],
     {}, "messages[0].content[0].image_url.url"),
    ([{"role": "system", "content": "only a system prompt"}], {}, "messages"),
    ([{"role": "user", "content": "x"}], {"user": "alice@example.com"}, "user"),
]


@pytest.mark.parametrize(("messages", "extra", "param"), REFUSED)
def test_anthropic_rules_are_validates_and_the_translator_refuses_nothing(
    messages: list, extra: dict, param: str
) -> None:
    """Anthropic's own rules (its Capabilities) are checked by service.validate before translation; the
    translator, given the same request unchecked, still translates without raising."""
    req, _, _ = parse_chat_request({"model": "claude-sonnet-4-5", "messages": messages, **extra})
    with pytest.raises(GatewayError) as info:
        validate_request(req, resolve_model("", "claude-sonnet-4-5"), registry.get("anthropic").capabilities, "Anthropic")
    assert (info.value.code, info.value.param) == ("invalid_request", param)
    to_anthropic_request(req, "claude-sonnet-4-5-20250929", 4096)


def test_pdf_data_url_is_a_document_block() -> None:
    body = body_for({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,JVBERi0="}}]}]})
    assert body["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]


def test_metadata_user_id_wins_over_user() -> None:
    body = body_for({"messages": [{"role": "user", "content": "x"}], "user": "u-1", "metadata": {"user_id": "m-2"}})
    assert body["metadata"] == {"user_id": "m-2"}


RESPONSE_CASES = [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"),
    (None, "stop"), ("some_future_reason", "stop"),
]


@pytest.mark.parametrize(("stop_reason", "finish"), RESPONSE_CASES)
def test_finish_reason_mapping_is_total(stop_reason: str | None, finish: str) -> None:
    completion = from_anthropic_response({"content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason,
                                          "usage": {"input_tokens": 1, "output_tokens": 1}})
    assert completion_to_json(completion)["choices"][0]["finish_reason"] == finish


def test_response_text_tool_use_and_cache_usage() -> None:
    body = {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_01B", "name": "noop", "input": {}}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 412, "output_tokens": 57, "cache_creation_input_tokens": 100,
                  "cache_read_input_tokens": 30},
    }
    c = from_anthropic_response(body)
    assert c.choices[0].finish_reason == pb.FINISH_REASON_TOOL_CALLS
    out = completion_to_json(c)
    assert out["choices"][0]["message"] == {
        "role": "assistant", "content": "Let me check.", "refusal": None,
        "tool_calls": [
            {"id": "toolu_01A", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_01B", "type": "function", "function": {"name": "noop", "arguments": "{}"}}],
    }
    assert out["usage"] == {"prompt_tokens": 542, "completion_tokens": 57, "total_tokens": 599}


def test_tool_only_response_has_null_content() -> None:
    c = from_anthropic_response({"content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                                 "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 4}})
    assert completion_to_json(c)["choices"][0]["message"]["content"] is None
