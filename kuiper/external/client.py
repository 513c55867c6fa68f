"""The contract every protocol client meets: `call(method, args) -> value`, `close()`, CallFailed."""
from __future__ import annotations

from typing import Any, Protocol

from kuiper.errors import ExternalCallError


class CallFailed(ExternalCallError):
    """One call that failed; `retryable` when trying again may help (transport, 5xx, timeout)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Client(Protocol):
    """A protocol client for one interface. Lives on the external-call loop (see functions.py):
    created, called and closed only from coroutines running there."""

    async def call(self, method: str, args: list[Any]) -> Any:
        """Call rpc `method` with SQL argument values; the response as a SQL value."""
        ...

    async def close(self) -> None:
        """Release connections; a later call may reconnect."""
        ...
