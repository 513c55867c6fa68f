"""The eKuiper Python SDK's base classes (Function, Source, Sink, Context), same names and methods."""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any


class Context(ABC):
    """What an eKuiper SDK extension sees: identity, logger, emit, acks."""

    @abstractmethod
    def get_rule_id(self) -> str:
        """Provided by the engine's adapter."""

    @abstractmethod
    def get_op_id(self) -> str:
        """Provided by the engine's adapter."""

    @abstractmethod
    def get_instance_id(self) -> int:
        """Provided by the engine's adapter."""

    @abstractmethod
    def get_logger(self) -> logging.Logger:
        """Provided by the engine's adapter."""

    @abstractmethod
    def emit(self, message: dict, meta: dict | None) -> None:
        """Provided by the engine's adapter."""

    @abstractmethod
    def emit_error(self, error: str) -> None:
        """Provided by the engine's adapter."""

    @abstractmethod
    def ack_ok(self) -> None:
        """Provided by the engine's adapter."""

    @abstractmethod
    def ack_error(self, error: str) -> None:
        """Provided by the engine's adapter."""


class Source:
    """An SDK source: `configure(datasource, conf)`, a blocking `open(ctx)` emitting rows, `close`."""

    def configure(self, datasource: str, conf: dict) -> Any:
        pass

    def open(self, ctx: Context) -> Any:
        pass

    def close(self, ctx: Context) -> Any:
        pass


class Sink:
    """An SDK sink: `configure(conf)`, `open(ctx)`, `collect(ctx, data)` with JSON bytes, `close`."""

    def configure(self, conf: dict) -> Any:
        pass

    def open(self, ctx: Context) -> Any:
        pass

    def collect(self, ctx: Context, data: Any) -> Any:
        pass

    def close(self, ctx: Context) -> Any:
        pass


class Function:
    """An SDK function: `validate(args)` returns "" when fine, `exec(args, ctx)`, `is_aggregate()`."""

    def validate(self, args: list[Any]) -> str:
        return ""

    def exec(self, args: list[Any], ctx: Context) -> Any:
        raise TypeError(f"function {type(self).__name__} does not define exec(args, ctx)")

    def is_aggregate(self) -> bool:
        return False
