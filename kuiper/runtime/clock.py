"""Time for the runtime: SystemClock (wall time) and ManualClock (tests advance it by hand)."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """What nodes use for timestamps and timers."""

    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time in epoch milliseconds; sleeps on the event loop."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when told to: `advance(ms)` wakes every sleeper that is due."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = int(start_ms)
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ms(self) -> int:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + int(round(seconds * 1000))
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (lets a test wait until a timer is armed)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def advance(self, ms: int) -> None:
        """Move time forward by `ms` and wake the sleepers now due (they run at the next await)."""
        self.set(self._now + int(ms))

    def set(self, now_ms: int) -> None:
        self._now = max(self._now, int(now_ms))
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
