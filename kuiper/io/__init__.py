"""Built-in connectors and formats; importing this package registers them with the runtime."""
from kuiper.io import config
from kuiper.io.formats import binary, delimited, encode, json, protobuf  # noqa: F401
from kuiper.io.sinks import file as file_sink  # noqa: F401
from kuiper.io.sinks import log, memory, nop  # noqa: F401
from kuiper.io.sinks import mqtt as mqtt_sink  # noqa: F401
from kuiper.io.sinks import nats as nats_sink  # noqa: F401
from kuiper.io.sinks import redis as redis_sink  # noqa: F401
from kuiper.io.sinks import rest as rest_sink  # noqa: F401
from kuiper.io.sinks import sql as sql_sink  # noqa: F401
from kuiper.io.sources import file as file_source  # noqa: F401
from kuiper.io.sources import httppull as httppull_source  # noqa: F401
from kuiper.io.sources import httppush as httppush_source  # noqa: F401
from kuiper.io.sources import memory as memory_source  # noqa: F401
from kuiper.io.sources import mqtt as mqtt_source  # noqa: F401
from kuiper.io.sources import nats as nats_source  # noqa: F401
from kuiper.io.sources import redis_lookup, simulator  # noqa: F401
from kuiper.io.sources import sql as sql_source  # noqa: F401
from kuiper.runtime.registry import set_conf_loader

set_conf_loader(config.load_source_conf)
