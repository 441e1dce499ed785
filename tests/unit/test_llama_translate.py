"""Table tests: OpenAI-shaped request JSON -> Llama API native body, and back."""

from __future__ import annotations

import pytest

from bridge.translate import completion_to_json, parse_chat_request
from service import providers as registry
from service.errors import GatewayError
from service.models import resolve_model
from service.providers.meta_llama.translate import from_llama_response, to_llama_request
from service.validate import validate_request


def body_for(req_json: dict, max_tokens: int = 4028) -> dict:
    req, _, _ = parse_chat_request({"model": "Llama-3.3-70B-Instruct", **req_json})
    return to_llama_request(req, "Llama-3.3-70B-Instruct", max_tokens)


CASES = [
    (
        "plain chat: max_completion_tokens, sampling params pass through",
        {"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
         "temperature": 0.7, "top_p": 0.5, "user": "u1", "max_tokens": 500},
        {"model": "Llama-3.3-70B-Instruct", "max_completion_tokens": 4028, "temperature": 0.7, "top_p": 0.5,
         "user": "u1",
         "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]},
    ),
    (
        "developer becomes system; parallel_tool_calls true is the API's own behaviour and needs no field",
        {"messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}],
         "parallel_tool_calls": True},
        {"model": "Llama-3.3-70B-Instruct", "max_completion_tokens": 4028,
         "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]},
    ),
    (
        "tool round trip: assistant content is a string, tool_calls lose type, tool messages 1:1",
        {"messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"Bellevue\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
         "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
             "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
         "tool_choice": "required"},
        {"model": "Llama-3.3-70B-Instruct", "max_completion_tokens": 4028,
         "messages": [
             {"role": "user", "content": "Weather?"},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"id": "call_1", "function": {"name": "get_weather", "arguments": "{\"location\":\"Bellevue\"}"}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
         "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
             "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
         "tool_choice": "required"},
    ),
    (
        "user parts with an image keep the image_url shape; text-only parts collapse to a string",
        {"messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]},
        {"model": "Llama-3.3-70B-Instruct", "max_completion_tokens": 4028,
         "messages": [
             {"role": "user", "content": "ab"},
             {"role": "assistant", "content": "ok"},
             {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                          {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]},
    ),
]


@pytest.mark.parametrize(("name", "request_json", "expected"), CASES, ids=[c[0] for c in CASES])
def test_request_translation(name: str, request_json: dict, expected: dict) -> None:
    assert body_for(request_json) == expected


@pytest.mark.parametrize(("extra", "param", "code"), [
    ({"stop": ["END"]}, "stop", "unsupported_parameter"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls", "unsupported_parameter"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "t", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]},
        {"role": "tool", "tool_call_id": "t", "content": "r"}]},
     "messages[1].tool_calls[0].function.arguments", "invalid_request"),
])
def test_what_the_native_api_cannot_carry_is_refused_not_dropped(extra: dict, param: str, code: str) -> None:
    req, _, _ = parse_chat_request({"model": "Llama-3.3-70B-Instruct",
                                    "messages": [{"role": "user", "content": "x"}], **extra})
    with pytest.raises(GatewayError) as info:
        validate_request(req, resolve_model("", "Llama-3.3-70B-Instruct"), registry.get("meta_llama").capabilities, "Meta Llama API")
    assert (info.value.code, info.value.param) == (code, param)


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", "auto"), ("none", "none"), ("required", "required"),
    ({"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}),
    (None, None),
])
def test_tool_choice(choice: object, expected: object) -> None:
    req_json: dict = {"messages": [{"role": "user", "content": "x"}],
                      "tools": [{"type": "function", "function": {"name": "f"}}]}
    if choice is not None:
        req_json["tool_choice"] = choice
    assert body_for(req_json).get("tool_choice") == expected


def test_response_text_object_content_and_float_metrics() -> None:
    body = {"id": "AMSuW", "completion_message": {
        "role": "assistant", "content": {"type": "text", "text": "The weather in Bellevue is sunny."},
        "stop_reason": "stop", "tool_calls": []},
        "metrics": [{"metric": "num_completion_tokens", "value": 9.0, "unit": "tokens"},
                    {"metric": "num_prompt_tokens", "value": 47.0, "unit": "tokens"},
                    {"metric": "num_total_tokens", "value": 56.0, "unit": "tokens"}]}
    out = completion_to_json(from_llama_response(body))
    assert out["choices"] == [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": {
        "role": "assistant", "content": "The weather in Bellevue is sunny.", "refusal": None}}]
    assert out["usage"] == {"prompt_tokens": 47, "completion_tokens": 9, "total_tokens": 56}


def test_response_string_content_and_tool_calls_kept_verbatim() -> None:
    body = {"id": "x", "completion_message": {
        "role": "assistant", "content": "", "stop_reason": "tool_calls",
        "tool_calls": [{"id": "call_9", "function": {"name": "f", "arguments": "{\"a\": 1, \"b\":"}}]},
        "metrics": [{"metric": "num_prompt_tokens", "value": 5}, {"metric": "num_completion_tokens", "value": 2}]}
    out = completion_to_json(from_llama_response(body))
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["choices"][0]["message"] == {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
        {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1, \"b\":"}}]}
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


@pytest.mark.parametrize(("stop_reason", "finish"), [
    ("stop", "stop"), ("length", "length"), ("tool_calls", "tool_calls"), (None, "stop"), ("weird", "stop")])
def test_finish_reason_total(stop_reason: str | None, finish: str) -> None:
    body = {"completion_message": {"content": "x", "stop_reason": stop_reason}, "metrics": []}
    assert completion_to_json(from_llama_response(body))["finish_reason"] == finish
