"""Configuration files as eKuiper reads them: YAML, then `PREFIX__A__B=value` env overrides.

eKuiper (`internal/conf/load.go`) loads `etc/kuiper.yaml` and every connector yaml the same
way: the file's name upper-cased is the prefix (`KUIPER`, `MQTT_SOURCE`, `CONNECTION`, `FILE`),
each `__` in the rest of the variable's name is one level of nesting, names match keys
case-insensitively and values are typed like Go's strconv (int, then bool, then float, then
string; `[a,b]` is a list). Precedence: environment > the root's yaml > the shipped defaults
(`kuiper/etc/kuiper.yaml`, eKuiper's keys and values).

The shipped defaults are read from `kuiper/etc/kuiper.json`, the parsed yaml stamped with the
yaml's CRC-32 (`write_shipped_json` makes it): a run without yaml files of its own loads no
YAML parser. A stale or missing JSON falls back to parsing the yaml.
"""
from __future__ import annotations

import copy
import functools
import logging
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kuiper.errors import ConfigError

log = logging.getLogger(__name__)

SEPARATOR = "__"
KUIPER_PREFIX = "KUIPER"
SHIPPED_KUIPER_YAML = Path(__file__).resolve().parent.parent / "etc" / "kuiper.yaml"
SHIPPED_KUIPER_JSON = SHIPPED_KUIPER_YAML.with_suffix(".json")

_GO_INT = re.compile(r"[+-]?\d+")
_GO_FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)",
                       re.IGNORECASE)
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def env_value(text: str) -> Any:
    """A variable's value typed as eKuiper types it: int, bool, float, `[a, b]` list, or str."""
    text = text.strip(" ")
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(part) for part in text.replace("[", "").replace("]", "").split(",")]
    return _scalar(text)


def _scalar(text: str) -> Any:
    if _GO_INT.fullmatch(text):
        value = int(text)
        if -(2**63) <= value < 2**63:
            return value
    if text in _GO_BOOLS:
        return _GO_BOOLS[text]
    if _GO_FLOAT.fullmatch(text):
        return float(text)
    return text


def file_prefix(path: str | os.PathLike[str]) -> str:
    """The variable prefix of a config file: its name without extension, upper-cased."""
    return Path(path).stem.upper()


def match_key(mapping: Mapping[str, Any], name: str, known: Iterable[str] = ()) -> str:
    """The key of `mapping` equal to `name` ignoring case; else a `known` spelling; else
    `name` lower-cased (what eKuiper stores for a key the file does not have)."""
    folded = name.lower()
    for key in mapping:
        if str(key).lower() == folded:
            return str(key)
    for key in known:
        if key.lower() == folded:
            return key
    return folded


def apply_env(doc: Mapping[str, Any], prefix: str, environ: Mapping[str, str] | None = None,
              known: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of `doc` with every `PREFIX__KEY__SUB=value` variable applied (sorted by name so
    the result does not depend on the order of the environment)."""
    environ = os.environ if environ is None else environ
    head = prefix.upper() + SEPARATOR
    known = tuple(known)
    out = copy.deepcopy(dict(doc))
    for var in sorted(environ):
        if not var.startswith(head) or len(var) == len(head):
            continue
        path = var[len(head):].split(SEPARATOR)
        if any(not part for part in path):
            raise ConfigError(f"environment variable {var}: empty key between '__'",
                              hint=f"write {prefix}__SECTION__KEY=value")
        node: dict[str, Any] = out
        for depth, part in enumerate(path):
            key = match_key(node, part, known)
            if depth == len(path) - 1:
                node[key] = env_value(environ[var])
                break
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise ConfigError(
                    f"environment variable {var}: '{key}' is a value, not a section",
                    hint="remove the extra '__' levels or fix the yaml file")
            node = child
        shown = "*" if "password" in var.lower() else environ[var]
        log.info("Set config '%s.%s' to '%s' by environment variable", prefix.lower(),
                 ".".join(path).lower(), shown)
    return out


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` laid on `base` section by section; keys match ignoring case and keep the
    spelling of `base` (so a yaml `restport:` still overrides the default `restPort`)."""
    out = copy.deepcopy(dict(base))
    spelled = {str(k).lower(): str(k) for k in out}
    for raw_key, value in over.items():
        key = spelled.get(str(raw_key).lower(), str(raw_key))
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A yaml file's top-level mapping ({} when the file does not exist)."""
    if not os.path.isfile(path):
        return {}
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=loader) or {}  # noqa: S506 (a safe loader)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a mapping of sections like 'default: {{...}}'")
    return doc


def load_file(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None,
              known: Iterable[str] = ()) -> dict[str, Any]:
    """A connector or connection yaml with its `{FILE_NAME}__…` variables applied."""
    return apply_env(read_yaml(path), file_prefix(path), environ, known)


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    import orjson

    source = SHIPPED_KUIPER_YAML.read_bytes()
    try:
        twin = orjson.loads(SHIPPED_KUIPER_JSON.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        twin = None
    if isinstance(twin, dict) and twin.get("yaml_crc32") == zlib.crc32(source):
        return twin["defaults"]
    log.debug("%s is missing or older than %s: parsing the yaml", SHIPPED_KUIPER_JSON,
              SHIPPED_KUIPER_YAML)
    return read_yaml(SHIPPED_KUIPER_YAML)


def write_shipped_json() -> None:
    """(Re)write `kuiper/etc/kuiper.json` from `kuiper/etc/kuiper.yaml` (after editing it):
    `python -c "from kuiper.runtime.conf import write_shipped_json; write_shipped_json()"`."""
    import orjson

    twin = {"yaml_crc32": zlib.crc32(SHIPPED_KUIPER_YAML.read_bytes()),
            "defaults": read_yaml(SHIPPED_KUIPER_YAML)}
    SHIPPED_KUIPER_JSON.write_bytes(orjson.dumps(twin, option=orjson.OPT_INDENT_2) + b"\n")


def shipped_kuiper_yaml() -> dict[str, Any]:
    """The defaults kuiper ships (`kuiper/etc/kuiper.yaml`), a fresh copy."""
    return copy.deepcopy(_shipped())


_CONF_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}


def kuiper_conf(root: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *,
                shared: bool = False) -> dict[str, Any]:
    """The effective `etc/kuiper.yaml` of a root: shipped defaults < the root's file < env.
    Kept per (root, file version, KUIPER__ variables): starting 1,000 rules reads it once.
    A copy, or with `shared` the kept document itself (the caller must not modify it)."""
    path = Path(root) / "etc" / "kuiper.yaml"
    env = os.environ if environ is None else environ
    try:
        st = path.stat()
        version: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
    except OSError:
        version = None
    head = KUIPER_PREFIX.upper() + SEPARATOR
    key = (str(path), version, tuple(sorted((k, v) for k, v in env.items()
                                            if k.startswith(head))))
    doc = _CONF_CACHE.get(key)
    if doc is None:
        if len(_CONF_CACHE) >= 32:
            _CONF_CACHE.clear()
        doc = _CONF_CACHE[key] = apply_env(merge(_shipped(), read_yaml(path)), KUIPER_PREFIX,
                                           environ)
    return doc if shared else copy.deepcopy(doc)


def section(conf: Mapping[str, Any], name: str) -> dict[str, Any]:
    """One section of a loaded kuiper.yaml ({} if absent); a non-mapping is an error."""
    value = conf.get(match_key(conf, name))
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"etc/kuiper.yaml: '{name}' must be a section (a mapping)")
    return value


def canonical(mapping: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """`mapping` with keys spelled as in `names` when they match ignoring case (an env
    variable gives `bufferlength`; rule options are read as `bufferLength`)."""
    by_lower = {n.lower(): n for n in names}
    return {by_lower.get(str(k).lower(), str(k)): v for k, v in mapping.items()}
