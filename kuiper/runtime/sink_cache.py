"""The sink failure cache: a FIFO of undelivered messages, in memory first, then on disk.

eKuiper's design (sink `enableCache`): the oldest `memoryCacheThreshold` messages stay in
memory so they can be resent at once; later ones are written to disk in pages of
`bufferPageSize` (one SQLite row per page, table per rule/sink in `{root}/data/cache.db`); the
disk holds at most `maxDiskCache` messages: past that the memory head (the oldest messages) is
dropped and the earliest disk page moves up. A page not yet full lives in memory and is lost on
a crash, as in eKuiper. On a normal stop everything in memory is written to disk (unless
`cleanCacheAtStop`), so a restarted rule resends it.

Checkpoints (rule qos >= 1, `write_through`): the cache takes part in the rule's consistent
checkpoints so a crash neither loses nor repeats results. Every message goes to disk pages (no
memory head: `memoryCacheThreshold` counts as 0); a page being resent stays on disk until its
last message is delivered; `sync()` (at each checkpoint) writes the page being filled and the
rest of a page being resent back to disk, and the sink records `high_seq` (the last page number
ever used; page numbers only grow). A restart from that checkpoint calls `truncate_after` before
`open`: pages written after the checkpoint are dropped, since the replayed input produces their
messages again. What the sink delivered from a page after the checkpoint is delivered again
(at least once, at most what one checkpoint interval resent).

Order is kept: memory head, then disk pages by `seq`, then the page being filled.
An entry is `(data, props)`: the message (bytes, str, dict or list) and its dynamic props.
`Resender` is the delivery policy around it: retries, caching a failure, resending in order.
"""
from __future__ import annotations

import asyncio
import base64
import enum
import logging
import os
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from kuiper.errors import ConnectorError

if TYPE_CHECKING:  # sqlite3 loads when a sink enables its cache
    import sqlite3

log = logging.getLogger(__name__)

Entry = tuple[Any, dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class CacheConf:
    """Cache properties of one sink (eKuiper's names and defaults)."""

    memory_threshold: int = 1024
    max_disk: int = 1024000
    page_size: int = 256
    resend_interval_ms: int = 0
    clean_at_stop: bool = False


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def encode_page(entries: list[Entry]) -> bytes:
    """A page of entries as one JSON document (bytes payloads base64-encoded)."""
    rows = []
    for data, props in entries:
        if isinstance(data, bytes | bytearray):
            rows.append(["b", base64.b64encode(data).decode(), props])
        else:
            rows.append(["j", data, props])
    return orjson.dumps(rows, default=_default)


def decode_page(blob: bytes) -> list[Entry]:
    out: list[Entry] = []
    for kind, data, props in orjson.loads(blob):
        out.append((base64.b64decode(data) if kind == "b" else data, props))
    return out


def table_name(rule_id: str, sink_name: str) -> str:
    return "cache_" + re.sub(r"\W", "_", f"{rule_id}__{sink_name}")


class SinkCache:
    """Undelivered messages of one sink: `add`, `peek`, `pop`, `len()`; `open`/`close`."""

    def __init__(self, path: str, table: str, conf: CacheConf | None = None) -> None:
        self.path = path
        self.table = table
        self.conf = conf or CacheConf()
        self.memory: deque[Entry] = deque()
        self.write_page: list[Entry] = []
        self.disk_count = 0
        self.dropped = 0
        self._db: sqlite3.Connection | None = None
        self.write_through = False  # rule qos >= 1: see the module doc
        self.high_seq = 0  # the last page number used (write_through: never reused)
        self._truncate: int | None = None  # set by truncate_after, applied by open
        self._page_seq: int | None = None  # write_through: the page `memory` was loaded from

    # --- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Open the database; messages left by an earlier run are pending again."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        import sqlite3

        db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f'CREATE TABLE IF NOT EXISTS "{self.table}" '
                   "(seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, body BLOB NOT NULL)")
        self._db = db
        if self._truncate is not None:
            db.execute(f'DELETE FROM "{self.table}" WHERE seq > ?', (self._truncate,))
        high = db.execute(f'SELECT MAX(seq) FROM "{self.table}"').fetchone()[0]
        self.high_seq = max(int(high or 0), self._truncate or 0)
        self.disk_count = int(db.execute(f'SELECT COALESCE(SUM(n), 0) FROM "{self.table}"')
                              .fetchone()[0])
        if self.disk_count:
            log.info("sink cache %s: %d message(s) from an earlier run to resend",
                     self.table, self.disk_count)

    def close(self) -> None:
        """Keep what is pending on disk for the next start, or drop it (`cleanCacheAtStop`)."""
        db = self._db
        if db is None:
            return
        try:
            if self.conf.clean_at_stop:
                db.execute(f'DROP TABLE IF EXISTS "{self.table}"')
            elif self.write_through:
                self.sync()
            else:
                if self.memory:
                    self._write(list(self.memory), head=True)
                if self.write_page:
                    self._write(self.write_page)
                if not self.disk_count:
                    db.execute(f'DROP TABLE IF EXISTS "{self.table}"')
            self.memory.clear()
            self.write_page = []
        finally:
            db.close()
            self._db = None

    # --- checkpoints (write_through) ---------------------------------------------------------
    def truncate_after(self, seq: int) -> None:
        """Before `open`: drop the pages numbered above `seq` (written after a checkpoint)."""
        self._truncate = int(seq)

    def sync(self) -> int:
        """Everything pending on disk (a checkpoint): the page being filled, and what is left
        of a page being resent; the last page number used."""
        if self._db is None:
            return self.high_seq
        if self._page_seq is not None:
            seq, self._page_seq = self._page_seq, None
            rest = list(self.memory)
            self.memory.clear()
            if rest:
                self._db.execute(f'UPDATE "{self.table}" SET n = ?, body = ? WHERE seq = ?',
                                 (len(rest), encode_page(rest), seq))
                self.disk_count += len(rest)
            else:
                self._db.execute(f'DELETE FROM "{self.table}" WHERE seq = ?', (seq,))
        if self.write_page:
            page, self.write_page = self.write_page, []
            self._write(page)
        return self.high_seq

    # --- queue ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.memory) + self.disk_count + len(self.write_page)

    def add(self, entry: Entry) -> None:
        conf = self.conf
        threshold = 0 if self.write_through and self._db is not None else conf.memory_threshold
        if not self.disk_count and not self.write_page and len(self.memory) < threshold:
            self.memory.append(entry)
            return
        if conf.max_disk <= 0 or self._db is None:  # no disk: the oldest message gives way
            if len(self.memory) >= max(conf.memory_threshold, 1):
                self.memory.popleft()
                self.dropped += 1
            self.memory.append(entry)
            return
        self.write_page.append(entry)
        if len(self.write_page) >= conf.page_size:
            self._flush_page()

    def peek(self) -> Entry | None:
        """The oldest pending message (None when empty)."""
        if not self.memory:
            if self.disk_count:
                self._load_page()
            elif self.write_page and self.write_through and self._db is not None:
                self._flush_page()  # on disk first: a page in memory only is not resent
                self._load_page()
            elif self.write_page:
                self.memory.extend(self.write_page)
                self.write_page = []
        return self.memory[0] if self.memory else None

    def pop(self) -> None:
        """Forget the oldest message (it was delivered or cannot be)."""
        if self.memory or self.peek() is not None:
            self.memory.popleft()
            if not self.memory:
                self._drop_loaded()

    def _drop_loaded(self) -> None:
        """write_through: the page resent from memory is done, off the disk it goes."""
        if self._page_seq is not None and self._db is not None:
            self._db.execute(f'DELETE FROM "{self.table}" WHERE seq = ?', (self._page_seq,))
        self._page_seq = None

    # --- disk -------------------------------------------------------------------------------
    def _flush_page(self) -> None:
        page, self.write_page = self.write_page, []
        if self.disk_count + len(page) > self.conf.max_disk:
            # full: the oldest messages (the memory head) go, the earliest disk page moves up
            self.dropped += len(self.memory)
            log.warning("sink cache %s is full (maxDiskCache %d): %d oldest message(s) dropped",
                        self.table, self.conf.max_disk, len(self.memory))
            self.memory.clear()
            self._drop_loaded()
            self._load_page()
        self._write(page)

    def _write(self, entries: list[Entry], head: bool = False) -> None:
        """Append pages at the tail, or (head=True) before every existing page, in order."""
        assert self._db is not None
        size = max(self.conf.page_size, 1)
        parts = [entries[i:i + size] for i in range(0, len(entries), size)]
        t = self.table
        if head:
            low = self._db.execute(f'SELECT MIN(seq) FROM "{t}"').fetchone()[0]
            first = (low if low is not None else 1) - len(parts)
        else:
            high = self._db.execute(f'SELECT MAX(seq) FROM "{t}"').fetchone()[0]
            first = (high if high is not None else 0) + 1
            if self.write_through:
                first = max(first, self.high_seq + 1)
        self._db.executemany(f'INSERT INTO "{t}" (seq, n, body) VALUES (?, ?, ?)',
                             [(first + k, len(p), encode_page(p)) for k, p in enumerate(parts)])
        self.high_seq = max(self.high_seq, first + len(parts) - 1)
        self.disk_count += len(entries)

    def _load_page(self) -> None:
        if self._db is None:
            return
        row = self._db.execute(
            f'SELECT seq, n, body FROM "{self.table}" ORDER BY seq LIMIT 1').fetchone()
        if row is None:
            self.disk_count = 0
            return
        seq, n, body = row
        if self.write_through:
            self._page_seq = int(seq)  # deleted once delivered (`pop`)
        else:
            self._db.execute(f'DELETE FROM "{self.table}" WHERE seq = ?', (seq,))
        self.disk_count -= n
        self.memory.extend(decode_page(body))


class Sent(enum.Enum):
    """The outcome of one delivery attempt."""

    DELIVERED = 1
    RECOVERABLE = 2  # ConnectorError: keep it (cache) or count it lost
    DROPPED = 3  # any other error: counted, not retried


Collect = Callable[[Any, "dict[str, Any] | None"], Awaitable[None]]


class Resender:
    """Delivers messages through `collect` with `retryCount` retries of a ConnectorError; with a
    cache, a message that still fails waits there and a background task resends the cache in
    order: after a failure it probes again every `retryInterval` or when new data arrives (as
    eKuiper does); `resendInterval` spaces resent messages. Other errors drop the message."""

    def __init__(self, name: str, rule_id: str, collect: Collect, metrics: Any, clock: Any,
                 *, retry_count: int = 0, retry_interval_ms: int = 1000,
                 cache: SinkCache | None = None) -> None:
        self.name = name
        self.rule_id = rule_id
        self.collect = collect
        self.metrics = metrics
        self.clock = clock
        self.retry_count = retry_count
        self.retry_interval_ms = retry_interval_ms
        self.cache = cache
        self.resent_total = 0
        self.lost_total = 0
        self._down = False
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def attempt(self, message: Any, props: dict[str, Any] | None, retries: int) -> Sent:
        """Collect one message, retrying a ConnectorError `retries` times."""
        for attempt in range(retries + 1):
            try:
                await self.collect(message, props)
            except ConnectorError as exc:
                self.metrics.exception(exc)
                if not self._down:
                    self._down = True
                    log.warning("rule %s: sink %s cannot reach its target: %s%s", self.rule_id,
                                self.name, exc, " (caching results)" if self.cache else "")
                if attempt < retries:
                    await self.clock.sleep(self.retry_interval_ms / 1000)
                    continue
                return Sent.RECOVERABLE
            except Exception as exc:
                self.metrics.exception(exc)
                log.error("rule %s: sink %s failed to deliver: %s", self.rule_id, self.name, exc)
                return Sent.DROPPED
            if self._down:
                self._down = False
                log.info("rule %s: sink %s reaches its target again", self.rule_id, self.name)
            self.metrics.records_out_total += 1
            return Sent.DELIVERED
        return Sent.RECOVERABLE  # pragma: no cover - the loop always returns

    async def send(self, message: Any, props: dict[str, Any] | None) -> None:
        cache = self.cache
        if cache is not None and len(cache):  # keep order: behind what is waiting
            cache.add((message, props))
            self._kick.set()
            self.start()
            return
        if await self.attempt(message, props, self.retry_count) is Sent.RECOVERABLE:
            if cache is not None:
                cache.add((message, props))
                self.start()
            else:
                self.lost_total += 1

    def start(self) -> None:
        """Run the resend task if the cache holds messages and it is not running."""
        if self.cache is not None and len(self.cache) and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self.resend(), name=f"{self.name}-resend")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def finish(self) -> None:
        """One last pass over the cache (end of input); what still fails stays cached."""
        await self.stop()
        if self.cache is not None and len(self.cache):
            await self.resend(stop_on_failure=True)

    async def resend(self, stop_on_failure: bool = False) -> None:
        cache = self.cache
        assert cache is not None
        while len(cache):
            entry = cache.peek()
            if entry is None:
                break
            sent = await self.attempt(entry[0], entry[1], 0)
            if sent is Sent.RECOVERABLE:
                if stop_on_failure:
                    return
                self._kick.clear()
                await self._wait_probe()
                continue
            cache.pop()
            if sent is Sent.DELIVERED:
                self.resent_total += 1
            if cache.conf.resend_interval_ms:
                await self.clock.sleep(cache.conf.resend_interval_ms / 1000)

    async def _wait_probe(self) -> None:
        sleep = asyncio.ensure_future(self.clock.sleep(self.retry_interval_ms / 1000))
        kicked = asyncio.ensure_future(self._kick.wait())
        try:
            await asyncio.wait({sleep, kicked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (sleep, kicked):
                if not fut.done():
                    fut.cancel()
            await asyncio.gather(sleep, kicked, return_exceptions=True)
