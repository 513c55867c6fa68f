"""Connector configuration files: `{root}/etc/sources/{type}.yaml`, sections by CONF_KEY."""
from __future__ import annotations

import logging
import os
from typing import Any

import yaml

from kuiper.errors import ConfigError

log = logging.getLogger(__name__)

# Types whose file does not follow etc/sources/{type}.yaml (eKuiper's historical names).
SPECIAL_FILES = {"mqtt": os.path.join("etc", "mqtt_source.yaml")}


def source_conf_path(root: str, source_type: str) -> str:
    rel = SPECIAL_FILES.get(source_type.lower(), os.path.join("etc", "sources", f"{source_type}.yaml"))
    return os.path.join(root, rel)


def load_yaml_sections(path: str) -> dict[str, dict[str, Any]]:
    """The sections of a connector yaml file ({} if the file does not exist)."""
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold sections like 'default: {{...}}'")
    return {str(k): dict(v or {}) for k, v in data.items() if isinstance(v, dict | None)}


def load_source_conf(root: str, source_type: str, conf_key: str = "default") -> dict[str, Any]:
    """The `default` section overridden by the `conf_key` section."""
    path = source_conf_path(root, source_type)
    sections = load_yaml_sections(path)
    conf = dict(sections.get("default", {}))
    if conf_key and conf_key != "default":
        if conf_key not in sections:
            raise ConfigError(
                f"CONF_KEY '{conf_key}' not found in {path}",
                hint=f"add a '{conf_key}:' section to {path} or fix the stream's CONF_KEY",
            )
        conf.update(sections[conf_key])
    return conf
