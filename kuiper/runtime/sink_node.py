"""A sink node: turns result batches into messages (common sink properties) and delivers them.

Pipeline, as eKuiper's: batch (`batchSize`/`lingerInterval`) -> transform (`sendSingle`,
`omitIfEmpty`, `dataTemplate`, `dataField`, `fields`/`excludeFields`, dynamic props) -> encode
(`format`, for sinks that take bytes) -> send (`retryCount`/`retryInterval`) -> cache
(`enableCache`: messages that fail with a ConnectorError wait in a memory+disk cache and are
resent in order when the target is back). A sink signals a recoverable failure by raising
`kuiper.errors.ConnectorError`; any other error drops the message and counts it.

Dynamic props: action properties holding `{{…}}` are rendered per message against the data the
template sees (the row with sendSingle, else the list); the sink finds them in
`ctx.dynamic_props` (prop name -> rendered value) while `collect` runs. With the rule option
sendMetaToSink the rows' meta of the emission being delivered is in `ctx.current_meta`.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from kuiper.api.batch import Batch
from kuiper.api.contract import Sink
from kuiper.errors import ConfigError
from kuiper.runtime.channel import Channel, EndOfInput, ErrorMessage
from kuiper.runtime.clock import Clock, SystemClock
from kuiper.runtime.conf import canonical, kuiper_conf
from kuiper.runtime.conf import section as conf_section
from kuiper.runtime.context import NodeContext, maybe_await
from kuiper.runtime.metrics import NodeMetrics
from kuiper.runtime.options import RuleOptions, parse_duration_ms
from kuiper.runtime.sink_cache import CacheConf, Resender, SinkCache, table_name

if TYPE_CHECKING:  # the template engine loads when a sink has a dataTemplate or dynamic props
    from kuiper.runtime.template import Template

log = logging.getLogger(__name__)

_COMMON = {"sendSingle", "omitIfEmpty", "dataField", "tableDataField", "fields", "format",
           "bufferLength", "dataTemplate", "concurrency", "excludeFields", "batchSize",
           "lingerInterval", "retryInterval", "retryCount", "enableCache", "memoryCacheThreshold",
           "maxDiskCache", "bufferPageSize", "resendInterval", "cleanCacheAtStop",
           "resendAlterQueue", "resendPriority", "resendIndicatorField", "resendDestination",
           "schemaId", "delimiter", "hasHeader", "compression", "encryption", "runAsync",
           "cacheLength", "cacheSaveInterval", "resourceId"}
_GLOBAL_KEYS = ("enableCache", "memoryCacheThreshold", "maxDiskCache", "bufferPageSize",
                "resendInterval", "cleanCacheAtStop")


@dataclass(frozen=True, slots=True)
class SinkProps:
    """The common sink properties of one action."""

    send_single: bool = False
    omit_if_empty: bool = False
    data_field: str = ""
    fields: tuple[str, ...] = ()
    exclude_fields: tuple[str, ...] = ()
    format: str = "json"
    buffer_length: int | None = None
    data_template: str = ""
    dynamic: tuple[tuple[str, Any], ...] = ()
    batch_size: int = 0
    linger_ms: int = 0
    retry_interval_ms: int = 1000
    retry_count: int = 0
    cache: CacheConf | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, sink_type: str, props: dict[str, Any]) -> SinkProps:
        def flag(name: str, default: bool = False) -> bool:
            v = props.get(name, default)
            if not isinstance(v, bool):
                raise ConfigError(f"sink {sink_type}: property '{name}' must be true or false")
            return v

        def names(name: str) -> tuple[str, ...]:
            v = props.get(name) or []
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError(f"sink {sink_type}: property '{name}' must be a list of names")
            return tuple(v)

        def count(name: str, default: int, minimum: int = 0) -> int:
            v = props.get(name, default)
            if isinstance(v, str) and v.strip().lstrip("-").isdigit():
                v = int(v)
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                raise ConfigError(f"sink {sink_type}: property '{name}' must be an integer "
                                  f">= {minimum}, got {v!r}")
            return v

        def millis(name: str, default: int) -> int:
            try:
                return parse_duration_ms(props.get(name, default), name)
            except ConfigError as exc:
                raise ConfigError(f"sink {sink_type}: {exc.message}", hint=exc.hint) from None

        template = props.get("dataTemplate") or ""
        if not isinstance(template, str):
            raise ConfigError(f"sink {sink_type}: property 'dataTemplate' must be a string")
        try:
            if template:
                _compile(template)
            dynamic = _dynamic_props(props)
            for _, v in dynamic:
                _compile_all(v)
        except ConfigError as exc:
            raise ConfigError(f"sink {sink_type}: {exc.message}", hint=exc.hint) from None
        buf = props.get("bufferLength")
        if buf is not None and (isinstance(buf, bool) or not isinstance(buf, int) or buf < 1):
            raise ConfigError(f"sink {sink_type}: property 'bufferLength' must be a positive integer")
        cache = None
        if flag("enableCache"):
            cache = CacheConf(
                memory_threshold=count("memoryCacheThreshold", 1024),
                max_disk=count("maxDiskCache", 1024000),
                page_size=count("bufferPageSize", 256, 1),
                resend_interval_ms=millis("resendInterval", 0),
                clean_at_stop=flag("cleanCacheAtStop"),
            )
        return cls(
            send_single=flag("sendSingle"),
            omit_if_empty=flag("omitIfEmpty"),
            data_field=str(props.get("dataField") or props.get("tableDataField") or ""),
            fields=names("fields"),
            exclude_fields=names("excludeFields"),
            format=str(props.get("format") or "json").lower(),
            buffer_length=buf,
            data_template=template,
            dynamic=dynamic,
            batch_size=count("batchSize", 0),
            linger_ms=millis("lingerInterval", 0),
            retry_interval_ms=millis("retryInterval", 1000),
            retry_count=count("retryCount", 0),
            cache=cache,
            raw=dict(props),
        )


def _compile(source: str) -> Template:
    from kuiper.runtime.template import compile_template

    return compile_template(source)


def _dynamic_props(props: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The properties holding a template action (resolved per message). `{{` in a value's repr
    is necessary for one, so a sink without any does not load the template engine."""
    maybe = [(k, v) for k, v in props.items() if k not in _COMMON and "{{" in repr(v)]
    if not maybe:
        return ()
    from kuiper.runtime.template import has_template

    return tuple((k, v) for k, v in maybe if has_template(v))


def _compile_all(value: Any) -> None:
    if isinstance(value, str) and "{{" in value:
        _compile(value)
    elif isinstance(value, dict):
        for v in value.values():
            _compile_all(v)
    elif isinstance(value, list):
        for v in value:
            _compile_all(v)


def global_sink_defaults(root: str) -> dict[str, Any]:
    """The `sink:` section of the root's effective kuiper.yaml (cache defaults for every
    sink; `KUIPER__SINK__ENABLECACHE=true` and the like override the file)."""
    section = canonical(conf_section(kuiper_conf(root, shared=True), "sink"), _GLOBAL_KEYS)
    return {k: section[k] for k in _GLOBAL_KEYS if k in section}


def _select(row: Any, fields: tuple[str, ...], exclude: tuple[str, ...]) -> Any:
    if not isinstance(row, dict):
        return row
    if fields:
        row = {k: row[k] for k in fields if k in row}
    if exclude:
        row = {k: v for k, v in row.items() if k not in exclude}
    return row


class SinkNode:
    """One action of a rule: `{type}_{index}` in metrics (`sink_log_0_0_records_in_total`)."""

    def __init__(
        self,
        index: int,
        sink_type: str,
        sink: Sink,
        props: SinkProps,
        inbox: Channel,
        *,
        upstreams: int,
        rule_id: str,
        root: str,
        options: RuleOptions,
        encoder: Any = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = f"{sink_type}_{index}"
        defaults = global_sink_defaults(root)
        if defaults and props.raw:
            props = SinkProps.parse(sink_type, {**defaults, **props.raw})
        self.sink = sink
        self.props = props
        self.inbox = inbox
        self.upstreams = max(1, upstreams)
        self.rule_id = rule_id
        self.root = root
        self.options = options
        self.encoder = encoder
        self.clock: Clock = clock or SystemClock()
        self.ctx = NodeContext(rule_id, self.name, 0, root)
        self.ctx.dynamic_props = {}  # type: ignore[attr-defined]
        self.metrics = NodeMetrics("sink", self.name, track_drops=options.drops_oldest)
        self._collect_async = inspect.iscoroutinefunction(sink.collect)
        self._bytes = bool(getattr(sink, "accepts_bytes", False))
        p = props
        self._template: Template | None = _compile(p.data_template) if p.data_template else None
        self._dynamic = dict(p.dynamic)
        self._resolve_props: Any = None
        if self._dynamic:
            from kuiper.runtime.template import resolve_props

            self._resolve_props = resolve_props
        self._batching = p.batch_size > 0 or p.linger_ms > 0
        self._reliable = p.cache is not None or p.retry_count > 0
        self._row_only = bool(self._template or self._dynamic or self._batching or self._reliable)
        self._batch_path = (type(sink).collect_batch is not Sink.collect_batch
                            and not self._row_only)
        # a synchronous batch sink: a shared source's hand-off may call `deliver` itself
        # while this sink's task waits on an empty inbox (see `SourceTap.deliver`)
        self.inline = bool(self._batch_path and not p.data_field
                           and not inspect.iscoroutinefunction(type(sink).collect_batch))
        self._transforms = bool(p.send_single or p.omit_if_empty or p.data_field or p.fields
                                or p.exclude_fields or self._template or self._dynamic)
        # bytes sinks that take many messages joined (file): a plain batch is encoded at once
        self._joined = bool(self._bytes and not self._row_only and not self._transforms
                            and not options.send_meta_to_sink
                            and callable(getattr(sink, "collect_joined", None))
                            and callable(getattr(encoder, "encode_joined", None)))
        self.replay = True  # the rule's sources replay after a checkpoint (see restore_state)
        self.cache: SinkCache | None = None
        if p.cache is not None:
            path = os.path.join(root, "data", "cache.db")
            self.cache = SinkCache(path, table_name(rule_id, self.name), p.cache)
        self._buffer: list[dict[str, Any]] = []
        self._buffer_since = 0
        self._buffer_rows = asyncio.Event()
        self._lock = asyncio.Lock()
        self._linger_task: asyncio.Task[None] | None = None
        self.sender = Resender(self.name, rule_id, self._collect_one, self.metrics, self.clock,
                               retry_count=p.retry_count, retry_interval_ms=p.retry_interval_ms,
                               cache=self.cache)
        cache = self.cache
        self.metrics.buffer_length_fn = lambda: (
            inbox.rows + len(self._buffer) + (len(cache) if cache is not None else 0))

    # --- checkpoints (rule qos >= 1) ---------------------------------------------------------
    def checkpointed(self) -> None:
        """The rule takes consistent checkpoints: the cache writes through to disk."""
        if self.cache is not None:
            self.cache.write_through = True

    def snapshot_state(self) -> dict[str, Any] | None:
        """At a checkpoint's quiescent point: rows waiting for batchSize/lingerInterval, and
        the cache synced to disk with its last page number (see `sink_cache`)."""
        state: dict[str, Any] = {}
        snap = getattr(self.sink, "snapshot_state", None)
        if callable(snap):  # a sink that can resume exactly where the checkpoint was (file)
            own = snap()
            if own is not None:
                state["sink"] = own
        if self._buffer:
            state["buffer"] = list(self._buffer)
        if self.cache is not None:
            state["cache_seq"] = self.cache.sync()
        return state or None

    def restore_state(self, state: dict[str, Any]) -> None:
        """Before `open`: the checkpoint's batching buffer. When the rule's sources replay
        what came after the checkpoint (`replay`), what the sink got after it goes (cache
        pages, the file sink's tail), since it comes again; else it is kept."""
        restore = getattr(self.sink, "restore_state", None)
        if callable(restore) and state.get("sink") is not None:
            own = dict(state["sink"])
            if not self.replay:
                own["keep_tail"] = True
            restore(own)
        buffered = state.get("buffer") or []
        if buffered:
            self._buffer = list(buffered)
            self._buffer_since = self.clock.now_ms()
            self._buffer_rows.set()
        if self.cache is not None and state.get("cache_seq") is not None and self.replay:
            self.cache.truncate_after(int(state["cache_seq"]))

    # --- lifecycle ----------------------------------------------------------------------------
    async def open(self) -> None:
        if self.cache is not None:
            try:
                self.cache.open()
            except Exception as exc:
                self._failed(f"sink {self.name} cannot open its cache: {exc}", exc)
                self.cache = self.sender.cache = None
        try:
            await maybe_await(self.sink.open(self.ctx))
        except Exception as exc:
            self._failed(f"sink {self.name} cannot open: {exc}", exc)

    async def run(self) -> None:
        if self.props.linger_ms > 0:
            self._linger_task = asyncio.create_task(self._linger_loop(),
                                                    name=f"{self.name}-linger")
        self.sender.clock = self.clock
        self.sender.start()
        ended = 0
        while True:
            item = await self.inbox.get()
            if isinstance(item, Batch):
                await self.deliver(item)
            elif isinstance(item, ErrorMessage):
                self.metrics.records_in_total += 1
                await self._send({"error": item.error})
            elif isinstance(item, EndOfInput):
                ended += 1
                if ended >= self.upstreams:
                    await self._finish()
                    return

    async def close(self) -> None:
        if self._linger_task is not None and not self._linger_task.done():
            self._linger_task.cancel()
            await asyncio.gather(self._linger_task, return_exceptions=True)
        await self.sender.stop()
        if self.cache is not None:
            try:
                pending = len(self.cache)
                self.cache.close()
                if pending:
                    log.info("rule %s: sink %s stops with %d undelivered message(s)%s",
                             self.rule_id, self.name, pending,
                             "" if self.props.cache and self.props.cache.clean_at_stop
                             else " kept in data/cache.db")
            except Exception as exc:
                self._failed(f"sink {self.name} cannot save its cache: {exc}", exc)
        try:
            await maybe_await(self.sink.close(self.ctx))
        except Exception as exc:
            self._failed(f"sink {self.name} close failed: {exc}", exc)

    async def _finish(self) -> None:
        """End of input: flush batched rows; one last pass over the cache (what still fails
        stays in the cache for the next start)."""
        if self._buffer:
            async with self._lock:
                await self._flush_buffer()
        await self.sender.finish()

    def _failed(self, text: str, exc: BaseException) -> None:
        self.metrics.exception(exc)
        log.error("rule %s: %s", self.rule_id, text)

    # --- batches -> messages -----------------------------------------------------------------
    async def deliver(self, batch: Batch) -> None:
        emissions = batch.n if batch.emission_bounds is None else len(batch.emission_bounds) - 1
        self.metrics.records_in_total += emissions
        self.metrics.invoked()
        t0 = time.perf_counter_ns()
        if self._batch_path and not self.props.data_field:
            if self.props.fields:
                batch = batch.with_columns(
                    {k: batch.columns[k] for k in self.props.fields if k in batch.columns}
                )
            try:
                done = await maybe_await(self.sink.collect_batch(self.ctx, batch))
            except Exception as exc:
                self._failed(f"sink {self.name} failed: {exc}", exc)
                return
            if done is not NotImplemented:
                self.metrics.records_out_total += emissions
                self._latency(t0)
                return
        if self._joined and batch.emission_bounds is None and await self._deliver_joined(batch):
            self._latency(t0)
            return
        if self._bytes and self.encoder is not None:
            batch = self.encoder.prepare(batch)
        rows = batch.to_rows(send_nil_field=self.options.send_nil_field)
        if self._batching:
            async with self._lock:
                for start, stop in batch.emissions():
                    await self._add_to_buffer(rows[start:stop])
        elif self.options.send_meta_to_sink:
            metas = batch.meta_rows()
            for start, stop in batch.emissions():
                self.ctx.current_meta = metas[start:stop]
                await self._send(rows[start:stop])
        elif batch.emission_bounds is None and not self._transforms:
            await self._deliver([[r] for r in rows], None)
        else:
            messages: list[Any] = []
            props: list[Any] | None = [] if self._dynamic else None
            for start, stop in batch.emissions():
                self._transform(rows[start:stop], messages, props)
            await self._deliver(messages, props)
        self._latency(t0)

    async def _deliver_joined(self, batch: Batch) -> bool:
        """One row per message, no transforms: the encoder writes all the batch's messages as
        one bytes object that the sink takes at once. False if the encoder cannot (then the
        batch goes the message-by-message way)."""
        sep = self.sink.joined_separator  # type: ignore[attr-defined]
        data = self.encoder.encode_joined(batch, sep, send_nil_field=self.options.send_nil_field)
        if data is None:
            return False
        try:
            result = self.sink.collect_joined(self.ctx, data, batch.n)  # type: ignore[attr-defined]
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self._failed(f"sink {self.name} failed to deliver: {exc}", exc)
            return True
        self.metrics.records_out_total += batch.n
        return True

    async def _add_to_buffer(self, rows: list[dict[str, Any]]) -> None:
        size = self.props.batch_size
        if not self._buffer and rows:
            self._buffer_since = self.clock.now_ms()
            self._buffer_rows.set()
        self._buffer.extend(rows)
        while size and len(self._buffer) >= size:
            await self._flush_buffer(size)

    async def _flush_buffer(self, size: int = 0) -> None:
        """Send up to `size` (0 = all) buffered rows as one emission."""
        take = size or len(self._buffer)
        rows, self._buffer = self._buffer[:take], self._buffer[take:]
        if self._buffer:
            self._buffer_since = self.clock.now_ms()
        else:
            self._buffer_rows.clear()
        if rows:
            await self._send(rows)

    async def _linger_loop(self) -> None:
        linger = self.props.linger_ms
        while True:
            await self._buffer_rows.wait()
            due = self._buffer_since + linger
            now = self.clock.now_ms()
            if now < due:
                await self.clock.sleep((due - now) / 1000)
                continue  # rows may have been flushed by size meanwhile: look again
            async with self._lock:
                if self._buffer and self.clock.now_ms() >= self._buffer_since + linger:
                    await self._flush_buffer()

    def _latency(self, t0: int) -> None:
        self.metrics.process_latency_us = (time.perf_counter_ns() - t0) // 1000

    def _transform(self, rows: list[dict[str, Any]], out: list[Any],
                   props: list[Any] | None) -> None:
        """Append the messages of one emission (and their dynamic props) to `out`/`props`."""
        p = self.props
        if self._template is not None:
            items: list[Any] = rows if p.send_single else [rows]
            for item in items:
                if p.omit_if_empty and not item:
                    continue
                try:
                    text = self._template.execute(item)
                except Exception as exc:
                    self._failed(f"sink {self.name}: dataTemplate failed: {exc}", exc)
                    continue
                data = self._after_template(text)
                if data is not _SKIP:
                    out.append(data)
                    if props is not None:
                        props.append(self._resolve(item))
            return
        if props is not None and p.send_single and not p.data_field:
            for row in rows:
                data = _select(row, p.fields, p.exclude_fields)
                if not (p.omit_if_empty and not data):
                    out.append(data)
                    props.append(self._resolve(row))
            return
        data: Any = rows
        if p.data_field:
            data = rows[0].get(p.data_field) if rows else None
            if data is None:
                return
        if p.fields or p.exclude_fields:
            if isinstance(data, list):
                data = [_select(r, p.fields, p.exclude_fields) for r in data]
            else:
                data = _select(data, p.fields, p.exclude_fields)
        if p.send_single and isinstance(data, list):
            kept = [r for r in data if not (p.omit_if_empty and not r)]
        elif p.omit_if_empty and not data:
            kept = []
        else:
            kept = [data]
        out.extend(kept)
        if props is not None:
            props.extend(self._resolve(d) for d in kept)

    def _after_template(self, text: str) -> Any:
        """The message a template's output becomes: bytes for bytes sinks; for others the
        parsed JSON when it is JSON, else the text. dataField/fields apply to parsed JSON."""
        p = self.props
        if not (p.data_field or p.fields or p.exclude_fields):
            if self._bytes:
                return text.encode()
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                return text
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self._failed(f"sink {self.name}: the dataTemplate output is not JSON, so dataField/"
                         f"fields cannot apply: {exc}", exc)
            return _SKIP
        if p.data_field:
            if isinstance(data, list):
                data = data[0].get(p.data_field) if data and isinstance(data[0], dict) else None
            elif isinstance(data, dict):
                data = data.get(p.data_field)
        if isinstance(data, list):
            return [_select(r, p.fields, p.exclude_fields) for r in data]
        return _select(data, p.fields, p.exclude_fields)

    def _resolve(self, item: Any) -> dict[str, Any]:
        try:
            resolve = self._resolve_props
            return {k: resolve(v, item) for k, v in self._dynamic.items()}
        except Exception as exc:
            self._failed(f"sink {self.name}: a dynamic property failed: {exc}", exc)
            return {}

    async def _send(self, rows: list[dict[str, Any]] | dict[str, Any]) -> None:
        props: list[Any] | None = [] if self._dynamic else None
        if isinstance(rows, dict):
            messages: list[Any] = [rows]
            if props is not None:
                props.append(self._resolve(rows))
        else:
            messages = []
            self._transform(rows, messages, props)
        await self._deliver(messages, props)

    # --- messages -> the connector -------------------------------------------------------------
    def _encode(self, messages: list[Any], props: list[Any] | None) -> tuple[list[Any], Any]:
        # only a dataTemplate makes messages that are bytes already
        templated = self._template is not None
        if templated and all(isinstance(m, bytes) for m in messages):
            return messages, props
        many = getattr(self.encoder, "encode_many", None)
        if many is not None and not (templated and any(isinstance(m, bytes) for m in messages)):
            try:
                return many(messages), props
            except Exception:  # noqa: S110 - find and count the bad message(s) below
                pass
        out, kept = [], [] if props is not None else None
        for i, message in enumerate(messages):
            try:
                out.append(message if isinstance(message, bytes) else self.encoder.encode(message))
            except Exception as exc:
                self._failed(f"sink {self.name} cannot encode a result: {exc}", exc)
                continue
            if kept is not None and props is not None:
                kept.append(props[i])
        return out, kept

    async def _deliver(self, messages: list[Any], props: list[Any] | None) -> None:
        """Encode (bytes sinks) and collect each message; a message that fails is counted and
        the others go on. With retries or the cache, each goes through the Resender."""
        if not messages:
            return
        if self._bytes and self.encoder is not None:
            messages, props = self._encode(messages, props)
        if self._reliable:
            for i, message in enumerate(messages):
                await self.sender.send(message, props[i] if props is not None else None)
            return
        collect, ctx = self.sink.collect, self.ctx
        delivered = 0
        for i, message in enumerate(messages):
            if props is not None:
                ctx.dynamic_props = props[i]  # type: ignore[attr-defined]
            try:
                result = collect(ctx, message)
                if result is not None and (self._collect_async or inspect.isawaitable(result)):
                    await result
            except Exception as exc:
                self._failed(f"sink {self.name} failed to deliver: {exc}", exc)
                continue
            delivered += 1
        self.metrics.records_out_total += delivered

    async def _collect_one(self, message: Any, props: dict[str, Any] | None) -> None:
        self.ctx.dynamic_props = props or {}  # type: ignore[attr-defined]
        result = self.sink.collect(self.ctx, message)
        if inspect.isawaitable(result):
            await result


_SKIP = object()
