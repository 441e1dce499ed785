"""The REST edge's JSON type checks and the shared value checks, each naming its field.

The bridge (parse_chat_request) does shape only; every value rule, provider-specific ones included, is
service.validate's, so `check` runs both, as the core does.
"""

from __future__ import annotations

import pytest
from ainative.chat.v1 import chat_pb2 as pb

from bridge.translate import parse_chat_request
from service import providers as registry
from service.errors import GatewayError
from service.models import ModelSpec, resolve_model
from service.providers.capabilities import Capabilities
from service.validate import validate_request, validate_text_fields

OK = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
LLAMA = {**OK, "model": "Llama-3.3-70B-Instruct"}


def check(body: object) -> int:
    req, _, _ = parse_chat_request(body)
    validate_text_fields(req)
    return validate_for_owner(req, resolve_model(req.provider, req.model))


def validate_for_owner(req: pb.CreateChatCompletionRequest, spec: ModelSpec) -> int:
    """As the core validates: under the capabilities and label of the model's provider."""
    owner = registry.get(spec.provider)
    assert owner is not None
    return validate_request(req, spec, owner.capabilities, owner.label)


def calls(*calls: dict) -> list:
    """A conversation whose assistant turn makes `calls`, each answered."""
    return [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": list(calls)},
            *({"role": "tool", "tool_call_id": c.get("id", ""), "content": "r"} for c in calls)]


def call(arguments: str = "{}", **fields: object) -> dict:
    return {"id": "t1", "type": "function", "function": {"name": "f", "arguments": arguments}, **fields}


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
    # rules each had two owners (bridge and service) or one per provider translator: now validate's alone
    ({**OK, "messages": [{"role": "user", "content": "x", "tool_calls": [call()]}]}, "messages[0].tool_calls",
     "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": "x", "tool_call_id": "t1"}]}, "messages[0].tool_call_id",
     "invalid_request"),
    ({**OK, "messages": calls(call(type="custom"))}, "messages[1].tool_calls[0].type", "invalid_request"),
    ({**OK, "messages": calls(call("[1]"))}, "messages[1].tool_calls[0].function.arguments", "invalid_request"),
    ({**LLAMA, "messages": calls(call("[1]"))}, "messages[1].tool_calls[0].function.arguments", "invalid_request"),
    ({**LLAMA, "messages": calls(call("{not json"))}, "messages[1].tool_calls[0].function.arguments",
     "invalid_request"),
    ({**OK, "messages": calls({"id": "t1", "type": "function"})}, "messages[1].tool_calls[0].function.name",
     "invalid_request"),
    ({**LLAMA, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,AAAA"}}]}]},
     "messages[0].content[0].image_url.url", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0].image_url.url", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text",
     "invalid_request"),
    ({**OK, "tools": [{"type": "custom", "custom": {"name": "f"}}]}, "tools[0].type", "invalid_tool_schema"),
    ({**OK, "tools": [{"type": "catalog", "name": ""}]}, "tools[0].name", "invalid_tool_schema"),
    ({**OK, "tools": [""]}, "tools[0].name", "invalid_tool_schema"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "function", "function": {"name": ""}}}, "tool_choice", "invalid_request"),
    ({**OK, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "allowed_tools"}},
     "tool_choice", "invalid_request"),
    # what the provider cannot honour is refused, never dropped
    ({**LLAMA, "stop": "END"}, "stop", "unsupported_parameter"),
    ({**LLAMA, "stop": ["a", "END"]}, "stop", "unsupported_parameter"),
    ({**LLAMA, "tools": [{"type": "function", "function": {"name": "f"}}], "parallel_tool_calls": False},
     "parallel_tool_calls", "unsupported_parameter"),
    ({**LLAMA, "parallel_tool_calls": False}, "parallel_tool_calls", "unsupported_parameter"),
    # Anthropic's own rules, from its Capabilities
    ({**OK, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAA="}}]}]},
     "messages[0].content[0].image_url.url", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": ""}]}, "messages[0].content", "invalid_request"),
    ({**OK, "messages": [{"role": "user", "content": None}]}, "messages[0].content", "invalid_request"),
    ({**OK, "messages": [{"role": "system", "content": "only a system prompt"}]}, "messages", "invalid_request"),
    ({**OK, "messages": [{"role": "assistant", "content": "  "}]}, "messages", "invalid_request"),
    ({**OK, "user": "alice@example.com"}, "user", "invalid_request"),
    ({**OK, "metadata": {"user_id": "alice@example.com"}}, "metadata.user_id", "invalid_request"),
]


@pytest.mark.parametrize(("body", "param", "code"), BAD)
def test_bad_requests_name_the_field(body: object, param: str | None, code: str) -> None:
    with pytest.raises(GatewayError) as info:
        check(body)
    assert (info.value.param, info.value.code) == (param, code), info.value.message


ACCEPTED = [
    ("no-argument call", {**OK, "messages": calls(call(""))}),
    ("Llama takes what Anthropic refuses", {**LLAMA, "user": "alice@example.com", "messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": ""},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAA="}}]}]}),
    ("parallel_tool_calls true is every provider's default", {**LLAMA, "parallel_tool_calls": True}),
    ("an empty stop list asks for nothing", {**LLAMA, "stop": []}),
    ("a PDF travels to Anthropic as a document", {**OK, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,JVBERi0="}}]}]}),
    ("Anthropic's user_id from metadata wins over user", {**OK, "user": "a@b.c", "metadata": {"user_id": "u-1"}}),
    ("an assistant prefill is a turn", {**OK, "messages": [{"role": "system", "content": "s"},
                                                           {"role": "assistant", "content": "Hi"}]}),
]


@pytest.mark.parametrize(("name", "body"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted_requests(name: str, body: object) -> None:
    check(body)


def test_rest_carries_tool_calls_whatever_the_role() -> None:
    """They used to be dropped on a non-assistant message over REST (gRPC answered 400): now both refuse."""
    req, _, _ = parse_chat_request({**OK, "messages": [
        {"role": "user", "content": "x", "tool_calls": [call()], "tool_call_id": "t9"}]})
    assert [c.id for c in req.messages[0].tool_calls] == ["t1"] and req.messages[0].tool_call_id == "t9"


def test_unknown_role_and_mode_travel_as_unspecified() -> None:
    req, _, _ = parse_chat_request({**OK, "messages": [{"role": "robot", "content": "x"}],
                                    "tools": [{"type": "function", "function": {"name": "f"}}],
                                    "tool_choice": "sometimes"})
    assert req.messages[0].role == pb.ROLE_UNSPECIFIED
    assert req.tool_choice.WhichOneof("choice") == "mode" and req.tool_choice.mode == pb.TOOL_CHOICE_MODE_UNSPECIFIED


@pytest.mark.parametrize(("mutate", "param"), [
    (lambda r: setattr(r.messages[0], "role", 99), "messages[0].role"),  # past the enum: only gRPC can send it
    (lambda r: setattr(r.tool_choice, "mode", 99), "tool_choice"),
])
def test_enum_values_past_the_proto_are_refused(mutate: object, param: str) -> None:
    req, _, _ = parse_chat_request({**OK, "tools": [{"type": "function", "function": {"name": "f"}}]})
    mutate(req)  # type: ignore[operator]
    with pytest.raises(GatewayError) as info:
        validate_for_owner(req, resolve_model(req.provider, req.model))
    assert (info.value.code, info.value.param) == ("invalid_request", param)


def test_capabilities_passed_by_the_caller_win() -> None:
    """The rules follow the Capabilities and label passed: the provider's own, as the core passes them."""
    req, _, _ = parse_chat_request({**OK, "stop": "END", "user": "a@b.c"})
    spec = resolve_model(req.provider, req.model)
    with pytest.raises(GatewayError) as info:
        validate_for_owner(req, spec)
    assert info.value.param == "user"
    validate_request(req, spec, Capabilities(), "Permissive")
    with pytest.raises(GatewayError) as info:
        validate_request(req, spec, Capabilities(stop_sequences=False), "Some Provider")
    assert (info.value.code, info.value.param, info.value.message) == (
        "unsupported_parameter", "stop", "Some Provider does not support stop")


def test_messages_of_provider_rules_name_the_provider() -> None:
    for body, message in (
        ({**LLAMA, "stop": "END"}, "Meta Llama API does not support stop"),
        ({**LLAMA, "parallel_tool_calls": False}, "Meta Llama API does not support parallel_tool_calls: false"),
        ({**OK, "user": "a@b.c"}, "user must be an opaque id (no e-mail addresses) for Anthropic"),
    ):
        with pytest.raises(GatewayError) as info:
            check(body)
        assert info.value.message == message


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
