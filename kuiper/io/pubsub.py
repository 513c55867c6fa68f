"""The in-process topic bus behind the memory source and sink (MQTT-style + and # wildcards).

Every non-empty publish gets a sequence number (`seq`). Once a checkpointing memory source
asks for it (`retain()`), the bus keeps the last HISTORY_ROWS rows published, so a rule
restarted in this process replays what came after its checkpoint (`since`).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

#: rows of recent publishes kept for replay (once `retain()` was called)
HISTORY_ROWS = 10_000

Handler = Callable[[str, list[dict[str, Any]]], None]


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT matching: `+` is one level, `#` (last) is any number of levels."""
    if pattern == topic:
        return True
    p_parts, t_parts = pattern.split("/"), topic.split("/")
    for i, p in enumerate(p_parts):
        if p == "#":
            return i == len(p_parts) - 1
        if i >= len(t_parts) or (p != "+" and p != t_parts[i]):
            return False
    return len(p_parts) == len(t_parts)


class TopicBus:
    """Subscribers by topic pattern; publishing calls each matching handler synchronously."""

    def __init__(self) -> None:
        self._subs: dict[int, tuple[str, Handler]] = {}
        self._next = 0
        self.seq = 0  # the sequence number of the last non-empty publish
        self.keep_history = False
        self._history: deque[tuple[int, str, list[dict[str, Any]]]] = deque()
        self._history_rows = 0

    def retain(self) -> None:
        """Keep recent publishes from now on (a memory source that checkpoints)."""
        self.keep_history = True

    def since(self, pattern: str, seq: int) -> tuple[list[tuple[int, str, list[dict[str, Any]]]],
                                                      bool]:
        """The kept publishes after `seq` on topics matching `pattern`, and whether the
        history still reaches back to `seq` (False: some were dropped, or never kept)."""
        complete = seq >= self.seq or bool(self._history and self._history[0][0] <= seq + 1)
        return [e for e in self._history if e[0] > seq and topic_matches(pattern, e[1])], complete

    def subscribe(self, pattern: str, handler: Handler) -> int:
        self._next += 1
        self._subs[self._next] = (pattern, handler)
        return self._next

    def unsubscribe(self, token: int) -> None:
        self._subs.pop(token, None)

    def publish(self, topic: str, rows: list[dict[str, Any]]) -> int:
        """Deliver rows to every matching subscriber; how many subscribers got them."""
        if rows:
            self.seq += 1
            if self.keep_history:
                self._history.append((self.seq, topic, rows))
                self._history_rows += len(rows)
                while self._history_rows > HISTORY_ROWS and len(self._history) > 1:
                    self._history_rows -= len(self._history.popleft()[2])
        hits = 0
        for pattern, handler in list(self._subs.values()):
            if topic_matches(pattern, topic):
                handler(topic, rows)
                hits += 1
        return hits


BUS = TopicBus()
