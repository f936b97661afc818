"""Pacing for one model: a token bucket (rpm / tpm) and a minimum gap between call starts.

Why a token bucket and not a fixed sleep: providers meter requests and tokens per minute but
tolerate short bursts, so a bucket holding about one second's worth of budget keeps the
average under the limit without serialising calls that could overlap. The clock and the sleep
are injectable so tests check the arithmetic without waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_EPSILON = 1e-9


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` banked; ``acquire(n)`` waits its turn.

    Requests are served first come, first served (an ``asyncio.Lock``), so a large request is
    never starved by small ones. A cost above ``capacity`` is clamped to it: such a request
    waits for a full bucket instead of forever.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"token bucket rate must be positive, got {rate}")
        if capacity <= 0:
            raise ValueError(f"token bucket capacity must be positive, got {capacity}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._updated = clock()
        self._lock = asyncio.Lock()

    @classmethod
    def per_minute(cls, per_minute: float, **kwargs: object) -> "TokenBucket":
        """A bucket for a per-minute limit holding one second's worth (at least one unit)."""
        rate = per_minute / 60.0
        return cls(rate, max(1.0, rate), **kwargs)  # type: ignore[arg-type]

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens, sleeping until they are there; returns the seconds waited."""
        cost = min(float(cost), self.capacity)
        waited = 0.0
        async with self._lock:
            self._refill()
            # The tolerance keeps float rounding from looping on sleeps too small to move a clock.
            while self._tokens < cost - _EPSILON:
                delay = (cost - self._tokens) / self.rate
                await self._sleep(delay)
                waited += delay
                self._refill()
            self._tokens = max(0.0, self._tokens - cost)
        return waited


class StartGap:
    """At least ``gap_s`` seconds between consecutive call starts of one model.

    This is the KGSS study's ``time.sleep(0.5)`` between CLOVA calls, kept meaningful under
    concurrency: it spaces call starts, not call ends. Retries pass through it too.
    """

    def __init__(self, gap_s: float, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep):
        if gap_s < 0:
            raise ValueError(f"delay must not be negative, got {gap_s}")
        self.gap_s = gap_s
        self._clock = clock
        self._sleep = sleep
        self._next_start: float | None = None
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        if self.gap_s == 0:
            return 0.0
        async with self._lock:
            now = self._clock()
            delay = 0.0 if self._next_start is None else max(0.0, self._next_start - now)
            if delay:
                await self._sleep(delay)
            self._next_start = max(now, self._next_start or now) + self.gap_s
            return delay


class Pacer:
    """Everything that gates a model's next call: the start gap, then rpm, then tpm."""

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        rpm: int | None = None,
        tpm: int | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ):
        self.gap = StartGap(delay_s, clock=clock, sleep=sleep)
        self.requests = TokenBucket.per_minute(rpm, clock=clock, sleep=sleep) if rpm else None
        self.tokens = TokenBucket.per_minute(tpm, clock=clock, sleep=sleep) if tpm else None

    async def wait(self, *, calls: int = 1, tokens: int = 0) -> float:
        waited = await self.gap.wait()
        if self.requests is not None:
            waited += await self.requests.acquire(calls)
        if self.tokens is not None and tokens:
            waited += await self.tokens.acquire(tokens)
        return waited
