"""The REST edge's JSON type checks and the shared value checks, each naming its field."""

from __future__ import annotations

import pytest
from ainative.chat.v1 import chat_pb2 as pb

from bridge.translate import parse_chat_request
from service.errors import GatewayError
from service.models import resolve_model
from service.validate import validate_request

OK = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


def check(body: object) -> int:
    req, _, _ = parse_chat_request(body)
    return validate_request(req, resolve_model(req.provider, req.model))


def test_minimal_request_gets_model_default_max_tokens() -> None:
    assert check(OK) == 4096
    assert check({**OK, "model": "Llama-3.3-70B-Instruct"}) == 4028
    assert check({**OK, "model": "claude-some-future-model"}) == 4096
    # a pass-through id gets its provider's ceiling: the Llama API takes at most 4028 for any model
    assert check({**OK, "model": "Llama-4-Scout-17B-16E-Instruct-FP8"}) == 4028
    assert check({**OK, "model": "meta_llama/some-fine-tune"}) == 4028


def test_max_tokens_and_max_completion_tokens_are_one_setting() -> None:
    assert check({**OK, "max_tokens": 9}) == 9
    assert check({**OK, "max_completion_tokens": 7}) == 7
    req, _, _ = parse_chat_request({**OK, "max_completion_tokens": 7})
    assert req.max_completion_tokens == 7 and not req.HasField("max_tokens")


MAX_TOKENS_ERRORS = [
    ({**OK, "max_completion_tokens": 1000000}, "max_completion_tokens",
     "max_completion_tokens 1000000 exceeds the maximum output of claude-sonnet-4-5 (64000)"),
    ({**OK, "max_tokens": 1000000}, "max_tokens",
     "max_tokens 1000000 exceeds the maximum output of claude-sonnet-4-5 (64000)"),
    ({**OK, "max_completion_tokens": 0}, "max_completion_tokens", "max_completion_tokens must be a positive integer"),
    ({**OK, "max_tokens": 0}, "max_tokens", "max_tokens must be a positive integer"),
    ({**OK, "max_tokens": 100, "max_completion_tokens": 100}, "max_tokens",
     "max_tokens and max_completion_tokens are the same setting: send only one (max_completion_tokens is OpenAI's "
     "current name)"),
    ({**OK, "model": "Llama-4-Scout-17B-16E-Instruct-FP8", "max_completion_tokens": 5000}, "max_completion_tokens",
     "max_completion_tokens 5000 exceeds the maximum output of Llama-4-Scout-17B-16E-Instruct-FP8 (4028)"),
]


@pytest.mark.parametrize(("body", "param", "message"), MAX_TOKENS_ERRORS)
def test_max_tokens_errors_name_the_field_sent(body: object, param: str, message: str) -> None:
    with pytest.raises(GatewayError) as info:
        check(body)
    assert (info.value.code, info.value.param, info.value.message) == ("invalid_request", param, message)


def test_parsed_fields() -> None:
    req, stream, include_usage = parse_chat_request({
        **OK, "provider": "anthropic", "temperature": 0, "max_completion_tokens": 7,
        "top_p": 1, "stop": "END", "user": "u", "metadata": {"k": "v"}, "stream": True,
        "stream_options": {"include_usage": True}, "parallel_tool_calls": False, "max_iterations": 3, "n": 1,
        "unknown_field": {"ignored": True}})
    assert (stream, include_usage) == (True, True)
    assert req.HasField("temperature") and req.temperature == 0.0
    assert req.max_completion_tokens == 7 and not req.HasField("max_tokens")
    assert list(req.stop) == ["END"] and req.parallel_tool_calls is False and req.max_iterations == 3
    assert dict(req.metadata) == {"k": "v"}
    unset, _, _ = parse_chat_request(OK)
    assert not unset.HasField("temperature") and not unset.HasField("max_tokens")
    assert not unset.HasField("max_completion_tokens")


BAD = [
    ([], None, "invalid_request"),
    ({"messages": [{"role": "user", "content": "x"}]}, "model", "invalid_request"),
    ({**OK, "model": 5}, "model", "invalid_request"),
    ({**OK, "messages": []}, "messages", "invalid_request"),
    ({**OK, "messages": "hi"}, "messages", "invalid_request"),
    ({**OK, "messages": ["hi"]}, "messages[0]", "invalid_request"),
    ({**OK, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "invalid_request"),
    ({**OK, "messages": [{"content": "x"}]}, "messages[0].role", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "messages[0].content[0].type",
     "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}]}]},
     "messages[0].content[0].image_url.url", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]},
     "messages[1].tool_call_id", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}]},
     "messages[1].tool_call_id", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "t", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}]},
     "messages[1].tool_calls[0].function.arguments", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
     "messages[1].tool_calls[0].id", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
     "messages[1].tool_calls", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "t2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "r"}, {"role": "user", "content": "and?"}]},
     "messages[1].tool_calls", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "r"}, {"role": "assistant", "content": "ok"},
        {"role": "tool", "tool_call_id": "t1", "content": "again"}]},
     "messages[4].tool_call_id", "invalid_request"),
    ({**OK, "temperature": "hot"}, "temperature", "invalid_request"),
    ({**OK, "temperature": True}, "temperature", "invalid_request"),
    ({**OK, "temperature": 1.5}, "temperature", "invalid_request"),
    ({**OK, "temperature": -0.1}, "temperature", "invalid_request"),
    ({**OK, "top_p": 2}, "top_p", "invalid_request"),
    ({**OK, "max_tokens": 0}, "max_tokens", "invalid_request"),
    ({**OK, "max_tokens": -5}, "max_tokens", "invalid_request"),
    ({**OK, "max_tokens": 1.5}, "max_tokens", "invalid_request"),
    ({**OK, "max_tokens": 10**12}, "max_tokens", "invalid_request"),
    ({**OK, "max_tokens": 64001}, "max_tokens", "invalid_request"),
    ({**OK, "model": "Llama-3.3-70B-Instruct", "max_tokens": 4029}, "max_tokens", "invalid_request"),
    ({**OK, "n": 2}, "n", "invalid_request"),
    ({**OK, "max_iterations": 0}, "max_iterations", "invalid_request"),
    ({**OK, "max_iterations": 26}, "max_iterations", "invalid_request"),
    ({**OK, "stop": 5}, "stop", "invalid_request"),
    ({**OK, "stop": ["a", "b", "c", "d", "e"]}, "stop", "invalid_request"),
    ({**OK, "stream": "yes"}, "stream", "invalid_request"),
    ({**OK, "metadata": {"a": 1}}, "metadata", "invalid_request"),
    ({**OK, "provider": "xyz"}, "provider", "unsupported_provider"),
    ({**OK, "provider": 3}, "provider", "invalid_request"),
    ({**OK, "model": "gpt-4o"}, "provider", "invalid_request"),
    ({**OK, "provider": "meta_llama"}, "model", "invalid_request"),
    ({**OK, "tool_choice": "auto"}, "tool_choice", "invalid_request"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "sometimes"},
     "tool_choice", "invalid_request"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "function", "function": {"name": "g"}}}, "tool_choice", "invalid_request"),
    ({**OK, "tools": "f"}, "tools", "invalid_tool_schema"),
    ({**OK, "tools": [{"type": "function"}]}, "tools[0].function", "invalid_tool_schema"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0].function.name",
     "invalid_tool_schema"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "tools[0].function.name",
     "invalid_tool_schema"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "f"}},
                      {"type": "function", "function": {"name": "f"}}]}, "tools[1].function.name",
     "invalid_tool_schema"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]},
     "tools[0].function.parameters", "invalid_tool_schema"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]},
     "tools[0].function.parameters", "invalid_tool_schema"),
]


@pytest.mark.parametrize(("body", "param", "code"), BAD)
def test_bad_requests_name_the_field(body: object, param: str | None, code: str) -> None:
    with pytest.raises(GatewayError) as info:
        check(body)
    assert (info.value.param, info.value.code) == (param, code), info.value.message


@pytest.mark.parametrize(("provider", "model", "expected"), [
    ("", "claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5-20250929")),
    ("", "claude-opus-4", ("anthropic", "claude-opus-4-20250514")),
    ("", "claude-3-5-haiku-latest", ("anthropic", "claude-3-5-haiku-latest")),
    ("", "Llama-3.3-8B-Instruct", ("meta_llama", "Llama-3.3-8B-Instruct")),
    ("", "llama-3.3-70b-instruct", ("meta_llama", "Llama-3.3-70B-Instruct")),
    ("", "anthropic/claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5-20250929")),
    ("", "meta_llama/Llama-4-Scout-17B-16E-Instruct-FP8", ("meta_llama", "Llama-4-Scout-17B-16E-Instruct-FP8")),
    ("anthropic", "my-fine-tune", ("anthropic", "my-fine-tune")),
])
def test_model_resolution(provider: str, model: str, expected: tuple[str, str]) -> None:
    spec = resolve_model(provider, model)
    assert (spec.provider, spec.provider_model_id) == expected


def test_tool_choice_proto_forms() -> None:
    req, _, _ = parse_chat_request({**OK, "tools": [{"type": "function", "function": {"name": "f"}}],
                                    "tool_choice": {"type": "function", "function": {"name": "f"}}})
    assert req.tool_choice.WhichOneof("choice") == "function_name"
    req, _, _ = parse_chat_request({**OK, "tools": [{"type": "function", "function": {"name": "f"}}],
                                    "tool_choice": "none"})
    assert req.tool_choice.mode == pb.TOOL_CHOICE_MODE_NONE
