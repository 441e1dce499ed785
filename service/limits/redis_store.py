"""Rate and concurrency counters in Redis, shared by every replica (REDIS_URL).

Per caller two keys, with the caller in a hash tag so both live in one cluster slot:
`gwlim:{<caller>}` (a hash: `r` = the request TAT, `t` = the token TAT, in microseconds of Redis's clock)
and `gwlim:{<caller>}:slots` (a sorted set of in-flight slot ids scored by their lease's expiry).

Each decision is one Lua script call (EVALSHA, or EVAL when the server lost its scripts), timed by
`redis.call('TIME')`, so the replicas' clocks do not matter. All calls go over one pipelined connection
(service/limits/resp.py), in the order they are made:
- ADMIT purges expired slots, checks concurrency, rpm and tpm (and takes the budget verdict the replica
  worked out from the ledger), and only when all pass takes one request interval and one slot. It returns
  the decision, retry-after and how far each TAT is ahead of now, from which the headers follow.
- FINISH, after the response: charges the tokens (moves the token TAT on) and removes the slot. The
  response does not wait for it: it is held back to go out with this replica's next call (as a rule the
  next ADMIT, so Redis wakes once per request), or after FINISH_HOLD_S (5 ms) if no call comes first. On
  one connection Redis runs commands in order, so this replica's next ADMIT always sees it; other
  replicas see it within FINISH_HOLD_S.
- RENEW, from a heartbeat every `heartbeat_s` (10 s): pushes the lease (30 s) of this replica's live slots
  on. A crashed replica's slots are no longer renewed and are purged by the next ADMIT once their lease
  has run out, so they free within `lease_s`.
- PEEK, for the status endpoint: the same figures without taking anything.

Unreachable Redis (connection refused, no answer within `timeout_s`, 100 ms): the request is admitted
(fail open), the failure counted in gateway_limits_backend_errors_total{backend="redis"} and logged at
most once per 30 s, and `healthy` is False. While unhealthy, requests do not wait on Redis: one request
per `probe_s` (0.5 s) tries it, and the heartbeat task PINGs it every `probe_s`; the first answer makes
it healthy again.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from service.limits.engine import BackendFailures
from service.limits.policy import Limits
from service.limits.resp import RespClient, Script

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

# KEYS: rates hash, slots zset. ARGV: rpm, tpm, max_concurrent, slot id, lease (us), budget ok (1|0).
# Returns {code (0 admitted, 1 rate, 2 budget, 3 concurrency), retry (us), in flight, request TAT - now,
# token TAT - now (us)}.
ADMIT = _NOW + """
local W = 60000000
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local maxc = tonumber(ARGV[3])
local code = 0
local retry = 0
local inflight = 0
if maxc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  inflight = redis.call('ZCARD', KEYS[2])
  if inflight >= maxc then
    code = 3
    retry = 1000000
  end
end
local st = redis.call('HMGET', KEYS[1], 'r', 't')
local rq = tonumber(st[1]) or now
local tk = tonumber(st[2]) or now
if rq < now then rq = now end
if tk < now then tk = now end
if code == 0 then
  if rpm > 0 then
    local wait = rq - now - (W - W / rpm)
    if wait > 0.001 then
      code = 1
      retry = wait
    end
  end
  if tpm > 0 then
    local wait = tk - now - (W - W / tpm)
    if wait > 0.001 then
      code = 1
      if wait > retry then retry = wait end
    end
  end
  if code == 0 and ARGV[6] == '0' then code = 2 end
end
if code == 0 then
  if rpm > 0 then
    rq = rq + W / rpm
    redis.call('HSET', KEYS[1], 'r', string.format('%.3f', rq))
    local far = rq
    if tk > far then far = tk end
    redis.call('PEXPIRE', KEYS[1], math.ceil((far - now) / 1000) + 1000)
  end
  if maxc > 0 then
    local lease = tonumber(ARGV[5])
    redis.call('ZADD', KEYS[2], now + lease, ARGV[4])
    redis.call('PEXPIRE', KEYS[2], math.ceil(lease / 500))
    inflight = inflight + 1
  end
end
return {code, math.ceil(retry), inflight, math.floor(rq - now), math.floor(tk - now)}
"""

# KEYS: rates hash, slots zset. ARGV: tpm, tokens, slot id ('' = none).
FINISH = _NOW + """
local tpm = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
if tpm > 0 and tokens > 0 then
  local st = redis.call('HMGET', KEYS[1], 'r', 't')
  local rq = tonumber(st[1]) or now
  local tk = tonumber(st[2]) or now
  if tk < now then tk = now end
  tk = tk + tokens * 60000000 / tpm
  redis.call('HSET', KEYS[1], 't', string.format('%.3f', tk))
  local far = tk
  if rq > far then far = rq end
  redis.call('PEXPIRE', KEYS[1], math.ceil((far - now) / 1000) + 1000)
end
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[2], ARGV[3]) end
return 1
"""

# KEYS: the slots zset of each live slot. ARGV: lease (us), then the slot ids in KEYS' order.
RENEW = _NOW + """
local lease = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(lease / 500))
end
return #KEYS
"""

# KEYS: rates hash, slots zset. ARGV: count slots (1|0). Returns {request TAT - now, token TAT - now, in flight}.
PEEK = _NOW + """
local inflight = 0
if ARGV[1] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  inflight = redis.call('ZCARD', KEYS[2])
end
local st = redis.call('HMGET', KEYS[1], 'r', 't')
local rq = (tonumber(st[1]) or now) - now
local tk = (tonumber(st[2]) or now) - now
if rq < 0 then rq = 0 end
if tk < 0 then tk = 0 end
return {math.floor(rq), math.floor(tk), inflight}
"""

_RENEW_BATCH = 500
# How long a FINISH may wait to go out with the next call (an ADMIT, as a rule): one wake-up of Redis per
# request instead of two. This replica's next call always runs after it; another replica sees it this much
# later at most.
FINISH_HOLD_S = 0.005


class RedisStore:
    def __init__(self, url: str, *, clock: Callable[[], float], timeout_s: float = 0.1, lease_s: float = 30.0,
                 heartbeat_s: float = 10.0, probe_s: float = 0.5):
        # No retries: a request never waits more than about `timeout_s` on Redis.
        self._admit = Script(ADMIT)
        self._finish = Script(FINISH)
        self._renew = Script(RENEW)
        self._peek = Script(PEEK)
        self._redis = RespClient(url, timeout_s=timeout_s,
                                 scripts=(self._admit, self._finish, self._renew, self._peek))
        self._clock = clock
        self._lease_us = int(lease_s * 1_000_000)
        self._heartbeat_s = heartbeat_s
        self._probe_s = probe_s
        self.replica = secrets.token_hex(8)
        self._seq = 0
        self.live: dict[str, str] = {}  # slot id -> its slots key: renewed by the heartbeat until finished
        self.healthy = True
        self._retry_at = 0.0
        self._failures = BackendFailures("redis", clock)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self._redis.call("PING")
        except Exception as exc:
            self._down(exc, "start")
        if self._task is None:
            self._task = asyncio.create_task(self._heartbeat(), name="limits-redis-heartbeat")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._redis.drain()  # the last releases and charges, written and not yet answered
        self._redis.close()

    def _down(self, exc: BaseException, what: str) -> None:
        self._failures.failed(exc, what)
        self.healthy = False
        self._retry_at = self._clock() + self._probe_s

    def _up(self) -> None:
        if not self.healthy:
            self.healthy = True
            self._failures.recovered()

    async def _call(self, script: Script, keys: list[str], args: list[Any], what: str) -> Any:
        if not self.healthy and self._clock() < self._retry_at:
            return None
        try:
            result = await self._redis.evalsha(script, keys, args)
        except Exception as exc:  # any failure of Redis fails open
            self._down(exc, what)
            return None
        self._up()
        return result

    async def admit(self, key: str, limits: Limits,
                    budget_ok: bool) -> tuple[int, float, float, float, str | None] | None:
        """(code, retry-after s, request TAT - now s, token TAT - now s, slot id or None); None when Redis
        could not be asked."""
        slot = ""
        if limits.max_concurrent:
            self._seq += 1
            slot = f"{self.replica}:{self._seq}"
        base = "gwlim:{" + key + "}"
        got = await self._call(self._admit, [base, base + ":slots"],
                               [limits.rpm or 0, limits.tpm or 0, limits.max_concurrent or 0, slot,
                                self._lease_us, 1 if budget_ok else 0], "admit")
        if got is None:
            return None
        code, retry_us, _in_flight, requests_us, tokens_us = got
        if code == 0 and slot:
            self.live[slot] = base + ":slots"
            return 0, 0.0, requests_us / 1e6, tokens_us / 1e6, slot
        return code, retry_us / 1e6, requests_us / 1e6, tokens_us / 1e6, None

    def finish(self, key: str, tpm: int, tokens: int, slot: str | None) -> None:
        """Charge the tokens and release the slot: written now, its answer checked later (a failure counts
        like any other; an unreleased slot then expires with its lease)."""
        if slot:
            self.live.pop(slot, None)  # no longer renewed, whatever happens to this call
        if not self.healthy and self._clock() < self._retry_at:
            return
        base = "gwlim:{" + key + "}"
        self._redis.evalsha_nowait(self._finish, [base, base + ":slots"], [tpm, tokens, slot or ""],
                                   lambda exc: self._down(exc, "finish"), hold_s=FINISH_HOLD_S)

    async def peek(self, key: str, slots: bool) -> tuple[float, float, int] | None:
        base = "gwlim:{" + key + "}"
        got = await self._call(self._peek, [base, base + ":slots"], [1 if slots else 0], "status")
        if got is None:
            return None
        return got[0] / 1e6, got[1] / 1e6, int(got[2])

    async def _heartbeat(self) -> None:
        next_renew = self._clock() + self._heartbeat_s
        while True:
            await asyncio.sleep(self._probe_s)
            if not self.healthy:
                try:
                    await self._redis.call("PING")
                except Exception as exc:
                    self._down(exc, "probe")
                    continue
                self._up()
                next_renew = 0.0  # leases may have run short during the outage
            if self._clock() < next_renew:
                continue
            next_renew = self._clock() + self._heartbeat_s
            items = list(self.live.items())
            for i in range(0, len(items), _RENEW_BATCH):
                batch = items[i:i + _RENEW_BATCH]
                keys = [zkey for _, zkey in batch]
                args: list[Any] = [self._lease_us, *(slot for slot, _ in batch)]
                try:
                    await self._redis.evalsha(self._renew, keys, args)
                except Exception as exc:
                    self._down(exc, "renew")
                    break
