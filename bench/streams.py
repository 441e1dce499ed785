"""Streaming: time to first token at concurrency 1, and 1,000 concurrent streams, in one run.

    python bench/streams.py [--streams 1000] [--ttft-requests 500] [--load-providers meta_llama,anthropic]

Part 1, time to first token (TTFT) at concurrency 1: provider emulators with no stream delay and a
gateway (`python -m service`), each its own process. For each provider, sequential streaming requests
(a) straight to the emulator with the provider-native streaming body and (b) through the gateway's
REST path, in interleaved batches (5 rounds), the same aiohttp client on both sides. TTFT is the time
from sending the request until the first event carrying non-empty text has been read; every stream is
then read to its end.

Part 2, concurrent streams: a second emulator process that sleeps 50 ms between streamed events
(20 text events per answer, so a stream lasts ~1.1-1.3 s) and, for each load provider, a fresh gateway
process pointed at it. All `--streams` streams are opened at once, first straight at the emulator (the
baseline: what the emulator and this client cost on the same cores), then through the gateway's REST
path; each must carry the full expected text (and, through the gateway, end with `[DONE]`). The
gateway's VmRSS, open fds and CPU are sampled every 100 ms, VmHWM is read at the end, then /healthz must
answer 200. The concurrent part gives up after `--load-timeout` seconds (default 120) per burst.
The emulators listen with a backlog of 1024 like the gateway (`--emulator-backlog`; 0 keeps aiohttp's
default of 128, whose full accept queue drops SYNs, costing 1 s retransmits to ~100-500 of 1,000 streams).

Prints one table and writes every figure to bench/results/streams-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.latency import ENV, free_port, pct, spawn  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PROVIDERS = ("meta_llama", "anthropic")
# gateway model name -> the provider model id the emulator echoes in its answer
MODELS = {"meta_llama": ("Llama-3.3-70B-Instruct", "Llama-3.3-70B-Instruct"),
          "anthropic": ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929")}
TTFT_PROMPT = "Hello! What is 2+2?"
# 53 words: the mock model's answer is 7 + 53 = 60 words = 20 text events of 3 words
LOAD_PROMPT = "Please stream this list back to me: " + " ".join(f"item{i:02d}" for i in range(1, 47))
STREAM_DELAY_MS = 50
MiB = 1024 * 1024


class StreamFailed(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# request bodies and text extraction
# --------------------------------------------------------------------------------------------------


def native_request(provider: str, base: dict[str, str], prompt: str) -> tuple[str, bytes, dict[str, str]]:
    """URL, provider-native streaming body and headers, straight to the emulator (as bench/latency.py)."""
    if provider == "meta_llama":
        return (f"{base['META_API_BASE_URL']}/chat/completions",
                orjson.dumps({"model": MODELS[provider][1], "messages": [{"role": "user", "content": prompt}],
                              "max_completion_tokens": 4028, "stream": True}),
                {"Authorization": "Bearer LLM|bench", "Content-Type": "application/json",
                 "Accept": "text/event-stream"})
    return (f"{base['ANTHROPIC_BASE_URL']}/v1/messages",
            orjson.dumps({"model": MODELS[provider][1], "max_tokens": 4096, "stream": True,
                          "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]}),
            {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01", "Content-Type": "application/json",
             "Accept": "text/event-stream"})


def gateway_request(provider: str, gw_http: str, prompt: str) -> tuple[str, bytes, dict[str, str]]:
    return (f"{gw_http}/v1/chat/completions",
            orjson.dumps({"model": MODELS[provider][0], "stream": True,
                          "messages": [{"role": "user", "content": prompt}]}),
            {"Content-Type": "application/json", "Accept": "text/event-stream"})


def text_of(kind: str, obj: Any) -> str:
    """The text an SSE `data:` object carries (kind: anthropic, meta_llama or gateway); '' if none."""
    if kind == "gateway":
        if "error" in obj:
            raise StreamFailed(f"in-stream error: {obj['error'].get('code') or obj['error'].get('type')}")
        choices = obj.get("choices")
        return (choices[0].get("delta", {}).get("content") or "") if choices else ""
    if kind == "anthropic":
        if obj.get("type") == "error":
            raise StreamFailed(f"in-stream error: {obj['error'].get('type')}")
        if obj.get("type") == "content_block_delta" and obj["delta"].get("type") == "text_delta":
            return obj["delta"].get("text") or ""
        return ""
    event = obj.get("event") or {}
    if event.get("event_type") == "progress" and event.get("delta", {}).get("type") == "text":
        return event["delta"].get("text") or ""
    if "error" in obj:
        raise StreamFailed("in-stream error")
    return ""


async def read_stream(session: aiohttp.ClientSession, req: tuple[str, bytes, dict[str, str]], kind: str,
                      on_first: Any = None, trace: dict[str, float] | None = None) -> tuple[float, float, str, bool]:
    """One streaming request read to its end: (TTFT ms, total ms, text, saw [DONE])."""
    url, body, headers = req
    t0 = time.perf_counter()
    ttft: float | None = None
    parts: list[str] = []
    done = False
    async with session.post(url, data=body, headers=headers, trace_request_ctx=trace) as resp:
        if resp.status != 200:
            raise StreamFailed(f"HTTP {resp.status}: {(await resp.text())[:120]}")
        async for line in resp.content:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                continue
            piece = text_of(kind, orjson.loads(payload))
            if piece:
                if ttft is None:
                    ttft = (time.perf_counter() - t0) * 1000
                    if on_first is not None:
                        on_first()
                parts.append(piece)
    total = (time.perf_counter() - t0) * 1000
    if ttft is None:
        raise StreamFailed("no text in the stream")
    return ttft, total, "".join(parts), done


def expected_text(provider: str, prompt: str) -> str:
    return f"Hello from the {MODELS[provider][1]} emulator. You said: {prompt}"


# --------------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------------


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def drain(proc: subprocess.Popen, to: Any = subprocess.DEVNULL) -> subprocess.Popen:
    """Keep reading a child's stdout (the gateway logs a line per request) so the pipe never fills."""
    return subprocess.Popen(["cat"], stdin=proc.stdout, stdout=to)


def run_emulators(backlog: int, argv: list[str]) -> None:
    """`python -m tests.emulators` with a longer listen backlog than aiohttp's default of 128 (see --help)."""
    import functools

    from aiohttp import web

    web.TCPSite = functools.partial(web.TCPSite, backlog=backlog)  # type: ignore[misc]
    from tests.emulators.__main__ import main as emulators_main

    emulators_main(argv)


def start_emulators(procs: list[subprocess.Popen], delay_ms: float, backlog: int | None = None) -> dict[str, str]:
    a_port, l_port = free_port(), free_port()
    cmd = ["-m", "tests.emulators"] if backlog is None else ["bench/streams.py", "--run-emulators", str(backlog)]
    proc, _ = spawn([*cmd, "--anthropic-port", str(a_port), "--llama-port", str(l_port),
                     "--stream-delay-ms", str(delay_ms)], ENV, "META_API_BASE_URL")
    procs += [proc, drain(proc)]
    return {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{a_port}", "META_API_BASE_URL": f"http://127.0.0.1:{l_port}/v1",
            "pid": str(proc.pid)}


def start_gateway(procs: list[subprocess.Popen], emu: dict[str, str], log: Any) -> tuple[subprocess.Popen, str]:
    env = {**ENV, "ANTHROPIC_BASE_URL": emu["ANTHROPIC_BASE_URL"], "META_API_BASE_URL": emu["META_API_BASE_URL"],
           "ANTHROPIC_API_KEY": "sk-ant-bench", "META_API_KEY": "LLM|bench", "GRPC_PORT": "0", "HTTP_PORT": "0",
           "PYTHONUNBUFFERED": "1"}
    proc, line = spawn(["-m", "service"], env, "gateway_started")
    procs += [proc, drain(proc, log)]
    http_addr = re.search(r'"http":\s*"([^"]+)"', line).group(1)  # type: ignore[union-attr]
    return proc, f"http://{http_addr}"


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    procs.clear()


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) and the open file descriptors of a process."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listen_drops() -> dict[str, int]:
    """TcpExt ListenOverflows/ListenDrops of this network namespace: SYNs dropped on full accept queues."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], map(int, values.split()[1:]), strict=True))
            return {k: table.get(k, 0) for k in ("ListenOverflows", "ListenDrops")}
    return {}


def git_head() -> str | None:
    """The commit measured, and whether the working tree had changes (they may be measured too)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + (" (+ uncommitted changes)" if dirty else "")) or None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]  # guest time is inside user time already
    idle = values[3] + values[4]  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


def background_cores(before: tuple[float, float]) -> float:
    after = machine_cpu()
    return round((os.cpu_count() or 1) * (after[0] - before[0]) / max(1.0, after[1] - before[1]), 2)


def mib(kb: int) -> float:
    return round(kb / 1024, 1)


# --------------------------------------------------------------------------------------------------
# part 1: TTFT at concurrency 1
# --------------------------------------------------------------------------------------------------


async def ttft_part(n: int, emu: dict[str, str], gw_http: str) -> dict[str, Any]:
    rounds, per = 5, max(1, n // 5)
    out: dict[str, Any] = {}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as session:
        for provider in PROVIDERS:
            direct_req = native_request(provider, emu, TTFT_PROMPT)
            via_req = gateway_request(provider, gw_http, TTFT_PROMPT)
            want = expected_text(provider, TTFT_PROMPT)

            async def batch(req: tuple[str, bytes, dict[str, str]], kind: str, count: int,
                            ttfts: list[float], totals: list[float], want: str = want) -> None:
                for _ in range(count):
                    ttft, total, text, done = await read_stream(session, req, kind)
                    if text != want or (kind == "gateway" and not done):
                        raise StreamFailed(f"{kind}: wrong stream: text={text!r} done={done}")
                    ttfts.append(ttft)
                    totals.append(total)

            junk: list[float] = []
            await batch(direct_req, provider, per, junk, [])  # warm-up, like bench/latency.py
            await batch(via_req, "gateway", per, junk, [])
            d_ttft: list[float] = []
            d_total: list[float] = []
            g_ttft: list[float] = []
            g_total: list[float] = []
            for _ in range(rounds):  # interleave so drift hits both sides alike
                await batch(direct_req, provider, per, d_ttft, d_total)
                await batch(via_req, "gateway", per, g_ttft, g_total)
            d50, g50 = pct(d_ttft, 0.5), pct(g_ttft, 0.5)
            out[provider] = {
                "requests_per_side": len(d_ttft),
                "direct_ttft_ms": {"p50": round(d50, 4), "p99": round(pct(d_ttft, 0.99), 4)},
                "gateway_ttft_ms": {"p50": round(g50, 4), "p99": round(pct(g_ttft, 0.99), 4)},
                "added_ttft_p50_ms": round(g50 - d50, 4),
                "ratio_p50": round(g50 / d50, 3),
                "direct_stream_total_ms": {"p50": round(pct(d_total, 0.5), 4), "p99": round(pct(d_total, 0.99), 4)},
                "gateway_stream_total_ms": {"p50": round(pct(g_total, 0.5), 4), "p99": round(pct(g_total, 0.99), 4)},
            }
    return out


# --------------------------------------------------------------------------------------------------
# part 2: concurrent streams
# --------------------------------------------------------------------------------------------------


def summarize_log(path: Path) -> dict[str, Any]:
    """The gateway's own view of the /v1 requests it logged: status and stream_error counts."""
    statuses: collections.Counter[str] = collections.Counter()
    other: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            other["non-JSON line"] += 1
            continue
        if rec.get("event") == "request":
            key = str(rec.get("status"))
            if rec.get("stream_error"):
                key += f" stream_error={rec['stream_error']}"
            statuses[key] += 1
            latencies.append(rec.get("latency_ms") or 0.0)
        elif rec.get("level") in ("warning", "error", "critical"):
            other[f"{rec.get('level')}: {rec.get('event')}"[:160]] += 1
    return {"requests_by_status": dict(statuses), "warnings_errors": dict(other),
            "logged_latency_ms_p50": pct(latencies, 0.5) if latencies else None,
            "logged_latency_ms_max": max(latencies) if latencies else None}


def load_session() -> aiohttp.ClientSession:
    """An unlimited pool; a trace hook notes when each request's body has gone out."""
    tracing = aiohttp.TraceConfig()

    async def body_sent(_: Any, ctx: Any, __: Any) -> None:
        if ctx.trace_request_ctx is not None:
            ctx.trace_request_ctx["sent"] = time.perf_counter()

    tracing.on_request_chunk_sent.append(body_sent)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trace_configs=[tracing],
                                 timeout=aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=60))


def spread(samples: list[float], digits: int = 1) -> dict[str, float] | None:
    if not samples:
        return None
    return {"p50": round(pct(samples, 0.5), digits), "p99": round(pct(samples, 0.99), digits),
            "max": round(max(samples), digits)}


async def burst(session: aiohttp.ClientSession, req: tuple[str, bytes, dict[str, str]], kind: str, want: str,
                n: int, limit_s: float) -> dict[str, Any]:
    """Open n streams at once, read them all to the end (or give up after limit_s); the figures."""
    ttfts: list[float] = []
    totals: list[float] = []
    sent: list[float] = []
    failures: collections.Counter[str] = collections.Counter()
    end_times: list[float] = []
    active = peak_active = 0
    t0 = time.perf_counter()

    async def one() -> None:
        nonlocal active, peak_active
        got_first = False
        trace: dict[str, float] = {}

        def mark() -> None:
            nonlocal got_first, active, peak_active
            got_first = True
            active += 1
            peak_active = max(peak_active, active)

        try:
            ttft, total, text, done = await read_stream(session, req, kind, mark, trace)
            if kind == "gateway" and not done:
                failures["no [DONE]"] += 1
            elif text != want:
                failures["incomplete or wrong text"] += 1
            else:
                ttfts.append(ttft)
                totals.append(total)
        except StreamFailed as exc:
            failures[str(exc)[:160]] += 1
        except Exception as exc:  # noqa: BLE001 - every failure is a figure here
            failures[f"{type(exc).__name__}: {exc}"[:160]] += 1
        finally:
            if got_first:
                active -= 1
            if "sent" in trace:
                sent.append((trace["sent"] - t0) * 1000)
            end_times.append(time.perf_counter())

    drops0 = listen_drops()
    tasks = [asyncio.create_task(one()) for _ in range(n)]
    _, pending = await asyncio.wait(tasks, timeout=limit_s)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
        failures[f"not finished within {limit_s:g} s (cancelled)"] += len(pending)
    wall = (max(end_times) if end_times and not pending else time.perf_counter()) - t0
    drops1 = listen_drops()
    return {
        "streams": n,
        "completed": len(ttfts),
        "failed": n - len(ttfts),
        "failures": dict(failures),
        "gave_up": bool(pending),
        "wall_s": round(wall, 3),
        "peak_streams_receiving_text": peak_active,
        "requests_sent_by_client_ms": spread(sent),
        "ttft_ms": spread(ttfts),
        "ttft_histogram_100ms": dict(sorted(collections.Counter(int(t // 100) * 100 for t in ttfts).items())),
        "stream_duration_ms": spread(totals),
        "syns_dropped_full_accept_queue": {k: drops1[k] - drops0.get(k, 0) for k in drops1},
    }


async def load_part(provider: str, n: int, limit_s: float, emu: dict[str, str], gw_http: str, gw_pid: int,
                    emu_pid: int) -> dict[str, Any]:
    req = gateway_request(provider, gw_http, LOAD_PROMPT)
    want = expected_text(provider, LOAD_PROMPT)
    res: dict[str, Any] = {"provider": provider, "model": MODELS[provider][0], "streams": n,
                           "stream_delay_ms": STREAM_DELAY_MS, "text_events_per_stream": -(-len(want.split()) // 3)}
    res["gateway_rss_at_start_mib"] = mib(proc_status(gw_pid)["VmRSS"])

    # the same burst straight at the emulator first: what the emulators and this client cost on this machine
    async with load_session() as session:
        res["direct"] = await burst(session, native_request(provider, emu, LOAD_PROMPT), provider, want, n, limit_s)
    await asyncio.sleep(1.0)

    async with load_session() as session:
        # one stream alone first: the unloaded reference, and the pools are warm as in any idle gateway
        ref_ttft, ref_total, text, done = await read_stream(session, req, "gateway")
        if text != want or not done:
            raise StreamFailed(f"reference stream wrong: text={text!r} done={done}")
        res["unloaded_ttft_ms"], res["unloaded_stream_ms"] = round(ref_ttft, 3), round(ref_total, 1)
        before = machine_cpu()
        await asyncio.sleep(1.0)
        # nothing of ours runs now: anything busy is another process sharing the machine
        res["background_cores_busy_before_load"] = background_cores(before)
        idle = proc_status(gw_pid)
        res["gateway_idle_rss_mib"], res["gateway_idle_fds"] = mib(idle["VmRSS"]), idle["fds"]

        samples: list[tuple[float, int, int, float, float, float]] = []
        sampling = True

        async def sampler(t0: float) -> None:
            while sampling:
                st = proc_status(gw_pid)
                samples.append((round(time.perf_counter() - t0, 2), st["VmRSS"], st["fds"], cpu_seconds(gw_pid),
                                *machine_cpu()))
                await asyncio.sleep(0.1)

        cpu0 = (cpu_seconds(gw_pid), cpu_seconds(emu_pid), time.process_time(), machine_cpu()[0])
        sample_task = asyncio.create_task(sampler(time.perf_counter()))
        res["gateway"] = await burst(session, req, "gateway", want, n, limit_s)
        sampling = False
        await sample_task
        cpu1 = (cpu_seconds(gw_pid), cpu_seconds(emu_pid), time.process_time(), machine_cpu()[0])
        end = proc_status(gw_pid)
        await asyncio.sleep(2.0)
        settled = proc_status(gw_pid)
        async with session.get(f"{gw_http}/healthz", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            health = resp.status

    # the gateway's CPU use over 0.5 s windows: 1.0 = one core busy (it runs one event loop thread)
    windows = [(a, b) for a, b in zip(samples[::5], samples[5::5], strict=False) if b[0] > a[0]]
    busy = [round((b[3] - a[3]) / (b[0] - a[0]), 2) for a, b in windows]
    # and the whole machine's, in cores (2.0 = both cores of this box busy)
    machine = [round((os.cpu_count() or 1) * (b[4] - a[4]) / (b[5] - a[5]), 2) for a, b in windows if b[5] > a[5]]
    res.update({
        "completed": res["gateway"]["completed"],
        "failed": res["gateway"]["failed"],
        "gateway_peak_rss_sampled_mib": mib(max(s[1] for s in samples)) if samples else None,
        "gateway_vmhwm_mib": mib(end["VmHWM"]),
        "gateway_rss_right_after_mib": mib(end["VmRSS"]),
        "gateway_rss_after_mib": mib(settled["VmRSS"]),
        "gateway_peak_fds": max(s[2] for s in samples) if samples else None,
        "gateway_fds_after": settled["fds"],
        "rss_samples": len(samples),
        "gateway_cpu_busy_per_0_5s": busy,
        "machine_cpu_busy_cores_per_0_5s": machine,
        "cpu_s_during_gateway_load": {
            "gateway": round(cpu1[0] - cpu0[0], 2), "emulators": round(cpu1[1] - cpu0[1], 2),
            "client": round(cpu1[2] - cpu0[2], 2),
            # the machine's busy CPU-seconds minus ours: other processes (and kernel work charged to none)
            "other": round((cpu1[3] - cpu0[3]) / os.sysconf("SC_CLK_TCK")
                           - sum(cpu1[i] - cpu0[i] for i in range(3)), 2),
        },
        "healthz_after": health,
        "rss_timeline_mib": [(s[0], mib(s[1])) for s in samples[::5]],
    })
    return res


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def print_table(results: dict[str, Any]) -> None:
    print(f"\nTime to first token, concurrency 1, zero-delay emulators "
          f"({results['args']['ttft_requests']} requests per side, interleaved; other processes' CPU at start: "
          f"{results['background_cores_busy_at_start']:.2f} cores)")
    print(f"{'provider':<12}{'direct p50':>12}{'direct p99':>12}{'gateway p50':>13}{'gateway p99':>13}"
          f"{'added p50':>11}{'ratio':>7}")
    for provider, r in results["ttft"].items():
        d, g = r["direct_ttft_ms"], r["gateway_ttft_ms"]
        print(f"{provider:<12}{d['p50']:>10.3f}ms{d['p99']:>10.3f}ms{g['p50']:>11.3f}ms{g['p99']:>11.3f}ms"
              f"{r['added_ttft_p50_ms']:>9.3f}ms{r['ratio_p50']:>6.2f}x")
    for r in results["load"]:
        d, g = r["direct"], r["gateway"]
        print(f"\n{r['streams']} concurrent streams, {r['provider']} (emulator {r['stream_delay_ms']} ms between "
              f"events, {r['text_events_per_stream']} text events; alone through the gateway: TTFT "
              f"{r['unloaded_ttft_ms']:.1f} ms, stream {r['unloaded_stream_ms']:.0f} ms)")
        print(f"  {'':<46}{'direct to emulator':>22}{'through gateway':>22}")

        def both(name: str, fmt: Any, d: dict[str, Any] = d, g: dict[str, Any] = g) -> None:
            print(f"  {name:<46}{fmt(d):>22}{fmt(g):>22}")

        def three(key: str) -> Any:
            return lambda x: "{p50:.0f} / {p99:.0f} / {max:.0f}".format(**x[key]) if x[key] else "-"

        both("completed ([DONE] + full text)", lambda x: f"{x['completed']} / {x['streams']}")
        both("failed", lambda x: str(x["failed"]))
        both("wall time, all streams", lambda x: f"{x['wall_s']:.2f} s")
        both("TTFT p50 / p99 / max, ms", three("ttft_ms"))
        both("stream duration p50 / p99 / max, ms", three("stream_duration_ms"))
        both("all requests sent by (client), ms", lambda x: f"{x['requests_sent_by_client_ms']['max']:.0f}"
             if x["requests_sent_by_client_ms"] else "-")
        both("peak streams receiving text at once", lambda x: str(x["peak_streams_receiving_text"]))
        both("SYNs dropped on full accept queues", lambda x: str(x["syns_dropped_full_accept_queue"].get(
            "ListenOverflows")))
        for side in (d, g):
            if side["failures"]:
                print(f"  failures: {side['failures']}")
        rows = [
            ("gateway RSS idle (before load)", f"{r['gateway_idle_rss_mib']:.1f} MiB"),
            ("gateway RSS peak (100 ms samples)", f"{r['gateway_peak_rss_sampled_mib']:.1f} MiB"),
            ("gateway VmHWM (high-water mark)", f"{r['gateway_vmhwm_mib']:.1f} MiB"),
            ("gateway RSS after (right / +2 s)",
             f"{r['gateway_rss_right_after_mib']:.1f} / {r['gateway_rss_after_mib']:.1f} MiB"),
            ("gateway fds idle / peak / after",
             f"{r['gateway_idle_fds']} / {r['gateway_peak_fds']} / {r['gateway_fds_after']}"),
            ("gateway CPU per 0.5 s window (1.0 = a core)",
             " ".join(f"{b:.2f}" for b in r["gateway_cpu_busy_per_0_5s"])),
            ("machine CPU per 0.5 s window (cores busy)",
             " ".join(f"{b:.2f}" for b in r["machine_cpu_busy_cores_per_0_5s"])),
            ("CPU s: gateway / emulators / client / other",
             "{gateway} / {emulators} / {client} / {other}".format(**r["cpu_s_during_gateway_load"])),
            ("other processes' CPU just before (cores)", f"{r['background_cores_busy_before_load']:.2f}"),
            ("/healthz after", str(r["healthz_after"])),
        ]
        for name, value in rows:
            print(f"  {name:<46}{value}")


def main() -> int:
    if sys.argv[1:2] == ["--run-emulators"]:  # internal: the emulator process with --emulator-backlog
        run_emulators(int(sys.argv[2]), sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--ttft-requests", type=int, default=500)
    parser.add_argument("--load-providers", default="meta_llama,anthropic",
                        help="comma-separated providers for the concurrent part (a fresh gateway each)")
    parser.add_argument("--load-timeout", type=float, default=120.0, help="seconds before the concurrent part gives up")
    parser.add_argument("--emulator-backlog", type=int, default=1024,
                        help="listen backlog of the part-2 emulators, as the gateway's own (default 1024); 0: theirs, "
                             "aiohttp's 128, which drops SYNs when ~1,000 connections open at once")
    args = parser.parse_args()
    load_providers = [p for p in args.load_providers.split(",") if p]
    for p in load_providers:
        if p not in PROVIDERS:
            parser.error(f"unknown provider {p!r}")
    nofile = raise_nofile()
    before = machine_cpu()
    time.sleep(1.0)
    background = background_cores(before)
    started = datetime.datetime.now(datetime.UTC)
    results: dict[str, Any] = {
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "args": {"streams": args.streams, "ttft_requests": args.ttft_requests, "load_providers": load_providers,
                 "load_timeout_s": args.load_timeout, "emulator_backlog": args.emulator_backlog},
        "command": " ".join(["python", "bench/streams.py", *sys.argv[1:]]),
        "git_head": git_head(),
        "rlimit_nofile": list(nofile),
        "background_cores_busy_at_start": background,
        "ttft": {},
        "load": [],
    }
    import uvloop

    procs: list[subprocess.Popen] = []
    gw_procs: list[subprocess.Popen] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
        try:
            # part 1
            emu = start_emulators(procs, 0)
            with open(Path(tmp) / "gateway-ttft.log", "wb") as log:
                _, gw_http = start_gateway(procs, emu, log)
            results["ttft"] = uvloop.run(asyncio.wait_for(ttft_part(args.ttft_requests, emu, gw_http), 900))
            stop(procs)  # a quiet machine for part 2
            # part 2
            emu = start_emulators(procs, STREAM_DELAY_MS, args.emulator_backlog or None)
            for provider in load_providers:
                # a fresh gateway per provider: clean idle and high-water RSS figures
                log_path = Path(tmp) / f"gateway-load-{provider}.log"
                with open(log_path, "wb") as log:
                    gw, gw_http = start_gateway(gw_procs, emu, log)
                res = uvloop.run(asyncio.wait_for(
                    load_part(provider, args.streams, args.load_timeout, emu, gw_http, gw.pid, int(emu["pid"])),
                    2 * args.load_timeout + 60))
                stop(gw_procs)  # the drain ends with the gateway: the log is complete
                res["gateway_log"] = summarize_log(log_path)
                results["load"].append(res)
                ok = ok and res["failed"] == 0 and res["healthz_after"] == 200
        except Exception as exc:  # keep the figures so far, say what went wrong, exit non-zero
            traceback.print_exc()
            results["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        finally:
            stop(gw_procs)
            stop(procs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"streams-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    if results["ttft"]:
        print_table(results)
    print(f"\nsaved {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
