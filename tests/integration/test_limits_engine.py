"""The limits engine: GCRA rates, token debt, concurrency slots and daily budgets, in one process (with an
injected clock) and on a real redis-server shared by several limiters, including Redis outages and a
replica that dies holding slots."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from service.config import Settings
from service.limits import Admission, Decision, Limiter, Limits, LimitsPolicy, LimitsStatus, RateStatus
from service.limits.engine import BudgetStatus, ConcurrencyStatus
from tests.support.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]
# 2026-12-04 23:59:00 UTC: a minute before the budgets' day ends
WALL = datetime(2026, 12, 4, 23, 59, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Ledger:
    """spent_today(user) with a figure per caller, counting the reads."""

    def __init__(self, spent: float = 0.0):
        self.spent: dict[str | None, float] = {}
        self.default = spent
        self.reads = 0
        self.fail: Exception | None = None
        self.delay = 0.0

    async def __call__(self, user: str | None) -> float:
        self.reads += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return self.spent.get(user, self.default)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def headers(decision: Decision) -> dict[str, str]:
    return dict(decision.headers)


def memory_limiter(clock: Clock | None = None, ledger: Ledger | None = None, wall: Clock | None = None,
                   **limits: object) -> Limiter:
    settings = Settings(**limits)  # type: ignore[arg-type]
    return Limiter(settings, LimitsPolicy.from_settings(settings), ledger or Ledger(),
                   clock=clock or Clock(), wall_clock=wall or Clock(WALL))


# --- in one process --------------------------------------------------------------------------------------


async def test_rpm_admits_exactly_n_per_minute_then_one_per_interval() -> None:
    clock = Clock()
    lim = memory_limiter(clock, rate_limit_rpm=5)
    for k in range(1, 6):
        decision, admission = await lim.admit("alice", False)
        assert decision.allowed and admission is not None and decision.retry_after_s is None
        assert headers(decision) == {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": str(5 - k),
                                     "x-ratelimit-reset-requests": "1m0s" if k == 5 else f"{12 * k}s"}
    decision, admission = await lim.admit("alice", False)
    assert (decision.allowed, decision.reason, admission) == (False, "rate_limited", None)
    assert decision.retry_after_s == pytest.approx(12.0)
    assert decision.headers == (("x-ratelimit-limit-requests", "5"), ("x-ratelimit-remaining-requests", "0"),
                                ("x-ratelimit-reset-requests", "1m0s"))
    clock.now += 11.5
    decision, _ = await lim.admit("alice", False)
    assert not decision.allowed and decision.retry_after_s == pytest.approx(0.5)
    assert headers(decision)["x-ratelimit-reset-requests"] == "48.5s"
    clock.now += 0.5  # one interval after the burst: exactly one more
    assert (await lim.admit("alice", False))[0].allowed
    assert not (await lim.admit("alice", False))[0].allowed
    clock.now += 60  # a minute later the bucket is full again: exactly five
    assert [(await lim.admit("alice", False))[0].allowed for _ in range(6)] == [True] * 5 + [False]


async def test_anonymous_callers_share_one_bucket_and_users_are_independent() -> None:
    lim = memory_limiter(rate_limit_rpm=2)
    assert [(await lim.admit(None, False))[0].allowed for _ in range(3)] == [True, True, False]
    # a JWT whose sub is "anonymous" (or "anon") has a bucket of its own
    for user in ("anonymous", "anon", "alice", "bob"):
        assert [(await lim.admit(user, False))[0].allowed for _ in range(3)] == [True, True, False], user


async def test_own_key_is_exempt_from_the_budget_not_from_the_rates() -> None:
    ledger = Ledger(spent=100.0)
    lim = memory_limiter(ledger=ledger, rate_limit_rpm=2, budget_usd_per_day=1.0)
    decision, _ = await lim.admit("alice", False)
    assert decision.reason == "budget_exceeded"
    assert [(await lim.admit("alice", True))[0].allowed for _ in range(3)] == [True, True, False]
    assert (await lim.admit("alice", True))[0].reason == "rate_limited"


async def test_tpm_admits_while_tokens_are_left_and_charges_after_the_response_into_debt() -> None:
    clock = Clock()
    lim = memory_limiter(clock, rate_limit_tpm=1000)
    decision, admission = await lim.admit("alice", False)
    assert decision.allowed and admission is not None
    assert headers(decision) == {"x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "1000",
                                 "x-ratelimit-reset-tokens": "0s"}
    await admission.charge(999, None)
    await admission.release()
    decision, admission = await lim.admit("alice", False)  # one token left: admitted
    assert decision.allowed and headers(decision)["x-ratelimit-remaining-tokens"] == "1"
    assert admission is not None
    await admission.charge(2501, 0.01)  # 3500 tokens in a 1000-token minute: 2500 in debt
    decision, admission = await lim.admit("alice", False)
    assert (decision.allowed, decision.reason, admission) == (False, "rate_limited", None)
    # positive again when 2501 tokens have been paid back at 1000 a minute
    assert decision.retry_after_s == pytest.approx(2501 * 0.06)
    assert headers(decision) == {"x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "0",
                                 "x-ratelimit-reset-tokens": "3m30s"}
    clock.now += 2501 * 0.06 - 0.01
    assert not (await lim.admit("alice", False))[0].allowed
    clock.now += 0.01
    decision, _ = await lim.admit("alice", False)
    assert decision.allowed and headers(decision)["x-ratelimit-remaining-tokens"] == "1"
    assert (await lim.admit("bob", False))[0].allowed  # the debt is alice's


async def test_rates_and_tokens_headers_together_and_retry_after_is_the_longer_wait() -> None:
    clock = Clock()
    lim = memory_limiter(clock, rate_limit_rpm=1, rate_limit_tpm=60)
    decision, admission = await lim.admit("alice", False)
    assert [name for name, _ in decision.headers] == [
        "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"]
    assert admission is not None
    await admission.charge(180, None)  # 120 tokens of debt: 2 minutes to one token
    decision, _ = await lim.admit("alice", False)
    assert decision.reason == "rate_limited" and decision.retry_after_s == pytest.approx(121.0)


async def test_concurrency_refuses_the_third_and_release_is_idempotent() -> None:
    lim = memory_limiter(max_concurrent=2)
    (d1, a1), (d2, a2) = await lim.admit("alice", False), await lim.admit("alice", False)
    assert d1.allowed and d2.allowed and a1 is not None and a2 is not None
    assert d1.headers == ()  # no rate limit, no rate headers
    d3, a3 = await lim.admit("alice", False)
    assert (d3.allowed, d3.reason, d3.retry_after_s, a3) == (False, "too_many_concurrent", 1.0, None)
    assert (await lim.admit("bob", False))[0].allowed
    for _ in range(3):
        await a1.release()
    assert (await lim.status("alice")).concurrency == ConcurrencyStatus(limit=2, in_flight=1)
    d4, a4 = await lim.admit("alice", False)
    assert d4.allowed and not (await lim.admit("alice", False))[0].allowed
    assert a4 is not None
    await a2.release()
    await a4.release()
    await a4.release()
    assert (await lim.status("alice")).concurrency == ConcurrencyStatus(limit=2, in_flight=0)


async def test_a_cancelled_request_gives_its_slot_back() -> None:
    lim = memory_limiter(max_concurrent=1)
    started = asyncio.Event()

    async def request() -> None:
        _, admission = await lim.admit("alice", False)
        assert admission is not None
        try:
            started.set()
            await asyncio.sleep(3600)
        finally:
            await admission.release()

    task = asyncio.create_task(request())
    await started.wait()
    assert (await lim.admit("alice", False))[0].reason == "too_many_concurrent"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await lim.status("alice")).concurrency == ConcurrencyStatus(limit=1, in_flight=0)
    assert (await lim.admit("alice", False))[0].allowed


async def test_a_refused_request_takes_no_slot_and_no_rate() -> None:
    ledger = Ledger()
    lim = memory_limiter(ledger=ledger, rate_limit_rpm=2, max_concurrent=1, budget_usd_per_day=1.0)
    _, held = await lim.admit("alice", False)
    assert held is not None
    # refused for concurrency: the rate is not consumed
    assert (await lim.admit("alice", False))[0].reason == "too_many_concurrent"
    await held.release()
    # refused for the budget: neither the rate nor a slot is taken
    ledger.spent["alice"] = 5.0
    lim._budgets.book.clear()
    decision, _ = await lim.admit("alice", False)
    assert decision.reason == "budget_exceeded"
    assert headers(decision)["x-ratelimit-remaining-requests"] == "1"
    status = await lim.status("alice")
    assert status.requests is not None and status.requests.remaining == 1
    assert status.concurrency == ConcurrencyStatus(limit=1, in_flight=0)
    # the checks run in order: concurrency, then rates, then budget
    ledger.spent["alice"] = 0.0
    lim._budgets.book.clear()
    _, held = await lim.admit("alice", False)
    assert held is not None
    ledger.spent["alice"] = 5.0
    lim._budgets.book.clear()
    assert (await lim.admit("alice", False))[0].reason == "too_many_concurrent"
    await held.release()
    assert (await lim.admit("alice", False))[0].reason == "rate_limited"
    assert (await lim.admit("alice", True))[0].reason == "rate_limited"


async def test_budget_reads_the_ledger_once_a_second_and_adds_local_charges() -> None:
    clock, wall, ledger = Clock(), Clock(WALL), Ledger()
    ledger.spent["alice"] = 0.5
    lim = memory_limiter(clock, ledger, wall, budget_usd_per_day=1.0)
    decision, admission = await lim.admit("alice", False)
    assert decision.allowed and decision.headers == () and ledger.reads == 1
    assert admission is not None
    await admission.charge(100, 0.3)
    await admission.charge(100, None)  # unpriced: nothing
    await admission.release()
    assert (await lim.admit("alice", False))[0].allowed  # 0.8 < 1.0
    _, admission = await lim.admit("alice", False)
    assert admission is not None
    await admission.charge(10, 0.25)  # 1.05 spent
    decision, admission = await lim.admit("alice", False)
    assert (decision.allowed, decision.reason, admission) == (False, "budget_exceeded", None)
    assert decision.retry_after_s == pytest.approx(60.0)  # to UTC midnight
    assert ledger.reads == 1  # all within the second: the cached figure plus local charges
    assert (await lim.admit("alice", True))[0].allowed  # own key: exempt
    assert (await lim.status("alice")).budget == BudgetStatus(limit_usd=1.0, spent_usd=pytest.approx(1.05),
                                                              remaining_usd=0.0)
    # a second later the ledger is read again and replaces the local charges (another replica spent more)
    clock.now += 1.0
    ledger.spent["alice"] = 2.0
    assert (await lim.admit("alice", False))[0].reason == "budget_exceeded" and ledger.reads == 2
    # a new UTC day: the cached figure is yesterday's, the ledger is read again
    wall.now += 61
    ledger.spent["alice"] = 0.0
    assert (await lim.admit("alice", False))[0].allowed and ledger.reads == 3
    assert (await lim.status("bob")).budget == BudgetStatus(1.0, 0.0, 1.0)


async def test_concurrent_admissions_share_one_ledger_read() -> None:
    ledger = Ledger(0.1)
    ledger.delay = 0.05
    lim = memory_limiter(ledger=ledger, budget_usd_per_day=1.0)
    results = await asyncio.gather(*(lim.admit("alice", False) for _ in range(20)))
    assert all(d.allowed for d, _ in results) and ledger.reads == 1


async def test_an_unreadable_ledger_fails_open_and_is_counted() -> None:
    clock, ledger = Clock(), Ledger()
    ledger.fail = OSError("ledger down")
    lim = memory_limiter(clock, ledger, budget_usd_per_day=1.0)
    before = counter("gateway_limits_backend_errors_total", backend="ledger")
    assert (await lim.admit("alice", False))[0].allowed
    assert counter("gateway_limits_backend_errors_total", backend="ledger") == before + 1
    ledger.fail = None
    ledger.spent["alice"] = 3.0
    assert (await lim.admit("alice", False))[0].allowed  # the failed read is not retried within the second
    clock.now += 1.0
    assert (await lim.admit("alice", False))[0].reason == "budget_exceeded"
    ledger.fail = OSError("down again")
    clock.now += 1.0
    assert (await lim.admit("alice", False))[0].reason == "budget_exceeded"  # the last known figure


async def test_no_limits_anywhere_is_disabled_and_admits_everything() -> None:
    lim = memory_limiter()
    assert not lim.enabled and lim.healthy
    decision, admission = await lim.admit("alice", False)
    assert decision == Decision(True) and admission is not None
    await admission.charge(10, 1.0)
    await admission.release()
    assert await lim.status("alice") == LimitsStatus()


async def test_per_caller_limits_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "limits.json"
    path.write_text('{"anonymous": {"rpm": 1}, "callers": {"vip": {"rpm": 0}}}')
    settings = Settings(rate_limit_rpm=3, limits_file=str(path))
    lim = Limiter(settings, LimitsPolicy.from_settings(settings), Ledger(), clock=Clock())
    assert lim.enabled
    assert [(await lim.admit(None, False))[0].allowed for _ in range(2)] == [True, False]
    assert [(await lim.admit("u", False))[0].allowed for _ in range(4)] == [True] * 3 + [False]
    assert all([(await lim.admit("vip", False))[0].allowed for _ in range(50)])


async def test_refusals_are_counted_by_reason() -> None:
    lim = memory_limiter(rate_limit_rpm=1)
    before = counter("gateway_limit_refusals_total", reason="rate_limited")
    await lim.admit("x", False)
    await lim.admit("x", False)
    assert counter("gateway_limit_refusals_total", reason="rate_limited") == before + 1


async def test_status_reports_every_limit_set() -> None:
    clock = Clock()
    lim = memory_limiter(clock, Ledger(0.25), rate_limit_rpm=6, rate_limit_tpm=600, budget_usd_per_day=2.0,
                         max_concurrent=3)
    assert await lim.status("alice") == LimitsStatus(
        requests=RateStatus(6, 6, 0.0), tokens=RateStatus(600, 600, 0.0), budget=BudgetStatus(2.0, 0.25, 1.75),
        concurrency=ConcurrencyStatus(3, 0))
    _, admission = await lim.admit("alice", False)
    assert admission is not None
    await admission.charge(100, 0.5)
    clock.now += 0.5  # within the second the ledger's figure is cached: the local charge is added to it
    assert await lim.status("alice") == LimitsStatus(
        requests=RateStatus(6, 5, 9.5), tokens=RateStatus(600, 505, 9.5), budget=BudgetStatus(2.0, 0.75, 1.25),
        concurrency=ConcurrencyStatus(3, 1))


async def test_the_sweeper_forgets_idle_callers() -> None:
    clock = Clock()
    lim = memory_limiter(clock, rate_limit_rpm=60, max_concurrent=5)
    _, held = await lim.admit("busy", False)
    _, done = await lim.admit("idle", False)
    assert done is not None
    await done.release()
    assert set(lim._counters) == {"user:busy", "user:idle"}
    clock.now += 120
    sweeper = asyncio.create_task(lim._sweep_forever(every_s=0.01))
    await asyncio.sleep(0.05)
    sweeper.cancel()
    assert set(lim._counters) == {"user:busy"}  # a request in flight keeps its caller
    assert held is not None
    await held.release()


# --- on Redis ---------------------------------------------------------------------------------------------


@pytest.fixture
async def make_limiter(redis_url: str) -> AsyncIterator[Callable[..., Limiter]]:
    made: list[Limiter] = []

    def make(ledger: Ledger | None = None, wall: Clock | None = None, url: str | None = None,
             **options: object) -> Limiter:
        kwargs = {k: options.pop(k) for k in list(options) if k in ("slot_lease_s", "heartbeat_s", "probe_s")}
        settings = Settings(redis_url=url or redis_url, **options)  # type: ignore[arg-type]
        lim = Limiter(settings, LimitsPolicy.from_settings(settings), ledger or Ledger(),
                      wall_clock=wall or Clock(WALL), **kwargs)  # type: ignore[arg-type]
        made.append(lim)
        return lim

    yield make
    for lim in made:
        await lim.close()


async def test_redis_rpm_admits_exactly_n_with_the_right_retry_after(make_limiter: Callable[..., Limiter]) -> None:
    lim = make_limiter(rate_limit_rpm=5)
    await lim.start()
    assert lim.enabled and lim.healthy
    for k in range(1, 6):
        decision, admission = await lim.admit("alice", False)
        assert decision.allowed and admission is not None
        h = headers(decision)
        assert (h["x-ratelimit-limit-requests"], h["x-ratelimit-remaining-requests"]) == ("5", str(5 - k))
    decision, admission = await lim.admit("alice", False)
    assert (decision.allowed, decision.reason, admission) == (False, "rate_limited", None)
    assert 11.0 < decision.retry_after_s <= 12.0  # type: ignore[operator]
    h = headers(decision)
    assert h["x-ratelimit-remaining-requests"] == "0"
    reset = h["x-ratelimit-reset-requests"]  # a minute less the time the five took, rounded up to the ms
    assert reset == "1m0s" or (reset.startswith("59.") and reset.endswith("s")), reset
    status = await lim.status("alice")
    assert status.requests is not None and status.requests.remaining == 0 and status.requests.limit == 5
    # anonymous callers share one bucket; "anonymous" as a sub and other users have their own
    assert [(await lim.admit(None, False))[0].allowed for _ in range(6)] == [True] * 5 + [False]
    assert [(await lim.admit("anonymous", False))[0].allowed for _ in range(6)] == [True] * 5 + [False]
    assert [(await lim.admit("bob", False))[0].allowed for _ in range(6)] == [True] * 5 + [False]


async def test_redis_two_replicas_enforce_one_limit_together(make_limiter: Callable[..., Limiter]) -> None:
    a, b = make_limiter(rate_limit_rpm=5), make_limiter(rate_limit_rpm=5)
    await a.start()
    await b.start()
    results = await asyncio.gather(*(lim.admit("alice", False) for lim in (a, b) * 10))
    assert sum(d.allowed for d, _ in results) == 5
    assert sum(d.reason == "rate_limited" for d, _ in results) == 15


async def test_redis_tpm_debt_is_charged_with_the_release(make_limiter: Callable[..., Limiter]) -> None:
    a, b = make_limiter(rate_limit_tpm=600), make_limiter(rate_limit_tpm=600)
    decision, admission = await a.admit("alice", False)
    assert decision.allowed and headers(decision)["x-ratelimit-remaining-tokens"] == "600"
    assert admission is not None
    await admission.charge(1000, 0.1)
    assert (await b.admit("alice", False))[0].allowed  # not charged until the release
    await admission.release()
    # The release (with the charge) is written to Redis and not waited for; the same replica's next call
    # goes after it on the same connection, so it sees the 400 tokens of debt at once.
    decision, admission = await a.admit("alice", False)
    assert (decision.allowed, decision.reason, admission) == (False, "rate_limited", None)
    assert 40.0 < decision.retry_after_s <= 40.1  # type: ignore[operator]
    assert headers(decision)["x-ratelimit-remaining-tokens"] == "0"
    await drained(a)  # once it has reached Redis, the other replica sees the same
    decision, admission = await b.admit("alice", False)
    assert (decision.allowed, decision.reason, admission) == (False, "rate_limited", None)
    assert 40.0 < decision.retry_after_s <= 40.1  # type: ignore[operator]
    # a charge after the release is sent on its own
    _, other = await a.admit("bob", False)
    assert other is not None
    await other.release()
    await other.charge(700, None)
    assert (await a.admit("bob", False))[0].reason == "rate_limited"
    await drained(a)
    assert (await b.admit("bob", False))[0].reason == "rate_limited"


async def drained(lim: Limiter) -> None:
    """Wait until Redis has answered every call `lim` wrote (its releases are not waited for)."""
    assert lim._redis is not None
    await lim._redis._redis.drain()


async def test_redis_concurrency_across_replicas(make_limiter: Callable[..., Limiter]) -> None:
    a, b = make_limiter(max_concurrent=2), make_limiter(max_concurrent=2)
    await a.start()
    await b.start()
    (d1, a1), (d2, a2) = await a.admit("alice", False), await b.admit("alice", False)
    assert d1.allowed and d2.allowed and a1 is not None and a2 is not None
    d3, a3 = await a.admit("alice", False)
    assert (d3.allowed, d3.reason, d3.retry_after_s, a3) == (False, "too_many_concurrent", 1.0, None)
    assert (await a.status("alice")).concurrency == ConcurrencyStatus(2, 2)
    for _ in range(3):
        await a1.release()
    assert (await a.status("alice")).concurrency == ConcurrencyStatus(2, 1)  # after the release, in Redis
    await drained(a)
    assert (await b.status("alice")).concurrency == ConcurrencyStatus(2, 1)
    _, a4 = await b.admit("alice", False)
    assert a4 is not None and not (await a.admit("alice", False))[0].allowed
    await a2.release()
    await a4.release()
    await drained(b)
    assert (await a.status("alice")).concurrency == ConcurrencyStatus(2, 0)
    assert not a._redis.live and not b._redis.live  # type: ignore[union-attr]


async def test_redis_budget_refusal_takes_nothing(make_limiter: Callable[..., Limiter]) -> None:
    ledger = Ledger(5.0)
    lim = make_limiter(ledger, rate_limit_rpm=2, max_concurrent=1, budget_usd_per_day=1.0)
    decision, admission = await lim.admit("alice", False)
    assert (decision.reason, admission) == ("budget_exceeded", None)
    assert decision.retry_after_s == pytest.approx(60.0)
    assert headers(decision)["x-ratelimit-remaining-requests"] == "2"
    status = await lim.status("alice")
    assert status.requests == RateStatus(2, 2, 0.0) and status.concurrency == ConcurrencyStatus(1, 0)
    assert status.budget == BudgetStatus(1.0, 5.0, 0.0)
    _, own = await lim.admit("alice", True)  # own key: exempt from the budget
    assert own is not None
    assert (await lim.admit("alice", True))[0].reason == "too_many_concurrent"
    await own.release()
    _, own = await lim.admit("alice", True)
    assert own is not None
    await own.release()
    assert (await lim.admit("alice", True))[0].reason == "rate_limited"


CRASHING_REPLICA = """
import asyncio, sys
from service.config import Settings
from service.limits import Limiter, LimitsPolicy

async def spent(user):
    return 0.0

async def main():
    settings = Settings(redis_url=sys.argv[1], max_concurrent=2)
    lim = Limiter(settings, LimitsPolicy.from_settings(settings), spent, slot_lease_s=1.5, heartbeat_s=0.2,
                  probe_s=0.1)
    await lim.start()
    held = [await lim.admit("alice", False) for _ in range(2)]
    assert all(d.allowed for d, _ in held)
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_redis_slots_of_a_dead_replica_expire_after_the_lease(make_limiter: Callable[..., Limiter],
                                                                   redis_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen" / "python")])}
    replica = await asyncio.create_subprocess_exec(sys.executable, "-c", CRASHING_REPLICA, redis_url, cwd=ROOT,
                                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert replica.stdout is not None and replica.stderr is not None
    try:
        line = await asyncio.wait_for(replica.stdout.readline(), 30)
        assert line == b"held\n", (await replica.stderr.read()).decode()
        lim = make_limiter(max_concurrent=2)
        assert (await lim.admit("alice", False))[0].reason == "too_many_concurrent"
        await asyncio.sleep(2.0)  # past the 1.5 s lease: the live replica's heartbeat keeps its slots
        assert (await lim.admit("alice", False))[0].reason == "too_many_concurrent"
        replica.send_signal(signal.SIGKILL)
        await replica.wait()
        killed = time.monotonic()
        while (await lim.admit("alice", False))[0].reason == "too_many_concurrent":
            assert time.monotonic() - killed < 5, "the dead replica's slots did not expire"
            await asyncio.sleep(0.05)
        # freed by the lease running out (renewed every 0.2 s, 1.5 s long), not at once
        assert 0.5 < time.monotonic() - killed < 3.0
        status = await lim.status("alice")
        assert status.concurrency == ConcurrencyStatus(2, 1)  # the dead replica's two are gone; ours is held
    finally:
        if replica.returncode is None:
            replica.kill()
            await replica.wait()


async def test_redis_outage_fails_open_then_enforces_again(make_limiter: Callable[..., Limiter],
                                                           redis_server: RedisServer) -> None:
    lim = make_limiter(rate_limit_rpm=2, max_concurrent=5, probe_s=0.2)
    await lim.start()
    assert [(await lim.admit("alice", False))[0].allowed for _ in range(3)] == [True, True, False]
    _, held = await lim.admit("bob", False)
    assert held is not None
    before = counter("gateway_limits_backend_errors_total", backend="redis")
    redis_server.stop()
    try:
        started = time.monotonic()
        outcomes = [await lim.admit("alice", False) for _ in range(20)]
        assert time.monotonic() - started < 1.0
        assert all(d == Decision(True) and a is not None for d, a in outcomes)  # fail open, no headers
        assert not lim.healthy
        assert counter("gateway_limits_backend_errors_total", backend="redis") >= before + 1
        for _, admission in outcomes:
            await admission.charge(10, None)  # type: ignore[union-attr]
            await admission.release()  # type: ignore[union-attr]
        await held.release()  # the slot it held is released as well as Redis allows: nothing fails
        status = await lim.status("alice")
        assert status.requests == RateStatus(2, None, None) and status.concurrency == ConcurrencyStatus(5, None)
        await asyncio.sleep(0.5)
        assert not lim.healthy  # the heartbeat's probes fail too
    finally:
        redis_server.start()
    deadline = time.monotonic() + 5
    while not lim.healthy:
        assert time.monotonic() < deadline, "the limiter did not notice Redis was back"
        await asyncio.sleep(0.05)
    # Redis came back empty (no persistence): a fresh minute, enforced again
    assert [(await lim.admit("alice", False))[0].allowed for _ in range(3)] == [True, True, False]


async def test_a_hung_redis_costs_one_request_the_timeout_then_none(make_limiter: Callable[..., Limiter],
                                                                    redis_server: RedisServer) -> None:
    lim = make_limiter(rate_limit_rpm=1000, probe_s=0.3)
    await lim.start()
    assert (await lim.admit("alice", False))[0].allowed
    redis_server.pause()
    try:
        started = time.monotonic()
        decision, _ = await lim.admit("alice", False)
        first = time.monotonic() - started
        assert decision == Decision(True) and not lim.healthy
        assert 0.05 <= first < 0.5  # the socket timeout (100 ms), then fail open
        started = time.monotonic()
        for _ in range(50):
            assert (await lim.admit("alice", False))[0] == Decision(True)
        assert time.monotonic() - started < 0.05  # within the probe interval nobody waits on Redis
    finally:
        redis_server.resume()
    deadline = time.monotonic() + 5
    while not lim.healthy:
        assert time.monotonic() < deadline, "the limiter did not notice Redis answering again"
        await asyncio.sleep(0.05)
    decision, _ = await lim.admit("alice", False)
    assert decision.allowed and "x-ratelimit-remaining-requests" in headers(decision)


async def test_redis_unreachable_at_start_is_unhealthy_not_fatal(make_limiter: Callable[..., Limiter]) -> None:
    from tests.support import free_port

    lim = make_limiter(url=f"redis://127.0.0.1:{free_port()}/0", max_concurrent=1, probe_s=0.2)
    await lim.start()
    assert not lim.healthy
    decision, admission = await lim.admit("alice", False)
    assert decision.allowed and admission is not None
    await admission.release()


async def test_admission_type_is_the_public_handle() -> None:
    lim = memory_limiter(max_concurrent=1)
    _, admission = await lim.admit("a", False)
    assert isinstance(admission, Admission)
    assert Limits is not None
