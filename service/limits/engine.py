"""The limits engine: admit a request, charge what it used, release its slot.

Rates: GCRA, not a token bucket. GCRA (the generic cell rate algorithm) keeps one number per caller and
rate, the theoretical arrival time (TAT): the moment the caller's bucket would be full again. A request
is admitted while `TAT - now <= window - interval` and moves the TAT on by one emission interval
(`interval = 60 s / limit`). It is the token bucket's exact equivalent (capacity = the limit, refilled
continuously at limit per minute) without the bucket's two numbers (level, last refill) or its refill
arithmetic: one timestamp, a compare and an add, which is cheap in memory and is a single HSET in Redis.
Every figure the OpenAI headers need falls out of it: remaining = `(window - (TAT - now)) / interval`,
reset = `TAT - now` (the time until the bucket is full, which is what `x-ratelimit-reset-*` means), and a
refused request's retry-after is `TAT - now - (window - interval)`.

- rpm: a request costs one interval of the request TAT, taken at admission.
- tpm: tokens are only known after the response, so admission takes nothing: it checks that at least one
  token is left (`TAT - now <= window - interval`) and `charge()` moves the TAT on by `tokens * interval`,
  which may put the caller in debt (TAT past now + window); the next request then waits until the bucket
  is positive again. In-flight requests can therefore overshoot tpm by what they use; rpm and
  max_concurrent bound that.
- Concurrency: a counter per caller. A slot is released exactly once: `Admission.release()` is idempotent
  and finishes without an await point, so a release in a `finally` also runs on cancellation.
- Budget: the day's (UTC) estimated spending comes from the usage ledger through `spent_today(user)`,
  cached per caller for `budget_cache_s` (1 s), plus the cost of responses charged in this process since
  the last read, so replicas sharing one ledger converge within about a second. A request is admitted
  while the caller is below the budget (a running request may take it past). A request made with the
  caller's own provider key is exempt from the budget, not from the rates.

Order inside `admit`: concurrency, then rates, then budget. The checks come first and nothing is taken
until all pass, so a refused request takes no slot and consumes no rate.

With REDIS_URL the rate and concurrency counters live in Redis (service/limits/redis_store.py: one Lua
script call per admission, one per finished request written without waiting for it, Redis's clock),
shared by every replica; if Redis
cannot be reached they fail open. The budget always comes from the ledger.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from service.limits.policy import Limits, LimitsPolicy, caller_key
from service.metrics import LIMIT_REFUSALS, LIMITS_BACKEND_ERRORS, child

if TYPE_CHECKING:
    from service.config import Settings
    from service.limits.redis_store import RedisStore

log = structlog.get_logger("limits")

WINDOW = 60.0  # seconds: rpm and tpm are per minute
DAY = 86400.0
_EPS = 1e-9  # float slack in the GCRA comparisons

RATE_LIMITED = "rate_limited"
BUDGET_EXCEEDED = "budget_exceeded"
TOO_MANY_CONCURRENT = "too_many_concurrent"


@dataclass(frozen=True, slots=True)
class Decision:
    """What `admit` decided. `headers` are OpenAI's x-ratelimit-* for the rates the caller has (none for a
    rate it has no limit on); a refusal has `reason` and `retry_after_s` (seconds)."""

    allowed: bool
    reason: str | None = None  # None | "rate_limited" | "budget_exceeded" | "too_many_concurrent"
    retry_after_s: float | None = None
    headers: tuple[tuple[str, str], ...] = ()


ALLOWED = Decision(True)


@dataclass(frozen=True, slots=True)
class RateStatus:
    limit: int
    remaining: int | None  # None: the shared counters could not be read (Redis unreachable)
    reset_s: float | None  # seconds until the bucket is full again


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    limit_usd: float
    spent_usd: float  # today (UTC), as the limiter sees it
    remaining_usd: float


@dataclass(frozen=True, slots=True)
class ConcurrencyStatus:
    limit: int
    in_flight: int | None  # None: the shared counters could not be read (Redis unreachable)


@dataclass(frozen=True, slots=True)
class LimitsStatus:
    """A caller's limits and where it stands; None for a kind of limit it does not have."""

    requests: RateStatus | None = None
    tokens: RateStatus | None = None
    budget: BudgetStatus | None = None
    concurrency: ConcurrencyStatus | None = None


def format_reset(seconds: float) -> str:
    """A duration as OpenAI's x-ratelimit-reset-* show it (Go's duration format): "0s", "12ms", "1s",
    "59.5s", "6m0s", "1h2m3s". Rounded up to the millisecond."""
    ms = math.ceil(seconds * 1000 - 1e-6) if seconds > 0 else 0
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}" if rest % 1000 == 0 else f"{rest / 1000:.3f}".rstrip("0")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _remaining(limit: int, used_s: float) -> int:
    left = int((WINDOW - used_s) * limit / WINDOW + 1e-6)
    return 0 if left < 0 else limit if left > limit else left


def rate_headers(limits: Limits, requests_used_s: float, tokens_used_s: float) -> tuple[tuple[str, str], ...]:
    """x-ratelimit-* for the caller's rates, from how far each TAT is ahead of now (seconds)."""
    out: tuple[tuple[str, str], ...] = ()
    if limits.rpm:
        out = (("x-ratelimit-limit-requests", str(limits.rpm)),
               ("x-ratelimit-remaining-requests", str(_remaining(limits.rpm, requests_used_s))),
               ("x-ratelimit-reset-requests", format_reset(requests_used_s)))
    if limits.tpm:
        out += (("x-ratelimit-limit-tokens", str(limits.tpm)),
                ("x-ratelimit-remaining-tokens", str(_remaining(limits.tpm, tokens_used_s))),
                ("x-ratelimit-reset-tokens", format_reset(tokens_used_s)))
    return out


class BackendFailures:
    """Counts every failed call to a backend and logs the failures without flooding: the first one, then at
    most one line per `every_s` with how many there were."""

    def __init__(self, backend: str, clock: Callable[[], float], every_s: float = 30.0):
        self._counter = child(LIMITS_BACKEND_ERRORS, backend)
        self._backend = backend
        self._clock = clock
        self._every_s = every_s
        self._last_log = -math.inf
        self._unlogged = 0

    def failed(self, exc: BaseException, what: str) -> None:
        self._counter.inc()
        now = self._clock()
        if now - self._last_log < self._every_s:
            self._unlogged += 1
            return
        log.warning("limits_backend_unavailable", backend=self._backend, during=what,
                    error=f"{type(exc).__name__}: {exc}", failures_since_last_line=self._unlogged)
        self._last_log = now
        self._unlogged = 0

    def recovered(self) -> None:
        log.info("limits_backend_recovered", backend=self._backend, failures_since_last_line=self._unlogged)
        self._last_log = -math.inf
        self._unlogged = 0


class _Spend:
    __slots__ = ("day", "fetched_at", "ledger", "local", "pending")

    def __init__(self, day: int):
        self.day = day
        self.fetched_at = -math.inf
        self.ledger = 0.0  # the ledger's figure at the last read
        self.local = 0.0  # cost charged in this process since that read
        self.pending: asyncio.Future[float] | None = None


class _Budgets:
    """Each caller's spending today: the ledger's figure, re-read at most every `cache_s`, plus local charges."""

    def __init__(self, spent_today: Callable[[str | None], Awaitable[float]], clock: Callable[[], float],
                 wall_clock: Callable[[], float], cache_s: float, timeout_s: float):
        self._spent_today = spent_today
        self._clock = clock
        self._wall = wall_clock
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self.book: dict[str, _Spend] = {}
        self._failures = BackendFailures("ledger", clock)

    def day(self) -> int:
        return int(self._wall() // DAY)

    def to_midnight(self) -> float:
        """Seconds to the next UTC midnight, when every budget starts afresh."""
        return DAY - self._wall() % DAY

    def cached(self, key: str) -> float | None:
        e = self.book.get(key)
        if e is None or self._clock() - e.fetched_at >= self._cache_s or e.day != self.day():
            return None
        return e.ledger + e.local

    async def spent(self, key: str, user: str | None) -> float:
        found = self.cached(key)
        if found is not None:
            return found
        day = self.day()
        e = self.book.get(key)
        if e is None or e.day != day:
            e = self.book[key] = _Spend(day)
        if e.pending is None:  # one read per caller at a time; the others wait for it
            e.pending = asyncio.ensure_future(self._read(e, user))
        return await asyncio.shield(e.pending)

    async def _read(self, e: _Spend, user: str | None) -> float:
        before = e.local
        try:
            async with asyncio.timeout(self._timeout_s):
                value = float(await self._spent_today(user))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"spent_today returned {value}")
            e.ledger = value
        except Exception as exc:  # the ledger is down or slow: keep the last figure (fail open)
            self._failures.failed(exc, "spent_today")
        finally:
            e.pending = None
        e.local -= before  # what was charged while reading stays; the rest is in the ledger's figure now
        e.fetched_at = self._clock()
        return e.ledger + e.local

    def add(self, key: str, cost_usd: float) -> None:
        day = self.day()
        e = self.book.get(key)
        if e is None or e.day != day:
            e = self.book[key] = _Spend(day)
        e.local += cost_usd

    def sweep(self, now: float, idle_s: float) -> None:
        for key in [k for k, e in self.book.items() if e.pending is None and now - e.fetched_at > idle_s]:
            del self.book[key]


class _Counters:
    """One caller's rate and concurrency state in this process."""

    __slots__ = ("requests_tat", "tokens_tat", "in_flight")

    def __init__(self) -> None:
        self.requests_tat = -math.inf
        self.tokens_tat = -math.inf
        self.in_flight = 0


class Admission:
    """An admitted request's handle: `charge()` what it used once it is known, `release()` it when done (in
    a `finally`; idempotent). Neither has an await point, so a release in a `finally` runs whole even on
    cancellation. With Redis a charge waits for the release so both go in one script call (written to Redis,
    not waited for); a charge after the release is sent on its own."""

    __slots__ = ("_limiter", "_key", "_tpm", "_budget", "_slot", "_open", "_tokens")

    def __init__(self, limiter: Limiter | None, key: str = "", tpm: int | None = None, budget: bool = False,
                 slot: str | None = None):
        self._limiter = limiter
        self._key = key
        self._tpm = tpm
        self._budget = budget  # charge costs to the caller's budget (not for a request on its own key)
        self._slot = slot  # memory: "" when a slot is held; Redis: the slot's id; None: no slot
        self._open = limiter is not None
        self._tokens = 0

    async def charge(self, total_tokens: int, cost_usd: float | None) -> None:
        """Count what the response used: its total tokens against tpm, its estimated cost against the budget
        (None = unpriced, nothing charged)."""
        lim = self._limiter
        if lim is None:
            return
        if self._budget and cost_usd:
            lim._budgets.add(self._key, cost_usd)
        if self._tpm and total_tokens > 0:
            if lim._redis is None:
                lim._charge_tokens(self._key, self._tpm, total_tokens)
            elif self._open:
                self._tokens += total_tokens
            else:
                lim._redis_finish(self._key, self._tpm, total_tokens, None)

    async def release(self) -> None:
        """Give the slot back (and, with Redis, send the charge). Only the first call does anything."""
        if not self._open:
            return
        self._open = False
        lim = self._limiter
        assert lim is not None
        if lim._redis is None:
            if self._slot is not None:
                lim._release_slot(self._key)
        elif self._slot is not None or self._tokens:
            lim._redis_finish(self._key, self._tpm or 0, self._tokens, self._slot)


_NOTHING = Admission(None)  # a caller with nothing to count: charge and release do nothing


class Limiter:
    """Enforces a `LimitsPolicy`. Call `start()` once the event loop runs and `close()` at shutdown.

    `spent_today(user)` returns the caller's estimated spending today (UTC) from the usage ledger (user None
    = the anonymous callers). `clock` is monotonic seconds (rates, caches); `wall_clock` is epoch seconds
    (the UTC day of the budget).
    """

    def __init__(self, settings: Settings, policy: LimitsPolicy,
                 spent_today: Callable[[str | None], Awaitable[float]], *,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 budget_cache_s: float = 1.0, budget_timeout_s: float = 1.0, redis_timeout_s: float = 0.1,
                 slot_lease_s: float = 30.0, heartbeat_s: float = 10.0, probe_s: float = 0.5):
        self._policy = policy
        self._clock = clock
        self._counters: dict[str, _Counters] = {}
        self._budgets = _Budgets(spent_today, clock, wall_clock, budget_cache_s, budget_timeout_s)
        self._redis: RedisStore | None = None
        if settings.redis_url:
            from service.limits.redis_store import RedisStore

            self._redis = RedisStore(settings.redis_url, clock=clock, timeout_s=redis_timeout_s,
                                     lease_s=slot_lease_s, heartbeat_s=heartbeat_s, probe_s=probe_s)
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """False when no caller has any limit: the edges may skip the limiter altogether."""
        return self._policy.enabled

    @property
    def healthy(self) -> bool:
        """False while the shared counters (Redis) cannot be reached: requests are then admitted unchecked
        by rates and concurrency. Always True without REDIS_URL."""
        return self._redis is None or self._redis.healthy

    async def start(self) -> None:
        if self._redis is not None:
            await self._redis.start()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="limits-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._redis is not None:
            await self._redis.close()

    async def _sweep_forever(self, every_s: float = 60.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            now = self._clock()
            for key in [k for k, c in self._counters.items()
                        if not c.in_flight and c.requests_tat <= now and c.tokens_tat <= now]:
                del self._counters[key]
            self._budgets.sweep(now, every_s)

    async def admit(self, user: str | None, own_key: bool) -> tuple[Decision, Admission | None]:
        """Admit or refuse one request of `user` (a verified JWT subject, None = anonymous). `own_key`: the
        request uses the caller's own provider key (exempt from the budget). An admitted request gets an
        `Admission` to charge and release; a refused one gets None, took nothing and is counted."""
        limits = self._policy.for_caller(user)
        rpm, tpm, max_concurrent = limits.rpm, limits.tpm, limits.max_concurrent
        budget = None if own_key else limits.budget_usd_per_day
        if not (rpm or tpm or max_concurrent or budget):
            return ALLOWED, _NOTHING
        key = caller_key(user)
        budget_ok = True
        if budget is not None:
            spent = self._budgets.cached(key)
            if spent is None:
                spent = await self._budgets.spent(key, user)
            budget_ok = spent < budget
        if self._redis is not None and (rpm or tpm or max_concurrent):
            return await self._admit_shared(key, limits, budget is not None, budget_ok)
        now = self._clock()
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = _Counters()
        rq = c.requests_tat if c.requests_tat > now else now
        tk = c.tokens_tat if c.tokens_tat > now else now
        reason = None
        retry = 0.0
        if max_concurrent and c.in_flight >= max_concurrent:
            reason, retry = TOO_MANY_CONCURRENT, 1.0
        else:
            if rpm:
                wait = rq - now - (WINDOW - WINDOW / rpm)
                if wait > _EPS:
                    reason, retry = RATE_LIMITED, wait
            if tpm:
                wait = tk - now - (WINDOW - WINDOW / tpm)
                if wait > _EPS:
                    reason, retry = RATE_LIMITED, max(retry, wait)
            if reason is None and not budget_ok:
                reason, retry = BUDGET_EXCEEDED, self._budgets.to_midnight()
        if reason is not None:
            child(LIMIT_REFUSALS, reason).inc()
            return Decision(False, reason, retry, rate_headers(limits, rq - now, tk - now)), None
        if rpm:
            rq += WINDOW / rpm
            c.requests_tat = rq
        if max_concurrent:
            c.in_flight += 1
        return (Decision(True, None, None, rate_headers(limits, rq - now, tk - now)),
                Admission(self, key, tpm, budget is not None, "" if max_concurrent else None))

    async def _admit_shared(self, key: str, limits: Limits, budget: bool,
                            budget_ok: bool) -> tuple[Decision, Admission | None]:
        assert self._redis is not None
        got = await self._redis.admit(key, limits, budget_ok)
        if got is None:  # Redis unreachable: rates and concurrency fail open; the budget still holds
            if not budget_ok:
                child(LIMIT_REFUSALS, BUDGET_EXCEEDED).inc()
                return Decision(False, BUDGET_EXCEEDED, self._budgets.to_midnight()), None
            return ALLOWED, Admission(self, key, limits.tpm, budget, None)
        code, retry, requests_used, tokens_used, slot = got
        headers = rate_headers(limits, requests_used, tokens_used)
        if code:
            reason = (RATE_LIMITED, BUDGET_EXCEEDED, TOO_MANY_CONCURRENT)[code - 1]
            if reason == BUDGET_EXCEEDED:
                retry = self._budgets.to_midnight()
            child(LIMIT_REFUSALS, reason).inc()
            return Decision(False, reason, retry, headers), None
        return Decision(True, None, None, headers), Admission(self, key, limits.tpm, budget, slot)

    def _charge_tokens(self, key: str, tpm: int, tokens: int) -> None:
        now = self._clock()
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = _Counters()
        c.tokens_tat = max(c.tokens_tat, now) + tokens * WINDOW / tpm

    def _release_slot(self, key: str) -> None:
        c = self._counters.get(key)
        if c is not None and c.in_flight > 0:
            c.in_flight -= 1

    def _redis_finish(self, key: str, tpm: int, tokens: int, slot: str | None) -> None:
        assert self._redis is not None
        self._redis.finish(key, tpm, tokens, slot)  # written now, not waited for: no await point

    async def status(self, user: str | None) -> LimitsStatus:
        """The caller's limits and where it stands now (for GET /v1/limits and GetLimits)."""
        limits = self._policy.for_caller(user)
        key = caller_key(user)
        requests_used: float | None = 0.0
        tokens_used: float | None = 0.0
        in_flight: int | None = 0
        if self._redis is not None and (limits.rpm or limits.tpm or limits.max_concurrent):
            got = await self._redis.peek(key, bool(limits.max_concurrent))
            requests_used, tokens_used, in_flight = got if got is not None else (None, None, None)
        else:
            c = self._counters.get(key)
            if c is not None:
                now = self._clock()
                requests_used = max(c.requests_tat - now, 0.0)
                tokens_used = max(c.tokens_tat - now, 0.0)
                in_flight = c.in_flight

        def rate(limit: int | None, used: float | None) -> RateStatus | None:
            if not limit:
                return None
            if used is None:
                return RateStatus(limit, None, None)
            return RateStatus(limit, _remaining(limit, used), round(used, 3))

        budget = None
        if limits.budget_usd_per_day:
            spent = await self._budgets.spent(key, user)
            budget = BudgetStatus(limits.budget_usd_per_day, spent, max(limits.budget_usd_per_day - spent, 0.0))
        return LimitsStatus(
            requests=rate(limits.rpm, requests_used), tokens=rate(limits.tpm, tokens_used), budget=budget,
            concurrency=ConcurrencyStatus(limits.max_concurrent, in_flight) if limits.max_concurrent else None)
