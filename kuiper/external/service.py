"""Service descriptors (`{root}/etc/services/{service}.json`): parse, validate, list functions.

A descriptor has `about` (free-form metadata) and `interfaces`; an interface groups functions
that share an address, a protocol and a schema. Every rpc of the interface's .proto becomes a
SQL function under its own name, or under the `name` of its entry in `functions`
(`{"name": "getFeature", "serviceName": "get_feature"}`). A `"schemaless": true` REST
interface exposes one function named after the interface. Validation happens here, once, with
errors that name the service, the interface and the problem.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kuiper.errors import ConfigError
from kuiper.external.schema import ProtoSchema, compile_proto

PROTOCOLS = ("rest", "grpc", "msgpack-rpc")
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CONCURRENCY = 64
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class CallOptions:
    """An interface's `options`: HTTP headers and TLS check, timeout, retries, concurrency."""

    headers: dict[str, str] = field(default_factory=dict)
    insecure_skip_verify: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    retry_count: int = 0
    retry_interval_s: float = 0.0
    concurrency: int = DEFAULT_CONCURRENCY


@dataclass(frozen=True)
class FunctionSpec:
    """A SQL function of a service: which interface and which rpc it calls."""

    name: str
    method: str
    interface: str
    service: str


@dataclass(frozen=True)
class InterfaceDef:
    """One interface of a descriptor, validated, with its compiled schema."""

    name: str
    address: str
    protocol: str
    options: CallOptions
    schema: ProtoSchema | None  # None for a schemaless REST interface
    schema_file: str | None
    functions: tuple[FunctionSpec, ...]
    description: Any = None

    @property
    def schemaless(self) -> bool:
        return self.schema is None


@dataclass(frozen=True)
class ServiceDef:
    """A validated service descriptor."""

    name: str
    about: dict[str, Any]
    interfaces: dict[str, InterfaceDef]
    raw: dict[str, Any]

    def functions(self) -> list[FunctionSpec]:
        return [f for i in self.interfaces.values() for f in i.functions]


def parse_duration(value: Any, what: str) -> float:
    """Seconds from a number of milliseconds or a Go duration string ("500ms", "1m30s")."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expect milliseconds or a duration like \"5s\", got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{what} must not be negative")
        return float(value) / 1000.0
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text) / 1000.0
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNIT_S[u] for n, u in parts)
    raise ConfigError(f"{what}: expect milliseconds or a duration like \"5s\", got {value!r}")


def _int_option(options: dict[str, Any], key: str, default: int, lo: int, where: str) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"{where}: option {key} must be an integer >= {lo}, got {value!r}")
    return value


def parse_options(raw: Any, where: str) -> CallOptions:
    """Validate an interface's `options` object."""
    if raw is None:
        return CallOptions()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: options must be an object")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(f"{where}: option headers must be an object of strings")
    timeout = parse_duration(raw["timeout"], f"{where}: option timeout") \
        if "timeout" in raw else DEFAULT_TIMEOUT_S
    if timeout <= 0:
        raise ConfigError(f"{where}: option timeout must be positive")
    interval = parse_duration(raw["retryInterval"], f"{where}: option retryInterval") \
        if raw.get("retryInterval") not in (None, "") else 0.0
    return CallOptions(
        headers={str(k): str(v) for k, v in headers.items()},
        insecure_skip_verify=bool(raw.get("insecureSkipVerify", False)),
        timeout_s=timeout,
        retry_count=_int_option(raw, "retryCount", 0, 0, where),
        retry_interval_s=interval,
        concurrency=_int_option(raw, "concurrency", DEFAULT_CONCURRENCY, 1, where),
    )


def _check_address(address: Any, protocol: str, where: str) -> str:
    if not isinstance(address, str) or not address:
        raise ConfigError(f"{where}: address is required")
    parts = urlsplit(address)
    if protocol == "rest":
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}: a rest address must be http(s)://host:port, got {address}")
    elif parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        raise ConfigError(f"{where}: a {protocol} address must be tcp://host:port, got {address}")
    return address


def _schema_path(schemas_dir: Path, schema_file: Any, where: str) -> Path:
    if not isinstance(schema_file, str) or not schema_file:
        raise ConfigError(f"{where}: schemaFile is required (a .proto under etc/services/schemas)")
    path = (schemas_dir / schema_file).resolve()
    if not path.is_relative_to(schemas_dir.resolve()):
        raise ConfigError(f"{where}: schemaFile {schema_file} must be inside the schemas folder")
    if not path.is_file():
        raise ConfigError(f"{where}: schema file {schema_file} not found in {schemas_dir}")
    return path


def _aliases(raw: Any, where: str) -> dict[str, str]:
    """rpc name -> SQL name from the interface's `functions` list."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: functions must be a list of {{name, serviceName}}")
    out: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not isinstance(item.get("serviceName"), str):
            raise ConfigError(f"{where}: each functions entry needs string name and serviceName")
        out[item["serviceName"]] = item["name"]
    return out


def parse_interface(service: str, name: str, raw: Any, schemas_dir: Path) -> InterfaceDef:
    """Validate one interface, compiling its schema."""
    where = f"service {service}, interface {name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object")
    protocol = raw.get("protocol")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{where}: unknown protocol {protocol!r}",
                          hint="use rest, grpc or msgpack-rpc")
    address = _check_address(raw.get("address"), protocol, where)
    options = parse_options(raw.get("options"), where)
    if raw.get("schemaless"):
        if protocol != "rest":
            raise ConfigError(f"{where}: only rest interfaces can be schemaless")
        spec = FunctionSpec(name, name, name, service)
        return InterfaceDef(name, address, protocol, options, None, None, (spec,),
                            raw.get("description"))
    schema_type = raw.get("schemaType", "protobuf")
    if schema_type != "protobuf":
        raise ConfigError(f"{where}: unsupported schemaType {schema_type!r}", hint="use protobuf")
    path = _schema_path(schemas_dir, raw.get("schemaFile"), where)
    try:
        schema = compile_proto(path, [schemas_dir])
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
    aliases = _aliases(raw.get("functions"), where)
    unknown = sorted(set(aliases) - set(schema.methods))
    if unknown:
        raise ConfigError(f"{where}: functions map {', '.join(unknown)}, which schema "
                          f"{raw['schemaFile']} does not declare",
                          hint=f"rpcs: {', '.join(schema.methods)}")
    specs = tuple(FunctionSpec(aliases.get(m, m), m, name, service) for m in schema.methods)
    return InterfaceDef(name, address, protocol, options, schema, raw["schemaFile"], specs,
                        raw.get("description"))


def parse_service(name: str, raw: Any, schemas_dir: Path) -> ServiceDef:
    """Validate a whole descriptor; every problem is a ConfigError naming where it is."""
    if not _NAME.match(name or ""):
        raise ConfigError(f"invalid service name {name!r}",
                          hint="letters, digits, _ and -; it is the descriptor's file name")
    if not isinstance(raw, dict):
        raise ConfigError(f"service {name}: the descriptor must be a JSON object")
    interfaces = raw.get("interfaces")
    if not isinstance(interfaces, dict) or not interfaces:
        raise ConfigError(f"service {name}: interfaces must be a non-empty object")
    parsed = {iname: parse_interface(name, iname, iraw, schemas_dir)
              for iname, iraw in interfaces.items()}
    seen: dict[str, str] = {}
    for iface in parsed.values():
        for spec in iface.functions:
            if spec.name in seen:
                raise ConfigError(f"service {name}: function {spec.name} is declared by "
                                  f"interfaces {seen[spec.name]} and {iface.name}")
            seen[spec.name] = iface.name
    about = raw.get("about") if isinstance(raw.get("about"), dict) else {}
    return ServiceDef(name, about, parsed, raw)


def load_service_file(path: Path, schemas_dir: Path | None = None) -> ServiceDef:
    """Read and validate `{service}.json` (schemas default to the `schemas` folder beside it)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"service descriptor {path} not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"service descriptor {path.name} is not valid JSON: {exc}") from None
    return parse_service(path.stem, raw, schemas_dir or path.parent / "schemas")
