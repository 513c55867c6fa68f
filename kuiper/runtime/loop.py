"""The event loop kuiper runs on: uvloop when it is installed, asyncio's own otherwise."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory for new event loops: uvloop's if importable, else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def uses_uvloop() -> bool:
    return loop_factory() is not asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], *, debug: bool = False) -> T:
    """Run `main` to completion on a fresh loop from `loop_factory()`."""
    with asyncio.Runner(loop_factory=loop_factory(), debug=debug) as runner:
        return runner.run(main)
