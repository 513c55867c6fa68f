"""Connector and format registries: sources, sinks, decoders and encoders by type name.

`kuiper.io` names the built-in connectors with the module that defines each one
(`register_lazy`): the module is imported the first time a rule asks for its type, so a rule
that reads a file does not pay for MQTT, HTTP or protobuf. Plugins add to the same maps.
Names are matched case-insensitively (eKuiper writes `TYPE="file"`, `{"log": {}}`).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kuiper.errors import NotFoundError

T = TypeVar("T")
ConfLoader = Callable[[str, str, str], dict[str, Any]]

_SOURCES: dict[str, Callable[[], Any]] = {}
_SINKS: dict[str, Callable[[], Any]] = {}
_LOOKUPS: dict[str, Callable[[], Any]] = {}
_FORMATS: dict[str, Callable[..., Any]] = {}
_ENCODERS: dict[str, Callable[..., Any]] = {}
_conf_loader: ConfLoader | None = None
_STREAM_PROPS = {"DELIMITER": "delimiter"}


@dataclass(frozen=True, slots=True)
class _Deferred:
    """A built-in registered by name only: `module` registers the real class on import."""

    module: str


_TABLES = {"source": _SOURCES, "sink": _SINKS, "lookup": _LOOKUPS, "format": _FORMATS,
           "encoder": _ENCODERS}


def register_lazy(kind: str, name: str, module: str) -> None:
    """Name a built-in of `kind` (source, sink, lookup, format, encoder) whose class `module`
    registers when imported; an existing registration (a plugin's) is kept."""
    _TABLES[kind].setdefault(name.lower(), _Deferred(module))  # type: ignore[arg-type]


def _register(table: dict[str, Callable[..., Any]], name: str) -> Callable[[T], T]:
    def decorate(factory: T) -> T:
        table[name.lower()] = factory  # type: ignore[assignment]
        return factory

    return decorate


def register_source(name: str) -> Callable[[T], T]:
    """Class decorator: `@register_source("file")` makes `TYPE="file"` streams use the class."""
    return _register(_SOURCES, name)


def register_sink(name: str) -> Callable[[T], T]:
    """Class decorator: `@register_sink("log")` makes `{"log": {...}}` actions use the class."""
    return _register(_SINKS, name)


def register_lookup(name: str) -> Callable[[T], T]:
    """Class decorator: `@register_lookup("redis")` makes `CREATE TABLE … WITH (TYPE="redis",
    KIND="lookup")` tables use the class (a `kuiper.api.LookupSource`)."""
    return _register(_LOOKUPS, name)


def register_format(name: str) -> Callable[[T], T]:
    """Decoder class for a stream FORMAT: built as `cls(stream_def, fields)`; it offers
    `decode_lines(chunk) -> (Batch, errors)` and `decode_payloads(list[bytes]) -> (Batch, errors)`
    where errors are `(line_or_message_number, message)` pairs, 1-based."""
    return _register(_FORMATS, name)


def register_encoder(name: str) -> Callable[[T], T]:
    """Encoder class for a sink `format`: built as `cls(props)`; it offers `prepare(batch)`
    (column fix-ups before rows are built) and `encode(data) -> bytes`."""
    return _register(_ENCODERS, name)


def _lookup(table: dict[str, Callable[..., Any]], what: str, name: str) -> Callable[..., Any]:
    key = (name or "").lower()
    found: Any = table.get(key)
    if isinstance(found, _Deferred):
        try:
            importlib.import_module(found.module)
        except ImportError as exc:
            raise NotFoundError(f"{what} '{name}' is not available: {exc}",
                                hint=f"install the Python package it needs ({exc.name})") from exc
        found = table.get(key)
        if isinstance(found, _Deferred):
            raise NotFoundError(f"{what} '{name}': {found.module} does not define it")
    if found is None:
        known = ", ".join(sorted(table)) or "none registered (was kuiper.io imported?)"
        raise NotFoundError(f"unknown {what} '{name}'", hint=f"known {what}s: {known}")
    return found


def get_source_factory(name: str) -> Callable[[], Any]:
    return _lookup(_SOURCES, "source type", name)


def get_sink_factory(name: str) -> Callable[[], Any]:
    return _lookup(_SINKS, "sink type", name)


def get_lookup_factory(name: str) -> Callable[[], Any]:
    return _lookup(_LOOKUPS, "lookup source type", name)


def get_format(name: str) -> Callable[..., Any]:
    return _lookup(_FORMATS, "format", name)


def get_encoder(name: str) -> Callable[..., Any]:
    return _lookup(_ENCODERS, "sink format", name)


def source_types() -> list[str]:
    return sorted(_SOURCES)


def sink_types() -> list[str]:
    return sorted(_SINKS)


def lookup_types() -> list[str]:
    return sorted(_LOOKUPS)


def format_names() -> list[str]:
    return sorted(_FORMATS)


def set_conf_loader(loader: ConfLoader) -> None:
    """Install the function that reads `{root}/etc/sources/{type}.yaml` (set by kuiper.io)."""
    global _conf_loader
    _conf_loader = loader


def load_source_conf(root: str, source_type: str, conf_key: str) -> dict[str, Any]:
    """The merged properties of a source type's conf key ({} when no loader is installed)."""
    if _conf_loader is None:
        return {}
    return _conf_loader(root, source_type, conf_key)


def source_conf(spec: Any, root: str) -> dict[str, Any]:
    """The properties a source is configured with: etc/sources/{type}.yaml's default section,
    overridden by the CONF_KEY section, then by connector properties of the stream."""
    stream = spec.stream
    conf = load_source_conf(root, stream.source_type, stream.conf_key)
    for key, prop in _STREAM_PROPS.items():
        if key in stream.options:
            conf[prop] = stream.options[key]
    return conf


def build_source(spec: Any, root: str) -> tuple[Any, Any]:
    """A configured source connector and its decoder (configuration errors raise here)."""
    stream = spec.stream
    source = get_source_factory(stream.source_type)()
    source.configure(stream.datasource, source_conf(spec, root))
    return source, build_decoder(spec, root)


def build_decoder(spec: Any, root: str) -> Any:
    """The decoder of a stream's FORMAT for the fields a rule reads (`spec.fields`)."""
    decoder = get_format(spec.stream.format)(spec.stream, spec.fields)
    bind_root(decoder, root)
    return decoder


def bind_root(codec: Any, root: str) -> None:
    """Formats that read files under the root (protobuf schemas) load them now."""
    bind = getattr(codec, "bind_root", None)
    if bind is not None:
        bind(root)
