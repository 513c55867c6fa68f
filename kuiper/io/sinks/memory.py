"""The memory sink: publishes each result message's rows to an in-process topic."""
from __future__ import annotations

from typing import Any

from kuiper.api import Context, Sink
from kuiper.errors import ConfigError
from kuiper.io.pubsub import BUS
from kuiper.runtime.registry import register_sink


@register_sink("memory")
class MemorySink(Sink):
    """Property `topic` (required); memory sources subscribed to a matching pattern get the rows."""

    def __init__(self) -> None:
        self.topic = ""

    def configure(self, conf: dict[str, Any]) -> None:
        topic = conf.get("topic")
        if not topic or not isinstance(topic, str):
            raise ConfigError("memory sink needs a 'topic'", hint='{"memory": {"topic": "a/b"}}')
        if "+" in topic or "#" in topic:
            raise ConfigError(f"memory sink topic '{topic}' must not hold wildcards")
        self.topic = topic

    def collect(self, ctx: Context, data: Any) -> None:
        if isinstance(data, dict):
            BUS.publish(self.topic, [data])
        elif isinstance(data, list):
            BUS.publish(self.topic, [r for r in data if isinstance(r, dict)])
