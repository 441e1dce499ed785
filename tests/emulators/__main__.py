"""Run both emulators until SIGINT/SIGTERM:

    python -m tests.emulators --anthropic-port 9101 --llama-port 9102 [--delay-ms N] [--stream-delay-ms N]

then point a local gateway at them, e.g.::

    ANTHROPIC_BASE_URL=http://127.0.0.1:9101 META_API_BASE_URL=http://127.0.0.1:9102/v1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .anthropic import AnthropicEmulator
from .llama import LlamaEmulator


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.emulators", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--anthropic-port", type=int, default=9101)
    p.add_argument("--llama-port", type=int, default=9102)
    p.add_argument("--delay-ms", type=float, default=0.0, help="delay before answering each request")
    p.add_argument("--stream-delay-ms", type=float, default=0.0, help="delay between streamed events")
    p.add_argument("--key", action="append", default=None, help="accepted API key (repeatable; default: any)")
    return p.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    anthropic = AnthropicEmulator(host=args.host, port=args.anthropic_port)
    llama = LlamaEmulator(host=args.host, port=args.llama_port)
    for emu in (anthropic, llama):
        emu.response_delay = args.delay_ms / 1000.0
        emu.stream_delay = args.stream_delay_ms / 1000.0
        emu.record_requests = False  # long-running: nothing inspects them
        if args.key:
            emu.valid_keys = set(args.key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with anthropic, llama:
        print(f"ANTHROPIC_BASE_URL={anthropic.base_url}", flush=True)
        print(f"META_API_BASE_URL={llama.base_url}", flush=True)
        await stop.wait()
    print("emulators stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_run(_parse(argv)))


if __name__ == "__main__":
    main()
