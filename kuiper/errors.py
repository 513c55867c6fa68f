"""The KuiperError tree: every error a user can see, with a stable code."""
from __future__ import annotations


class KuiperError(Exception):
    """Base of every kuiper error. `code` is stable and appears in REST error bodies."""

    code = 1000

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ParseError(KuiperError):
    """A SQL statement that does not parse; carries line, column and the offending token."""

    code = 1001

    def __init__(
        self, message: str, *, line: int = 0, column: int = 0, token: str = "", sql: str = ""
    ) -> None:
        self.line = line
        self.column = column
        self.token = token
        self.sql = sql
        where = f" at line {line}, column {column}" if line else ""
        near = f" near '{token}'" if token else ""
        super().__init__(f"{message}{where}{near}")


class PlanError(KuiperError):
    """A statement that parses but cannot be planned: unknown stream/field/function, bad arity, type."""

    code = 1002


class NotFoundError(KuiperError):
    """A stream, table, rule, plugin or service that does not exist."""

    code = 1003


class ConflictError(KuiperError):
    """Creating something that already exists."""

    code = 1004


class ConfigError(KuiperError):
    """A rule option, connector property or configuration file that is invalid."""

    code = 1005


class DecodeError(KuiperError):
    """A message that cannot be decoded (malformed JSON, wrong type under a declared schema)."""

    code = 1010


class EvalError(KuiperError):
    """A runtime error while evaluating an expression (division by zero, bad cast)."""

    code = 1011


class ConnectorError(KuiperError):
    """A source or sink that cannot reach its target, or fails while running."""

    code = 1020


class PluginError(KuiperError):
    """A plugin that cannot be loaded, installed or that failed while running."""

    code = 1030


class ExternalCallError(KuiperError):
    """An external (REST/gRPC/msgpack-rpc) function call that failed or timed out."""

    code = 1040
