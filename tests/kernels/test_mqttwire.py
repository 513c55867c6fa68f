"""mqttwire (PUBLISH packets over byte buffers) against its twin in _reference_mqttwire."""
from __future__ import annotations

import random

import pytest

from kuiper._core import _reference_mqttwire as ref

mqttwire = pytest.importorskip("kuiper._core.mqttwire")

RNG = random.Random(7)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def publish(topic: bytes, payload: bytes, qos: int = 0, mid: int = 0, v5: bool = False,
            props: bytes = b"", retain: bool = False) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    if v5:
        body += _varint(len(props)) + props
    body += payload
    return bytes((0x30 | qos << 1 | retain,)) + _varint(len(body)) + body


def random_stream(v5: bool, n: int = 60) -> bytes:
    parts = []
    for i in range(n):
        r = RNG.random()
        if r < 0.08:
            parts.append(b"\x40\x02" + i.to_bytes(2, "big"))  # PUBACK: for paho
        elif r < 0.12:
            parts.append(b"\xd0\x00")  # PINGRESP
        else:
            qos = RNG.choice((0, 0, 1, 2))
            topic = RNG.choice((b"a/b", b"a/b", "d/é".encode(), b"x" * 300))
            props = b"\x26\x00\x01k\x00\x01v" if v5 and RNG.random() < 0.1 else b""
            size = RNG.choice((0, 5, 100, 200, 20000))
            parts.append(publish(topic, RNG.randbytes(size), qos, RNG.randrange(1, 65536),
                                 v5, props, retain=RNG.random() < 0.1))
    return b"".join(parts)


def read_all(reader, buf: bytes) -> list:
    """Everything the reader hands out, skipping each non-fast packet the way the client does."""
    out, pos = [], 0
    while pos < len(buf):
        pos, status, *rest = reader.read(buf, pos)
        out.append((pos, status, *rest))
        if status != mqttwire.OTHER:
            break
        rl, nb = ref._varint(buf, pos + 1, len(buf))
        pos += 1 + nb + rl
    return out


@pytest.mark.parametrize("v5", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_reader_matches_reference_on_random_streams(v5: bool, seed: int) -> None:
    RNG.seed(seed)
    buf = random_stream(v5)
    got = read_all(mqttwire.PublishReader(v5, 65536), buf)
    want = read_all(ref.PublishReader(v5, 65536), buf)
    assert got == want
    assert sum(len(g[2]) for g in got) > 20


@pytest.mark.parametrize("v5", [False, True])
def test_every_truncation_is_partial_or_other(v5: bool) -> None:
    buf = publish(b"t/1", b"x" * 50, 1, 7, v5) + publish(b"t/2", b"y" * 3, 0, 0, v5)
    for cut in range(len(buf) + 1):
        got = mqttwire.PublishReader(v5, 65536).read(buf[:cut], 0)
        assert got == ref.PublishReader(v5, 65536).read(buf[:cut], 0)
        assert got[1] in (mqttwire.END, mqttwire.PARTIAL)
    whole = mqttwire.PublishReader(v5).read(buf, 0)
    assert whole[:2] == (len(buf), mqttwire.END)
    assert whole[2:6] == (["t/1", "t/2"], [b"x" * 50, b"y" * 3], [1, 0], [7, 0])
    assert whole[6] == b"\x40\x02\x00\x07"  # the PUBACK of the QoS 1 message


def test_packets_for_paho() -> None:
    reader = mqttwire.PublishReader(False, 1000)
    cases = [
        publish(b"t", b"p", qos=2, mid=3),  # QoS 2: paho's state machine
        publish(b"\xff\xfe", b"p"),  # topic not UTF-8
        publish(b"t", b"p" * 2000)[:1500],  # larger than max_partial and incomplete
        b"\x30\xff\xff\xff\xff\x01",  # remaining length longer than 4 bytes
        b"\x30\x01\x00",  # too short for a topic length
        b"\x30\x03\x00\x05a",  # topic longer than the packet
        b"\x20\x02\x00\x00",  # CONNACK
    ]
    for buf in cases:
        assert reader.read(buf, 0)[:2] == (0, mqttwire.OTHER), buf
        assert ref.PublishReader(False, 1000).read(buf, 0)[:2] == (0, mqttwire.OTHER)
    v5 = mqttwire.PublishReader(True)
    assert v5.read(publish(b"t", b"p", v5=True, props=b"\x23\x00\x01"), 0)[1] == mqttwire.OTHER
    with pytest.raises(ValueError):
        reader.read(b"", 1)


def test_repeated_topics_share_one_string() -> None:
    buf = b"".join(publish(b"same/topic", bytes([i])) for i in range(5))
    topics = mqttwire.PublishReader().read(buf, 0)[2]
    assert len({id(t) for t in topics}) == 1


@pytest.mark.parametrize("size", [0, 1, 127 - 5, 128, 16383, 16384, 2_097_152])
@pytest.mark.parametrize("v5", [False, True])
def test_append_publish_round_trips(size: int, v5: bool) -> None:
    block = 3 .to_bytes(2, "big") + b"o/1" + (b"\x00" if v5 else b"")
    payload = RNG.randbytes(size)
    out, want = bytearray(b"prefix"), bytearray(b"prefix")
    n = mqttwire.append_publish(out, 0x31, block, payload)
    ref.append_publish(want, 0x31, block, payload)
    assert out == want and n == len(out) - 6
    assert bytes(out[6:]) == publish(b"o/1", payload, v5=v5, retain=True)
    got = mqttwire.PublishReader(v5, 1 << 30).read(bytes(out), 6)
    assert got[:4] == (len(out), mqttwire.END, ["o/1"], [payload])
