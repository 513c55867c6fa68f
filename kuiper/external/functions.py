"""External functions as registry FunctionDefs: a batch's calls run concurrently on a call loop.

Bridge. `exec_batch` is synchronous and is called by operators on the rule's event-loop
thread, so it cannot await. Every protocol client lives on one dedicated asyncio loop running
in a background daemon thread, the *call loop* (`CALL_LOOP`, started on first use; plain
asyncio, not uvloop, as grpcio's aio layer expects). `exec_batch` submits one coroutine for
the whole batch with `asyncio.run_coroutine_threadsafe` and blocks until it is done: the
calling loop is never re-entered, the clients (grpc aio channels, aiohttp sessions, msgpack
streams) stay bound to the loop that created them, and the rows of a batch are in flight
together. The price: while a batch is out, the calling thread waits (at most about
`timeout × (retryCount + 1)` per wave of `concurrency` rows), which is the synchronous-call
model eKuiper has too, with the whole batch sharing that wait instead of each row.

Limits per interface: at most `concurrency` calls in flight (default 64, shared by every
function and rule using the interface), each call bounded by `timeout` (default 5 s,
connection included), retried `retryCount` times after `retryInterval` when the failure is
transient (connection refused or lost, timeout, gRPC UNAVAILABLE, HTTP 5xx/429).

Errors. A failed call never raises out of the batch on its own: its row gets a null and the
others keep their results, in row order. When any row failed, `exec_batch` raises
`ExternalRowErrors`, an `EvalError` (the runtime counts it as the rule's exception) carrying
`partial` (the full result column, null where failed) and `failed` (the mask of failed rows),
so the project operator can keep the good rows and count/drop the failed ones exactly as it
does for any row error. An evaluator that does not read `partial` retries the batch row by
row (the expression layer's generic fallback); those one-row calls replay this batch's
outcomes instead of calling the service again.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from kuiper.api.batch import Column
from kuiper.errors import EvalError, ExternalCallError
from kuiper.external.client import CallFailed, Client
from kuiper.external.mapping import arity_error, result_kind
from kuiper.external.service import FunctionSpec, InterfaceDef
from kuiper.functions.registry import FunctionDef, is_literal
from kuiper.functions.vector import pylist

log = logging.getLogger(__name__)
T = TypeVar("T")
_LOG_EVERY_S = 10.0  # at most one warning per function this often; errors are counted anyway


class ExternalRowErrors(EvalError, ExternalCallError):
    """Some rows of a batch failed: `partial` holds every row's result (null where failed)."""

    code = ExternalCallError.code

    def __init__(self, message: str, partial: Column, failed: np.ndarray) -> None:
        super().__init__(message)
        self.partial = partial
        self.failed = failed


class CallLoop:
    """The background thread whose asyncio loop runs every external call and client."""

    def __init__(self, name: str = "kuiper-external-calls") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def main() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=main, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the call loop and wait for it (TimeoutError after `timeout` s)."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("external calls cannot be awaited from the call loop itself")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"gave up waiting after {timeout:.1f}s") from None

    def stop(self) -> None:
        """Stop the loop thread (tests, shutdown); the next call starts a new one."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


CALL_LOOP = CallLoop()


def make_client(iface: InterfaceDef) -> Client:
    """The protocol client for an interface (connects lazily, on its first call)."""
    if iface.protocol == "grpc":
        from kuiper.external.grpc_client import GrpcClient

        return GrpcClient(iface)
    if iface.protocol == "rest":
        from kuiper.external.rest_client import RestClient

        return RestClient(iface)
    from kuiper.external.msgpack_client import MsgpackClient

    return MsgpackClient(iface)


class InterfaceRuntime:
    """An interface's client with its concurrency bound, timeout and retries."""

    def __init__(self, iface: InterfaceDef, call_loop: CallLoop = CALL_LOOP) -> None:
        self.iface = iface
        self.call_loop = call_loop
        self.client = make_client(iface)
        self._slots: asyncio.Semaphore | None = None

    def per_call_bound_s(self) -> float:
        """The longest one row can take: every attempt timing out, plus the waits between."""
        o = self.iface.options
        return o.timeout_s * (o.retry_count + 1) + o.retry_interval_s * o.retry_count

    async def call(self, method: str, args: list[Any]) -> Any:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.iface.options.concurrency)
        async with self._slots:
            return await self._with_retries(method, args)

    async def _with_retries(self, method: str, args: list[Any]) -> Any:
        o = self.iface.options
        error: CallFailed | None = None
        for attempt in range(o.retry_count + 1):
            if attempt and o.retry_interval_s:
                await asyncio.sleep(o.retry_interval_s)
            try:
                async with asyncio.timeout(o.timeout_s):  # no extra task, unlike wait_for
                    return await self.client.call(method, args)
            except TimeoutError:
                error = CallFailed(f"{self.iface.protocol} call {method} to "
                                   f"{self.iface.address} timed out after {o.timeout_s:g}s",
                                   retryable=True)
            except CallFailed as exc:
                if not exc.retryable:
                    raise
                error = exc
            except Exception as exc:  # noqa: BLE001 - a client bug must not take the rule down
                raise CallFailed(f"{method}: {type(exc).__name__}: {exc}") from exc
        assert error is not None
        raise error

    def close(self) -> None:
        """Close the client's connections (from any thread but the call loop's)."""
        try:
            self.call_loop.run(self.client.close(), timeout=5)
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            log.debug("closing interface %s: %s", self.iface.name, exc)


@dataclass
class CallStats:
    """Counters of one external function, shown by the service layer."""

    calls_total: int = 0
    errors_total: int = 0
    last_error: str = ""
    last_error_time: float = 0.0


@dataclass
class _Replay:
    rows: list[tuple[list[Any], bool, Any]] = field(default_factory=list)
    pos: int = 0


class ExternalFunction:
    """One SQL function of a service, bound to its interface runtime."""

    def __init__(self, spec: FunctionSpec, runtime: InterfaceRuntime) -> None:
        self.spec = spec
        self.runtime = runtime
        self.stats = CallStats()
        schema = runtime.iface.schema
        self.method = None if schema is None else schema.methods[spec.method]
        self.return_kind = None if self.method is None else result_kind(self.method.output)
        self._replay = threading.local()
        self._last_log = 0.0

    # --- plan time ----------------------------------------------------------------------
    def validate(self, args: list[Any]) -> str | None:
        if self.method is None:
            if len(args) < 2:
                return "a schemaless REST function is called as f(verb, path, args…)"
            verb, path = args[0], args[1]
            if is_literal(verb) and (not isinstance(verb, str) or verb.upper() not in
                                     ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")):
                return f"the first argument must be an HTTP verb such as \"post\", got {verb!r}"
            if is_literal(path) and not isinstance(path, str):
                return f"the second argument must be a path string, got {path!r}"
            return None
        return arity_error(self.method.input, args)

    def definition(self) -> FunctionDef:
        """The registry entry for this function."""
        if self.method is None:
            lo, hi = 2, None
        else:
            lo, hi = 0, max(len(self.method.input.fields), 1)
        return FunctionDef(self.spec.name, lo, hi, self.exec_batch,
                           return_kind=self.return_kind, validate=self.validate)

    # --- run time -----------------------------------------------------------------------
    def exec_batch(self, args: list[Column], n: int, ctx: Any = None) -> Column:
        lists = [pylist(c, n) for c in args]
        rows = [[vals[i] for vals in lists] for i in range(n)]
        if n == 1:
            replayed = self._take_replay(rows[0])
            if replayed is not None:
                return self._finish([replayed[0]], [replayed[1]], count=False)
        self._replay.state = None
        if n == 0:
            return Column.nulls(0, self.return_kind or "any")
        waves = math.ceil(n / self.runtime.iface.options.concurrency)
        bound = waves * self.runtime.per_call_bound_s() + 5.0
        try:
            outcomes = self.runtime.call_loop.run(self._call_all(rows), timeout=bound)
        except TimeoutError as exc:
            outcomes = [(False, f"batch of {n} calls {exc}")] * n
        oks = [ok for ok, _ in outcomes]
        values = [v for _, v in outcomes]
        if n > 1 and not all(oks):
            self._replay.state = _Replay([(r, ok, v) for r, (ok, v) in zip(rows, outcomes)])
        return self._finish(oks, values, count=True)

    async def _call_all(self, rows: list[list[Any]]) -> list[tuple[bool, Any]]:
        return list(await asyncio.gather(*(self._call_one(r) for r in rows)))

    async def _call_one(self, args: list[Any]) -> tuple[bool, Any]:
        try:
            return True, await self.runtime.call(self.spec.method, args)
        except ExternalCallError as exc:
            return False, exc.message
        except Exception as exc:  # noqa: BLE001 - reported per row, never raised
            return False, f"{type(exc).__name__}: {exc}"

    def _take_replay(self, row: list[Any]) -> tuple[bool, Any] | None:
        state: _Replay | None = getattr(self._replay, "state", None)
        if state is None or state.pos >= len(state.rows):
            return None
        args, ok, value = state.rows[state.pos]
        try:
            same = bool(args == row)
        except (TypeError, ValueError):  # e.g. numpy arrays inside the values
            same = False
        if not same:
            self._replay.state = None
            return None
        state.pos += 1
        return ok, value

    def _finish(self, oks: list[bool], values: list[Any], *, count: bool) -> Column:
        n = len(oks)
        failed = np.fromiter((not ok for ok in oks), dtype=np.bool_, count=n)
        nfailed = int(failed.sum())
        if count:  # a replayed row was counted when its batch ran
            self.stats.calls_total += n
        good = [v if ok else None for ok, v in zip(oks, values)]
        column = Column.from_values(good, self._kind(good))
        if not nfailed:
            return column
        first = next(v for ok, v in zip(oks, values) if not ok)
        if count:
            self._count_errors(nfailed, first)
        message = f"call func {self.spec.name} error: {first}"
        if n > 1:
            message += f" ({nfailed} of {n} rows)"
        raise ExternalRowErrors(message, column, failed)

    def _kind(self, values: list[Any]) -> str | None:
        kind = self.return_kind
        if kind in ("bigint", "float", "boolean"):
            return kind if all(v is None or isinstance(v, int | float) for v in values) else None
        return kind

    def _count_errors(self, count: int, message: str) -> None:
        self.stats.errors_total += count
        self.stats.last_error = message
        now = time.monotonic()
        self.stats.last_error_time = time.time()
        if now - self._last_log >= _LOG_EVERY_S:
            self._last_log = now
            log.warning("external function %s: %d call(s) failed: %s", self.spec.name, count,
                        message)
