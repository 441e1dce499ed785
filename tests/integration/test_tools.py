"""The tool side of the guide: the catalog, tools by name, validation, tool_choice for both providers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from tests.conftest import Running
from tests.emulators import AnthropicEmulator, LlamaEmulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AGENT_TOOLS = ["bash_tool", "file_tool", "git_tool", "http_tool", "code_quality_tool", "testing_tool",
               "deployment_tool", "docker_tool", "package_manager_tool", "vector_search_tool", "security_scan_tool",
               "ui_design_tool", "css_styling_tool", "component_generation_tool", "asset_management_tool"]


def guide_zerodb_tools() -> list[dict]:
    """The user guide's 15 ZeroDB tool definitions, kept as data (tests/guide_check.py compares them with the guide)."""
    return json.loads((FIXTURES / "guide_zerodb_tools.json").read_text(encoding="utf-8"))


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def post(http: aiohttp.ClientSession, gateway: Running, body: Any) -> tuple[int, Any]:
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as resp:
        return resp.status, await resp.json()


async def test_catalog_has_the_guides_zerodb_tools_field_for_field_and_the_agent_tools(
    gateway: Running, http: aiohttp.ClientSession
) -> None:
    status, body = await get_json(http, f"{gateway.url}/v1/tools")
    assert status == 200 and body["object"] == "list"
    assert len(body["data"]) >= 30
    zerodb = [t for t in body["data"] if t["group"] == "zerodb"]
    assert [{"name": t["function"]["name"], "description": t["function"]["description"],
             "parameters": t["function"]["parameters"]} for t in zerodb] == guide_zerodb_tools()
    assert all(t["type"] == "function" for t in body["data"])
    agent = [t for t in body["data"] if t["group"] == "agent"]
    assert [t["function"]["name"] for t in agent] == AGENT_TOOLS
    for t in agent:
        params = t["function"]["parameters"]
        assert params["type"] == "object" and set(params["required"]) <= set(params["properties"])
        assert len(t["function"]["description"]) > 40
    by_name = {t["function"]["name"]: t["function"]["parameters"] for t in agent}
    # compatible with the guide's Example 4 sketches
    assert {"command", "cwd"} <= set(by_name["bash_tool"]["properties"]) and by_name["bash_tool"]["required"] == [
        "command"]
    assert set(by_name["file_tool"]["required"]) == {"operation", "path"}
    assert set(by_name["testing_tool"]["required"]) == {"test_framework", "test_path"}


async def test_catalog_filters(gateway: Running, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{gateway.url}/v1/tools?group=agent")
    assert status == 200 and [t["function"]["name"] for t in body["data"]] == AGENT_TOOLS
    status, body = await get_json(http, f"{gateway.url}/v1/tools?names=zerodb_list_tables,bash_tool")
    assert status == 200 and [t["function"]["name"] for t in body["data"]] == ["zerodb_list_tables", "bash_tool"]
    status, body = await get_json(http, f"{gateway.url}/v1/tools?group=zerodb&names=bash_tool")
    assert status == 200 and body["data"] == []
    status, body = await get_json(http, f"{gateway.url}/v1/tools?group=robots")
    assert status == 400 and body["error"]["param"] == "group"
    status, body = await get_json(http, f"{gateway.url}/v1/tools?names=nope_tool,bash_tool,other")
    assert status == 400 and "nope_tool, other" in body["error"]["message"]


async def test_grpc_list_tools(gateway: Running) -> None:
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        resp = await stub.ListTools(pb.ListToolsRequest(group="zerodb"))
        assert len(resp.tools) == 15 and {t.group for t in resp.tools} == {"zerodb"}
        assert resp.tools[2].tool.function.name == "zerodb_query_table"
        req = pb.CreateChatCompletionRequest(model="claude-sonnet-4-5", messages=[
            pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="hi")])],
            tools=[pb.Tool(type="catalog", catalog_name="zerodb_list_tables")])
        completion = (await stub.CreateChatCompletion(req)).completion
        assert completion.choices[0].message.tool_calls[0].function.name == "zerodb_list_tables"


@pytest.mark.parametrize("provider", ["anthropic", "meta_llama"])
async def test_tools_by_name_reach_the_provider_as_full_definitions(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    provider: str,
) -> None:
    guide = {t["name"]: t for t in guide_zerodb_tools()}
    model = "claude-sonnet-4-5" if provider == "anthropic" else "Llama-3.3-70B-Instruct"
    custom = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}
    status, body = await post(http, gateway, {
        "model": model, "messages": [{"role": "user", "content": "Query the users table"}],
        "tools": ["zerodb_query_table", custom, {"type": "catalog", "name": "zerodb_insert_rows"}]})
    assert status == 200, body
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "zerodb_query_table"
    if provider == "anthropic":
        sent = anthropic_emu.requests[-1].json["tools"]
        assert sent == [
            {"name": "zerodb_query_table", "description": guide["zerodb_query_table"]["description"],
             "input_schema": guide["zerodb_query_table"]["parameters"]},
            {"name": "get_weather", "input_schema": custom["function"]["parameters"]},
            {"name": "zerodb_insert_rows", "description": guide["zerodb_insert_rows"]["description"],
             "input_schema": guide["zerodb_insert_rows"]["parameters"]}]
    else:
        sent = llama_emu.requests[-1].json["tools"]
        assert sent == [{"type": "function", "function": guide["zerodb_query_table"]}, custom,
                        {"type": "function", "function": guide["zerodb_insert_rows"]}]


def nested_parameters(levels: int) -> dict:
    """A schema `levels` JSON levels deep (the parameters object is level 1): {"type": "object", "x": {"x": {}}}."""
    inner: dict = {}
    for _ in range(levels - 2):
        inner = {"x": inner}
    return {"type": "object", "x": inner}


BAD_TOOLS = [
    (["bash_tool"] * 129, 400, "invalid_request", "tools", "At most 128 tools"),
    ([{"type": "function", "function": {"name": "deep", "parameters": nested_parameters(33)}}], 422,
     "invalid_tool_schema", "tools[0].function.parameters", "'deep': parameters are nested more than 32 levels"),
    ([{"type": "function", "function": {"name": "huge", "parameters": {"type": "object", "description": "x" * 65536}}}],
     422, "invalid_tool_schema", "tools[0].function.parameters", "'huge': parameters take 65570 bytes"),
    (["zerodb_query_table", "not_a_tool", "nor_this"], 400, "invalid_request", "tools",
     "Unknown catalog tools: not_a_tool, nor_this"),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
                                                                    "properties": {"a": {"type": "strin"}}}}}],
     422, "invalid_tool_schema", "tools[0].function.parameters", "'f'"),
    ([{"type": "function", "function": {"name": "g", "parameters": {"type": "object", "required": "a"}}}],
     422, "invalid_tool_schema", "tools[0].function.parameters", "'g'"),
    ([{"type": "function", "function": {"name": "h", "parameters": {"type": "string"}}}],
     422, "invalid_tool_schema", "tools[0].function.parameters", "'h'"),
    ([{"type": "function", "function": {"name": "with space"}}], 422, "invalid_tool_schema",
     "tools[0].function.name", "with space"),
    (["bash_tool", {"type": "function", "function": {"name": "bash_tool"}}], 422, "invalid_tool_schema",
     "tools[1].function.name", "twice"),
    ([42], 422, "invalid_tool_schema", "tools[0]", "tools[0]"),
    ([{"type": "catalog"}], 422, "invalid_tool_schema", "tools[0].name", "catalog"),
    ([{"type": "retrieval"}], 422, "invalid_tool_schema", "tools[0].type", "type"),
]


@pytest.mark.parametrize(("tools", "status", "code", "param", "mentions"), BAD_TOOLS)
async def test_bad_tools_are_rejected_naming_the_problem(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator,
    tools: list, status: int, code: str, param: str, mentions: str,
) -> None:
    got, body = await post(http, gateway, {"model": "claude-sonnet-4-5",
                                           "messages": [{"role": "user", "content": "x"}], "tools": tools})
    assert got == status, body
    assert (body["error"]["code"], body["error"]["param"]) == (code, param)
    assert mentions in body["error"]["message"]
    assert anthropic_emu.requests == []


TOOL_CHOICES = [
    ("auto", None, {"type": "auto"}, "auto"),
    ("none", None, {"type": "none"}, "none"),
    ("required", None, {"type": "any"}, "required"),
    ({"type": "function", "function": {"name": "zerodb_list_tables"}}, None,
     {"type": "tool", "name": "zerodb_list_tables"},
     {"type": "function", "function": {"name": "zerodb_list_tables"}}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}, "required"),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}, None),
]


@pytest.mark.parametrize(("choice", "parallel", "anthropic_choice", "llama_choice"), TOOL_CHOICES)
async def test_tool_choice_is_honoured_for_both_providers(
    gateway: Running, http: aiohttp.ClientSession, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator,
    choice: Any, parallel: bool | None, anthropic_choice: dict, llama_choice: Any,
) -> None:
    base: dict[str, Any] = {"messages": [{"role": "user", "content": "list the tables"}],
                            "tools": ["zerodb_create_table", "zerodb_list_tables"]}
    if choice is not None:
        base["tool_choice"] = choice
    if parallel is not None:
        base["parallel_tool_calls"] = parallel
    status, body = await post(http, gateway, {**base, "model": "claude-sonnet-4-5"})
    assert status == 200, body
    assert anthropic_emu.requests[-1].json.get("tool_choice") == anthropic_choice
    status, body = await post(http, gateway, {**base, "model": "Llama-3.3-70B-Instruct"})
    if parallel is False:  # the Llama API has no switch for it: refused, never sent without it
        assert status == 400, body
        assert (body["error"]["code"], body["error"]["param"]) == ("unsupported_parameter", "parallel_tool_calls")
        assert llama_emu.requests == []
        return
    assert status == 200, body
    assert llama_emu.requests[-1].json.get("tool_choice") == llama_choice
    if choice == "none":
        assert "tool_calls" not in body["choices"][0]["message"]
    if isinstance(choice, dict):  # the mock model calls the forced tool
        assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "zerodb_list_tables"


@pytest.mark.parametrize(("extra", "param"), [
    ({"tool_choice": "auto"}, "tool_choice"),
    ({"tools": ["bash_tool"], "tool_choice": {"type": "function", "function": {"name": "file_tool"}}}, "tool_choice"),
    ({"tools": ["bash_tool"], "max_iterations": 0}, "max_iterations"),
    ({"tools": ["bash_tool"], "max_iterations": 26}, "max_iterations"),
    ({"tools": ["bash_tool"], "max_iterations": "5"}, "max_iterations"),
])
async def test_tool_request_rules(gateway: Running, http: aiohttp.ClientSession, extra: dict, param: str) -> None:
    status, body = await post(http, gateway, {"model": "claude-sonnet-4-5",
                                              "messages": [{"role": "user", "content": "x"}], **extra})
    assert status == 400 and body["error"]["param"] == param, body


async def test_max_iterations_bounds_accepted_and_counters_reported(
    gateway: Running, http: aiohttp.ClientSession
) -> None:
    for n in (1, 25):
        status, body = await post(http, gateway, {"model": "Llama-3.3-8B-Instruct", "max_iterations": n,
                                                  "messages": [{"role": "user", "content": "x"}],
                                                  "tools": ["bash_tool"]})
        assert status == 200 and body["iterations"] == 1
        assert body["total_tokens_used"] == body["usage"]["total_tokens"]
