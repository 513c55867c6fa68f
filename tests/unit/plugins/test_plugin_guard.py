"""The guard around plugin sources and sinks: plugin faults fail the rule, recoverable errors pass."""
from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from kuiper.api import Sink, Source
from kuiper.errors import ConfigError, ConnectorError, PluginError
from kuiper.plugins.guard import guard


class Ctx:
    def __init__(self) -> None:
        self.failures: list[Any] = []

    def fail_rule(self, error: Any) -> bool:
        self.failures.append(error)
        return True


class BadSink(Sink):
    def configure(self, conf: dict[str, Any]) -> None:
        if conf.get("bad"):
            raise KeyError("bad")
        if conf.get("invalid"):
            raise ConfigError("sink: 'invalid' is not allowed")

    def collect(self, ctx: Any, data: Any) -> None:
        if data == "down":
            raise ConnectorError("target unreachable")
        raise ZeroDivisionError("division by zero")


class AsyncSource(Source):
    async def open(self, ctx: Any) -> None:
        raise RuntimeError("loop broke")

    def pull(self, ctx: Any) -> Any:
        async def later() -> None:
            raise ValueError("late")

        return later()


WHERE = "sink plugin 'bad' (bad.py, symbol Bad)"


def test_sink_fault_fails_the_rule_and_names_the_plugin() -> None:
    sink = guard(BadSink(), "sinks", WHERE)
    assert isinstance(sink, BadSink) and not inspect.iscoroutinefunction(sink.collect)
    ctx = Ctx()
    with pytest.raises(PluginError, match=r"sink plugin 'bad' .* failed in collect: "
                                          r"ZeroDivisionError: division by zero"):
        sink.collect(ctx, {"a": 1})
    assert len(ctx.failures) == 1 and isinstance(ctx.failures[0], PluginError)
    with pytest.raises(ConnectorError):  # recoverable: counted by the node, the rule goes on
        sink.collect(ctx, "down")
    assert len(ctx.failures) == 1


def test_configure_errors_name_the_plugin() -> None:
    sink = guard(BadSink(), "sinks", WHERE)
    with pytest.raises(PluginError, match=r"failed in configure: KeyError"):
        sink.configure({"bad": True})
    with pytest.raises(ConfigError, match="'invalid'"):
        sink.configure({"invalid": True})


def test_async_methods_stay_async() -> None:
    src = guard(AsyncSource(), "sources", "source plugin 'a' (a.py, symbol A)")
    assert inspect.iscoroutinefunction(src.open)
    ctx = Ctx()
    with pytest.raises(PluginError, match="failed in open: RuntimeError: loop broke"):
        asyncio.run(src.open(ctx))

    async def pulled() -> None:
        await src.pull(ctx)

    with pytest.raises(PluginError, match="failed in pull: ValueError: late"):
        asyncio.run(pulled())
    assert len(ctx.failures) == 2


def test_guarded_once_and_without_a_rule() -> None:
    sink = BadSink()
    assert guard(guard(sink, "sinks", WHERE), "sinks", WHERE) is sink
    with pytest.raises(PluginError):
        sink.collect(object(), 1)  # a context without fail_rule: still raises, nothing else
