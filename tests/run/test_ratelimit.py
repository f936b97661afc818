"""Token buckets and start gaps, on a fake clock: the arithmetic, not the wall clock."""

from __future__ import annotations

import asyncio

import pytest

from silspec.run.ratelimit import Pacer, StartGap, TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rpm_bucket_spaces_requests_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket.per_minute(60, clock=clock, sleep=clock.sleep)  # 1/s, one banked

    async def main():
        return [await bucket.acquire() for _ in range(5)]

    waits = asyncio.run(main())
    assert waits == pytest.approx([0.0, 1.0, 1.0, 1.0, 1.0])
    assert clock.now == pytest.approx(4.0)


def test_a_full_bucket_allows_a_burst_then_meters():
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5.0, clock=clock, sleep=clock.sleep)

    async def main():
        await asyncio.gather(*(bucket.acquire() for _ in range(25)))

    asyncio.run(main())
    assert clock.now == pytest.approx((25 - 5) / 10.0)


def test_idle_time_refills_only_up_to_capacity():
    clock = FakeClock()
    bucket = TokenBucket(1.0, 2.0, clock=clock, sleep=clock.sleep)

    async def main():
        await bucket.acquire(2)
        clock.now += 100.0  # a long pause banks at most two tokens
        await bucket.acquire(2)
        return await bucket.acquire(1)

    assert asyncio.run(main()) == pytest.approx(1.0)


def test_a_cost_above_capacity_waits_for_a_full_bucket_not_forever():
    clock = FakeClock()
    bucket = TokenBucket(100.0, 1000.0, clock=clock, sleep=clock.sleep)

    async def main():
        await bucket.acquire(1000)
        return await bucket.acquire(5000)

    assert asyncio.run(main()) == pytest.approx(10.0)


@pytest.mark.parametrize("rate, capacity", [(0, 1), (-1, 1), (1, 0)])
def test_bad_bucket_settings_are_rejected(rate, capacity):
    with pytest.raises(ValueError, match="must be positive"):
        TokenBucket(rate, capacity)


def test_start_gap_spaces_call_starts():
    clock = FakeClock()
    gap = StartGap(0.5, clock=clock, sleep=clock.sleep)
    starts = []

    async def main():
        for _ in range(3):
            await gap.wait()
            starts.append(clock.now)
        clock.now += 2.0  # a slow call: the next start needs no wait
        starts.append((await gap.wait(), clock.now))

    asyncio.run(main())
    assert starts[:3] == pytest.approx([0.0, 0.5, 1.0])
    assert starts[3] == (0.0, pytest.approx(3.0))


def test_start_gap_holds_under_concurrency():
    clock = FakeClock()
    gap = StartGap(0.5, clock=clock, sleep=clock.sleep)
    starts = []

    async def call():
        await gap.wait()
        starts.append(clock.now)

    async def main():
        await asyncio.gather(*(call() for _ in range(4)))

    asyncio.run(main())
    assert sorted(starts) == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_negative_delay_is_rejected():
    with pytest.raises(ValueError, match="negative"):
        StartGap(-0.1)


def test_pacer_applies_rpm_and_tpm_together():
    clock = FakeClock()
    pacer = Pacer(rpm=120, tpm=6000, clock=clock, sleep=clock.sleep)  # 2 req/s, 100 tok/s

    async def main():
        for _ in range(4):
            await pacer.wait(tokens=100)

    asyncio.run(main())
    # tokens bind: 100 banked, then 100 tokens per second for each further call
    assert clock.now == pytest.approx(3.0)


def test_a_pacer_without_limits_never_waits():
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)

    async def main():
        return [await pacer.wait(tokens=10_000) for _ in range(100)]

    assert set(asyncio.run(main())) == {0.0} and clock.sleeps == []
