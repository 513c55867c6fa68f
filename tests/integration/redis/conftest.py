"""Fixtures of the redis connector tests (helpers live in redis_support.py: a module name of
its own, so test folders with the same helper names do not shadow each other)."""
from redis_support import prefix, private_redis, rdb, redis_server  # noqa: F401
