"""Limits and budgets per caller: requests and tokens per minute, estimated cost per UTC day, and requests in
flight, enforced in one process or across replicas through Redis.

The caller is the verified JWT's `sub`; every anonymous caller together is one caller. How the limits are
chosen is in policy.py, how they are enforced (GCRA for the rates, and why) in engine.py, the shared
counters in redis_store.py.

Use from the edges::

    policy = LimitsPolicy.from_settings(settings)           # ConfigError on a bad LIMITS_FILE
    limiter = Limiter(settings, policy, spent_today)         # spent_today(user) -> awaitable float (USD)
    await limiter.start()
    ...
    if limiter.enabled:
        decision, admission = await limiter.admit(user, own_key)
        if not decision.allowed:  # 429 / RESOURCE_EXHAUSTED with decision.retry_after_s, decision.headers
            ...
        try:
            ...                                                # the call; decision.headers go on the reply
            await admission.charge(usage.total_tokens, cost_usd)
        finally:
            await admission.release()
    ...
    policy.reload()                                            # on SIGHUP; raises (and logs) on a bad file
    await limiter.close()
"""

from service.limits.engine import (
    BUDGET_EXCEEDED,
    RATE_LIMITED,
    TOO_MANY_CONCURRENT,
    Admission,
    BudgetStatus,
    ConcurrencyStatus,
    Decision,
    Limiter,
    LimitsStatus,
    RateStatus,
    format_reset,
)
from service.limits.policy import NO_LIMITS, Limits, LimitsPolicy, caller_key, read_limits_file

__all__ = [
    "BUDGET_EXCEEDED", "NO_LIMITS", "RATE_LIMITED", "TOO_MANY_CONCURRENT", "Admission", "BudgetStatus",
    "ConcurrencyStatus", "Decision", "Limiter", "Limits", "LimitsPolicy", "LimitsStatus", "RateStatus",
    "caller_key", "format_reset", "read_limits_file",
]
