"""The service layer: install from a zip or a descriptor, update, delete, describe; and mapping."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from ai_services import AI_PROTO, ai_descriptor

from kuiper.api.batch import Column
from kuiper.errors import ConfigError, ConflictError, NotFoundError
from kuiper.external.manager import ServiceManager
from kuiper.external.mapping import MappingError, assign_fields, to_message, to_value
from kuiper.external.rest_client import build_request
from kuiper.external.schema import compile_proto
from kuiper.external.service import parse_duration
from kuiper.functions.registry import FunctionRegistry

GRPC_ONLY = {"about": {"description": {"en_US": "one grpc interface"}},
             "interfaces": {"tiny": {"address": "tcp://127.0.0.1:1", "protocol": "grpc",
                                     "schemaType": "protobuf", "schemaFile": "tiny.proto"}}}
TINY_PROTO = ('syntax = "proto3";\npackage tiny;\nservice T { rpc hello(Name) returns (Name) {} }\n'
              'message Name { string name = 1; }\n')


def make_zip(path: Path, name: str, descriptor: dict, schemas: dict[str, str],
             extra: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}.json", json.dumps(descriptor))
        for rel, text in schemas.items():
            zf.writestr(f"schemas/{rel}", text)
        for rel, text in (extra or {}).items():
            zf.writestr(rel, text)
    return path


def test_install_zip_list_get_update_delete(tmp_path: Path) -> None:
    mgr = ServiceManager(tmp_path / "root", FunctionRegistry())
    try:
        assert mgr.load_all() == []
        evil = make_zip(tmp_path / "evil.zip", "tiny", GRPC_ONLY, {"tiny.proto": TINY_PROTO},
                        {"../../evil.txt": "x"})
        with pytest.raises(ConfigError, match="unsafe path"):
            mgr.create("tiny", file=evil)
        z = make_zip(tmp_path / "tiny.zip", "tiny", GRPC_ONLY, {"tiny.proto": TINY_PROTO},
                     {"other/file.txt": "y"})
        mgr.create("tiny", file=f"file://{z}")
        assert mgr.list() == ["tiny"]
        assert (tmp_path / "root/etc/services/schemas/tiny.proto").is_file()
        assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "root/etc/other").exists()
        info = mgr.get("tiny")
        assert info["Interfaces"]["tiny"]["Functions"] == ["hello"]
        assert info["Interfaces"]["tiny"]["Protocol"] == "grpc"
        assert mgr.resolve("hello") is not None
        with pytest.raises(ConflictError, match="already exists"):
            mgr.create("tiny", file=z)
        # an invalid update leaves the old service in place
        bad = json.loads(json.dumps(GRPC_ONLY))
        bad["interfaces"]["tiny"]["schemaFile"] = "gone.proto"
        with pytest.raises(ConfigError, match="gone.proto not found"):
            mgr.update("tiny", descriptor=bad)
        assert mgr.resolve("hello") is not None
        renamed = json.loads(json.dumps(GRPC_ONLY))
        renamed["interfaces"]["tiny"]["functions"] = [{"name": "greet", "serviceName": "hello"}]
        mgr.update("tiny", descriptor=renamed)
        assert mgr.resolve("hello") is None and mgr.resolve("greet") is not None
        assert [f["Name"] for f in mgr.list_functions()] == ["greet"]
        # a fresh manager finds the installed service on disk
        other = ServiceManager(tmp_path / "root", FunctionRegistry())
        assert other.load_all() == ["tiny"]
        other.close()
        mgr.delete("tiny")
        assert mgr.list() == [] and mgr.resolve("greet") is None
        assert not (tmp_path / "root/etc/services/tiny.json").exists()
        with pytest.raises(NotFoundError):
            mgr.delete("tiny")
        with pytest.raises(NotFoundError):
            mgr.get("tiny")
    finally:
        mgr.close()


def test_zip_without_descriptor_and_bad_proto_are_refused(tmp_path: Path) -> None:
    mgr = ServiceManager(tmp_path / "root", FunctionRegistry())
    try:
        z = make_zip(tmp_path / "a.zip", "other", GRPC_ONLY, {"tiny.proto": TINY_PROTO})
        with pytest.raises(ConfigError, match="no descriptor tiny.json"):
            mgr.create("tiny", file=z)
        z2 = make_zip(tmp_path / "b.zip", "tiny", GRPC_ONLY, {"tiny.proto": "syntax = nope"})
        with pytest.raises(ConfigError, match="does not compile"):
            mgr.create("tiny", file=z2)
        assert mgr.list() == []
        assert not (tmp_path / "root/etc/services/tiny.json").exists()
        assert not (tmp_path / "root/etc/services/schemas/tiny.proto").exists()
    finally:
        mgr.close()


def test_service_clash_between_services(tmp_path: Path) -> None:
    mgr = ServiceManager(tmp_path / "root", FunctionRegistry())
    try:
        schemas = tmp_path / "root/etc/services/schemas"
        schemas.mkdir(parents=True)
        (schemas / "tiny.proto").write_text(TINY_PROTO)
        mgr.create("one", descriptor=GRPC_ONLY)
        with pytest.raises(ConflictError, match="already defined by service one"):
            mgr.create("two", descriptor=GRPC_ONLY)
    finally:
        mgr.close()


def test_durations() -> None:
    assert parse_duration(1500, "t") == 1.5
    assert parse_duration("250ms", "t") == 0.25
    assert parse_duration("1m30s", "t") == 90.0
    with pytest.raises(ConfigError):
        parse_duration("soon", "t")


@pytest.fixture(scope="module")
def ai_schema(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("schema")
    (d / "ai.proto").write_text(AI_PROTO)
    return compile_proto(d / "ai.proto")


def test_mapping_rules(ai_schema) -> None:
    m = ai_schema.methods["get_feature"]
    assert assign_fields(m.input, []) if not m.input.fields else True
    with pytest.raises(MappingError, match="got 2"):
        assign_fields(m.input, [1, 2])
    msg = to_message(m.input_cls, m.input, [{"payload": [1, 2], "seq": 4.0, "device": b"x"}])
    assert list(msg.payload) == [1.0, 2.0] and msg.seq == 4 and msg.device == "x"
    with pytest.raises(MappingError, match="field seq: cannot use float"):
        to_message(m.input_cls, m.input, [[1.0], "d", 1.5])
    reply = m.output_cls(vector=[1.0], label="x", score=2.0, seq=2**62)
    assert to_value(reply) == {"vector": [1.0], "label": "x", "score": 2.0, "seq": 2**62}
    ping = ai_schema.methods["ping"]
    assert to_value(to_message(ping.input_cls, ping.input, [])) == {}


def test_rest_request_without_http_option(ai_schema) -> None:
    req = build_request(ai_schema.methods["get_feature"], [[1.5], "d", 2**40])
    assert (req.verb, req.path) == ("POST", "/get_feature")
    assert json.loads(req.body) == {"payload": [1.5], "device": "d", "seq": str(2**40)}


def test_descriptor_in_the_ai_fixture_is_valid(tmp_path: Path) -> None:
    from ai_services import write_root

    root = write_root(tmp_path, {"ai": ai_descriptor(1, 2, 3)})
    mgr = ServiceManager(root, FunctionRegistry())
    try:
        assert mgr.load_all() == ["ai"] and not mgr.load_errors
        col = mgr.resolve("classify").exec_batch([Column.from_values([])], 0, None)
        assert len(col) == 0
    finally:
        mgr.close()
