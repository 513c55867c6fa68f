"""Resource limits of a rule's input: oversized messages are taken out before decoding.

The limits are rule options (`maxMessageSize`, `maxJsonDepth`, `maxWindowRows`; see
docs/limits.md). A refused message or row is counted like any bad input (exceptions_total,
last_exception; an error row with sendError), and the rule goes on.
"""
from __future__ import annotations


def size_error(size: int, limit: int) -> str:
    return (f"message of {size} bytes exceeds maxMessageSize ({limit} bytes); "
            "raise the rule option maxMessageSize or send smaller messages")


def oversized(payloads: list[bytes], limit: int) -> list[int]:
    """Indexes of the payloads longer than `limit` bytes (one C-level pass when none is)."""
    if not payloads or max(map(len, payloads)) <= limit:
        return []
    return [i for i, p in enumerate(payloads) if len(p) > limit]


def blank_long_lines(chunk: bytes, limit: int) -> tuple[bytes, list[tuple[int, int]]]:
    """The chunk with every line longer than `limit` bytes emptied (blank lines are skipped
    by the decoders, so line numbers stay), and the (0-based line, size) of each."""
    if len(chunk) <= limit:
        return chunk, []
    lines = chunk.split(b"\n")
    long = [(i, len(line)) for i, line in enumerate(lines) if len(line) > limit]
    if not long:
        return chunk, []
    for i, _size in long:
        lines[i] = b""
    return b"\n".join(lines), long


def window_rows_error(held: int, refused: int, limit: int) -> str:
    return (f"window holds {held} rows: {refused} more would exceed maxWindowRows ({limit}) "
            "and are dropped; use a shorter window, filter earlier or raise maxWindowRows")
