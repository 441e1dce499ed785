"""A lean grpc.aio load generator: `python bench/grpc_load.py TARGET CONNECTIONS SECONDS`.

CONNECTIONS tasks share one channel and call CreateChatCompletion back to back for
SECONDS; prints JSON with requests/s and latency percentiles (microseconds). Run as
its own process so its CPU is not the server's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc
import uvloop
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

REQUEST = pb.CreateChatCompletionRequest(model="Llama-3.3-70B-Instruct", messages=[
    pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text="Hello! What is 2+2?")])])


async def main(target: str, connections: int, seconds: float) -> None:
    samples: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        await stub.CreateChatCompletion(REQUEST)
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                await stub.CreateChatCompletion(REQUEST)
                samples.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(connections)])
        elapsed = time.perf_counter() - started
    samples.sort()

    def pct(q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] * 1e6

    print(json.dumps({"requests": len(samples), "rps": len(samples) / elapsed, "p50_us": pct(0.5),
                      "p90_us": pct(0.9), "p99_us": pct(0.99)}))


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
