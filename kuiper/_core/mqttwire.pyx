# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""MQTT PUBLISH packets read from and written to byte buffers, a whole socket read at a time.

API
---
``PublishReader(v5, max_partial)``, method ``read(buf, pos)``
    Consumes the consecutive PUBLISH packets at ``buf[pos:]`` (``buf`` is ``bytes``) that are
    QoS 0 or 1 and, with MQTT v5 (``v5=True``), carry no properties. Returns
    ``(pos, status, topics, payloads, qos, mids, acks)``:

    - ``pos``: the offset after the last consumed packet;
    - ``status``: ``END`` (everything consumed), ``PARTIAL`` (``buf[pos:]`` is the start of
      a packet of at most ``max_partial`` bytes: read more and call again with it prepended)
      or ``OTHER`` (the packet at ``pos`` is for the general MQTT client: another packet
      type, QoS 2, v5 properties, a topic that is not UTF-8, a malformed or a large packet);
    - ``topics`` (``str``, the same object for consecutive equal topics), ``payloads``
      (``bytes``), ``qos`` and ``mids`` (``int``, 0 at QoS 0): one entry per packet;
    - ``acks``: the PUBACK packets the QoS 1 messages call for, in order (``b""`` if none).

``append_publish(out, first_byte, topic_block, payload)``
    Appends one PUBLISH packet to the bytearray ``out``: ``first_byte`` (``0x30 | retain``
    at QoS 0), the remaining length, ``topic_block`` (the 2-byte length and the UTF-8
    topic, plus the packet id and property length as the protocol and QoS need) and
    ``payload``. Returns the bytes appended.

Packet layout (MQTT 3.1.1 §3.3, 5.0 §3.3): ``0x3F & (type 3 << 4 | dup << 3 | qos << 1 |
retain)``, remaining length (1-4 bytes, 7 bits each, little end first), topic length (u16 big
endian), topic, packet id (u16, QoS > 0 only), v5 property length (varint) and properties,
payload (the rest).
"""
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_Append
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcmp, memcpy

END, PARTIAL, OTHER = 0, 1, 2

ctypedef unsigned char uchar

cdef enum:
    ST_END = 0
    ST_PARTIAL = 1
    ST_OTHER = 2


cdef inline int read_varint(const uchar* p, const uchar* end, Py_ssize_t* value,
                            int* nbytes) noexcept nogil:
    """1 with the value, 0 when more bytes are needed, -1 when longer than 4 bytes."""
    cdef Py_ssize_t v = 0
    cdef int shift = 0, i = 0
    cdef uchar b
    while True:
        if p + i >= end:
            return 0
        if i == 4:
            return -1
        b = p[i]
        v |= <Py_ssize_t>(b & 0x7F) << shift
        shift += 7
        i += 1
        if not (b & 0x80):
            value[0] = v
            nbytes[0] = i
            return 1


cdef class PublishReader:
    """Parses runs of PUBLISH packets; keeps the last topic so repeated topics decode once."""

    cdef readonly bint v5
    cdef readonly Py_ssize_t max_partial
    cdef bytes _topic_raw
    cdef str _topic

    def __init__(self, bint v5=False, Py_ssize_t max_partial=65536) -> None:
        self.v5 = v5
        self.max_partial = max_partial
        self._topic_raw = b""
        self._topic = ""

    cdef str _topic_of(self, const uchar* p, Py_ssize_t n):
        cdef bytes raw = self._topic_raw
        if PyBytes_GET_SIZE(raw) == n and memcmp(PyBytes_AS_STRING(raw), p, n) == 0:
            return self._topic
        try:
            topic = PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
        except UnicodeDecodeError:
            return None
        self._topic_raw = PyBytes_FromStringAndSize(<const char*>p, n)
        self._topic = topic
        return topic

    def read(self, bytes buf, Py_ssize_t pos):
        cdef const uchar* base = <const uchar*>PyBytes_AS_STRING(buf)
        cdef const uchar* end = base + PyBytes_GET_SIZE(buf)
        cdef const uchar* p
        cdef const uchar* body
        cdef const uchar* stop
        cdef Py_ssize_t remaining, tlen, plen
        cdef int nb, r, qos, mid, status = ST_END
        cdef uchar first
        cdef list topics = [], payloads = [], qoss = [], mids = []
        cdef bytearray acks = bytearray()
        cdef str topic
        cdef uchar ack[4]
        if pos < 0 or pos > PyBytes_GET_SIZE(buf):
            raise ValueError("pos outside the buffer")
        p = base + pos
        while p < end:
            first = p[0]
            if (first & 0xF0) != 0x30:
                status = ST_OTHER
                break
            qos = (first >> 1) & 3
            r = read_varint(p + 1, end, &remaining, &nb)
            if r < 0:
                status = ST_OTHER
                break
            if r == 0:
                status = ST_PARTIAL
                break
            body = p + 1 + nb
            stop = body + remaining
            if stop > end:
                status = ST_PARTIAL if 1 + nb + remaining <= self.max_partial else ST_OTHER
                break
            if qos > 1 or remaining < 2:
                status = ST_OTHER
                break
            tlen = (<Py_ssize_t>body[0] << 8) | body[1]
            body += 2
            if body + tlen + (2 if qos else 0) > stop:
                status = ST_OTHER
                break
            topic = self._topic_of(body, tlen)
            if topic is None:
                status = ST_OTHER
                break
            body += tlen
            mid = 0
            if qos:
                mid = (<int>body[0] << 8) | body[1]
                body += 2
            if self.v5:
                r = read_varint(body, stop, &plen, &nb)
                if r != 1 or plen != 0:
                    status = ST_OTHER
                    break
                body += nb
            PyList_Append(topics, topic)
            PyList_Append(payloads, PyBytes_FromStringAndSize(<const char*>body, stop - body))
            PyList_Append(qoss, qos)
            PyList_Append(mids, mid)
            if qos:
                ack[0] = 0x40
                ack[1] = 2
                ack[2] = <uchar>(mid >> 8)
                ack[3] = <uchar>(mid & 0xFF)
                acks += (<char*>ack)[:4]
            p = stop
        return (p - base, status, topics, payloads, qoss, mids, bytes(acks))


def append_publish(bytearray out, int first_byte, bytes topic_block, bytes payload):
    cdef Py_ssize_t tl = PyBytes_GET_SIZE(topic_block), pl = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t remaining = tl + pl, size = PyByteArray_GET_SIZE(out)
    cdef uchar head[5]
    cdef int nh = 1
    cdef Py_ssize_t v = remaining
    cdef char* dst
    if remaining > 268435455:
        raise ValueError("an MQTT packet holds at most 256 MiB")
    head[0] = <uchar>first_byte
    while True:
        head[nh] = <uchar>(v & 0x7F)
        v >>= 7
        if v:
            head[nh] |= 0x80
            nh += 1
        else:
            nh += 1
            break
    PyByteArray_Resize(out, size + nh + remaining)
    dst = PyByteArray_AS_STRING(out) + size
    memcpy(dst, head, nh)
    memcpy(dst + nh, PyBytes_AS_STRING(topic_block), tl)
    memcpy(dst + nh + tl, PyBytes_AS_STRING(payload), pl)
    return nh + remaining
