"""The binary, delimited and protobuf formats: decoders/encoders, and end to end over MQTT."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from mqtt_helpers import Collector, Publisher, run_rule_until, write_root

from kuiper.catalog.defs import FieldDef, StreamDef
from kuiper.errors import ConfigError
from kuiper.io.formats.binary import BinaryDecoder, BinaryEncoder
from kuiper.io.formats.delimited import DelimitedDecoder, DelimitedEncoder
from kuiper.io.formats.protobuf import ProtobufDecoder, ProtobufEncoder, message_class

BOOK = """syntax = "proto3";
message Book {
  string title = 1;
  int32 price = 2;
  repeated string tags = 3;
  Author author = 4;
}
message Author { string name = 1; }
"""


@pytest.fixture
def proto_root(tmp_path: Path) -> Path:
    folder = tmp_path / "etc" / "schemas" / "protobuf"
    folder.mkdir(parents=True)
    (folder / "proto1.proto").write_text(BOOK)
    return tmp_path


def test_binary_decoder_and_encoder() -> None:
    dec = BinaryDecoder(StreamDef("b", (), {"FORMAT": "binary"}))
    batch, errors = dec.decode_payloads([b"\x00\x01", b"abc"])
    assert not errors and batch.columns["self"].to_pylist() == [b"\x00\x01", b"abc"]
    enc = BinaryEncoder({})
    assert enc.encode({"self": b"\xff"}) == b"\xff"
    assert enc.encode([{"img": b"\x01"}]) == b"\x01"
    with pytest.raises(ValueError, match="one bytea"):
        enc.encode({"a": 1, "b": 2})
    with pytest.raises(ConfigError):
        BinaryDecoder(StreamDef("b", (FieldDef("x", "bigint"),), {"FORMAT": "binary"}))


def test_delimited_decoder_with_schema_and_schemaless() -> None:
    typed = StreamDef("d", (FieldDef("id", "bigint"), FieldDef("name", "string"),
                            FieldDef("t", "float")), {"FORMAT": "delimited", "DELIMITER": "|"})
    batch, errors = DelimitedDecoder(typed).decode_payloads([b"1|a|2.5", b"x|b|1", b"3|c|4\n"])
    assert batch.to_rows() == [{"id": 1, "name": "a", "t": 2.5}, {"id": 3, "name": "c", "t": 4.0}]
    assert errors and errors[0][0] == 2
    loose = StreamDef("d", (), {"FORMAT": "delimited"})
    batch, _ = DelimitedDecoder(loose).decode_lines(b"1,2\n3,4\n")
    assert batch.to_rows() == [{"col0": "1", "col1": "2"}, {"col0": "3", "col1": "4"}]
    enc = DelimitedEncoder({"delimiter": ";", "hasHeader": True})
    assert enc.encode([{"b": 2.0, "a": "x"}, {"a": "y", "b": None}]) == b"a;b\nx;2\ny;"


def test_protobuf_round_trip(proto_root: Path) -> None:
    cls = message_class(str(proto_root), "proto1.Book")
    payload = cls(title="streaming", price=123, tags=["a", "b"],
                  author={"name": "n"}).SerializeToString()
    dec = ProtobufDecoder(StreamDef("p", (), {"FORMAT": "protobuf", "SCHEMAID": "proto1.Book"}))
    dec.bind_root(str(proto_root))
    batch, errors = dec.decode_payloads([payload, b"\xff\xff"])
    assert batch.to_rows() == [{"title": "streaming", "price": 123, "tags": ["a", "b"],
                                "author": {"name": "n"}}]
    assert errors and errors[0][0] == 2
    enc = ProtobufEncoder({"schemaId": "proto1.Book"})
    enc.bind_root(str(proto_root))
    assert cls.FromString(enc.encode({"title": "t", "price": 5.0, "extra": 1})).price == 5
    with pytest.raises(ConfigError, match="no message"):
        message_class(str(proto_root), "proto1.Nope")
    with pytest.raises(ConfigError, match="not found"):
        message_class(str(proto_root), "proto9.Book")


def test_formats_end_to_end_over_mqtt(proto_root: Path, broker_port: int) -> None:
    """protobuf in -> delimited out, binary in -> binary out, delimited in -> protobuf out."""
    base = f"kq/fmt/{uuid.uuid4().hex[:8]}"
    server = f"tcp://127.0.0.1:{broker_port}"
    streams = (
        f'CREATE STREAM books () WITH (DATASOURCE="{base}/pb", FORMAT="protobuf", '
        'SCHEMAID="proto1.Book");\n'
        f'CREATE STREAM blobs () WITH (DATASOURCE="{base}/bin", FORMAT="binary");\n'
        f'CREATE STREAM rows (title string, price bigint) WITH (DATASOURCE="{base}/csv", '
        'FORMAT="delimited", DELIMITER=":");\n')

    def act(topic: str, **extra: object) -> dict:
        return {"mqtt": {"server": server, "topic": f"{base}/out/{topic}", "qos": 1,
                         "sendSingle": True, **extra}}

    rules = [
        {"id": "pb", "sql": "SELECT title, price FROM books",
         "actions": [act("pb", format="delimited", fields=["title", "price"])]},
        {"id": "bin", "sql": "SELECT self FROM blobs", "actions": [act("bin", format="binary")]},
        {"id": "csv", "sql": "SELECT title, price * 2 AS price FROM rows",
         "actions": [act("csv", format="protobuf", schemaId="proto1.Book")]},
    ]
    paths = write_root(proto_root, {"default": {"server": server, "qos": 1}}, streams, rules)  # type: ignore[arg-type]
    cls = message_class(str(proto_root), "proto1.Book")
    col = Collector(broker_port, [f"{base}/out/#"])
    pub = Publisher(broker_port)
    outs = {}

    def script() -> None:
        pb = cls(title="t1", price=7).SerializeToString()
        deadline = time.monotonic() + 15
        while len({t for t, _, _ in col.messages}) < 3:  # until all three rules subscribed
            assert time.monotonic() < deadline, f"outputs so far: {col.messages}"
            pub.send(f"{base}/pb", [pb], raw=True)
            pub.send(f"{base}/bin", [b"\x00\x01\x02"], raw=True)
            pub.send(f"{base}/csv", [b"t3:21"], raw=True)
            time.sleep(0.05)
        for t, p, _ in col.messages:
            outs[t.rsplit("/", 1)[1]] = p

    run_rule_until(paths, proto_root, script)
    col.close()
    pub.close()
    assert outs["pb"] == b"t1,7"
    assert outs["bin"] == b"\x00\x01\x02"
    book = cls.FromString(outs["csv"])
    assert (book.title, book.price) == ("t3", 42)
