"""Example 2 of the guide: multi-tool agentic workflow (create a table, insert rows, query them).

The model asks for the ZeroDB tools; this client runs them against a local SQLite stand-in for ZeroDB
(EXAMPLES_DATA_DIR/zerodb.sqlite3, default ./data/examples) and sends the results back until the model answers.

GATEWAY_URL=http://127.0.0.1:8080 python clients/examples/example_2_data_analysis.py
"""

import httpx
from agent_loop import run, run_agent
from local_tools import ZeroDBTables


async def agentic_data_analysis():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "zerodb_create_table",
                "description": "Create a NoSQL table",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "table_name": {"type": "string"},
                        "schema": {"type": "object"}
                    },
                    "required": ["table_name", "schema"]
                }
            }
        },
        {
            "type": "function",
            "function": {
                "name": "zerodb_insert_rows",
                "description": "Insert data rows",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "table_name": {"type": "string"},
                        "rows": {"type": "array"}
                    },
                    "required": ["table_name", "rows"]
                }
            }
        },
        {
            "type": "function",
            "function": {
                "name": "zerodb_query_table",
                "description": "Query table data",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "table_name": {"type": "string"},
                        "filters": {"type": "object"}
                    },
                    "required": ["table_name"]
                }
            }
        }
    ]

    db = ZeroDBTables()
    executors = {name: fn for name, fn in db.executors().items()
                 if name in ("zerodb_create_table", "zerodb_insert_rows", "zerodb_query_table")}
    print(f"ZeroDB stand-in: {db.path}")

    async with httpx.AsyncClient() as client:
        result = await run_agent(
            client,
            {
                "provider": "meta_llama",
                "model": "Llama-3.3-70B-Instruct",
                "messages": [
                    {
                        "role": "user",
                        "content": """Create a table called 'users' with schema:
                        {id: UUID PRIMARY KEY, name: TEXT, email: TEXT}.
                        Then insert 3 sample users and query all of them."""
                    }
                ],
                "tools": tools,
                "max_iterations": 5
            },
            executors,
            request_timeout=120.0,
        )

        print(f"Iterations: {result.iterations}")
        print(f"Total tokens: {result.total_tokens_used}")
        print(f"Result: {result.content}")


if __name__ == "__main__":
    run(agentic_data_analysis())
