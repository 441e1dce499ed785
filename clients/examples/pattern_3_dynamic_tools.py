"""Advanced Pattern 3 of the guide: dynamic tool selection.

The intent (first argument: data_analysis, code_generation or deployment; default data_analysis) picks the
tools, sent by catalog name: the gateway expands them to the full catalog definitions (GET /v1/tools).
The tools this client can run locally are executed; the others (docker_tool, deployment_tool) are answered
with an error result the model sees.

GATEWAY_URL=http://127.0.0.1:8080 python clients/examples/pattern_3_dynamic_tools.py data_analysis
"""

import sys

import httpx
from agent_loop import run, run_agent
from local_tools import Sandbox, ZeroDBTables


# Dynamically select tools based on user intent
def get_tools_for_intent(intent: str):
    tool_mapping = {
        "data_analysis": ["zerodb_query_table", "zerodb_semantic_search"],
        "code_generation": ["file_tool", "bash_tool", "testing_tool"],
        "deployment": ["docker_tool", "deployment_tool", "bash_tool"]
    }
    return tool_mapping.get(intent, [])


PROMPTS = {
    "data_analysis": "Use the tools to find the users in the 'users' table and summarise them.",
    "code_generation": "Write hello.py printing 'hello', add a pytest test for it and run the test.",
    "deployment": "Build the Docker image of this project and deploy it to staging.",
}


async def main(intent: str):
    tools = get_tools_for_intent(intent)
    if not tools:
        sys.exit(f"Error: unknown intent {intent!r}: use one of {', '.join(PROMPTS)}")
    print(f"Intent: {intent} -> tools: {', '.join(tools)}")
    local = {**ZeroDBTables().executors(), **Sandbox().executors()}
    async with httpx.AsyncClient() as client:
        result = await run_agent(
            client,
            {
                "provider": "meta_llama",
                "model": "Llama-3.3-70B-Instruct",
                "messages": [{"role": "user", "content": PROMPTS[intent]}],
                "tools": tools,  # catalog names: the gateway sends their full definitions
                "max_iterations": 5
            },
            {name: local[name] for name in tools if name in local},
            request_timeout=120.0,
        )
    print(f"Iterations: {result.iterations}")
    print(f"Total tokens: {result.total_tokens_used}")
    print(f"Answer: {result.content}")


if __name__ == "__main__":
    run(main(sys.argv[1] if len(sys.argv) > 1 else "data_analysis"))
