"""Example 1 of the guide: simple chat.

GATEWAY_URL=http://127.0.0.1:8080 python clients/examples/example_1_simple_chat.py
"""

import httpx
from agent_loop import chat_url, check_response, run


async def simple_chat():
    async with httpx.AsyncClient() as client:
        response = await client.post(
            chat_url(),
            headers={"Content-Type": "application/json"},
            json={
                "provider": "meta_llama",
                "model": "Llama-3.3-70B-Instruct",
                "messages": [
                    {"role": "user", "content": "Explain quantum computing in one sentence."}
                ],
                "temperature": 0.7
            },
            timeout=60.0,  # the guide relies on httpx's 5 s default; a real model may need longer
        )
        return check_response(response)


async def main():
    result = await simple_chat()
    print(result["choices"][0]["message"]["content"])


if __name__ == "__main__":
    run(main())
