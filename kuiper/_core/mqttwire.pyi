"""MQTT PUBLISH packets read from and written to byte buffers (see mqttwire.pyx)."""

END: int
PARTIAL: int
OTHER: int

class PublishReader:
    v5: bool
    max_partial: int
    def __init__(self, v5: bool = False, max_partial: int = 65536) -> None: ...
    def read(
        self, buf: bytes, pos: int
    ) -> tuple[int, int, list[str], list[bytes], list[int], list[int], bytes]: ...

def append_publish(out: bytearray, first_byte: int, topic_block: bytes, payload: bytes) -> int: ...
