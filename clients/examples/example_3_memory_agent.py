"""Example 3 of the guide: a memory-backed conversational agent (two conversations).

The model stores and searches memories with zerodb_store_memory / zerodb_search_memory; this client runs them
against a local SQLite memory file (EXAMPLES_DATA_DIR/memory.sqlite3, default ./data/examples), so what the
first conversation stores, the second one finds.

GATEWAY_URL=http://127.0.0.1:8080 python clients/examples/example_3_memory_agent.py
"""

import httpx
from agent_loop import chat_url, run, run_agent
from local_tools import MemoryStore


class MemoryAgent:
    def __init__(self, api_key: str | None, agent_id: str):
        # Provider keys normally live on the gateway (BYOK: META_API_KEY there). A key given here is sent for
        # this agent's calls only, in the X-Provider-Key header.
        self.api_key = api_key
        self.agent_id = agent_id
        self.base_url = chat_url()
        self.memory = MemoryStore()

        self.tools = [
            {
                "type": "function",
                "function": {
                    "name": "zerodb_store_memory",
                    "description": "Store agent memory",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "agent_id": {"type": "string"},
                            "memory_type": {"type": "string"},
                            "content": {"type": "string"}
                        },
                        "required": ["agent_id", "memory_type", "content"]
                    }
                }
            },
            {
                "type": "function",
                "function": {
                    "name": "zerodb_search_memory",
                    "description": "Search agent memories",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "agent_id": {"type": "string"},
                            "query": {"type": "string"},
                            "limit": {"type": "integer"}
                        },
                        "required": ["agent_id", "query"]
                    }
                }
            }
        ]

    async def chat(self, user_message: str):
        async with httpx.AsyncClient() as client:
            result = await run_agent(
                client,
                {
                    "provider": "meta_llama",
                    "model": "Llama-3.3-70B-Instruct",
                    "messages": [
                        {
                            "role": "system",
                            "content": f"You are a helpful assistant with persistent memory. Your agent ID is {self.agent_id}. Always search your memory for relevant context before answering, and store important information."  # noqa: E501
                        },
                        {"role": "user", "content": user_message}
                    ],
                    "tools": self.tools,
                    "max_iterations": 5
                },
                self.memory.executors(),
                request_timeout=120.0,
                headers={"X-Provider-Key": self.api_key} if self.api_key else None,
            )
            return result.content


# Usage
async def main():
    agent = MemoryAgent(api_key=None, agent_id="assistant_001")
    print(f"Memory file: {agent.memory.path}")

    # First conversation
    response1 = await agent.chat("My name is John and I love Python programming.")
    print(f"Agent: {response1}")

    # Later conversation - agent should remember
    response2 = await agent.chat("What programming language do I prefer?")
    print(f"Agent: {response2}")


if __name__ == "__main__":
    run(main())
