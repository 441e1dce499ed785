"""What the limits engine costs per request: admit + charge + release, in memory and on Redis.

    python bench/limits_cost.py [--requests 200000] [--redis-requests 5000]

In memory: one event loop calling the limiter back to back (no network), with every limit set (rpm, tpm,
budget, max_concurrent; high enough that nothing is refused, the budget's ledger figure cached), for one
caller and for 10,000 callers in turn; beside it the same loop with no limit configured (what the edges pay
when `enabled` is False: nothing) and with an empty coroutine, the floor of any `await`.

On Redis (a redis-server started on loopback, as the tests do): the latency of admit and of the finishing
call (charge + release, written and not waited for), sequentially, beside a plain PING (one round trip);
the calls per request
counted from Redis's own command statistics; and requests per second with 32 concurrent callers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

from service.config import Settings  # noqa: E402
from service.limits import Limiter, LimitsPolicy  # noqa: E402
from tests.support.redis import start_redis  # noqa: E402

ALL = {"rate_limit_rpm": 10**11, "rate_limit_tpm": 10**12, "budget_usd_per_day": 10**8, "max_concurrent": 10**6}


async def spent_today(user: str | None) -> float:
    return 0.0


def limiter(**settings: object) -> Limiter:
    cfg = Settings(**settings)  # type: ignore[arg-type]
    return Limiter(cfg, LimitsPolicy.from_settings(cfg), spent_today, budget_cache_s=3600.0)


async def per_request_us(lim: Limiter, users: list[str], n: int) -> float:
    """Best of 5 runs of n requests: mean microseconds per admit + charge + release."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for i in range(n):
            decision, admission = await lim.admit(users[i % len(users)], False)
            await admission.charge(120, 0.0001)  # type: ignore[union-attr]
            await admission.release()  # type: ignore[union-attr]
        best = min(best, (time.perf_counter() - t) / n * 1e6)
    return best


async def empty_await_us(n: int) -> float:
    async def nothing() -> None:
        return None

    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            await nothing()
        best = min(best, (time.perf_counter() - t) / n * 1e6)
    return best


async def memory(n: int) -> list[tuple[str, str]]:
    users = [f"user-{i}" for i in range(10_000)]
    one = limiter(**ALL)
    many = limiter(**ALL)
    for user in users:  # warm: every caller's ledger figure read once
        await many.admit(user, False)
    none = limiter()
    await one.admit("alice", False)
    rows = [
        ("empty `await` (floor)", f"{await empty_await_us(n):.2f} µs"),
        ("no limit configured: admit + charge + release", f"{await per_request_us(none, ['alice'], n):.2f} µs"),
        ("every limit, one caller", f"{await per_request_us(one, ['alice'], n):.2f} µs"),
        ("every limit, 10,000 callers in turn", f"{await per_request_us(many, users, n):.2f} µs"),
    ]
    return rows


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def on_redis(n: int) -> list[tuple[str, str]]:
    server = start_redis()
    try:
        settings = Settings(redis_url=server.url, **ALL)  # type: ignore[arg-type]
        lim = Limiter(settings, LimitsPolicy.from_settings(settings), spent_today, budget_cache_s=3600.0)
        await lim.start()
        store = lim._redis
        assert store is not None
        client = store._redis
        for _ in range(500):  # warm: connections, scripts loaded
            _, admission = await lim.admit("alice", False)
            await admission.charge(120, 0.0001)  # type: ignore[union-attr]
            await admission.release()  # type: ignore[union-attr]
            await client.call("PING")
        await client.drain()
        await client.call("CONFIG", "RESETSTAT")
        ping, admit, finish = [], [], []
        for _ in range(n):
            t = time.perf_counter()
            await client.call("PING")
            t1 = time.perf_counter()
            _, admission = await lim.admit("alice", False)
            t2 = time.perf_counter()
            await admission.charge(120, 0.0001)  # type: ignore[union-attr]
            await admission.release()  # type: ignore[union-attr]
            t3 = time.perf_counter()
            ping.append((t1 - t) * 1000)
            admit.append((t2 - t1) * 1000)
            finish.append((t3 - t2) * 1000)
        await client.drain()
        info = (await client.call("INFO", "commandstats")).decode()
        # the client's own commands (those the scripts run inside Redis are counted too, under their names)
        calls = {line.split(":")[0][len("cmdstat_"):]: int(line.split("calls=")[1].split(",")[0])
                 for line in info.splitlines() if line.startswith("cmdstat_")}
        sent = {name: calls.get(name, 0) for name in ("evalsha", "eval", "script|load")}

        async def worker(count: int) -> None:
            for _ in range(count):
                _, admission = await lim.admit("alice", False)
                await admission.charge(120, 0.0001)  # type: ignore[union-attr]
                await admission.release()  # type: ignore[union-attr]

        t = time.perf_counter()
        await asyncio.gather(*(worker(n // 32) for _ in range(32)))
        rps = (n // 32 * 32) / (time.perf_counter() - t)
        await lim.close()
        return [
            ("PING round trip, p50 / p99", f"{statistics.median(ping):.3f} / {pct(ping, 0.99):.3f} ms"),
            ("admit, p50 / p99", f"{statistics.median(admit):.3f} / {pct(admit, 0.99):.3f} ms"),
            ("charge + release (written, not waited for), p50 / p99",
             f"{statistics.median(finish):.3f} / {pct(finish, 0.99):.3f} ms"),
            ("Redis calls per request (one waited for)", f"{sent['evalsha'] / n:.2f} EVALSHA, {sent['eval']} EVAL, "
                                                         f"{sent['script|load']} SCRIPT LOAD in {n} requests"),
            ("admit + charge + release, 32 concurrent", f"{rps:,.0f} requests/s"),
        ]
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--redis-requests", type=int, default=5_000)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    else:
        runner = uvloop.run
    rows = [("in memory", ""), *runner(memory(args.requests)),
            ("on Redis (loopback)", ""), *runner(on_redis(args.redis_requests))]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}" if value else f"\n{name}")


if __name__ == "__main__":
    main()
