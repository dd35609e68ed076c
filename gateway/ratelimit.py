"""Rate limits in Redis: a token bucket per caller, and the login brute-force throttle.

The bucket is one Lua script (atomic across gateway replicas): capacity
``RATE_LIMIT_PER_MINUTE`` tokens, refilled continuously at that rate per minute, one token
per request. An empty bucket answers ``(False, retry_after_seconds)``.

The login throttle counts *failed* logins per username and per client IP in a fixed window
(``LOGIN_FAILURE_WINDOW_SECONDS``); at ``LOGIN_MAX_FAILURES`` (per username) or
``LOGIN_MAX_FAILURES_PER_IP`` further attempts get 429 until the window ends. A successful
login clears the username's counter.
"""
from __future__ import annotations

import math
import time

from redis.asyncio import Redis

TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])          -- tokens per millisecond
local now = tonumber(ARGV[3])           -- milliseconds
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, wait_ms}
"""


class RateLimiter:
    def __init__(self, redis: Redis, per_minute: int) -> None:
        self.redis = redis
        self.capacity = per_minute
        self.rate_per_ms = per_minute / 60_000.0
        self._script = redis.register_script(TOKEN_BUCKET)

    async def hit(self, caller: str, now_ms: int | None = None) -> tuple[bool, int]:
        """``(allowed, retry_after_seconds)`` for one request of ``caller``."""
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        allowed, wait_ms = await self._script(
            keys=[f"crm:rl:{caller}"], args=[self.capacity, repr(self.rate_per_ms), now_ms])
        if int(allowed):
            return True, 0
        return False, max(1, math.ceil(int(wait_ms) / 1000))


class LoginThrottle:
    def __init__(self, redis: Redis, max_per_user: int, max_per_ip: int, window: int) -> None:
        self.redis = redis
        self.max_per_user = max_per_user
        self.max_per_ip = max_per_ip
        self.window = window

    @staticmethod
    def _keys(username: str, ip: str) -> tuple[str, str]:
        return f"crm:login:user:{username.strip().lower()}", f"crm:login:ip:{ip}"

    async def blocked(self, username: str, ip: str) -> int:
        """Seconds until the next attempt is allowed; 0 when it is allowed now."""
        user_key, ip_key = self._keys(username, ip)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(user_key).ttl(user_key).get(ip_key).ttl(ip_key)
            user_n, user_ttl, ip_n, ip_ttl = await pipe.execute()
        waits = []
        if user_n is not None and int(user_n) >= self.max_per_user:
            waits.append(max(1, int(user_ttl)))
        if ip_n is not None and int(ip_n) >= self.max_per_ip:
            waits.append(max(1, int(ip_ttl)))
        return max(waits, default=0)

    async def failed(self, username: str, ip: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in self._keys(username, ip):
                pipe.incr(key).expire(key, self.window, nx=True)
            await pipe.execute()

    async def succeeded(self, username: str) -> None:
        await self.redis.delete(self._keys(username, "")[0])
