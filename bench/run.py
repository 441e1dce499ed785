"""`make bench`: the gateway against the direct upstream, in one run, on this machine.

Starts, as separate processes: provider emulators (zero latency, and a second pair
answering after 50 ms), a do-nothing gRPC ChatService, the gateway in its
one-process default, the gateway as gRPC-only service plus a standalone REST
bridge, and a one-process gateway in front of the 50 ms emulators. Then:

- REST: wrk (Lua body script) against the emulator directly and through each
  gateway layout, at concurrency 1 (p50/p99 added latency) and 32 (requests/s);
- gRPC: one lean grpc.aio client process against the do-nothing service and the
  gateway, at concurrency 1 and 32;
- a 50 ms upstream at concurrency 32 (share of the ideal 32/0.05 s = 640 req/s);
- streaming: time to first token and 1,000 concurrent streams (bench/streams.py);
- the one-process gateway's RSS idle and at peak;
- limits: the one-process gateway with every per-caller limit set (never reached) in memory, and the same
  with its counters in a real Redis (REDIS_URL), side by side with the plain one-process gateway; at c=1
  also in three interleaved rounds, whose medians give the added latency of the limits.

Prints one table and saves every figure to bench/results/bench-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support import free_port
from tests.support.redis import RedisServer, start_redis

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}"}
RESULTS = ROOT / "bench" / "results"
PROMPT = "Hello! What is 2+2?"
LIMITS_ROUNDS = 3  # interleaved rounds of the limits layouts at c=1
KEYS = {"ANTHROPIC_API_KEY": "sk-ant-bench", "META_API_KEY": "LLM|bench"}


class Proc:
    """A child process whose output goes to a file (a pipe nobody reads would stall it)."""

    def __init__(self, args: list[str], env: dict[str, str], ready: str, log: Path):
        self.log = log
        self.handle = log.open("w")
        self.proc = subprocess.Popen([PY, *args], cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            text = log.read_text()
            if ready in text:
                self.first_line = next(line for line in text.splitlines() if ready in line)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{args} did not start:\n{log.read_text()}")

    def rss_kb(self) -> dict[str, int]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return {k: int(re.search(rf"{k}:\s+(\d+)", status).group(1)) for k in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.handle.close()


def start_emulators(tmp: Path, name: str, delay_ms: float = 0) -> tuple[Proc, dict[str, str]]:
    a, q = free_port(), free_port()
    proc = Proc(["-m", "tests.emulators", "--anthropic-port", str(a), "--llama-port", str(q),
                 "--delay-ms", str(delay_ms)], ENV, "META_API_BASE_URL", tmp / f"{name}.log")
    return proc, {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{a}", "META_API_BASE_URL": f"http://127.0.0.1:{q}/v1"}


def start_gateway(tmp: Path, name: str, urls: dict[str, str], *extra: str, env: dict[str, str] | None = None
                  ) -> tuple[Proc, str, str]:
    gw_env = {**ENV, **urls, **KEYS, "GRPC_PORT": "0", "HTTP_PORT": "0", "LOG_FORMAT": "json",
              "DATA_DIR": str(tmp / f"{name}-data"), **(env or {})}
    proc = Proc(["-m", "service", *extra], gw_env, "gateway_started", tmp / f"{name}.log")
    grpc = re.search(r'"grpc":\s*"([^"]+)"', proc.first_line).group(1)  # type: ignore[union-attr]
    http = re.search(r'"http":\s*"([^"]+)"', proc.first_line)
    return proc, grpc, (http.group(1) if http else "")


def wrk(url: str, body: dict[str, Any], headers: dict[str, str], connections: int, seconds: int,
        tmp: Path) -> dict[str, Any]:
    out = tmp / f"wrk-{time.time_ns()}.json"
    env = {**os.environ, "BENCH_BODY": json.dumps(body), "BENCH_OUT": str(out),
           "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items())}
    threads = 1 if connections == 1 else 2
    subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s",
                    str(ROOT / "bench" / "wrk_post.lua"), url], env=env, check=True, capture_output=True)
    result = json.loads(out.read_text())
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def grpc_load(target: str, connections: int, seconds: float) -> dict[str, Any]:
    out = subprocess.run([PY, str(ROOT / "bench" / "grpc_load.py"), target, str(connections), str(seconds)],
                         env=ENV, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="duration of each measured load")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--skip-streams", action="store_true")
    args = parser.parse_args()
    subprocess.run(["bash", str(ROOT / "scripts" / "install-bench-tools.sh")], check=True, capture_output=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    procs: list[Proc] = []
    redis: RedisServer | None = None
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "cpus": os.cpu_count(), "seconds_per_run": args.seconds}
    try:
        emu, urls = start_emulators(tmp, "emulators")
        slow_emu, slow_urls = start_emulators(tmp, "emulators-50ms", delay_ms=50)
        noop = Proc([str(ROOT / "bench" / "noop_grpc.py")], ENV, "NOOP_GRPC=", tmp / "noop.log")
        noop_target = noop.first_line.split("=", 1)[1].strip()
        one, one_grpc, one_http = start_gateway(tmp, "gateway", urls)
        svc, svc_grpc, _ = start_gateway(tmp, "service", urls, "--grpc-only")
        bridge_port = free_port()
        bridge = Proc(["-m", "bridge"], {**ENV, **KEYS, "SERVICE_ADDR": svc_grpc, "HTTP_PORT": str(bridge_port),
                                         "LOG_FORMAT": "json"}, "bridge_started", tmp / "bridge.log")
        slow, _, slow_http = start_gateway(tmp, "gateway-50ms", slow_urls)
        procs += [emu, slow_emu, noop, one, svc, bridge, slow]
        # every limit set but never reached: what the admission, charge and release cost on each request
        limits = {"RATE_LIMIT_RPM": "1000000000", "RATE_LIMIT_TPM": "1000000000000",
                  "BUDGET_USD_PER_DAY": "1000000", "MAX_CONCURRENT": "1000000"}
        lim_mem, _, lim_mem_http = start_gateway(tmp, "gateway-limits-memory", urls, env=limits)
        procs.append(lim_mem)
        redis = start_redis()
        lim_redis, _, lim_redis_http = start_gateway(tmp, "gateway-limits-redis", urls,
                                                     env={**limits, "REDIS_URL": redis.url})
        procs.append(lim_redis)
        time.sleep(1)
        results["rss_idle_kb"] = one.rss_kb()["VmRSS"]

        native = {
            "meta_llama": (f"{urls['META_API_BASE_URL']}/chat/completions",
                           {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": PROMPT}],
                            "max_completion_tokens": 4028},
                           {"Authorization": "Bearer LLM|bench"}),
            "anthropic": (f"{urls['ANTHROPIC_BASE_URL']}/v1/messages",
                          {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096,
                           "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]},
                          {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"}),
        }
        openai_body = {"meta_llama": "Llama-3.3-70B-Instruct", "anthropic": "claude-sonnet-4-5"}
        rest: dict[str, Any] = {}
        for provider, (url, body, headers) in native.items():
            gw_body = {"model": openai_body[provider], "messages": [{"role": "user", "content": PROMPT}]}
            targets = {"direct": (url, body, headers),
                       "one_process": (f"http://{one_http}/v1/chat/completions", gw_body, {}),
                       "separate_bridge": (f"http://127.0.0.1:{bridge_port}/v1/chat/completions", gw_body, {}),
                       "limits_memory": (f"http://{lim_mem_http}/v1/chat/completions", gw_body, {}),
                       "limits_redis": (f"http://{lim_redis_http}/v1/chat/completions", gw_body, {})}
            for conns in (1, 32):
                for name, (u, b, h) in targets.items():
                    wrk(u, b, h, conns, 2, tmp)  # warm-up
                    rest[f"{provider}/{name}/c{conns}"] = wrk(u, b, h, conns, args.seconds, tmp)
                    print(f"  {provider:<10} {name:<16} c={conns:<3} "
                          f"p50 {rest[f'{provider}/{name}/c{conns}']['p50_us'] / 1000:.3f} ms  "
                          f"{rest[f'{provider}/{name}/c{conns}']['rps']:.0f} req/s", flush=True)
        results["rest"] = rest
        # Limits beside no limits at c=1: rounds interleaved, the three layouts in turn, so a drift of the
        # machine (another process, CPU placement) touches all three alike; the median of the rounds counts.
        limits_c1: dict[str, dict[str, list[float]]] = {}
        for provider in native:
            gw_body = {"model": openai_body[provider], "messages": [{"role": "user", "content": PROMPT}]}
            rounds = limits_c1[provider] = {"one_process": [], "limits_memory": [], "limits_redis": []}
            for _ in range(LIMITS_ROUNDS):
                for name, http in (("one_process", one_http), ("limits_memory", lim_mem_http),
                                   ("limits_redis", lim_redis_http)):
                    u = f"http://{http}/v1/chat/completions"
                    wrk(u, gw_body, {}, 1, 1, tmp)
                    rounds[name].append(wrk(u, gw_body, {}, 1, max(2, args.seconds // 2), tmp)["p50_us"])
            print(f"  {provider:<10} limits rounds c=1 p50 (ms): "
                  + ", ".join(f"{n} {[round(v / 1000, 3) for v in vs]}" for n, vs in rounds.items()), flush=True)
        results["limits_c1_p50_rounds_us"] = limits_c1
        grpc_results: dict[str, Any] = {}
        for conns in (1, 32):
            for name, target in (("noop", noop_target), ("gateway", one_grpc)):
                grpc_load(target, conns, 2)
                grpc_results[f"{name}/c{conns}"] = grpc_load(target, conns, args.seconds)
                print(f"  grpc {name:<8} c={conns:<3} p50 {grpc_results[f'{name}/c{conns}']['p50_us'] / 1000:.3f} ms "
                      f"{grpc_results[f'{name}/c{conns}']['rps']:.0f} req/s", flush=True)
        results["grpc"] = grpc_results
        slow_body = {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": PROMPT}]}
        slow_url, native_body, native_headers = native["meta_llama"]
        results["upstream_50ms_direct_c32"] = wrk(
            slow_urls["META_API_BASE_URL"] + "/chat/completions", native_body, native_headers, 32, args.seconds, tmp)
        wrk(f"http://{slow_http}/v1/chat/completions", slow_body, {}, 32, 2, tmp)
        results["upstream_50ms_c32"] = wrk(f"http://{slow_http}/v1/chat/completions", slow_body, {}, 32,
                                           args.seconds, tmp)
        results["rss_after_load_kb"] = one.rss_kb()
        if not args.skip_streams:
            before = set(RESULTS.glob("streams-*.json"))
            subprocess.run([PY, str(ROOT / "bench" / "streams.py"), "--streams", str(args.streams)], env=ENV,
                           check=True, capture_output=True, timeout=600)
            (latest,) = sorted(set(RESULTS.glob("streams-*.json")) - before)
            results["streams"] = json.loads(latest.read_text())
    finally:
        for p in reversed(procs):
            p.stop()
        if redis is not None:
            redis.close()
    report(results)
    path = RESULTS / f"bench-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nsaved {path.relative_to(ROOT)}")


def report(r: dict[str, Any]) -> None:
    ms = lambda us: us / 1000  # noqa: E731
    print(f"\n{'measure':<58}{'direct':>12}{'gateway':>12}{'added':>10}{'ratio':>8}")
    rest = r["rest"]
    for provider in ("meta_llama", "anthropic"):
        d1 = rest[f"{provider}/direct/c1"]
        for layout in ("one_process", "separate_bridge", "limits_memory", "limits_redis"):
            g1 = rest[f"{provider}/{layout}/c1"]
            print(f"{'REST ' + provider + ' ' + layout + ' c=1 p50 (ms)':<58}{ms(d1['p50_us']):>12.3f}"
                  f"{ms(g1['p50_us']):>12.3f}{ms(g1['p50_us'] - d1['p50_us']):>10.3f}"
                  f"{g1['p50_us'] / d1['p50_us']:>8.2f}")
            print(f"{'REST ' + provider + ' ' + layout + ' c=1 p99 (ms)':<58}{ms(d1['p99_us']):>12.3f}"
                  f"{ms(g1['p99_us']):>12.3f}{ms(g1['p99_us'] - d1['p99_us']):>10.3f}"
                  f"{g1['p99_us'] / d1['p99_us']:>8.2f}")
        rounds = r["limits_c1_p50_rounds_us"][provider]
        base = statistics.median(rounds["one_process"])
        for layout in ("limits_memory", "limits_redis"):
            print(f"{'REST ' + provider + ' ' + layout + f' c=1 p50 minus none ({LIMITS_ROUNDS} rounds, ms)':<58}"
                  f"{'':>12}{'':>12}{ms(statistics.median(rounds[layout]) - base):>10.3f}")
        d32 = rest[f"{provider}/direct/c32"]
        for layout in ("one_process", "separate_bridge", "limits_memory", "limits_redis"):
            g32 = rest[f"{provider}/{layout}/c32"]
            print(f"{'REST ' + provider + ' ' + layout + ' c=32 req/s':<58}{d32['rps']:>12.0f}{g32['rps']:>12.0f}"
                  f"{'':>10}{g32['rps'] / d32['rps']:>8.2f}")
            print(f"{'REST ' + provider + ' ' + layout + ' c=32 p50 / p99 (ms)':<58}"
                  f"{ms(d32['p50_us']):>5.2f}/{ms(d32['p99_us']):<6.2f}{ms(g32['p50_us']):>5.2f}/{ms(g32['p99_us']):<6.2f}")
    g = r["grpc"]
    for conns in (1, 32):
        n, w = g[f"noop/c{conns}"], g[f"gateway/c{conns}"]
        print(f"{f'gRPC c={conns} p50 (ms) vs do-nothing service':<58}{ms(n['p50_us']):>12.3f}"
              f"{ms(w['p50_us']):>12.3f}{ms(w['p50_us'] - n['p50_us']):>10.3f}{w['p50_us'] / n['p50_us']:>8.2f}")
        print(f"{f'gRPC c={conns} req/s':<58}{n['rps']:>12.0f}{w['rps']:>12.0f}{'':>10}{w['rps'] / n['rps']:>8.2f}")
    slow, slow_direct = r["upstream_50ms_c32"], r["upstream_50ms_direct_c32"]
    print(f"{'50 ms upstream, c=32: req/s (ideal 640; ratio to ideal)':<58}{slow_direct['rps']:>12.0f}"
          f"{slow['rps']:>12.0f}{'':>10}{slow['rps'] / 640:>8.2f}")
    if "streams" in r:
        s = r["streams"]
        print(f"{'streams: see bench/README.md for the fields':<58}")
        print(json.dumps({k: v for k, v in s.items() if k in ("ttft", "concurrent")}, indent=1)[:1500])
    print(f"{'gateway RSS idle / after load (MB)':<58}{r['rss_idle_kb'] / 1024:>12.1f}"
          f"{r['rss_after_load_kb']['VmHWM'] / 1024:>12.1f}")


if __name__ == "__main__":
    main()
