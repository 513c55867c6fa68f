"""Isolation of plugin sources and sinks: an exception escaping the plugin fails its rule only.

`guard(instance, ptype, where)` wraps the methods the runtime calls on a plugin connector
(`open`, `pull`, `collect`, `collect_batch`, `lookup`). When the plugin raises:

- a recoverable kuiper error (`ConnectorError`: the target is unreachable; `EvalError`,
  `DecodeError`: bad data) goes on as it is: the node counts it and the rule goes on, as with
  the built-in connectors;
- anything else is the plugin's fault: it becomes a `PluginError` naming the plugin, the rule
  is failed through `ctx.fail_rule` (error state, or a restart per its restartStrategy), and the
  error is raised on to the node, which counts it in its metrics (exceptions_total,
  last_exception). Nothing escapes the rule's tasks: the process and the other rules go on.

`configure` errors raise at rule start (a plugin's ConfigError unchanged, anything else as a
PluginError naming the plugin); `close` errors are counted by the node and fail nothing.
The methods are wrapped on the instance (its class and `isinstance` are unchanged, an async
method stays async), once even for a singleton shared by several rules.
"""
from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from kuiper.errors import (
    ConnectorError,
    DecodeError,
    EvalError,
    KuiperError,
    PluginError,
)

log = logging.getLogger(__name__)

RECOVERABLE = (ConnectorError, EvalError, DecodeError)
_RUNTIME_METHODS = {
    "sources": ("open", "pull", "lookup"),
    "sinks": ("open", "collect", "collect_batch"),
}
_MARK = "_kuiper_guarded"


def plugin_failure(exc: BaseException, where: str, method: str) -> PluginError:
    """The PluginError for an exception a plugin raised in `method`."""
    if isinstance(exc, PluginError):
        return exc
    return PluginError(f"{where} failed in {method}: {type(exc).__name__}: {exc}",
                       hint="the plugin raised; fix it or catch the error")


def _report(ctx: Any, err: PluginError) -> None:
    fail = getattr(ctx, "fail_rule", None)
    if callable(fail):
        try:
            fail(err)
        except Exception:  # noqa: BLE001 - reporting must not hide the plugin's error
            log.exception("cannot fail the rule of %s", err)


def _wrap_method(method: Callable[..., Any], where: str, name: str) -> Callable[..., Any]:
    async def _awaited(ctx: Any, pending: Any) -> Any:
        try:
            return await pending
        except RECOVERABLE:
            raise
        except Exception as exc:
            err = plugin_failure(exc, where, name)
            _report(ctx, err)
            raise err from exc

    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def guarded_async(ctx: Any, *args: Any, **kwargs: Any) -> Any:
            return await _awaited(ctx, method(ctx, *args, **kwargs))

        return guarded_async

    @functools.wraps(method)
    def guarded(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(ctx, *args, **kwargs)
        except RECOVERABLE:
            raise
        except Exception as exc:
            err = plugin_failure(exc, where, name)
            _report(ctx, err)
            raise err from exc
        if inspect.isawaitable(result):
            return _awaited(ctx, result)
        return result

    return guarded


def _wrap_configure(method: Callable[..., Any], where: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def configure(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except KuiperError:
            raise
        except Exception as exc:
            raise plugin_failure(exc, where, "configure") from exc

    return configure


def guard(instance: Any, ptype: str, where: str) -> Any:
    """`instance` with its runtime methods guarded (see the module docstring); returned."""
    if getattr(instance, _MARK, False):
        return instance
    methods = _RUNTIME_METHODS.get(ptype, ())
    try:
        for name in methods:
            method = getattr(instance, name, None)
            if callable(method):
                setattr(instance, name, _wrap_method(method, where, name))
        configure = getattr(instance, "configure", None)
        if callable(configure):
            instance.configure = _wrap_configure(configure, where)
        setattr(instance, _MARK, True)
    except (AttributeError, TypeError):  # a compiled class without __dict__: left as it is
        log.debug("%s: methods cannot be wrapped; its errors are counted, not isolated", where)
    return instance
