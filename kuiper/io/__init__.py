"""Built-in connectors and formats; importing this package registers them with the runtime."""
from kuiper.io import config
from kuiper.io.formats import encode, json  # noqa: F401
from kuiper.io.sinks import file as file_sink  # noqa: F401
from kuiper.io.sinks import log, memory, nop  # noqa: F401
from kuiper.io.sources import file as file_source  # noqa: F401
from kuiper.io.sources import memory as memory_source  # noqa: F401
from kuiper.io.sources import simulator  # noqa: F401
from kuiper.runtime.registry import set_conf_loader

set_conf_loader(config.load_source_conf)
