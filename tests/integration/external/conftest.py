"""Fixtures for the external-function tests: the AI servers and service managers on tmp roots."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("grpc")
pytest.importorskip("grpc_tools")
pytest.importorskip("msgpack")

from ai_services import AI_PROTO, GrpcAI, HttpAI, LoopThread, MsgpackAI, ai_descriptor, write_root  # noqa: E402

from kuiper.external.functions import CALL_LOOP  # noqa: E402
from kuiper.external.manager import ServiceManager  # noqa: E402
from kuiper.functions.registry import FunctionRegistry  # noqa: E402


@pytest.fixture(scope="session")
def loops() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory, loops: LoopThread) -> Iterator[dict[str, Any]]:
    proto_dir = tmp_path_factory.mktemp("proto")
    (proto_dir / "ai.proto").write_text(AI_PROTO)
    g = GrpcAI(proto_dir / "ai.proto").start()
    h = HttpAI(loops).start()
    m = MsgpackAI(loops).start()
    yield {"grpc": g, "http": h, "msgpack": m}
    g.stop()
    h.stop()
    m.stop()


@pytest.fixture
def make_manager(tmp_path: Path) -> Iterator[Callable[..., ServiceManager]]:
    made: list[ServiceManager] = []

    def make(services: dict[str, dict[str, Any]], registry: FunctionRegistry | None = None,
             root: Path | None = None) -> ServiceManager:
        r = write_root(root or tmp_path, services)
        mgr = ServiceManager(r, registry or FunctionRegistry())
        mgr.load_all()
        made.append(mgr)
        return mgr

    yield make
    for mgr in made:
        mgr.close()


@pytest.fixture
def ai(servers: dict[str, Any], make_manager: Callable[..., ServiceManager]) -> ServiceManager:
    desc = ai_descriptor(servers["grpc"].port, servers["http"].port, servers["msgpack"].port)
    return make_manager({"ai": desc})


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    CALL_LOOP.stop()
