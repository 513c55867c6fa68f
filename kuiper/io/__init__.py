"""Built-in connectors and formats, named here with their modules (imported on first use)."""
from kuiper.io import config
from kuiper.runtime.registry import register_lazy, set_conf_loader

_PKG = "kuiper.io."
BUILTINS: dict[str, dict[str, str]] = {
    "source": {
        "file": "sources.file", "httppull": "sources.httppull", "httppush": "sources.httppush",
        "memory": "sources.memory", "mqtt": "sources.mqtt", "nats": "sources.nats",
        "simulator": "sources.simulator", "sql": "sources.sql",
    },
    "lookup": {"memory": "sources.memory", "redis": "sources.redis_lookup", "sql": "sources.sql"},
    "sink": {
        "file": "sinks.file", "log": "sinks.log", "memory": "sinks.memory", "mqtt": "sinks.mqtt",
        "nats": "sinks.nats", "nop": "sinks.nop", "redis": "sinks.redis", "rest": "sinks.rest",
        "sql": "sinks.sql",
    },
    "format": {
        "json": "formats.json", "binary": "formats.binary", "delimited": "formats.delimited",
        "delimiter": "formats.delimited", "protobuf": "formats.protobuf",
    },
    "encoder": {
        "json": "formats.encode", "binary": "formats.binary", "delimited": "formats.delimited",
        "delimiter": "formats.delimited", "protobuf": "formats.protobuf",
    },
}

for _kind, _names in BUILTINS.items():
    for _name, _module in _names.items():
        register_lazy(_kind, _name, _PKG + _module)

set_conf_loader(config.load_source_conf)
