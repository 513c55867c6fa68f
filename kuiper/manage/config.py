"""`{root}/etc/kuiper.yaml` as the management plane reads it: the REST address and the store."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kuiper.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_REST_IP = "127.0.0.1"
DEFAULT_REST_PORT = 9081


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """`basic.restIp` / `basic.restPort` and the `store` section (eKuiper's keys)."""

    rest_ip: str = DEFAULT_REST_IP
    rest_port: int = DEFAULT_REST_PORT
    store: dict[str, Any] = field(default_factory=dict)


def load_config(root: str | Path) -> ServerConfig:
    """Read `{root}/etc/kuiper.yaml`; a missing file gives the defaults."""
    path = Path(root) / "etc" / "kuiper.yaml"
    if not path.is_file():
        return ServerConfig()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (basic:, rule:, store: …)")
    basic = doc.get("basic") or {}
    ip = str(basic.get("restIp") or DEFAULT_REST_IP)
    port = basic.get("restPort", DEFAULT_REST_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise ConfigError(f"{path}: basic.restPort must be a port number, got {port!r}")
    store = doc.get("store") or {}
    if not isinstance(store, dict):
        raise ConfigError(f"{path}: 'store' must be a mapping")
    return ServerConfig(rest_ip=ip, rest_port=port, store=dict(store))
