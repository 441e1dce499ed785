"""Added latency at concurrency 1: the gateway against the direct upstream, in one run.

    make latency            (or: python bench/latency.py [--requests 2000])

Starts the provider emulators, a do-nothing gRPC ChatService and the gateway
(`python -m service`, one-process default) as separate processes, then times
sequential requests from this process with the same clients on both sides:
  REST: aiohttp POST to the gateway vs the same client POSTing the provider-native
        body straight to the emulator;
  gRPC: grpc.aio CreateChatCompletion to the gateway vs the same call to the do-nothing
        service answering a same-size message.
The full benchmark (wrk, concurrency 32, streams, memory) is `make bench`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import grpc
import orjson
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}"}


def spawn(args: list[str], env: dict[str, str], ready: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.time() + 30
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if ready in line:
            return proc, line
    proc.kill()
    raise RuntimeError(f"{args} did not start: {''.join(lines)}")


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


async def time_http(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, await resp.text()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def time_grpc(target: str, req: pb.CreateChatCompletionRequest, n: int) -> list[float]:
    out = []
    async with grpc.aio.insecure_channel(target) as ch:
        stub = chat_pb2_grpc.ChatServiceStub(ch)
        for _ in range(n):
            t = time.perf_counter()
            await stub.CreateChatCompletion(req)
            out.append((time.perf_counter() - t) * 1000)
    return out


async def measure(args: argparse.Namespace, emu: dict[str, str], gw_http: str, gw_grpc: str, noop: str) -> None:
    n, warm = args.requests, args.requests // 5
    prompt = "Hello! What is 2+2?"
    openai_body = lambda model: orjson.dumps({"model": model, "messages": [{"role": "user", "content": prompt}]})  # noqa: E731
    native = {
        "meta_llama": (f"{emu['META_API_BASE_URL']}/chat/completions",
                       orjson.dumps({"model": "Llama-3.3-70B-Instruct",
                                     "messages": [{"role": "user", "content": prompt}],
                                     "max_completion_tokens": 4028}),
                       {"Authorization": "Bearer LLM|bench", "Content-Type": "application/json"}),
        "anthropic": (f"{emu['ANTHROPIC_BASE_URL']}/v1/messages",
                      orjson.dumps({"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096,
                                    "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]}),
                      {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01",
                       "Content-Type": "application/json"}),
    }
    models = {"meta_llama": "Llama-3.3-70B-Instruct", "anthropic": "claude-sonnet-4-5"}
    rows = []
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for provider in ("meta_llama", "anthropic"):
            url, body, headers = native[provider]
            gw = (f"{gw_http}/v1/chat/completions", openai_body(models[provider]), {"Content-Type": "application/json"})
            await time_http(session, url, body, headers, warm)
            await time_http(session, *gw, warm)
            direct, via = [], []
            for _ in range(5):  # interleave so drift hits both sides alike
                direct += await time_http(session, url, body, headers, n // 5)
                via += await time_http(session, *gw, n // 5)
            rows.append((f"REST {provider}", direct, via))
    req = pb.CreateChatCompletionRequest(model="Llama-3.3-70B-Instruct", messages=[
        pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text=prompt)])])
    await time_grpc(noop, req, warm)
    await time_grpc(gw_grpc, req, warm)
    base, via = [], []
    for _ in range(5):
        base += await time_grpc(noop, req, n // 5)
        via += await time_grpc(gw_grpc, req, n // 5)
    rows.append(("gRPC meta_llama", base, via))
    print(f"\n{'path':<18}{'baseline p50':>13}{'gateway p50':>13}{'added p50':>11}{'gateway p99':>13}{'ratio':>8}")
    for name, base_s, via_s in rows:
        b50, g50, g99 = pct(base_s, 0.5), pct(via_s, 0.5), pct(via_s, 0.99)
        print(f"{name:<18}{b50:>11.3f}ms{g50:>11.3f}ms{g50 - b50:>9.3f}ms{g99:>11.3f}ms{g50 / b50:>7.2f}x")
    print(f"\n{n} requests per side at concurrency 1; baseline = direct emulator (REST) / do-nothing gRPC service.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    procs = []
    try:
        a_port, l_port = free_port(), free_port()
        emu_proc, _ = spawn(["-m", "tests.emulators", "--anthropic-port", str(a_port), "--llama-port", str(l_port)],
                            ENV, "META_API_BASE_URL")
        procs.append(emu_proc)
        emu = {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{a_port}", "META_API_BASE_URL": f"http://127.0.0.1:{l_port}/v1"}
        noop_proc, line = spawn(["bench/noop_grpc.py"], ENV, "NOOP_GRPC=")
        procs.append(noop_proc)
        noop = line.strip().split("=", 1)[1]
        gw_env = {**ENV, **emu, "ANTHROPIC_API_KEY": "sk-ant-bench", "META_API_KEY": "LLM|bench",
                  "GRPC_PORT": "0", "HTTP_PORT": "0"}
        gw_proc, line = spawn(["-m", "service"], gw_env, "gateway_started")
        procs.append(gw_proc)
        # the request log lines would fill the pipe: drain it in the background
        drain = subprocess.Popen(["cat"], stdin=gw_proc.stdout, stdout=subprocess.DEVNULL)
        procs.append(drain)
        grpc_addr = re.search(r'"grpc":\s*"([^"]+)"', line).group(1)  # type: ignore[union-attr]
        http_addr = re.search(r'"http":\s*"([^"]+)"', line).group(1)  # type: ignore[union-attr]
        import uvloop

        uvloop.run(measure(args, emu, f"http://{http_addr}", grpc_addr, noop))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


if __name__ == "__main__":
    main()
