"""The in-process topic bus behind the memory source and sink (MQTT-style + and # wildcards)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

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

    def subscribe(self, pattern: str, handler: Handler) -> int:
        self._next += 1
        self._subs[self._next] = (pattern, handler)
        return self._next

    def unsubscribe(self, token: int) -> None:
        self._subs.pop(token, None)

    def publish(self, topic: str, rows: list[dict[str, Any]]) -> int:
        """Deliver rows to every matching subscriber; how many subscribers got them."""
        hits = 0
        for pattern, handler in list(self._subs.values()):
            if topic_matches(pattern, topic):
                handler(topic, rows)
                hits += 1
        return hits


BUS = TopicBus()
