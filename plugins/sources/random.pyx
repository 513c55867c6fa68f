# cython: language_level=3
"""The `random` source: every `interval` ms, emits `pattern` with its numbers randomized.

Properties (etc/sources/random.yaml, or the stream's CONF_KEY section):
  interval  milliseconds between two messages (default 1000)
  pattern   the message template; each numeric field gets a random integer in [0, seed)
  seed      the upper bound of the random values (default 100), as in eKuiper's example
  rngSeed   optional seed of the generator, for reproducible sequences
  count     optional number of messages after which the source ends (a bounded source)
"""
import numpy as np

from kuiper.api import Source
from kuiper.errors import ConfigError


class Random(Source):
    def __init__(self):
        self.interval = 1.0
        self.pattern = {"count": 50}
        self.seed = 100
        self.limit = 0
        self.sent = 0
        self.rng = np.random.default_rng()

    def configure(self, datasource, conf):
        interval = conf.get("interval", 1000)
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval <= 0:
            raise ConfigError(f"random source: interval must be a positive number of ms, got {interval!r}")
        pattern = conf.get("pattern", {"count": 50})
        if not isinstance(pattern, dict) or not pattern:
            raise ConfigError("random source: pattern must be a non-empty map, e.g. {count: 50}")
        seed = conf.get("seed", 100)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed <= 0:
            raise ConfigError(f"random source: seed must be a positive integer, got {seed!r}")
        self.interval = float(interval) / 1000.0
        self.pattern = dict(pattern)
        self.seed = seed
        self.limit = int(conf.get("count", 0) or 0)
        self.bounded = self.limit > 0
        self.rng = np.random.default_rng(conf.get("rngSeed"))

    def next_message(self):
        """One message: the pattern with each number replaced by a random integer."""
        cdef dict out = {}
        for key, value in self.pattern.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = int(self.rng.integers(0, self.seed))
            else:
                out[key] = value
        return out

    def open(self, ctx):
        self.sent = 0

    def pull(self, ctx):
        if self.limit and self.sent >= self.limit:
            return
        ctx.emit(self.next_message(), None)
        self.sent += 1
        if self.limit and self.sent >= self.limit:
            ctx.emit_eof("random: count reached")

    def close(self, ctx):
        pass
