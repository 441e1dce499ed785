"""/openapi.json: served, valid, true to real responses, and schemathesis finds no 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis import checks

from bridge.openapi import build_document
from tests.conftest import JWT_SECRET, ThreadedGateway

DOCUMENT = build_document()
BEARER = {"Authorization": "Bearer " + jwt.encode({"sub": "openapi-tester"}, JWT_SECRET, algorithm="HS256")}


def validate(instance: Any, schema_name: str) -> None:
    schema = {**DOCUMENT["components"]["schemas"][schema_name], "components": DOCUMENT["components"]}
    refs = json.loads(json.dumps(schema).replace("#/components/", "#/components/"))
    jsonschema.validate(instance, refs, cls=Draft202012Validator)


def test_document_is_served_and_its_schemas_are_valid(threaded_gateway: ThreadedGateway) -> None:
    served = httpx.get(f"{threaded_gateway.url}/openapi.json").json()
    assert served == json.loads(json.dumps(DOCUMENT))
    assert served["openapi"] == "3.1.0"
    for name, schema in DOCUMENT["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name
    docs = httpx.get(f"{threaded_gateway.url}/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert set(DOCUMENT["paths"]) == {"/v1/chat/completions", "/v1/models", "/v1/models/{model}", "/v1/tools",
                                      "/v1/usage", "/v1/limits", "/healthz", "/readyz", "/metrics"}


def test_fields_openai_requires_are_required_here_too() -> None:
    """OpenAI's CreateChatCompletionResponse and Model require these; clients generated from our document agree."""
    schemas = DOCUMENT["components"]["schemas"]
    choice = schemas["ChatCompletion"]["properties"]["choices"]["items"]
    assert {"index", "message", "finish_reason", "logprobs"} <= set(choice["required"])
    assert {"role", "content", "refusal"} <= set(choice["properties"]["message"]["required"])
    assert {"id", "object", "created", "owned_by"} <= set(schemas["Model"]["required"])
    assert schemas["ModelList"]["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Model"}


def test_real_responses_match_the_document(threaded_gateway: ThreadedGateway) -> None:
    url = threaded_gateway.url
    with httpx.Client(base_url=url, timeout=10) as http:
        for body in ({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
                     {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "hi"}],
                      "tools": ["zerodb_list_tables"]}):
            resp = http.post("/v1/chat/completions", json=body, headers=BEARER)
            assert resp.status_code == 200
            validate(resp.json(), "ChatCompletion")
        with http.stream("POST", "/v1/chat/completions", json={
                "model": "claude-sonnet-4-5", "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "hi"}], "tools": ["bash_tool"]}) as stream:
            events = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        for event in events[:-1]:
            validate(json.loads(event), "ChatCompletionChunk")
        validate(http.get("/v1/models").json(), "ModelList")
        validate(http.get("/v1/models/claude-sonnet-4-5").json(), "Model")
        validate(http.get("/v1/tools").json(), "ToolList")
        validate(http.get("/v1/usage", headers=BEARER).json(), "Usage")
        validate(http.get("/v1/limits", headers=BEARER).json(), "Limits")
        validate(http.get("/v1/limits").json(), "Limits")
        for resp in (http.post("/v1/chat/completions", json={"model": "x"}),
                     http.post("/v1/chat/completions", json={"model": "claude-sonnet-4-5", "messages": [
                         {"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {
                             "name": "bad name"}}]}),
                     http.get("/v1/usage"), http.get("/v1/tools?group=nope"), http.get("/v1/models/nope")):
            assert resp.status_code in (400, 401, 404, 422)
            validate(resp.json(), "Error")
        validate(http.get("/healthz").json(), "Status")


SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.mark.filterwarnings("ignore")
@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_error(case: Any, threaded_gateway: ThreadedGateway) -> None:
    response = case.call(base_url=threaded_gateway.url, headers=BEARER if case.path == "/v1/usage" else None,
                         timeout=15)
    case.validate_response(response, checks=[checks.not_a_server_error, checks.status_code_conformance,
                                             checks.content_type_conformance, checks.response_schema_conformance])
