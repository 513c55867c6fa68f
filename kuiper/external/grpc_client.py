"""gRPC unary calls through the compiled descriptor, on one reused grpcio aio channel per interface."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from kuiper.external.client import CallFailed
from kuiper.external.mapping import MappingError, to_message, to_value
from kuiper.external.service import InterfaceDef

# reconnect quickly once a service that was down comes back (grpc's default backoff reaches 2 min)
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class GrpcClient:
    """Calls `/pkg.Service/Method` with messages built from SQL arguments."""

    def __init__(self, iface: InterfaceDef) -> None:
        assert iface.schema is not None
        self._iface = iface
        self._schema = iface.schema
        parts = urlsplit(iface.address)
        self._target = f"{parts.hostname}:{parts.port}"
        self._channel: Any = None
        self._stubs: dict[str, Callable[..., Any]] = {}

    def _stub(self, method: str) -> Callable[..., Any]:
        stub = self._stubs.get(method)
        if stub is None:
            import grpc

            if self._channel is None:
                self._channel = grpc.aio.insecure_channel(self._target, options=_CHANNEL_OPTIONS)
            m = self._schema.methods[method]
            stub = self._channel.unary_unary(
                m.path,
                request_serializer=m.input_cls.SerializeToString,
                response_deserializer=m.output_cls.FromString,
            )
            self._stubs[method] = stub
        return stub

    async def call(self, method: str, args: list[Any]) -> Any:
        import grpc

        m = self._schema.methods[method]
        try:
            request = to_message(m.input_cls, m.input, args)
        except MappingError as exc:
            raise CallFailed(str(exc)) from None
        try:
            response = await self._stub(method)(request, timeout=self._iface.options.timeout_s)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            retryable = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                 grpc.StatusCode.DEADLINE_EXCEEDED)
            raise CallFailed(f"grpc {m.path} at {self._target}: {code.name}: {exc.details()}",
                             retryable=retryable) from None
        return to_value(response)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._stubs.clear()
        if channel is not None:
            await channel.close()
