"""Rule options in eKuiper's names, parsed into a frozen dataclass with eKuiper's defaults."""
from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kuiper.catalog.defs import RuleDef
from kuiper.errors import ConfigError
from kuiper.runtime.conf import canonical, kuiper_conf, merge, section

log = logging.getLogger(__name__)

BLOCK = "block"
DROP_OLDEST = "dropOldest"

# Resource limits (see docs/limits.md): what one message, one JSON document and one window
# may hold before the input is refused with a counted error instead of exhausting memory.
DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024  # bytes of one message (payload or line)
DEFAULT_MAX_JSON_DEPTH = 512  # nested objects/arrays of one JSON document
MAX_JSON_DEPTH = 1024  # orjson's own limit: the schemaless path cannot go deeper
DEFAULT_MAX_WINDOW_ROWS = 10_000_000  # rows one window operator holds for its open windows

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}

# Accepted for compatibility; they change nothing here (yet).
_PASSIVE = {
    "debug", "logFilename", "cron", "duration", "cronDatetimeRange", "enableRuleTracer",
    "planOptimizeStrategy", "enableSaveStateBeforeStop", "forceExitTimeout", "notifySub",
    "experiment", "attempts",
}


def parse_duration_ms(value: Any, option: str) -> int:
    """An int (milliseconds) or a Go duration string ("1s", "500ms", "1m30s") in milliseconds."""
    if isinstance(value, bool):
        raise ConfigError(f"option '{option}' must be milliseconds or a duration like \"1s\"")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"option '{option}' must not be negative")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        pos, total = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _UNIT_MS[m.group(2)]
            pos = m.end()
        if pos == len(text) and text:
            return int(total)
    raise ConfigError(
        f"option '{option}' has a bad duration {value!r}",
        hint='use milliseconds (1000) or a duration such as "1s", "500ms", "2m"',
    )


def _int(raw: Mapping[str, Any], name: str, default: int, minimum: int = 0) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ConfigError(f"option '{name}' must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"option '{name}' must be >= {minimum}, got {value}")
    return int(value)


def _number(raw: Mapping[str, Any], name: str, default: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' must be a number, got {value!r}")
    return float(value)


def _bool(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"option '{name}' must be true or false, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class RestartStrategy:
    """How a failed rule is restarted (eKuiper v1 shape; attempts 0 = never)."""

    attempts: int = 0
    delay_ms: int = 1000
    multiplier: float = 2.0
    max_delay_ms: int = 30000
    jitter_factor: float = 0.1

    @classmethod
    def parse(cls, raw: Any) -> RestartStrategy:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigError("option 'restartStrategy' must be an object like {\"attempts\": 3}")
        try:
            strategy = cls(
                attempts=_int(raw, "attempts", 0),
                delay_ms=parse_duration_ms(raw.get("delay", 1000), "restartStrategy.delay"),
                multiplier=_number(raw, "multiplier", 2.0),
                max_delay_ms=parse_duration_ms(raw.get("maxDelay", 30000), "restartStrategy.maxDelay"),
                jitter_factor=_number(raw, "jitterFactor", 0.1),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"option 'restartStrategy' is invalid: {exc}") from exc
        if not 0 < strategy.multiplier < math.inf:
            raise ConfigError("option 'restartStrategy.multiplier' must be a number > 0, got "
                              f"{strategy.multiplier}", hint='"multiplier": 2')
        if not 0 <= strategy.jitter_factor < 1:
            raise ConfigError("option 'restartStrategy.jitterFactor' must be >= 0 and < 1, got "
                              f"{strategy.jitter_factor}", hint='"jitterFactor": 0.1')
        return strategy


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """A rule's options. `buffer_length` counts rows queued in front of a node (see node.py)."""

    is_event_time: bool = False
    late_tolerance_ms: int = 1000
    concurrency: int = 1
    buffer_length: int = 1024
    send_meta_to_sink: bool = False
    send_error: bool = False
    send_nil_field: bool = False
    qos: int = 0
    checkpoint_interval_ms: int = 300_000
    restart_strategy: RestartStrategy = field(default_factory=RestartStrategy)
    max_batch_size: int = 8192
    buffer_full_policy: str = BLOCK
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_window_rows: int = DEFAULT_MAX_WINDOW_ROWS
    shared_source: bool = True  # kuiper's own: false = never read through a shared source
    unknown: tuple[str, ...] = ()

    @property
    def drops_oldest(self) -> bool:
        return self.buffer_full_policy == DROP_OLDEST


_KNOWN = {
    "isEventTime", "lateTolerance", "concurrency", "bufferLength", "sendMetaToSink", "sendError",
    "sendNilField", "qos", "checkpointInterval", "restartStrategy", "maxBatchSize",
    "bufferFullPolicy", "disableBufferFullDiscard", "maxMessageSize", "maxJsonDepth",
    "maxWindowRows", "sharedSource",
}


def parse_rule_options(raw: Mapping[str, Any] | None) -> RuleOptions:
    """Options from a rule's JSON `options` object; unknown names are warned about, not fatal."""
    raw = dict(raw or {})
    unknown = tuple(k for k in raw if k not in _KNOWN and k not in _PASSIVE)
    for name in unknown:
        log.warning("unknown rule option '%s' is ignored", name)
    qos = _int(raw, "qos", 0)
    if qos > 2:
        raise ConfigError(f"option 'qos' must be 0, 1 or 2, got {qos}")
    policy = BLOCK
    if "disableBufferFullDiscard" in raw:
        policy = BLOCK if _bool(raw, "disableBufferFullDiscard", True) else DROP_OLDEST
    if "bufferFullPolicy" in raw:
        policy = raw["bufferFullPolicy"]
        if policy not in (BLOCK, DROP_OLDEST):
            raise ConfigError(
                f"option 'bufferFullPolicy' must be \"{BLOCK}\" or \"{DROP_OLDEST}\", got {policy!r}"
            )
    if policy == DROP_OLDEST and qos >= 1:
        raise ConfigError(
            f"option 'bufferFullPolicy' \"{DROP_OLDEST}\" drops data, which qos {qos} forbids",
            hint='use qos 0 to allow drops, or "bufferFullPolicy": "block" (back-pressure)')
    return RuleOptions(
        is_event_time=_bool(raw, "isEventTime", False),
        late_tolerance_ms=parse_duration_ms(raw.get("lateTolerance", 1000), "lateTolerance"),
        concurrency=_int(raw, "concurrency", 1, 1),
        buffer_length=_int(raw, "bufferLength", 1024, 1),
        send_meta_to_sink=_bool(raw, "sendMetaToSink", False),
        send_error=_bool(raw, "sendError", False),
        send_nil_field=_bool(raw, "sendNilField", False),
        qos=qos,
        checkpoint_interval_ms=parse_duration_ms(
            raw.get("checkpointInterval", 300_000), "checkpointInterval"
        ),
        restart_strategy=RestartStrategy.parse(raw.get("restartStrategy")),
        max_batch_size=_int(raw, "maxBatchSize", 8192, 1),
        buffer_full_policy=policy,
        max_message_size=_int(raw, "maxMessageSize", DEFAULT_MAX_MESSAGE_SIZE, 1),
        max_json_depth=_json_depth(raw),
        max_window_rows=_int(raw, "maxWindowRows", DEFAULT_MAX_WINDOW_ROWS, 1),
        shared_source=_bool(raw, "sharedSource", True),
        unknown=unknown,
    )


def _json_depth(raw: Mapping[str, Any]) -> int:
    depth = _int(raw, "maxJsonDepth", DEFAULT_MAX_JSON_DEPTH, 1)
    if depth > MAX_JSON_DEPTH:
        raise ConfigError(f"option 'maxJsonDepth' must be at most {MAX_JSON_DEPTH}, got {depth}",
                          hint="JSON documents nested deeper than 1024 levels are not decoded")
    return depth


def rule_defaults(root: str) -> dict[str, Any]:
    """The `rule:` section of the root's effective kuiper.yaml (defaults for every rule),
    with option names spelled as rules spell them (env variables give lower case)."""
    return canonical(section(kuiper_conf(root, shared=True), "rule"), _KNOWN | _PASSIVE)


def effective_options(root: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """A rule's `options` laid over the global defaults (nested objects such as
    `restartStrategy` merge key by key, as eKuiper unmarshals a rule over its defaults)."""
    return merge(rule_defaults(root), dict(raw or {}))


def with_rule_defaults(root: str, rule: RuleDef) -> RuleDef:
    """`rule` as planned and run: its options laid over the root's global defaults."""
    return dataclasses.replace(rule, options=effective_options(root, rule.options))
