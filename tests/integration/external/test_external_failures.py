"""Failures: services down or dying, slow calls, bad descriptors, clashes; the process lives on."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ai_services import AI_PROTO, GrpcAI, HttpAI, MsgpackAI, ai_descriptor, free_port

from kuiper.api.batch import Column
from kuiper.errors import ConfigError
from kuiper.external.functions import ExternalRowErrors
from kuiper.external.manager import ServiceManager
from kuiper.external.schema import compile_proto
from kuiper.functions.registry import FunctionDef, FunctionRegistry

ROWS = Column.from_values([{"payload": [1.0, 2.0], "seq": i} for i in range(4)], "struct")


def fails(mgr: ServiceManager, name: str, col: Column = ROWS) -> ExternalRowErrors:
    with pytest.raises(ExternalRowErrors) as info:
        mgr.resolve(name).exec_batch([col], len(col), None)
    return info.value


def eventually_ok(mgr: ServiceManager, name: str, col: Column = ROWS, wait_s: float = 6.0) -> list:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return mgr.resolve(name).exec_batch([col], len(col), None).to_pylist()
        except ExternalRowErrors:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_service_down_at_start_then_up(make_manager: Callable[..., ServiceManager], loops,
                                       tmp_path: Path) -> None:
    gport, hport, mport = free_port(), free_port(), free_port()
    mgr = make_manager({"ai": ai_descriptor(gport, hport, mport)})
    for name in ("getFeature", "restFeature", "rpcFeature"):
        t0 = time.monotonic()
        err = fails(mgr, name, Column.from_values(
            [{"payload": [1.0], "device": "d", "seq": 1}] * 4, "struct"))
        assert time.monotonic() - t0 < 3.0
        assert err.failed.all() and err.partial.to_pylist() == [None] * 4
        assert "127.0.0.1" in str(err) and "(4 of 4 rows)" in str(err)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "ai.proto").write_text(AI_PROTO)
    g = GrpcAI(tmp_path / "p" / "ai.proto", gport).start()
    h = HttpAI(loops, hport).start()
    m = MsgpackAI(loops, mport).start()
    try:
        row = Column.from_values([{"payload": [3.0], "device": "d", "seq": 5}], "struct")
        assert eventually_ok(mgr, "getFeature", row)[0]["seq"] == 5
        assert eventually_ok(mgr, "restFeature", row)[0]["score"] == 3.0
        assert eventually_ok(mgr, "rpcFeature", row)[0]["seq"] == 5
    finally:
        g.stop()
        h.stop()
        m.stop()


def test_service_dying_mid_stream(make_manager: Callable[..., ServiceManager], loops,
                                  tmp_path: Path) -> None:
    (tmp_path / "ai.proto").write_text(AI_PROTO)
    g = GrpcAI(tmp_path / "ai.proto").start()
    m = MsgpackAI(loops).start()
    mgr = make_manager({"ai": ai_descriptor(g.port, free_port(), m.port)}, root=tmp_path / "r")
    assert len(eventually_ok(mgr, "getFeature")) == 4
    assert len(eventually_ok(mgr, "rpcFeature")) == 4
    g.stop()
    m.stop()
    assert "UNAVAILABLE" in str(fails(mgr, "getFeature"))
    assert "msgpack-rpc" in str(fails(mgr, "rpcFeature"))
    g2 = GrpcAI(tmp_path / "ai.proto", g.port).start()
    m2 = MsgpackAI(loops, m.port).start()
    try:
        assert len(eventually_ok(mgr, "getFeature")) == 4
        assert len(eventually_ok(mgr, "rpcFeature")) == 4
    finally:
        g2.stop()
        m2.stop()


@pytest.mark.parametrize("name", ["slow", "restSlow", "rpcSlow"])
def test_slow_service_beyond_timeout(make_manager: Callable[..., ServiceManager], servers,
                                     name: str) -> None:
    desc = ai_descriptor(servers["grpc"].port, servers["http"].port, servers["msgpack"].port,
                         {"timeout": "300ms"})
    mgr = make_manager({"ai": desc})
    seconds = Column.from_values([0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 2.0, 2.0])
    t0 = time.monotonic()
    with pytest.raises(ExternalRowErrors) as info:
        mgr.resolve(name).exec_batch([seconds], 8, None)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.5  # the slow rows wait together, not one after the other
    assert "timed out after 0.3s" in str(info.value)
    assert info.value.failed.tolist() == [False, True, False, True, True, False, True, True]
    assert info.value.partial.to_pylist()[0] == "done"


def test_retries_on_a_down_service(make_manager: Callable[..., ServiceManager]) -> None:
    desc = ai_descriptor(free_port(), free_port(), free_port(),
                         {"retryCount": 2, "retryInterval": "100ms", "timeout": 1000})
    mgr = make_manager({"ai": desc})
    t0 = time.monotonic()
    fails(mgr, "rpcFeature")
    assert time.monotonic() - t0 >= 0.2


def test_missing_schema_file_is_a_clear_load_error(make_manager, servers) -> None:
    bad = ai_descriptor(1, 2, 3)
    bad["interfaces"]["aigrpc"]["schemaFile"] = "nope.proto"
    good = {"interfaces": {"g": {"address": f"tcp://127.0.0.1:{servers['grpc'].port}",
                                 "protocol": "grpc", "schemaFile": "ai.proto",
                                 "functions": [{"name": "gf", "serviceName": "get_feature"},
                                               {"name": "gc", "serviceName": "classify"},
                                               {"name": "gp", "serviceName": "ping"},
                                               {"name": "gs", "serviceName": "slow"}]}}}
    mgr = make_manager({"bad": bad, "good": good})
    assert "schema file nope.proto not found" in mgr.load_errors["bad"]
    assert "interface aigrpc" in mgr.load_errors["bad"]
    assert mgr.list() == ["good"]
    assert mgr.resolve("gc").exec_batch([Column.from_values(["good"])], 1, None).to_pylist() == \
        ["positive"]


def test_proto_that_does_not_compile(tmp_path: Path) -> None:
    (tmp_path / "broken.proto").write_text('syntax = "proto3";\nmessage A { strin x = 1; }\n')
    with pytest.raises(ConfigError) as info:
        compile_proto(tmp_path / "broken.proto")
    text = str(info.value)
    assert "broken.proto does not compile" in text and "broken.proto:2" in text


def test_bad_descriptors(make_manager) -> None:
    desc = ai_descriptor(1, 2, 3)
    desc["interfaces"]["aigrpc"]["protocol"] = "soap"
    desc2 = ai_descriptor(1, 2, 3)
    desc2["interfaces"]["airpc"]["functions"].append({"name": "x", "serviceName": "missing_rpc"})
    desc3 = ai_descriptor(1, 2, 3)
    desc3["interfaces"]["airest"]["address"] = "tcp://127.0.0.1:1"
    mgr = make_manager({"a": desc, "b": desc2, "c": desc3})
    assert "unknown protocol 'soap'" in mgr.load_errors["a"]
    assert "missing_rpc, which schema ai.proto does not declare" in mgr.load_errors["b"]
    assert "a rest address must be http(s)://host:port" in mgr.load_errors["c"]


def test_name_clash_with_builtin_or_plugin_is_refused(make_manager) -> None:
    reg = FunctionRegistry()
    reg.register(FunctionDef("ping", 0, 0, lambda a, n, c: Column.nulls(n)))
    mgr = make_manager({"ai": ai_descriptor(1, 2, 3)}, registry=reg)
    assert "clashes with the built-in function ping" in mgr.load_errors["ai"]
    desc = ai_descriptor(1, 2, 3)
    desc["interfaces"]["aigrpc"]["functions"].append({"name": "aiPing", "serviceName": "ping"})
    reg2 = FunctionRegistry()
    reg2.add_resolver(lambda name: FunctionDef(name, 0, 0, lambda a, n, c: Column.nulls(n))
                      if name == "getFeature" else None)
    mgr2 = make_manager({"ai2": desc}, registry=reg2, root=mgr.root / "other")
    assert "function getFeature clashes with an installed plugin function" in \
        mgr2.load_errors["ai2"]
    assert mgr.list() == [] and mgr2.list() == []
