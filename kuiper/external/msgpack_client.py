"""msgpack-rpc over TCP with asyncio streams: one pipelined connection per interface.

A request is `[0, msgid, method, params]` with params = the request message's fields in
declaration order (as eKuiper sends them); a response is `[1, msgid, error, result]`. Calls
are matched to responses by msgid, so many calls share the connection concurrently. A lost
connection fails the calls in flight (retryable) and the next call reconnects.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any
from urllib.parse import urlsplit

from kuiper.external.client import CallFailed
from kuiper.external.mapping import MappingError, field_params, from_plain, to_message
from kuiper.external.service import InterfaceDef

log = logging.getLogger(__name__)
REQUEST, RESPONSE = 0, 1


class MsgpackClient:
    """Calls rpc methods by name over msgpack-rpc."""

    def __init__(self, iface: InterfaceDef) -> None:
        assert iface.schema is not None
        self._iface = iface
        parts = urlsplit(iface.address)
        self._host, self._port = parts.hostname or "localhost", parts.port or 0
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._connect_lock: asyncio.Lock | None = None

    async def _connection(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.open_connection(self._host, self._port)
            except OSError as exc:
                raise CallFailed(f"msgpack-rpc {self._host}:{self._port}: cannot connect: "
                                 f"{exc.strerror or exc}", retryable=True) from None
            self._writer = writer
            self._reader_task = asyncio.get_running_loop().create_task(
                self._read_loop(reader, writer), name=f"msgpack-rpc {self._iface.name}")
            return writer

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import msgpack

        unpacker = msgpack.Unpacker(raw=False)
        reason = "connection closed by the service"
        try:
            while data := await reader.read(65536):
                unpacker.feed(data)
                for item in unpacker:
                    self._dispatch(item)
        except (OSError, ValueError, msgpack.UnpackException) as exc:
            reason = f"connection lost: {exc}"
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            self._fail_pending(reason)

    def _dispatch(self, item: Any) -> None:
        if not isinstance(item, list | tuple) or len(item) != 4 or item[0] != RESPONSE:
            log.warning("msgpack-rpc %s: ignoring a malformed message", self._iface.name)
            return
        _, msgid, error, result = item
        fut = self._pending.pop(msgid, None)
        if fut is None or fut.done():
            return  # the call timed out and went away
        if error is not None:
            fut.set_exception(CallFailed(f"msgpack-rpc {self._iface.name}: service error: {error}"))
        else:
            fut.set_result(result)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(CallFailed(f"msgpack-rpc {self._host}:{self._port}: {reason}",
                                             retryable=True))

    async def call(self, method: str, args: list[Any]) -> Any:
        import msgpack

        assert self._iface.schema is not None
        m = self._iface.schema.methods[method]
        try:
            params = field_params(to_message(m.input_cls, m.input, args))
        except MappingError as exc:
            raise CallFailed(str(exc)) from None
        writer = await self._connection()
        msgid = next(self._ids) & 0xFFFFFFFF
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msgid] = fut
        try:
            writer.write(msgpack.packb([REQUEST, msgid, method, params], use_bin_type=True))
            await writer.drain()
            result = await fut
        except (OSError, ConnectionError) as exc:
            raise CallFailed(f"msgpack-rpc {self._host}:{self._port}: {exc}",
                             retryable=True) from None
        finally:
            self._pending.pop(msgid, None)
        try:
            return from_plain(result, m.output_cls)
        except MappingError as exc:
            raise CallFailed(f"msgpack-rpc {method}: {exc}") from None

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
        task, self._reader_task = self._reader_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._fail_pending("client closed")
