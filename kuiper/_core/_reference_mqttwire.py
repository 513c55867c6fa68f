"""Pure-Python twin of kuiper._core.mqttwire, same signatures: the oracle for tests."""
from __future__ import annotations

END, PARTIAL, OTHER = 0, 1, 2


def _varint(buf: bytes, i: int, end: int) -> tuple[int, int]:
    """(value, bytes used); (0, 0) when more bytes are needed; (0, -1) past 4 bytes."""
    value = shift = used = 0
    while True:
        if i + used >= end:
            return 0, 0
        if used == 4:
            return 0, -1
        b = buf[i + used]
        value |= (b & 0x7F) << shift
        shift += 7
        used += 1
        if not b & 0x80:
            return value, used


class PublishReader:
    """Twin of kuiper._core.mqttwire.PublishReader."""

    def __init__(self, v5: bool = False, max_partial: int = 65536) -> None:
        self.v5 = v5
        self.max_partial = max_partial

    def read(
        self, buf: bytes, pos: int
    ) -> tuple[int, int, list[str], list[bytes], list[int], list[int], bytes]:
        if not 0 <= pos <= len(buf):
            raise ValueError("pos outside the buffer")
        topics: list[str] = []
        payloads: list[bytes] = []
        qoss: list[int] = []
        mids: list[int] = []
        acks = bytearray()
        end, status = len(buf), END
        while pos < end:
            first = buf[pos]
            qos = (first >> 1) & 3
            if first & 0xF0 != 0x30:
                status = OTHER
                break
            remaining, nb = _varint(buf, pos + 1, end)
            if nb <= 0:
                status = OTHER if nb < 0 else PARTIAL
                break
            body, stop = pos + 1 + nb, pos + 1 + nb + remaining
            if stop > end:
                status = PARTIAL if 1 + nb + remaining <= self.max_partial else OTHER
                break
            if qos > 1 or remaining < 2:
                status = OTHER
                break
            tlen = int.from_bytes(buf[body:body + 2], "big")
            body += 2
            if body + tlen + (2 if qos else 0) > stop:
                status = OTHER
                break
            try:
                topic = buf[body:body + tlen].decode("utf-8")
            except UnicodeDecodeError:
                status = OTHER
                break
            body += tlen
            mid = 0
            if qos:
                mid = int.from_bytes(buf[body:body + 2], "big")
                body += 2
            if self.v5:
                plen, nb = _varint(buf, body, stop)
                if nb <= 0 or plen:
                    status = OTHER
                    break
                body += nb
            topics.append(topic)
            payloads.append(buf[body:stop])
            qoss.append(qos)
            mids.append(mid)
            if qos:
                acks += bytes((0x40, 2)) + mid.to_bytes(2, "big")
            pos = stop
        return pos, status, topics, payloads, qoss, mids, bytes(acks)


def append_publish(out: bytearray, first_byte: int, topic_block: bytes, payload: bytes) -> int:
    remaining = len(topic_block) + len(payload)
    if remaining > 268435455:
        raise ValueError("an MQTT packet holds at most 256 MiB")
    head = bytearray((first_byte,))
    v = remaining
    while True:
        b = v & 0x7F
        v >>= 7
        head.append(b | 0x80 if v else b)
        if not v:
            break
    out += head + topic_block + payload
    return len(head) + remaining
