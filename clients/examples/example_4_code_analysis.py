"""Example 4 of the guide: a code analysis agent that writes the code to a file, writes a test and runs it.

The client runs the tools inside the sandbox folder EXAMPLES_SANDBOX (default ./data/examples/sandbox):
file_tool (paths confined to the sandbox), bash_tool (allow-listed commands only, no shell, with a timeout)
and testing_tool (pytest or unittest with this Python). Refused or failed tools go back to the model as
{"error": ...} results. The sandbox is a folder, not an isolation boundary: the tests the model writes run.

GATEWAY_URL=http://127.0.0.1:8080 python clients/examples/example_4_code_analysis.py
"""

import httpx
from agent_loop import run, run_agent
from local_tools import Sandbox


async def code_analysis_agent(code: str):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "bash_tool",
                "description": "Execute shell commands",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "command": {"type": "string"},
                        "cwd": {"type": "string"}
                    },
                    "required": ["command"]
                }
            }
        },
        {
            "type": "function",
            "function": {
                "name": "file_tool",
                "description": "File operations",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "operation": {"type": "string"},
                        "path": {"type": "string"},
                        "content": {"type": "string"}
                    },
                    "required": ["operation", "path"]
                }
            }
        },
        {
            "type": "function",
            "function": {
                "name": "testing_tool",
                "description": "Run tests",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "test_framework": {"type": "string"},
                        "test_path": {"type": "string"}
                    },
                    "required": ["test_framework", "test_path"]
                }
            }
        }
    ]

    sandbox = Sandbox()
    print(f"Sandbox: {sandbox.root}")

    async with httpx.AsyncClient() as client:
        result = await run_agent(
            client,
            {
                "provider": "meta_llama",
                "model": "Llama-3.3-70B-Instruct",
                "messages": [
                    {
                        "role": "user",
                        "content": f"Analyze this code, write it to a file, create a test for it, and run the test:\n\n{code}"  # noqa: E501
                    }
                ],
                "tools": tools,
                "max_iterations": 8
            },
            sandbox.executors(),
            request_timeout=180.0,
        )
        print(f"Iterations: {result.iterations}")
        print(f"Total tokens: {result.total_tokens_used}")
        return result.response


# Usage
code = """
def fibonacci(n):
    if n <= 1:
        return n
    return fibonacci(n-1) + fibonacci(n-2)
"""


async def main():
    result = await code_analysis_agent(code)
    print(result["choices"][0]["message"]["content"])


if __name__ == "__main__":
    run(main())
