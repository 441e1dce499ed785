"""`make soak`: mixed load for a while (default 10 minutes), watching for leaks. Not part of CI.

The gateway (one-process default) and the emulators run as their own processes;
this process drives a mix of plain, streaming, tool and failing requests across
both providers at a fixed concurrency, and every 5 s samples the gateway's RSS,
open file descriptors, threads and live asyncio tasks (from /metrics). At the end
it prints the RSS slope (least squares over the second half, MB/minute) and the
first/last counts, and saves everything under bench/results/soak-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.run import RESULTS, Proc, start_emulators, start_gateway  # noqa: E402


def sample(proc: Proc) -> dict[str, float]:
    pid = proc.proc.pid
    status = Path(f"/proc/{pid}/status").read_text()
    return {"rss_mb": int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024,  # type: ignore[union-attr]
            "threads": int(re.search(r"Threads:\s+(\d+)", status).group(1)),  # type: ignore[union-attr]
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


async def drive(url: str, seconds: float, concurrency: int, proc: Proc) -> dict:
    rng = random.Random(7)
    counts: dict[str, int] = {}
    samples: list[dict[str, float]] = []
    stop = time.monotonic() + seconds
    bodies = [
        {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "soak"}]},
        {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "soak"}]},
        {"model": "claude-sonnet-4-5", "stream": True, "messages": [{"role": "user", "content": "soak stream"}]},
        {"model": "Llama-3.3-8B-Instruct", "stream": True, "stream_options": {"include_usage": True},
         "messages": [{"role": "user", "content": "soak stream"}]},
        {"model": "Llama-3.3-70B-Instruct", "tools": ["zerodb_list_tables"],
         "messages": [{"role": "user", "content": "tables?"}]},
        {"model": "claude-sonnet-4-5", "temperature": 9, "messages": [{"role": "user", "content": "bad"}]},
    ]

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def worker() -> None:
            while time.monotonic() < stop:
                body = rng.choice(bodies)
                async with session.post(f"{url}/v1/chat/completions", json=body) as resp:
                    await resp.read()
                    counts[str(resp.status)] = counts.get(str(resp.status), 0) + 1

        async def watch() -> None:
            started = time.monotonic()
            while time.monotonic() < stop:
                s = sample(proc)
                async with session.get(f"{url}/metrics") as resp:
                    m = re.search(r"^gateway_asyncio_tasks (\S+)$", await resp.text(), re.M)
                s["tasks"] = float(m.group(1)) if m else -1
                s["t_min"] = (time.monotonic() - started) / 60
                samples.append(s)
                print(f"  {s['t_min']:5.1f} min  rss {s['rss_mb']:6.1f} MB  fds {s['fds']:4}  "
                      f"threads {s['threads']:3}  tasks {s['tasks']:5.0f}  {counts}", flush=True)
                await asyncio.sleep(5)

        await asyncio.gather(watch(), *[worker() for _ in range(concurrency)])
    return {"counts": counts, "samples": samples}


def slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gateway-soak-"))
    emu, urls = start_emulators(tmp, "emulators")
    gw, _, http = start_gateway(tmp, "gateway", urls)
    try:
        result = asyncio.run(drive(f"http://{http}", args.minutes * 60, args.concurrency, gw))
    finally:
        gw.stop()
        emu.stop()
    samples = result["samples"]
    half = [s for s in samples if s["t_min"] >= args.minutes / 2]
    result["rss_slope_mb_per_min"] = slope([(s["t_min"], s["rss_mb"]) for s in half])
    first, last = samples[0], samples[-1]
    print(f"\nrequests: {result['counts']}")
    print(f"RSS {first['rss_mb']:.1f} -> {last['rss_mb']:.1f} MB; slope over the second half "
          f"{result['rss_slope_mb_per_min']:+.3f} MB/min")
    print(f"fds {first['fds']} -> {last['fds']}; threads {first['threads']} -> {last['threads']}; "
          f"asyncio tasks {first['tasks']:.0f} -> {last['tasks']:.0f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({"minutes": args.minutes, "concurrency": args.concurrency, **result}, indent=1))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
