"""Quick Start of the guide: one chat completion.

GATEWAY_URL=http://127.0.0.1:8080 python clients/examples/quick_start.py
"""

import httpx
from agent_loop import chat_url, check_response, run


async def chat():
    async with httpx.AsyncClient() as client:
        response = await client.post(
            chat_url(),
            headers={
                "Content-Type": "application/json",
                # Optional: Include JWT token for user tracking
                # "Authorization": "Bearer your-jwt-token"
            },
            json={
                "provider": "meta_llama",
                "model": "Llama-3.3-70B-Instruct",
                "messages": [
                    {"role": "user", "content": "Hello! What is 2+2?"}
                ],
                "temperature": 0.7,
                "max_tokens": 500
            },
            timeout=60.0
        )

        result = check_response(response)  # response.json(), or exit with the gateway's error.message
        print(result["choices"][0]["message"]["content"])


if __name__ == "__main__":
    run(chat())
