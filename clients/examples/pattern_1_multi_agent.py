"""Advanced Pattern 1 of the guide: multi-agent orchestration.

A research agent (zerodb_semantic_search, http_tool) runs its own tool loop; its answer becomes the brief of a
code agent (file_tool, testing_tool) with a loop of its own. The tools are named from the gateway's catalog
(GET /v1/tools): the request carries only their names and the gateway sends the full definitions.

Local executors: zerodb_semantic_search ranks rows of a table in EXAMPLES_DATA_DIR/zerodb.sqlite3 by word
overlap; http_tool sends GET/HEAD to EXAMPLES_HTTP_ALLOW hosts only (default loopback); file_tool and
testing_tool work inside EXAMPLES_SANDBOX.

GATEWAY_URL=http://127.0.0.1:8080 python clients/examples/pattern_1_multi_agent.py
"""

import httpx
from agent_loop import AgentResult, run, run_agent
from local_tools import Sandbox, ZeroDBTables, http_tool

EXECUTORS = {
    "zerodb_semantic_search": ZeroDBTables().semantic_search,
    "http_tool": http_tool,
    **Sandbox().executors(),
}


async def chat_with_tools(message: str, tools: list) -> AgentResult:
    """One agent: its own conversation and tool loop, with catalog tools given by name."""
    async with httpx.AsyncClient() as client:
        return await run_agent(
            client,
            {
                "provider": "meta_llama",
                "model": "Llama-3.3-70B-Instruct",
                "messages": [{"role": "user", "content": message}],
                "tools": tools,
                "max_iterations": 5
            },
            {name: EXECUTORS[name] for name in tools},
            request_timeout=120.0,
        )


async def multi_agent_workflow():
    # Agent 1: Research agent
    research_tools = ["zerodb_semantic_search", "http_tool"]

    print("== Research agent ==")
    research_result = await chat_with_tools(
        message="Research best practices for async Python",
        tools=research_tools
    )
    print(f"Research: {research_result.content}")

    # Agent 2: Code generation agent
    code_tools = ["file_tool", "testing_tool"]

    print("== Code agent ==")
    code_result = await chat_with_tools(
        message=f"Based on this research: {research_result.content}, generate optimized async code",
        tools=code_tools
    )
    print(f"Code: {code_result.content}")

    iterations = research_result.iterations + code_result.iterations
    tokens = research_result.total_tokens_used + code_result.total_tokens_used
    print(f"Iterations: {iterations} ({research_result.iterations} research + {code_result.iterations} code)")
    print(f"Total tokens: {tokens}")
    return code_result


if __name__ == "__main__":
    run(multi_agent_workflow())
