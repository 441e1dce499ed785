"""The user guide's requests, sent the way the guide sends them (httpx), against the local gateway."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Running
from tests.emulators import LlamaEmulator, Turn


def tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


EXAMPLE_2_TOOLS = [
    tool("zerodb_create_table", "Create a NoSQL table",
         {"table_name": {"type": "string"}, "schema": {"type": "object"}}, ["table_name", "schema"]),
    tool("zerodb_insert_rows", "Insert data rows",
         {"table_name": {"type": "string"}, "rows": {"type": "array"}}, ["table_name", "rows"]),
    tool("zerodb_query_table", "Query table data",
         {"table_name": {"type": "string"}, "filters": {"type": "object"}}, ["table_name"]),
]
EXAMPLE_4_TOOLS = [
    tool("bash_tool", "Execute shell commands", {"command": {"type": "string"}, "cwd": {"type": "string"}},
         ["command"]),
    tool("file_tool", "File operations", {"operation": {"type": "string"}, "path": {"type": "string"},
                                          "content": {"type": "string"}}, ["operation", "path"]),
    tool("testing_tool", "Run tests", {"test_framework": {"type": "string"}, "test_path": {"type": "string"}},
         ["test_framework", "test_path"]),
]


async def guide_post(gateway: Running, payload: dict, seconds: float = 60.0) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{gateway.url}/v1/chat/completions",
                                 headers={"Content-Type": "application/json"}, json=payload, timeout=seconds)


async def test_quick_start_and_example_1(gateway: Running, llama_emu: LlamaEmulator) -> None:
    response = await guide_post(gateway, {
        "provider": "meta_llama", "model": "Llama-3.3-70B-Instruct",
        "messages": [{"role": "user", "content": "Hello! What is 2+2?"}], "temperature": 0.7, "max_tokens": 500})
    result = response.json()
    assert result["choices"][0]["message"]["content"] == (
        "Hello from the Llama-3.3-70B-Instruct emulator. You said: Hello! What is 2+2?")
    llama_emu.enqueue(Turn(text="Quantum computers use qubits to compute with superposition.", usage=(9, 9)))
    result = (await guide_post(gateway, {
        "provider": "meta_llama", "model": "Llama-3.3-70B-Instruct",
        "messages": [{"role": "user", "content": "Explain quantum computing in one sentence."}],
        "temperature": 0.7})).json()
    assert result["choices"][0]["message"]["content"] == "Quantum computers use qubits to compute with superposition."


@pytest.mark.parametrize(("tools", "max_iterations", "first_tool", "arguments"), [
    ([tool("get_weather", "Get current weather for a location",
           {"location": {"type": "string", "description": "City name"}}, ["location"])], 5, "get_weather",
     '{"location":"example"}'),
    (EXAMPLE_2_TOOLS, 5, "zerodb_create_table", '{"table_name":"example","schema":{}}'),
    (EXAMPLE_4_TOOLS, 8, "bash_tool", '{"command":"example"}'),
])
async def test_tool_calling_requests_of_the_guide(
    gateway: Running, llama_emu: LlamaEmulator, tools: list, max_iterations: int, first_tool: str, arguments: str
) -> None:
    result = (await guide_post(gateway, {
        "provider": "meta_llama", "model": "Llama-3.3-70B-Instruct",
        "messages": [{"role": "user", "content": "Do the task with the tools."}],
        "tools": tools, "max_iterations": max_iterations, "temperature": 0.7}, seconds=120.0)).json()
    assert result["iterations"] == 1
    assert result["total_tokens_used"] == result["usage"]["total_tokens"] > 0
    assert result["finish_reason"] == "tool_calls"
    [call] = result["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": first_tool, "arguments": arguments}
    sent = llama_emu.requests[-1].json
    assert [t["function"]["name"] for t in sent["tools"]] == [t["function"]["name"] for t in tools]
    assert sent["tools"] == tools  # definitions reach the provider unchanged
