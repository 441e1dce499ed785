"""Fields OpenAI's own OpenAPI document requires: model entries (created, owned_by), completions
(choices[].logprobs, choices[].message.refusal), and the `param` of a provider's 400 about a field."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from ainative.chat.v1 import chat_pb2 as pb

from bridge.translate import completion_to_json, model_to_json, models_to_json, parse_chat_request
from service.errors import GatewayError
from service.models import CATALOG, find_model
from service.providers.classify import classify_status, name_field
from service.validate import max_tokens_param

RELEASED = {  # Unix seconds of each release day (UTC midnight), as README.md documents
    "Llama-4-Maverick-17B-128E-Instruct-FP8": 1743811200,  # 2025-04-05
    "Llama-3.3-70B-Instruct": 1733443200,  # 2024-12-06
    "Llama-3.3-8B-Instruct": 1745884800,  # 2025-04-29
    "claude-sonnet-4-5": 1759104000,  # 2025-09-29
    "claude-opus-4": 1747872000,  # 2025-05-22
}


def test_every_catalog_entry_has_a_fixed_created_and_an_owner() -> None:
    assert {m.id: m.created for m in CATALOG} == RELEASED
    for m in CATALOG:
        assert m.created == calendar.timegm(dt.date.fromisoformat(m.released).timetuple())
    data = models_to_json(pb.ListModelsResponse(models=[m.to_proto() for m in CATALOG]))["data"]
    assert [(e["id"], e["object"], e["created"], e["owned_by"]) for e in data] == [
        (m.id, "model", RELEASED[m.id], m.provider) for m in CATALOG]


@pytest.mark.parametrize(("asked", "found"), [
    ("claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("CLAUDE-SONNET-4-5", "claude-sonnet-4-5"),
    ("anthropic/claude-opus-4", "claude-opus-4"),
    ("meta_llama/Llama-3.3-70B-Instruct", "Llama-3.3-70B-Instruct"),
])
def test_find_model(asked: str, found: str) -> None:
    spec = find_model(asked)
    assert spec.id == found
    assert model_to_json(spec.to_proto())["id"] == found


@pytest.mark.parametrize("asked", ["gpt-4o", "claude-sonnet-4-5-20250929", "Llama-4-Scout-17B-16E-Instruct-FP8",
                                   "meta_llama/claude-sonnet-4-5", ""])
def test_find_model_unknown_is_model_not_found(asked: str) -> None:
    with pytest.raises(GatewayError) as info:
        find_model(asked)
    assert (info.value.code, info.value.param, info.value.kind.http_status) == ("model_not_found", "model", 404)
    assert info.value.message == f"The model {asked!r} is not in the gateway's catalog (GET /v1/models lists it)"


def test_completion_choices_carry_null_logprobs_and_refusal() -> None:
    completion = pb.ChatCompletion(id="chatcmpl-1", choices=[
        pb.Choice(message=pb.ChatMessage(role=pb.ROLE_ASSISTANT, content=[pb.ContentPart(text="hi")]),
                  finish_reason=pb.FINISH_REASON_STOP),
        pb.Choice(index=1, message=pb.ChatMessage(role=pb.ROLE_ASSISTANT, tool_calls=[pb.ToolCall(
            id="c", type="function", function=pb.FunctionCall(name="f", arguments="{}"))]),
            finish_reason=pb.FINISH_REASON_TOOL_CALLS)])
    for choice in completion_to_json(completion)["choices"]:
        assert "logprobs" in choice and choice["logprobs"] is None
        assert "refusal" in choice["message"] and choice["message"]["refusal"] is None


@pytest.mark.parametrize(("body", "param"), [
    ({}, "max_tokens"), ({"max_tokens": 5}, "max_tokens"), ({"max_completion_tokens": 5}, "max_completion_tokens")])
def test_max_tokens_param_is_the_field_sent(body: dict, param: str) -> None:
    req, _, _ = parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "x"}], **body})
    assert max_tokens_param(req) == param


LLAMA_400 = "max_completion_tokens: must be an integer between 1 and 4028"
ANTHROPIC_400 = ("max_tokens: 5000 > 4096, which is the maximum allowed number of output tokens for "
                 "claude-3-haiku-20240307")
FIELD_CASES = [
    ("meta_llama", LLAMA_400, {"max_completion_tokens": "max_tokens"}, "max_tokens"),
    ("meta_llama", LLAMA_400, {"max_completion_tokens": "max_completion_tokens"}, "max_completion_tokens"),
    ("anthropic", ANTHROPIC_400, {"max_tokens": "max_completion_tokens"}, "max_completion_tokens"),
    ("anthropic", ANTHROPIC_400, {"max_tokens": "max_tokens"}, "max_tokens"),
    ("anthropic", "`max_tokens` must be greater than `thinking.budget_tokens`", {"max_tokens": "max_tokens"},
     "max_tokens"),
    ("anthropic", "thinking.budget_tokens: Input should be greater than or equal to 1024",
     {"max_tokens": "max_tokens", "budget_tokens": "x"}, None),
    ("anthropic", "messages.0.content: Field required", {"max_tokens": "max_tokens"}, None),
    ("meta_llama", "max_tokens: unrecognized", {"max_completion_tokens": "max_tokens"}, None),
]


@pytest.mark.parametrize(("provider", "said", "fields", "param"), FIELD_CASES)
def test_a_provider_400_about_a_field_names_the_callers_field(
    provider: str, said: str, fields: dict[str, str], param: str | None
) -> None:
    err = classify_status(provider, 400, {"error": {"message": said}}, model="m")
    assert name_field(err, fields) is err
    assert (err.code, err.param) == ("invalid_request", param)
    assert err.message.endswith(": " + said)  # the provider's own words are kept


def test_name_field_leaves_other_errors_alone() -> None:
    not_found = classify_status("anthropic", 404, {"error": {"message": "max_tokens"}}, model="m")
    limited = classify_status("anthropic", 429, {"error": {"message": "max_tokens"}}, model="m")
    name_field(not_found, {"max_tokens": "max_tokens"})
    name_field(limited, {"max_tokens": "max_tokens"})
    assert (not_found.param, limited.param) == ("model", None)
