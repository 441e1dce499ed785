"""Which Llama API client is cheaper per call: the official SDK or plain aiohttp on one pool?

    python bench/llama_client_cost.py [--requests 2000]

Both call the same Llama API emulator (running in its own process) sequentially;
the difference of their p50s is the client's own cost per call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiohttp
import orjson
from llama_api_client import AsyncLlamaAPIClient

sys.path.insert(0, ".")
from bench.latency import ENV, free_port, pct, spawn  # noqa: E402

BODY = {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "Hello! What is 2+2?"}],
        "max_completion_tokens": 500}


async def run(base_url: str, n: int) -> None:
    sdk = AsyncLlamaAPIClient(api_key="LLM|bench", base_url=base_url, max_retries=0)
    session = aiohttp.ClientSession()
    headers = {"Authorization": "Bearer LLM|bench", "Content-Type": "application/json"}

    async def via_sdk() -> None:
        r = await sdk.chat.completions.create(**BODY)
        assert r.completion_message.content

    async def via_aiohttp() -> None:
        async with session.post(f"{base_url}/chat/completions", data=orjson.dumps(BODY), headers=headers) as resp:
            body = orjson.loads(await resp.read())
            assert body["completion_message"]["content"]

    results: dict[str, list[float]] = {"llama-api-client SDK": [], "aiohttp + orjson": []}
    for warm in (via_sdk, via_aiohttp):
        for _ in range(n // 5):
            await warm()
    for _ in range(5):
        for name, fn in (("llama-api-client SDK", via_sdk), ("aiohttp + orjson", via_aiohttp)):
            for _ in range(n // 5):
                t = time.perf_counter()
                await fn()
                results[name].append((time.perf_counter() - t) * 1000)
    for name, samples in results.items():
        print(f"{name:<24} p50 {pct(samples, 0.5):.3f} ms   p99 {pct(samples, 0.99):.3f} ms")
    await session.close()
    await sdk.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    port = free_port()
    proc, _ = spawn(["-m", "tests.emulators", "--anthropic-port", str(free_port()), "--llama-port", str(port)],
                    ENV, "META_API_BASE_URL")
    try:
        asyncio.run(run(f"http://127.0.0.1:{port}/v1", args.requests))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
