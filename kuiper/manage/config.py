"""`{root}/etc/kuiper.yaml` as the management plane reads it: the REST address and the store.

The effective file is the shipped defaults < the root's file < `KUIPER__…` environment
variables (kuiper/runtime/conf.py); the rule and sink defaults are read where rules run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kuiper.errors import ConfigError
from kuiper.runtime.conf import kuiper_conf, section
from kuiper.runtime.options import parse_duration_ms

log = logging.getLogger(__name__)

DEFAULT_REST_IP = "127.0.0.1"
DEFAULT_REST_PORT = 9081


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """`basic.restIp` / `basic.restPort` and the `store` section (eKuiper's keys); `raw` is
    the whole effective document."""

    rest_ip: str = DEFAULT_REST_IP
    rest_port: int = DEFAULT_REST_PORT
    store: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def load_config(root: str | Path) -> ServerConfig:
    """The effective kuiper.yaml of `root` (a missing file gives the shipped defaults)."""
    path = Path(root) / "etc" / "kuiper.yaml"
    doc = kuiper_conf(root)
    basic = section(doc, "basic")
    ip = str(basic.get("restIp") or DEFAULT_REST_IP)
    port = basic.get("restPort", DEFAULT_REST_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise ConfigError(f"{path}: basic.restPort must be a port number, got {port!r}",
                          hint="set basic.restPort in the file or KUIPER__BASIC__RESTPORT")
    if basic.get("ignoreCase") is True:
        log.warning("basic.ignoreCase: true is not supported; kuiper matches column and stream "
                    "names exactly (as eKuiper with ignoreCase: false)")
    store = dict(section(doc, "store"))
    redis = store.get("redis")
    if isinstance(redis, dict) and isinstance(redis.get("timeout"), str):
        store["redis"] = {**redis, "timeout": parse_duration_ms(redis["timeout"],
                                                                "store.redis.timeout")}
    return ServerConfig(rest_ip=ip, rest_port=port, store=store, raw=doc)
