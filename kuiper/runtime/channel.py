"""The bounded queue between two nodes; capacity (`bufferLength`) is counted in rows.

A put is accepted while fewer than `capacity` rows are queued, so one batch may take the
queue past its capacity (a batch is never split to fit). When the queue is full, policy
`block` makes the producer wait (back-pressure); `dropOldest` discards the oldest queued
batches and counts their rows. Control items (end of input, timer ticks, errors) hold no
rows, are never dropped and never wait.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kuiper.api.batch import Batch
from kuiper.runtime.options import BLOCK


@dataclass(frozen=True, slots=True)
class EndOfInput:
    """A source is exhausted (bounded input) or the rule is stopping."""

    message: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer firing: operators with timers get `on_time(now_ms)`."""

    now_ms: int


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """A runtime error travelling to the sinks (rule option sendError)."""

    error: str


class Channel:
    """A bounded FIFO of batches and control items, capacity counted in rows."""

    def __init__(
        self,
        capacity: int,
        policy: str = BLOCK,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.capacity = max(1, capacity)
        self.policy = policy
        self.on_drop = on_drop
        self._items: deque[tuple[Any, int]] = deque()
        self._rows = 0
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self.waiting = 0  # consumers blocked in get() on an empty queue (checkpoint drain)
        self.closed = False  # the consumer is gone: puts are discarded and never wait

    @property
    def rows(self) -> int:
        """Rows queued now (the node's buffer_length metric)."""
        return self._rows

    def __len__(self) -> int:
        return len(self._items)

    def idle(self) -> bool:
        """Nothing queued and the consumer waits in `get()`: it is doing nothing now."""
        return self.waiting > 0 and not self._items and not self.closed

    def full(self) -> bool:
        return self._rows >= self.capacity

    async def put(self, batch: Batch) -> None:
        """Queue a batch; waits while the queue is full unless the policy drops."""
        rows = batch.n
        if self._rows >= self.capacity:
            if self.policy == BLOCK:
                while self._rows >= self.capacity and not self.closed:
                    self._not_full.clear()
                    await self._not_full.wait()
            else:
                self._drop_oldest()
        if not self.closed:
            self._append(batch, rows)

    def close(self) -> None:
        """The consumer has gone (a rule left a shared source): release a waiting producer and
        discard what is queued and what comes."""
        self.closed = True
        self._items.clear()
        self._rows = 0
        self._not_full.set()

    def put_control(self, item: EndOfInput | Tick | ErrorMessage) -> None:
        self._append(item, 0)

    def _append(self, item: Any, rows: int) -> None:
        self._items.append((item, rows))
        self._rows += rows
        self._not_empty.set()

    def _drop_oldest(self) -> None:
        kept: deque[tuple[Any, int]] = deque()
        dropped = 0
        while self._items and self._rows >= self.capacity:
            item, rows = self._items.popleft()
            if rows == 0:
                kept.append((item, rows))
                continue
            self._rows -= rows
            dropped += rows
        kept.extend(self._items)
        self._items = kept
        if dropped and self.on_drop is not None:
            self.on_drop(dropped)

    async def get(self) -> Any:
        while not self._items:
            self._not_empty.clear()
            self.waiting += 1
            try:
                await self._not_empty.wait()
            finally:
                self.waiting -= 1
        item, rows = self._items.popleft()
        self._rows -= rows
        if self._rows < self.capacity:
            self._not_full.set()
        return item
